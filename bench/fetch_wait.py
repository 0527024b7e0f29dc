"""What a consumer's fetch wait costs while idle. The embedded broker does not answer a held
fetch early when data arrives, so the fetch wait is the floor of each hop's latency on a
quiet topic; a shorter wait means more fetches. This measures, side by side in one run, the
CPU an idle service (metrics' consumer on its four topics, nothing to read) and the broker
spend per second at several waits. Writes bench/results.json and the README table."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake_throughput import machine  # noqa: E402
from bench.report import write_results  # noqa: E402
from tierline_shared.devstack import create_database  # noqa: E402
from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port  # noqa: E402
from tierline_shared.migrate import upgrade  # noqa: E402
from tierline_shared.settings import Settings  # noqa: E402

WAITS_MS = [2, 5, 20, 50, 500]
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))


async def idle_cpu(settings: Settings, broker: psutil.Process) -> dict[str, float]:
    from tierline_metrics.app import SPEC
    from tierline_shared.runtime import Runtime

    runtime = await Runtime.start(SPEC, settings)
    try:
        await asyncio.sleep(8)  # the consumer joined its group and settled
        me = psutil.Process()
        cpu0, broker0, t0 = me.cpu_times(), broker.cpu_times(), time.monotonic()
        await asyncio.sleep(SECONDS)
        cpu1, broker1, elapsed = me.cpu_times(), broker.cpu_times(), time.monotonic() - t0
    finally:
        await runtime.stop()

    def share(a: psutil._common.pcputimes, b: psutil._common.pcputimes) -> float:
        return round(100 * ((b.user - a.user) + (b.system - a.system)) / elapsed, 2)

    return {"service_cpu_percent": share(cpu0, cpu1), "broker_cpu_percent": share(broker0,
                                                                                 broker1)}


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="tierline-fetch-wait-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port(), fast_unsafe=True)
        kafka = EmbeddedKafka(free_port(), log_path=Path(tmp) / "broker.log")
        pg.start()
        kafka.start()
        try:
            asyncio.run(create_database(pg.url(), "fetchwait"))
            url = pg.url().rsplit("/", 1)[0] + "/fetchwait"
            upgrade(url, services=("metrics",))
            broker = next(p for p in psutil.Process().children(recursive=True)
                          if "tansu" in " ".join(p.cmdline()))
            for wait in WAITS_MS:
                settings = Settings(database_url=url, log_level="WARNING",
                                    kafka_bootstrap_servers=kafka.bootstrap_servers,
                                    topic_prefix=f"idle{wait}", consumer_fetch_max_wait_ms=wait)
                row = {"fetch_max_wait_ms": wait, **asyncio.run(idle_cpu(settings, broker))}
                print(row, flush=True)
                results.append(row)
        finally:
            kafka.stop()
            pg.remove()
    lines = [f"Measured side by side in one run on {machine()}: one idle metrics process "
             f"(consumer of 4 topics, 3 partitions each, nothing to read) for {SECONDS:g} s "
             "per setting, CPU as a share of one core (`make bench`):", "",
             "| `TIERLINE_CONSUMER_FETCH_MAX_WAIT_MS` | idle hop adds at most | service CPU "
             "| broker CPU |", "| ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['fetch_max_wait_ms']} | {r['fetch_max_wait_ms']} ms | "
                     f"{r['service_cpu_percent']}% | {r['broker_cpu_percent']}% |")
    table = "\n".join(lines)
    print(table)
    write_results("fetch_wait", results, table, "fetch-wait")


if __name__ == "__main__":
    main()
