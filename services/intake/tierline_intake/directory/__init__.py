"""The customer and account directory tickets are enriched with: profile rules (domain, pure),
storage (service), REST (api)."""
