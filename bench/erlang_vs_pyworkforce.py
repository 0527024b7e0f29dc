"""Tierline's Erlang C side by side with pyworkforce's, on the same inputs, in one run.

For 10 to 20,000 agents at 90% load: the time of one waiting-probability evaluation and of
the required-agents search (80% answered in 20 s, occupancy cap 0.95), the speed ratio,
and the largest disagreement between the two (and against a 40-digit reference).
Writes bench/results.json and the table between the markers in README.md."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import mpmath
from pyworkforce.queuing import ErlangC

from tierline_shared.erlang import erlang_c, required_agents

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.report import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
AGENTS = [10, 50, 100, 500, 1000, 5000, 10000, 20000]
AHT_MIN, INTERVAL_MIN = 5.0, 30.0


def timed(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def reference(agents: int, load: float) -> mpmath.mpf:
    with mpmath.workdps(40):
        a, b = mpmath.mpf(load), mpmath.mpf(1)
        for k in range(1, agents + 1):
            b = a * b / (k + a * b)
        return b / (1 - a / agents * (1 - b))


def main() -> None:
    rows = []
    for n in AGENTS:
        load = 0.9 * n
        theirs = ErlangC(transactions=load * INTERVAL_MIN / AHT_MIN, aht=AHT_MIN,
                         asa=20 / 60, interval=INTERVAL_MIN, shrinkage=0.0)
        repeat = 5 if n >= 5000 else 20
        t_ours, ours_p = timed(lambda n=n, load=load: erlang_c(n, load), repeat)
        t_theirs, theirs_p = timed(
            lambda n=n, theirs=theirs: theirs.waiting_probability(positions=n), repeat)
        ref = reference(n, load)
        s_ours, need_ours = timed(lambda load=load: required_agents(
            load, AHT_MIN * 60, service_level=0.8, answer_within_s=20, max_occupancy=0.95), 3)
        s_theirs, need_theirs = timed(lambda theirs=theirs: theirs.required_positions(
            service_level=0.8, max_occupancy=0.95)["raw_positions"], 1)
        rows.append({
            "agents": n, "load_erlangs": load,
            "p_wait_tierline": ours_p, "p_wait_pyworkforce": theirs_p,
            "rel_diff": abs(ours_p - theirs_p) / max(abs(theirs_p), 1e-300),
            "rel_err_tierline_vs_reference": float(abs(ours_p - ref) / ref),
            "rel_err_pyworkforce_vs_reference": float(abs(theirs_p - ref) / ref),
            "eval_s_tierline": t_ours, "eval_s_pyworkforce": t_theirs,
            "eval_speed_ratio": t_theirs / t_ours,
            "required_tierline": need_ours, "required_pyworkforce": need_theirs,
            "search_s_tierline": s_ours, "search_s_pyworkforce": s_theirs,
            "search_speed_ratio": s_theirs / s_ours,
        })
        print(f"{n:>6} agents: eval x{t_theirs / t_ours:8.1f}, search x{s_theirs / s_ours:8.1f}, "
              f"diff {rows[-1]['rel_diff']:.1e}", file=sys.stderr)
    machine = f"{platform.machine()}, {platform.python_implementation()} " \
              f"{platform.python_version()}, {platform.system()}"
    result = {"benchmark": "erlang_c_vs_pyworkforce", "machine": machine, "rows": rows,
              "largest_disagreement": max(r["rel_diff"] for r in rows)}
    table = ["| n (load 0.9 n) | P(wait) rel. diff | Tierline eval | pyworkforce eval | ratio | "
             "Tierline search | pyworkforce search | ratio | agents needed (T / pw) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        table.append(
            f"| {r['agents']} | {r['rel_diff']:.1e} | {r['eval_s_tierline'] * 1e6:.0f} us | "
            f"{r['eval_s_pyworkforce'] * 1e6:.0f} us | {r['eval_speed_ratio']:.1f}x | "
            f"{r['search_s_tierline'] * 1e3:.2f} ms | {r['search_s_pyworkforce'] * 1e3:.2f} ms | "
            f"{r['search_speed_ratio']:.0f}x | {r['required_tierline']} / "
            f"{r['required_pyworkforce']} |")
    block = (f"Measured side by side in one run on {machine} "
             f"(`make bench`; ratios are pyworkforce time / Tierline time):\n\n"
             + "\n".join(table) + "\n")
    write_results("erlang_c_vs_pyworkforce", result, block, "erlang")


if __name__ == "__main__":
    main()
