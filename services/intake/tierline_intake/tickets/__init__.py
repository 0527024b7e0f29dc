"""Tickets: logging, lifecycle events, search; categorizer, priority and lifecycle rules
(pure); the recorder every feature records a ticket change through."""
