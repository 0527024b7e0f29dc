"""Where every benchmark writes what it measured: its entry in bench/results.json and its
table between the ``<!-- bench:MARKER:start/end -->`` markers in the README."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def write_results(key: str, report: Any, table: str, marker: str) -> None:
    if os.environ.get("BENCH_DRY"):  # e.g. the same bench run against an older checkout
        return
    out = ROOT / "bench" / "results.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    data[key] = report
    out.write_text(json.dumps(data, indent=2) + "\n")
    readme = ROOT / "README.md"
    start, end = f"<!-- bench:{marker}:start -->", f"<!-- bench:{marker}:end -->"
    text = readme.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{start}\n{table.rstrip()}\n{end}{tail}")


def code_under_test() -> str:
    """The checkout whose ``tierline_shared`` this interpreter imports, and its commit."""
    import tierline_shared

    where = Path(tierline_shared.__file__).resolve().parents[2]
    head = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    return f"{where.name}@{head}"
