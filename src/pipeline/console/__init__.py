"""The review console: static pages the app serves (routes.py)."""
