"""Provider adapters behind one interface (base.py), built by the registry."""
