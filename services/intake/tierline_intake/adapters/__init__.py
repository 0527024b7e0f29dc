"""Desk adapters: ServiceNow, Jira and Zendesk payloads mapped to tickets (domain, pure) and
ingested (service), over REST (api)."""
