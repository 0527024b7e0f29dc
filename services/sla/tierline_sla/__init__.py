"""SLA: policies, clocks and (later) escalations."""
