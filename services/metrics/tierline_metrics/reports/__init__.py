"""Reports: KPIs, targets and CSV exports (api), the SLA events feed for the wallboard
(sla_feed_api), and the voice-of-the-customer job with its report (voc_job)."""
