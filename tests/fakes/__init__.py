"""Fakes and helpers shared by the tests: provider servers (real HTTP on 127.0.0.1, each in its
wire format), the app on a socket, and helpers; test modules import from here, never from each other."""
