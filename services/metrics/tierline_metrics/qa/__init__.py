"""Quality assurance and agent self-evaluation: QA evaluations and ESAT answers, of which
metrics is the system of record (api, with their bodies in schemas)."""
