"""Outbound webhooks: signatures and retry schedule (domain, pure), queue and delivery
(service), subscriptions over REST (api)."""
