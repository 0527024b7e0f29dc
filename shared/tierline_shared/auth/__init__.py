"""API keys and scopes for every service (the ``auth`` schema, shared infrastructure)."""
