"""Metrics: read models built from every topic, served to Prometheus and as reports."""
