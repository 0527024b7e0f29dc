"""The right to erasure: a requester's personal data erased across intake (service), over REST
(api)."""
