"""The knowledge base: retrieval and staleness (domain, pure), articles, suggestions and
deflection (service), REST (api)."""
