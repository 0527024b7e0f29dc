"""``tierline staffing plan``: the plan from the command line, CSV out, PNG chart."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

from tierline_metrics.staffing.plan import IntervalPlan, Target, plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("volumes", type=Path, nargs="?", help="CSV with a 'volume' column "
                        "(contacts per interval, in order), or one number per line")
    parser.add_argument("--from-metrics", metavar="URL", help="instead of a file: forecast the "
                        "volumes from what the metrics service at URL has seen, e.g. "
                        "http://127.0.0.1:8004")
    parser.add_argument("--channel", help="with --from-metrics: only this channel")
    parser.add_argument("--api-key", default=os.environ.get("TIERLINE_API_KEY"),
                        help="with --from-metrics: a key with reports:read "
                        "(default: $TIERLINE_API_KEY)")
    parser.add_argument("--days", type=int, default=1, help="with --from-metrics: days to plan")
    parser.add_argument("--history-days", type=int, default=28,
                        help="with --from-metrics: days of history to learn from")
    parser.add_argument("--interval", type=int, default=30, choices=(15, 30, 60),
                        help="interval length in minutes (default 30)")
    parser.add_argument("--aht", type=float, default=300, help="mean handle time, seconds")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--service-level", type=float, help="e.g. 0.8 (default)")
    target.add_argument("--asa", type=float, help="average speed of answer target, seconds")
    parser.add_argument("--within", type=float, default=20,
                        help="answer within this many seconds (default 20)")
    parser.add_argument("--max-occupancy", type=float, default=0.85)
    parser.add_argument("--shrinkage", type=float, default=0.3)
    parser.add_argument("--patience", type=float, help="mean seconds callers wait before "
                        "abandoning: plan by Erlang A (default: nobody abandons, Erlang C)")
    parser.add_argument("--concurrency", type=int, default=1, help="contacts an agent works "
                        "at once, e.g. 3 for chat (default 1)")
    parser.add_argument("--out", type=Path, help="write the plan as CSV here (default stdout)")
    parser.add_argument("--chart", type=Path, help="write a PNG chart of volume and agents")


def read_volumes(path: Path) -> list[float]:
    text = path.read_text().strip().splitlines()
    if not text:
        raise ValueError(f"{path}: no volumes")
    if "volume" in text[0].lower().split(","):
        rows = list(csv.DictReader(text))
        values = [(n + 2, row.get("volume", "")) for n, row in enumerate(rows)]
    else:
        values = [(n + 1, line) for n, line in enumerate(text)]
    out = []
    for line, raw in values:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{path}:{line}: volume {raw!r} is not a number") from None
        if value < 0:
            raise ValueError(f"{path}:{line}: volume must be >= 0")
        out.append(value)
    return out


def write_csv(rows: list[IntervalPlan], handle) -> None:  # type: ignore[no-untyped-def]
    writer = csv.DictWriter(handle, fieldnames=list(rows[0].as_dict()))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (round(v, 6) if isinstance(v, float) else v)
                         for k, v in row.as_dict().items()})


def write_chart(rows: list[IntervalPlan], interval_minutes: int, path: Path,
                model: str = "Erlang C") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [r.index * interval_minutes / 60 for r in rows]
    width = interval_minutes / 60 * 0.9
    fig, volume_axis = plt.subplots(figsize=(10, 4.5), dpi=100)
    volume_axis.bar(hours, [r.volume for r in rows], width=width, align="edge",
                    color="#9ecae1", label="contacts")
    volume_axis.set_xlabel("hours from the start of the plan")
    volume_axis.set_ylabel(f"contacts per {interval_minutes} min")
    agents_axis = volume_axis.twinx()
    edges = [*hours, hours[-1] + interval_minutes / 60]  # the last interval's right edge
    agents_axis.step(edges, [*(r.agents for r in rows), rows[-1].agents], where="post",
                     color="#08519c", label="agents needed")
    agents_axis.step(edges, [*(r.scheduled for r in rows), rows[-1].scheduled], where="post",
                     color="#e6550d", linestyle="--", label="scheduled (after shrinkage)")
    agents_axis.set_ylabel("agents")
    handles = [*volume_axis.get_legend_handles_labels()[0],
               *agents_axis.get_legend_handles_labels()[0]]
    volume_axis.legend(handles=handles, loc="upper left")
    volume_axis.set_title(f"Tierline staffing plan: volume against agents ({model})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _from_metrics(args: argparse.Namespace) -> list[IntervalPlan]:
    import httpx

    body = {"forecast": {"days": args.days, "history_days": args.history_days,
                         **({"channel": args.channel} if args.channel else {})},
            "interval_minutes": args.interval, "aht_s": args.aht,
            "answer_within_s": args.within, "max_occupancy": args.max_occupancy,
            "shrinkage": args.shrinkage, "concurrency": args.concurrency,
            **({"patience_s": args.patience} if args.patience is not None else {}),
            **({"asa_s": args.asa} if args.asa else
               {"service_level": args.service_level or 0.8})}
    response = httpx.post(f"{args.from_metrics.rstrip('/')}/v1/staffing/plan", json=body,
                          headers={"X-API-Key": args.api_key} if args.api_key else None,
                          timeout=120)
    if response.status_code != 200:
        raise ValueError(f"metrics answered {response.status_code}: {response.text[:500]}")
    plan_body = response.json()
    print(f"forecast: {plan_body['forecast']['method']}, backtest MAE "
          f"{plan_body['forecast']['backtest_mae']}", file=sys.stderr)
    return [IntervalPlan(**row) for row in plan_body["intervals"]]


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if (args.volumes is None) == (args.from_metrics is None):
        print("tierline: give a volumes file or --from-metrics URL", file=sys.stderr)
        return 2
    if args.from_metrics:
        import httpx

        try:
            rows = _from_metrics(args)
        except (httpx.HTTPError, ValueError) as exc:
            print(f"tierline: {exc}", file=sys.stderr)
            return 1
        return _write(rows, args)
    try:
        volumes = read_volumes(args.volumes)
        target = Target(interval_minutes=args.interval, aht_s=args.aht,
                        service_level=None if args.asa else (args.service_level or 0.8),
                        answer_within_s=args.within, asa_s=args.asa,
                        max_occupancy=args.max_occupancy, shrinkage=args.shrinkage,
                        patience_s=args.patience, concurrency=args.concurrency)
    except OSError as exc:
        print(f"tierline: {args.volumes}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"tierline: {exc}", file=sys.stderr)
        return 2
    with tqdm(total=len(volumes), unit="interval", file=sys.stderr,
              disable=len(volumes) < 200 or not sys.stderr.isatty()) as bar:
        rows = plan(volumes, target, progress=bar.update)
    return _write(rows, args)


def _write(rows: list[IntervalPlan], args: argparse.Namespace) -> int:
    if args.out:
        with args.out.open("w", newline="") as handle:
            write_csv(rows, handle)
    else:
        write_csv(rows, sys.stdout)
    if args.chart:
        write_chart(rows, args.interval, args.chart,
                    "Erlang C" if args.patience is None else "Erlang A")
    return 0
