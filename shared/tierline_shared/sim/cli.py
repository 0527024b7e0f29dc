"""``tierline simulate SCENARIO``: run a scenario against a stack of its own (accelerated
through the services' injectable clock) or against running services (in real time), then
write the report and the charts."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tierline_shared.policy import PolicyError
from tierline_shared.sim.report import Story, charts, text, write_tickets
from tierline_shared.sim.scenario import SCENARIOS, Scenario, load_scenario


def add_arguments(parser: argparse.ArgumentParser) -> None:
    shipped = ", ".join(p.name for p in sorted(SCENARIOS.glob("*.yaml")))
    parser.add_argument("scenario", help="a scenario YAML file, or the name of one shipped "
                        f"with Tierline ({shipped})")
    parser.add_argument("--speed", type=float, help="simulated seconds per real second "
                        "(default: the scenario's); only with a stack of its own")
    parser.add_argument("--out", type=Path, default=Path("simulation"),
                        help="folder for report.json, report.md and the PNG charts")
    parser.add_argument("--intake", help="URL of running intake (with --router and "
                        "--bootstrap): drive those services in real time instead")
    parser.add_argument("--router", help="URL of running router")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers of the running services")
    parser.add_argument("--topic-prefix", default="tierline")
    parser.add_argument("--api-key", default=os.environ.get("TIERLINE_API_KEY"),
                        help="API key for running services, with tickets:write and "
                        "agents:admin (default: $TIERLINE_API_KEY)")
    parser.add_argument("--exclusive", action="store_true", help="set every agent the "
                        "scenario did not create offline first (for a development stack)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--readme", type=Path, help="with a scenario that has a theory block: "
                        "also write its tables into this README, between its "
                        "<!-- sim:NAME:start --> and <!-- sim:NAME:end --> markers")


def _one(scenario: Scenario, args: argparse.Namespace,
         ) -> tuple[dict[str, Any], list[Story], Scenario]:
    """One run; with the scenario as played (against running services it starts now)."""
    from tierline_shared.sim.driver import Endpoints, SimClock, Simulation
    from tierline_shared.sim.stack import own_stack

    progress = not args.no_progress
    if args.intake:
        clock = SimClock(datetime.now(UTC), time.time(), 1.0)
        scenario = scenario.model_copy(update={"start": clock.start})
        endpoints = Endpoints(args.intake.rstrip("/"), args.router.rstrip("/"), args.bootstrap,
                              f"{args.topic_prefix}.routing", args.api_key)
        sim = Simulation(scenario, endpoints, clock, progress)
        summary = asyncio.run(sim.run(exclusive=args.exclusive))
        return summary, list(sim.stories.values()), scenario
    speed = args.speed or scenario.speed
    with own_stack(scenario.start, speed, log_dir=args.out / "logs" / scenario.name) as (
            endpoints, clock):
        sim = Simulation(scenario, endpoints, clock, progress)
        summary = asyncio.run(sim.run())
        return summary, list(sim.stories.values()), scenario


def run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(Path(args.scenario))
    except PolicyError as exc:
        print(exc)
        return 2
    if args.intake and not (args.router and args.bootstrap):
        print("--intake needs --router and --bootstrap too")
        return 2
    if args.intake and args.speed not in (None, 1.0):
        print("running services keep real time: --speed works only with a stack of its own")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, tuple[dict[str, Any], list[Story]]] = {}
    variants = []
    for variant in [scenario, *(scenario.variant(v) for v in scenario.compare)]:
        (args.out / "logs" / variant.name).mkdir(parents=True, exist_ok=True)
        summary, stories, played = _one(variant, args)
        runs[variant.name] = (summary, stories)
        variants.append(played)
    summaries = {name: summary for name, (summary, _) in runs.items()}
    theory_md = ""
    if scenario.theory is not None:
        theory_md = _theory(variants, runs, args)  # adds "theory" to each summary
    if scenario.staffing is not None:
        theory_md += _round_trip(variants[0], runs[variants[0].name], args)
    if scenario.reference is not None:
        theory_md += _skills(variants, runs, args)
    for name, (_, stories) in runs.items():
        write_tickets(stories, args.out / f"tickets-{name}.csv")
    table = text(summaries)
    (args.out / "report.json").write_text(json.dumps(summaries, indent=2) + "\n")
    (args.out / "report.md").write_text(f"# {scenario.name}\n\n{scenario.description}\n\n"
                                        f"{table}\n{theory_md}")
    written = charts(runs, args.out)
    if scenario.theory is not None:
        written.append(args.out / "theory.png")
    if scenario.staffing is not None:
        written.append(args.out / "staffing.png")
    if scenario.reference is not None:
        written.extend(args.out / f"skills-{v.name}.png" for v in variants)
    print(table)
    print(theory_md)
    print("wrote " + ", ".join(str(p) for p in [args.out / "report.json",
                                                args.out / "report.md", *written]))
    errors = sum(s["errors"] for s in summaries.values())
    if errors:
        print(f"{errors} requests were refused; see the logs under {args.out / 'logs'}")
    return 0


def _theory(variants: list[Scenario], runs: dict[str, tuple[dict[str, Any], list[Story]]],
            args: argparse.Namespace) -> str:
    """Each run against Erlang C: the tables (also into the README with --readme) and the
    chart."""
    from tierline_shared.sim import theory

    results = {}
    for variant in variants:
        summary, stories = runs[variant.name]
        summary["theory"] = results[variant.name] = theory.compare(
            variant, stories, _speed(args, variant))
    confidence = int(round((variants[0].theory.confidence if variants[0].theory else 0.95)
                           * 100))
    abandon = any(r.get("patience_s") for r in results.values())
    runs_note = "" if abandon else (
        f"; \"runs\": where {confidence}% of runs of the same number of tickets of the M/M/n "
        "queue itself land, empty start included")
    text = (f"Measured against {'Erlang A' if abandon else 'Erlang C'} ({confidence}% "
            f"batch-means intervals in brackets{runs_note}; `tierline simulate "
            + Path(args.scenario).name + "`):\n\n"
            + theory.table(results) + "\n" + _overheads(results, _speed(args, variants[0])))
    ideal = theory.ideal_table(results)
    if ideal:
        text += ("\nThe routing policy alone, ticket by ticket: each ticket's wait from router's "
                 "first step against its wait in an ideal queue fed with the same tickets (the "
                 "times they reached router, the times their agents' capacity was held, offer "
                 "to release) through first-come-first-served servers that never idle while "
                 "work waits. The arrivals' chance and the hops are the same on both sides, so "
                 "a difference is the router's queueing alone:\n\n" + ideal + "\n")
    theory.chart(results, args.out / "theory.png")
    text += _chart_for_readme(args, args.out / "theory.png", variants[0].name)
    if args.readme is not None and not theory.splice(args.readme, variants[0].name, text):
        print(f"{args.readme} has no <!-- sim:{variants[0].name}:start/end --> markers: "
              "left as it was")
    return "\n## Against queueing theory\n\n" + text


def _round_trip(played: Scenario, run: tuple[dict[str, Any], list[Story]],
                args: argparse.Namespace) -> str:
    """The plan's promise per interval against the twin: the table (also into the README
    with --readme) and the chart."""
    from tierline_shared.sim import roundtrip, theory

    summary, stories = run
    staffing = played.staffing
    assert staffing is not None
    summary["overheads"] = theory.overheads(stories, _speed(args, played))
    summary["mean_hold_s"] = hold = theory.mean_hold(stories)
    rows = roundtrip.measure(played, stories, summary["staffing_plan"], hold_s=hold)
    summary["staffing"] = rows
    met = sum(r["meets_target"] for r in rows if r["tickets"])
    within = sum(r["within_runs"] for r in rows if r["tickets"])
    counted = sum(1 for r in rows if r["tickets"])
    text = (f"The day's volumes through `POST /v1/staffing/plan` (target "
            f"{staffing.service_level:.0%} within {played.service_level_seconds:g} s, "
            f"occupancy cap {staffing.max_occupancy:.0%}), then the day played through the "
            f"services with the planned agents per interval (`tierline simulate "
            f"{Path(args.scenario).name}`): {met} of {counted} intervals met the target, "
            f"{within} of {counted} fell within the range of 95% of in-memory runs of the "
            "same day and staffing. Router alone (from router's first step on each ticket) "
            "is held against in-memory runs of the day at the hold the agents' capacity "
            f"actually had, offer to release ({_hold(hold, played)}).\n\n"
            + roundtrip.table(rows, staffing.service_level) + "\n"
            + _overheads({played.name: summary}, _speed(args, played)))
    roundtrip.chart(rows, staffing.service_level, staffing.interval_minutes,
                    args.out / "staffing.png")
    text += _chart_for_readme(args, args.out / "staffing.png", played.name)
    if args.readme is not None and not theory.splice(args.readme, played.name, text):
        print(f"{args.readme} has no <!-- sim:{played.name}:start/end --> markers: "
              "left as it was")
    return "\n## Staffing round trip\n\n" + text


def _skills(variants: list[Scenario], runs: dict[str, tuple[dict[str, Any], list[Story]]],
            args: argparse.Namespace) -> str:
    """Each queue against the same rules in memory: tables (also into the README with
    --readme) and a chart per run."""
    from tierline_shared.settings import Settings
    from tierline_shared.sim import reference, theory

    rules = importlib.import_module(reference.RULES)  # by name: shared imports no service
    policy = rules.load_routing_policy(Settings().policy_dir)  # what the services load too
    parts = []
    for variant in variants:
        summary, stories = runs[variant.name]
        results = reference.compare(variant, stories, policy)
        summary["reference"] = results
        summary["overheads"] = theory.overheads(stories, _speed(args, variant))
        reference.chart(results, args.out / f"skills-{variant.name}.png")
        parts.append(f"`{variant.name}`:\n\n"
                     + reference.table(results, variant.service_level_seconds))
    ref = variants[0].reference
    assert ref is not None
    text = (f"Each queue's share answered within the target, through the services "
            f"({ref.confidence:.0%} batch-means intervals), against the same routing rules "
            f"and matcher run in memory ({ref.replications} runs; the range {ref.confidence:.0%}"
            f" of them fall in), `tierline simulate {Path(args.scenario).name}`. Router alone "
            "(from router's first step on each ticket) is held against the same rules run at "
            "the hold the agents' capacity actually had, offer to release (the handle times "
            "stretched by the measured factor):\n\n"
            + "\n\n".join(parts) + "\n"
            + _overheads({v.name: runs[v.name][0] for v in variants},
                         _speed(args, variants[0])))
    text += _chart_for_readme(args, args.out / f"skills-{variants[0].name}.png",
                              variants[0].name)
    if args.readme is not None and not theory.splice(args.readme, variants[0].name, text):
        print(f"{args.readme} has no <!-- sim:{variants[0].name}:start/end --> markers: "
              "left as it was")
    return "\n## Skills against the reference\n\n" + text


def _speed(args: argparse.Namespace, scenario: Scenario) -> float:
    """Simulated seconds per real second the run had."""
    return 1.0 if args.intake else (args.speed or scenario.speed)


def _hold(hold: float | None, scenario: Scenario) -> str:
    aht = scenario.handle_time[scenario.agents[0].tier].mean_s
    return "no releases measured" if hold is None else \
        f"mean {hold:.1f} s against a {aht:g} s mean handle time"


def _overheads(results: dict[str, dict[str, Any]], speed: float) -> str:
    """The router's hops, as distributions of their own, for any kind of run."""
    from tierline_shared.sim import theory

    return (f"\nThe router's own overheads (simulated seconds at speed {speed:g}, i.e. "
            f"{speed:g} simulated seconds per real second; the last column in real "
            "time):\n\n" + theory.overhead_table(results) + "\n")


def _chart_for_readme(args: argparse.Namespace, chart: Path, name: str) -> str:
    """With --readme: the chart copied to docs/simulation/NAME.png beside that README, and
    the Markdown that shows it."""
    if args.readme is None:
        return ""
    import shutil

    target = args.readme.resolve().parent / "docs" / "simulation" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(chart, target)
    return f"\n![{name}](docs/simulation/{name}.png)\n"
