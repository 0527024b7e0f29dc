"""The import contracts in pyproject.toml hold on the tree, and break on the imports they
forbid: one service importing another, shared importing a service. Run on a copy of the
packages, so the probe never touches the working tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"
PACKAGE_DIRS = ["shared", *(f"services/{s}" for s in
                            ("intake", "router", "sla", "metrics", "console"))]


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(root / d) for d in PACKAGE_DIRS)}
    return subprocess.run([str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def copy_tree(target: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    for directory in PACKAGE_DIRS:
        shutil.copytree(ROOT / directory, target / directory, ignore=shutil.ignore_patterns(
            "__pycache__", "*.csv", "*.egg-info", "static", "templates"))
    return target


def test_the_tree_keeps_its_contracts() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_a_service_importing_another_breaks_the_contract(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    probe = root / "services/router/tierline_router/probe.py"
    probe.write_text("from tierline_intake.tickets.categorizer import Categorizer  # noqa: F401\n")
    result = lint(root)
    assert result.returncode == 1, result.stdout
    assert "Services never import each other BROKEN" in result.stdout
    assert "tierline_router.probe -> tierline_intake.tickets.categorizer" in result.stdout


def test_shared_importing_a_service_breaks_the_contract(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    with (root / "shared/tierline_shared/clock.py").open("a") as module:
        module.write("\n\ndef _probe() -> None:\n    from tierline_metrics.events import rebuild  "
                     "# noqa: F401\n")
    result = lint(root)
    assert result.returncode == 1, result.stdout
    assert "shared never imports a service BROKEN" in result.stdout
    assert "tierline_shared.clock -> tierline_metrics" in result.stdout
