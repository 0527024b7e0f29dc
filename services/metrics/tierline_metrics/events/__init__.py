"""Events into read models: a run of events folded into the changes the read models need
(fold, pure), written a few statements per table (writer), the counter totals each row adds
(counters, pure), the ticket event log the KPI reports read back (ticket_log), a requester
erased (erasure), and the rebuild that replays every topic (rebuild, with its COPY fast path
in bulk)."""
