"""The providers: one module per provider (gemini, imagen, openai, placeholder,
workers_ai) behind one interface (base.py), built by the registry (registry.py).
What several providers share (HTTP errors, multipart, SSE parsing, the Google API
and its service-account auth, what an isolate observes of them) is in shared/."""
