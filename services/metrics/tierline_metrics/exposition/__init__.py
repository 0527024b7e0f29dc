"""Prometheus exposition: the ticket and SLA counters read from the counter totals
(collectors) and the KPI series (kpis)."""
