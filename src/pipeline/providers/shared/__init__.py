"""What the providers share: HTTP error mapping, multipart encoding, SSE parsing, the
Google API base and Vertex service-account auth, PROVIDER_INSTANCES parsing, and
what an isolate observes of its providers (observations.py). No provider here."""
