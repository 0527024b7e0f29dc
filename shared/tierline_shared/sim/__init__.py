"""A contact-centre twin: scenarios of arrivals and agents that drive the real services."""
