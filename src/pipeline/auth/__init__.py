"""Who is calling: API keys per caller, scopes, signed image URLs. No FastAPI here."""
