"""Routing: choosing an agent (matcher, pure) by the rules file (rules, pure once loaded);
offering, releasing and queueing around them (placement, I/O); the event handlers that route,
the periodic jobs (offers that ran out, the waiting queue, its gauges), and an erased
requester's names taken out of routing's notes (erasure)."""
