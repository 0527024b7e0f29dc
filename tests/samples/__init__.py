"""Sample payloads as the external systems send them, from their public documentation."""

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def sample(name: str) -> dict[str, Any]:
    return json.loads((HERE / f"{name}.json").read_text())
