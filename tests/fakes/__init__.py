"""Fake provider servers: real HTTP on 127.0.0.1, answering in each provider's wire format."""
