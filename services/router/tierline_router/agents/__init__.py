"""Agents: the roster, its bulk import and presence (api), bodies (schemas), an agent
created or replaced (service), and the audit of their settings."""
