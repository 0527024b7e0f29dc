from pathlib import Path

import pytest

from tierline_intake.policies import PriorityPolicy as PriorityMatrix
from tierline_intake.policies import load_priority_policy
from tierline_shared.policy import PolicyError, load_policy
from tierline_shared.settings import POLICY_DIR
from tierline_sla.policy import load_sla_policy


def test_shipped_policies_load() -> None:
    assert load_priority_policy(POLICY_DIR).matrix["high"]["high"] == "P1"
    assert load_sla_policy(POLICY_DIR).targets["P1"].first_response == 15


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "priority.yaml"
    path.write_text(
        "version: 1\n"
        "levels: [high, low]\n"
        "default_impact: high\n"
        "default_urgency: sometimes\n"
        "matrix:\n"
        "  high: {high: P1, low: P2}\n"
        "  low: {high: P3, low: P5}\n"
    )
    with pytest.raises(PolicyError) as err:
        load_policy(path, PriorityMatrix)
    assert f"{path}:1: (top level):" in str(err.value)
    assert "default_urgency must be one of the levels" in str(err.value)


def test_wrong_type_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "priority.yaml"
    path.write_text("version: 1\nlevels: [high]\ndefault_impact: high\n"
                    "default_urgency: high\nmatrix:\n  high: not-a-mapping\n")
    with pytest.raises(PolicyError) as err:
        load_policy(path, PriorityMatrix)
    assert f"{path}:6: matrix.high:" in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text("version: 1\ntargets:\n  P1: {first_response: 15\n")
    with pytest.raises(PolicyError, match=r"sla\.yaml:\d+: not valid YAML"):
        load_sla_policy(tmp_path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_sla_policy(tmp_path)
