"""Router's outcome on the ticket: the agent an open offer waits on (``offered_agent``,
``offered_tier``, ``offer_expires_at``), where the ticket stands (``routing_state``:
offered, accepted, queued, released), the latest offer applied (``routing_attempt``) and
the event time of the latest routing fact (``routing_at``), which keep a stale or repeated
event from undoing a newer one. ``assigned_agent`` now names the agent who accepted.

Tickets from before keep their ``assigned_agent`` (the agent last offered the ticket) with
no ``routing_state``: the next answer naming that agent settles it, and the next offer or
queueing replaces it.

Revision ID: 20261201_01
Revises: 20261130_01
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "20261201_01"
down_revision = "20261130_01"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("offered_agent", sa.String(200)), schema=SCHEMA)
    op.add_column("tickets", sa.Column("offered_tier", sa.SmallInteger), schema=SCHEMA)
    op.add_column("tickets", sa.Column("offer_expires_at", sa.DateTime(timezone=True)),
                  schema=SCHEMA)
    op.add_column("tickets", sa.Column("routing_state", sa.String(16)), schema=SCHEMA)
    op.add_column("tickets", sa.Column("routing_attempt", sa.Integer), schema=SCHEMA)
    op.add_column("tickets", sa.Column("routing_at", sa.DateTime(timezone=True)),
                  schema=SCHEMA)


def downgrade() -> None:
    for column in ("routing_at", "routing_attempt", "routing_state", "offer_expires_at",
                   "offered_tier", "offered_agent"):
        op.drop_column("tickets", column, schema=SCHEMA)
