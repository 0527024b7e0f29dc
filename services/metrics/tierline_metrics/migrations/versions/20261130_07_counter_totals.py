"""Counter totals: every counter Prometheus reads, kept by the batches that change it instead
of recomputed by GROUP BYs over the read models at each refresh; and a partial index for the
oldest open ticket per priority. The totals start from the read models as they are (the
same GROUP BYs the exposition ran until now, once).

Revision ID: 20261130_07
Revises: 20261125_06
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_07"
down_revision = "20261125_06"
branch_labels = None
depends_on = None

SCHEMA = "metrics"
OPEN_TICKET = ("created_at IS NOT NULL AND created_priority IS NOT NULL AND deflected = false "
               "AND (status IS NULL OR status NOT IN ('resolved', 'closed'))")
BUCKETS_S = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200, 604800)
KNOWN = "created_at IS NOT NULL AND created_priority IS NOT NULL AND deflected = false"
CLOSED = "status IN ('resolved', 'closed')"


def _histogram(name: str, end: str) -> list[str]:
    micros = f"(extract(epoch FROM {end} - created_at) * 1000000)::bigint"
    where = f"FROM {SCHEMA}.ticket_facts WHERE {KNOWN} AND {end} IS NOT NULL"
    return [
        *(f"SELECT '{name}_bucket', created_priority, '{b}', count(*) {where} "
          f"AND {micros} <= {b * 1_000_000} GROUP BY created_priority" for b in BUCKETS_S),
        f"SELECT '{name}_sum_us', created_priority, '', sum({micros}) {where} "
        f"GROUP BY created_priority",
        f"SELECT '{name}_count', created_priority, '', count(*) {where} GROUP BY created_priority",
    ]


def upgrade() -> None:
    op.create_table(
        "counter_totals",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("a", sa.Text, primary_key=True),
        sa.Column("b", sa.Text, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_ticket_facts_open", "ticket_facts", ["created_priority", "created_at"],
                    schema=SCHEMA, postgresql_where=sa.text(OPEN_TICKET))
    op.execute(backfill())


def backfill() -> str:
    """The totals of the read models as they are, by the GROUP BYs the exposition ran."""
    facts = f"FROM {SCHEMA}.ticket_facts"
    selects = [
        f"SELECT 'tickets_created', coalesce(created_priority, ''), "
        f"coalesce(created_category, ''), count(*) {facts} WHERE created_at IS NOT NULL "
        f"GROUP BY 2, 3",
        f"SELECT 'tickets_to_route', coalesce(created_priority, ''), "
        f"coalesce(created_category, ''), count(*) {facts} WHERE created_at IS NOT NULL "
        f"AND deflected = false GROUP BY 2, 3",
        f"SELECT 'tickets_assigned', coalesce(assigned_priority, ''), "
        f"coalesce(assigned_category, ''), count(*) {facts} WHERE assigned_at IS NOT NULL "
        f"GROUP BY 2, 3",
        *_histogram("first_response", "first_response_at"),
        *_histogram("resolution", "resolved_at"),
        f"SELECT 'tickets_resolved', created_priority, '', "
        f"count(*) FILTER (WHERE {CLOSED}) + coalesce(sum(reopen_count), 0) {facts} "
        f"WHERE {KNOWN} GROUP BY created_priority",
        f"SELECT 'tickets_reopened', created_priority, '', coalesce(sum(reopen_count), 0) "
        f"{facts} WHERE {KNOWN} GROUP BY created_priority",
        f"SELECT 'backlog', created_priority, '', count(*) {facts} WHERE {OPEN_TICKET} "
        f"GROUP BY created_priority",
        f"SELECT 'tickets_deflected', channel, '', count(*) {facts} WHERE deflected = true "
        f"AND channel IS NOT NULL GROUP BY channel",
        f"SELECT 'csat_responses', csat::text, '', count(*) {facts} "
        f"WHERE csat BETWEEN 1 AND 5 GROUP BY csat",
        f"SELECT 'nps_responses', CASE WHEN nps >= 9 THEN 'promoter' WHEN nps >= 7 "
        f"THEN 'passive' ELSE 'detractor' END, '', count(*) {facts} WHERE nps IS NOT NULL "
        f"GROUP BY 2",
        f"SELECT 'agent_resolved', agent_id, '', count(*) {facts} "
        f"WHERE agent_id IS NOT NULL AND {CLOSED} GROUP BY agent_id",
        f"SELECT CASE kind WHEN 'warning' THEN 'sla_warnings' ELSE 'sla_breaches' END, clock, "
        f"priority, count(*) FROM {SCHEMA}.sla_events GROUP BY 1, 2, 3",
        f"SELECT 'escalations', kind, trigger, count(*) FROM {SCHEMA}.escalations "
        f"GROUP BY kind, trigger",
        f"SELECT 'major_incidents', '', '', count(*) FROM {SCHEMA}.major_incidents "
        f"HAVING count(*) > 0",
        f"SELECT 'major_incidents_open', CASE WHEN resolved_at IS NOT NULL THEN 'resolved' "
        f"WHEN restored_at IS NOT NULL THEN 'restored' ELSE 'declared' END, '', count(*) "
        f"FROM {SCHEMA}.major_incidents WHERE closed_at IS NULL GROUP BY 2",
        f"SELECT 'problems', '', '', count(*) FROM {SCHEMA}.problems HAVING count(*) > 0",
        f"SELECT 'voc_signals', kind, '', count(*) FROM {SCHEMA}.voc_signals GROUP BY kind",
    ]
    return (f"INSERT INTO {SCHEMA}.counter_totals (name, a, b, value) "
            + " UNION ALL ".join(selects))


def downgrade() -> None:
    op.drop_index("ix_ticket_facts_open", table_name="ticket_facts", schema=SCHEMA)
    op.drop_table("counter_totals", schema=SCHEMA)
