"""``tierline keys create``: a key straight into the database, printed once."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from tierline_shared.auth.store import create_key
from tierline_shared.db import make_engine, make_sessionmaker
from tierline_shared.settings import Settings


def create_key_command(settings: Settings, name: str, scopes: list[str],
                       expires_days: int | None, agent_id: str | None = None) -> int:
    async def main() -> str:
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            now = datetime.now(UTC)
            expires = now + timedelta(days=expires_days) if expires_days else None
            async with make_sessionmaker(engine)() as session, session.begin():
                new, _ = await create_key(session, name=name, now=now, expires_at=expires,
                                          scopes=[s.strip() for s in scopes if s.strip()],
                                          created_by="tierline keys create",
                                          agent_id=agent_id)
            return new.plaintext
        finally:
            await engine.dispose()

    try:
        key = asyncio.run(main())
    except ValueError as exc:
        print(f"tierline keys create: {exc}", file=sys.stderr)
        return 2
    print(key)
    return 0
