"""Channel interactions: chat, IVR, email, portal and phone contacts (domain, pure), stored and
linked to tickets (service), over REST (api)."""
