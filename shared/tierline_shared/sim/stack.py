"""A stack of the simulation's own: embedded PostgreSQL and broker, the four services with
a clock that runs ``speed`` times faster, all stopped at the end."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from tierline_shared.auth.keys import generate
from tierline_shared.bus.topics import Topics
from tierline_shared.devstack import ServiceProcesses, create_database, service_env, wait_ready
from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from tierline_shared.migrate import SERVICES, upgrade
from tierline_shared.settings import Settings
from tierline_shared.sim.driver import Endpoints, SimClock


@contextlib.contextmanager
def own_stack(start: datetime, speed: float, log_dir: Path | None = None,
              ) -> Iterator[tuple[Endpoints, SimClock]]:
    with tempfile.TemporaryDirectory(prefix="tierline-sim-") as tmp:
        logs = log_dir or Path(tmp)
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port(), fast_unsafe=True)
        kafka = EmbeddedKafka(free_port(), log_path=logs / "broker.log")
        procs: ServiceProcesses | None = None
        pg.start()
        try:
            kafka.start()
            asyncio.run(create_database(pg.url(), "sim"))
            url = pg.url().rsplit("/", 1)[0] + "/sim"
            upgrade(url)
            key = generate().plaintext  # an admin key for this stack alone
            settings = Settings(database_url=url, kafka_bootstrap_servers=kafka.bootstrap_servers,
                                topic_prefix="sim", log_level="WARNING", environment="test",
                                bootstrap_admin_key=key, rate_limit_per_s=10_000,
                                rate_limit_burst=10_000,
                                **{f"{s}_port": free_port() for s in SERVICES})
            real_start = time.time() + 20  # the services' clocks and ours share this moment
            # Simulated agents always answer their offers, but on a busy machine an answer can
            # take a real second, which is minutes of simulated time: give them at least ten
            # real seconds so slowness is not mistaken for a missed offer.
            offer_timeout = max(120.0, 10 * speed)
            procs = ServiceProcesses(env=service_env(
                settings, TIERLINE_CLOCK_SPEED=str(speed), TIERLINE_CLOCK_START=start.isoformat(),
                TIERLINE_CLOCK_REAL_START=str(real_start),
                TIERLINE_ROUTER_OFFER_TIMEOUT_S=str(offer_timeout)), log_dir=logs)
            procs.start_all()
            wait_ready({s: settings.url_for(s) for s in SERVICES}, procs=procs)
            clock = SimClock(start, real_start, speed)
            endpoints = Endpoints(intake=settings.url_for("intake"),
                                  router=settings.url_for("router"),
                                  bootstrap=kafka.bootstrap_servers,
                                  routing_topic=Topics("sim").routing, api_key=key,
                                  metrics=settings.url_for("metrics"))
            time.sleep(max(0.0, real_start - time.time()))
            yield endpoints, clock
        finally:
            if procs is not None:
                procs.stop_all()
            kafka.stop()
            pg.remove()
