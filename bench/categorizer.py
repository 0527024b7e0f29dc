"""The categorizer alone: tickets classified per second per core (type, category,
subcategory and priority, as ``POST /v1/tickets`` asks), before and after issue 16, side by
side in one run on the same fitted models:

* before: the pipeline as it was (``tests/legacy_categorizer.py``): the shared TF-IDF vector,
  three ``predict_proba`` calls through scikit-learn's validation, one regex per phrase;
* after: ``Categorizer`` as intake runs it: one matrix product, phrases by lookup.

Every ticket of the shipped corpus, each round with fresh text (no cache hit across tickets),
rounds alternating before and after; the rate is tickets per CPU second of this process.

Then, on the fast one, whether classifying off the event loop pays: 16 concurrent requests
on one event loop classify inline or through ``asyncio.to_thread``; tickets per second, and
the longest the loop went without running anything else. Writes bench/results.json and the
README table between the ``bench:categorizer`` markers."""

from __future__ import annotations

import asyncio
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_results  # noqa: E402
from tests.legacy_categorizer import LegacyCategorizer  # noqa: E402
from tierline_intake.policies import load_priority_policy, load_taxonomy  # noqa: E402
from tierline_intake.tickets.categorizer import CORPUS, Categorizer, load_corpus  # noqa: E402
from tierline_intake.tickets.classify import classify  # noqa: E402
from tierline_intake.tickets.priority import Signals  # noqa: E402
from tierline_shared.settings import POLICY_DIR  # noqa: E402

ROUNDS = 3
CONCURRENCY = 16

TAXONOMY = load_taxonomy(POLICY_DIR)
POLICY = load_priority_policy(POLICY_DIR)
EXAMPLES = load_corpus(CORPUS, TAXONOMY)


def tickets(round_: int) -> list[tuple[str, str]]:
    return [(f"{e.title} ({round_})", e.description) for e in EXAMPLES]


def one(model: object, title: str, description: str) -> None:
    classify(title=title, description=description, categorizer=model,  # type: ignore[arg-type]
             priority_policy=POLICY, signals=Signals(text=f"{title}\n{description}"))


def per_cpu_second(model: object, batch: list[tuple[str, str]]) -> float:
    start = time.process_time()
    for title, description in batch:
        one(model, title, description)
    return len(batch) / (time.process_time() - start)


async def on_the_loop(model: Categorizer, batch: list[tuple[str, str]],
                      off_loop: bool) -> tuple[float, float]:
    """Tickets per second with CONCURRENCY requests in flight, and the longest stall of a
    heartbeat task that wants to run every millisecond."""
    queue = list(batch)
    stalls: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            stalls.append(now - last - 0.001)
            last = now

    async def worker() -> None:
        while queue:
            title, description = queue.pop()
            if off_loop:
                await asyncio.to_thread(one, model, title, description)
            else:
                one(model, title, description)
                await asyncio.sleep(0)  # a request yields at least once (its I/O)

    beat = asyncio.create_task(heartbeat())
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    done.set()
    await beat
    return len(batch) / elapsed, max(stalls, default=0.0)


def main() -> None:
    started = time.perf_counter()
    fast = Categorizer(TAXONOMY, EXAMPLES)
    print(f"fitted in {time.perf_counter() - started:.1f} s on {len(EXAMPLES)} tickets")
    legacy = LegacyCategorizer.from_fitted(fast)
    per_round: dict[str, list[float]] = {"before": [], "after": []}
    for n in range(ROUNDS):
        for name, model in (("before", legacy), ("after", fast)):
            rate = per_cpu_second(model, tickets(2 * n + (name == "after")))
            per_round[name].append(rate)
            print(f"round {n + 1} {name:6} {rate:8.0f} tickets/s per core")
    before, after = (statistics.median(per_round[k]) for k in ("before", "after"))
    loop: dict[str, tuple[float, float]] = {}
    for n, off_loop in enumerate((False, True, False, True)):
        rate, stall = asyncio.run(on_the_loop(fast, tickets(100 + n), off_loop))
        key = "to_thread" if off_loop else "inline"
        best = loop.get(key)
        loop[key] = (max(rate, best[0]), max(stall, best[1])) if best else (rate, stall)
        print(f"{key:9} {rate:8.0f} tickets/s, longest loop stall {stall * 1000:.2f} ms")
    report = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "tickets": len(EXAMPLES), "rounds": ROUNDS,
        "before_per_core": round(before), "after_per_core": round(after),
        "speedup": round(after / before, 1),
        "rounds_per_core": {k: [round(v) for v in vs] for k, vs in per_round.items()},
        "on_the_loop": {k: {"tickets_per_s": round(r), "longest_stall_ms": round(s * 1000, 2)}
                        for k, (r, s) in loop.items()},
    }
    table = "\n".join([
        "| categorizer (type, category, subcategory, priority) | tickets/s per core |",
        "| --- | --- |",
        f"| before: scikit-learn `predict_proba` x3, one regex per phrase | {before:,.0f} |",
        f"| after: one matrix product, phrases by lookup | {after:,.0f} "
        f"({after / before:.1f}x) |",
        "",
        f"| fast categorizer, {CONCURRENCY} requests on one event loop | tickets/s "
        "| longest loop stall |",
        "| --- | --- | --- |",
        *(f"| {'inline' if k == 'inline' else '`asyncio.to_thread`'} | {r:,.0f} "
          f"| {s * 1000:.2f} ms |" for k, (r, s) in loop.items()),
    ])
    print(table)
    write_results("categorizer", report, table, "categorizer")


if __name__ == "__main__":
    main()
