"""Reports: KPIs, targets and CSV exports (api), the summary of the counters Prometheus
scrapes (summary_api), the SLA events feed for the wallboard (sla_feed_api, with its bodies
in schemas), and the voice-of-the-customer job with its report (voc_job)."""
