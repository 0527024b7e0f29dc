"""The ``tierline`` command: serve a service, migrate, or run the whole embedded stack."""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from tierline_shared.migrate import SCHEMAS, SERVICES

# Commands a service implements, found by module name when the command line is built or
# run: shared imports no service (the import contract in .importlinter), as `serve` does.
STAFFING_CLI = "tierline_metrics.staffing.cli"
METRICS_REBUILD = "tierline_metrics.events.rebuild"


def _service_module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tierline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run one service (settings from TIERLINE_* variables)")
    serve.add_argument("service", choices=(*SERVICES, "console"))
    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("services", nargs="*", metavar="SERVICE",
                         help=f"some of {', '.join(SCHEMAS)} (default: all)")
    migrate.add_argument("--wait", type=float, metavar="SECONDS", help="migrate nothing: wait "
                         "until every schema is at its newest revision (an init container "
                         "waiting for the release's migration Job); exit 1 if not in time")
    sub.add_parser("dev", help="start PostgreSQL, the broker and all four services locally")
    roster = sub.add_parser("load-roster", help="PUT a roster YAML file of agents to router")
    roster.add_argument("path", nargs="?")
    sub.add_parser("asyncapi", help="print the AsyncAPI document of the topics")
    topics = sub.add_parser("topics", help="print the topics the deployment needs, with "
                            "partitions, replicas and configs (from TIERLINE_* settings)")
    topics.add_argument("--strimzi", metavar="CLUSTER", help="as Strimzi KafkaTopic "
                        "resources for the Kafka cluster named CLUSTER")
    keys = sub.add_parser("keys", help="API keys (the first admin key, before any service "
                          "can create more)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", required=True, help="comma-separated, e.g. admin or "
                        "tickets:write,tickets:read")
    create.add_argument("--expires-days", type=int, default=None)
    create.add_argument("--agent", default=None, metavar="ID",
                        help="bind the key to this agent (acts for no other)")
    staffing = sub.add_parser("staffing", help="workforce planning")
    staffing_sub = staffing.add_subparsers(dest="staffing_command", required=True)
    plan = staffing_sub.add_parser("plan", help="agents per interval for given volumes "
                                   "(Erlang C), as CSV, with an optional PNG chart")
    _service_module(STAFFING_CLI).add_arguments(plan)
    simulate = sub.add_parser("simulate", help="run a contact-centre scenario against the "
                              "real services; report and PNG charts")
    from tierline_shared.sim.cli import add_arguments as simulate_arguments

    simulate_arguments(simulate)
    metrics = sub.add_parser("metrics", help="metrics' read models")
    metrics_sub = metrics.add_subparsers(dest="metrics_command", required=True)
    rebuild = metrics_sub.add_parser("rebuild", help="empty the read models built from events "
                                     "and replay every topic from the start (stop metrics "
                                     "first)")
    rebuild.add_argument("--workers", type=_at_least_one, default=None, metavar="N",
                         help="replay processes, each reading its share of the partitions "
                         "(default: one per partition, up to two per core; 1: this process)")
    args = parser.parse_args(argv)

    if args.command == "simulate":
        from tierline_shared.sim.cli import run as simulate_run

        return simulate_run(args)

    if args.command == "staffing":
        return int(_service_module(STAFFING_CLI).run(args))

    if args.command == "asyncapi":
        from tierline_shared.bus.asyncapi import render

        sys.stdout.write(render())
        return 0

    from tierline_shared.settings import load_settings

    settings = load_settings()
    if args.command == "topics":
        from tierline_shared.bus.topic_plan import strimzi, table

        sys.stdout.write(strimzi(settings, args.strimzi) if args.strimzi else table(settings))
        return 0
    if args.command == "serve":
        from tierline_shared.serve import serve as run_service

        run_service(args.service, settings)
        return 0
    if args.command == "keys":
        from tierline_shared.auth.cli import create_key_command

        return create_key_command(settings, args.name, args.scopes.split(","),
                                  args.expires_days, args.agent)
    if args.command == "metrics":
        return int(_service_module(METRICS_REBUILD).main(settings, args.workers))
    if args.command == "migrate":
        from tierline_shared.migrate import upgrade

        unknown = sorted(set(args.services) - set(SCHEMAS))
        if unknown:
            parser.error(f"unknown service(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(SCHEMAS)}")
        services = tuple(args.services or SCHEMAS)
        if args.wait is not None:
            from tierline_shared.migrate import wait_migrated

            behind = wait_migrated(settings.database_url, args.wait, services)
            if behind:
                print(f"not migrated after {args.wait:g} s: {', '.join(behind)}",
                      file=sys.stderr)
                return 1
            return 0
        upgrade(settings.database_url, services)
        return 0
    if args.command == "load-roster":
        from pathlib import Path

        from tierline_shared.devstack import DEMO_ROSTER, load_roster

        path = Path(args.path) if args.path else DEMO_ROSTER
        import os

        count = load_roster(settings.url_for("router"), path,
                            api_key=os.environ.get("TIERLINE_API_KEY"))
        print(f"loaded {count} agents")
        return 0
    from tierline_shared.devstack import run

    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
