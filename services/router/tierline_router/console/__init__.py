"""Router's endpoints for the console: an agent's offers and held work, their live feed
(offer_feed, pure), a supervisor's force-assign (api, schemas)."""
