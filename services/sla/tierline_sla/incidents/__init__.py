"""Major incidents (bursts on one outage, their cadence and post-incident review) and
problems (recurring incidents)."""
