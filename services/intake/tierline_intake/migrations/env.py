from alembic import context

from tierline_intake.models import metadata
from tierline_shared.migrate import run_migrations

run_migrations(context, metadata)
