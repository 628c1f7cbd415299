"""The same app under CPython: local implementations of the ports."""
