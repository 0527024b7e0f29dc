from alembic import context

from tierline_shared.auth.models import metadata
from tierline_shared.migrate import run_migrations

run_migrations(context, metadata)
