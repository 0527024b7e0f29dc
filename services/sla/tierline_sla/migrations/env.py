from alembic import context

from tierline_shared.migrate import run_migrations
from tierline_sla.models import metadata

run_migrations(context, metadata)
