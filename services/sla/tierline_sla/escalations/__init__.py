"""Escalations: the functional and hierarchical matrix by time, and predictive signals
(sentiment, complexity, repeat contacts)."""
