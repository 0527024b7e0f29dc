"""Intake's OpenAPI: every operation documents an example of what it takes and answers."""

import pytest

from tierline_intake.app import create_app
from tierline_shared.migrate import SERVICES
from tierline_shared.serve import build_app
from tierline_shared.settings import Settings


def _has_example(schema: dict, spec: dict) -> bool:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    if schema.get("examples") or schema.get("example"):
        return True
    items = schema.get("items")
    return bool(items) and _has_example(items, spec)


def test_every_intake_operation_has_examples() -> None:
    spec = create_app(Settings()).openapi()
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in operations.items():
            body = op.get("requestBody")
            if body is not None:
                content = body["content"]["application/json"]
                assert content.get("examples") or _has_example(content["schema"], spec), \
                    f"{method} {path}: no request example"
            ok = next(code for code in op["responses"] if code.startswith("2"))
            schema = op["responses"][ok]["content"]["application/json"]["schema"]
            assert _has_example(schema, spec), f"{method} {path}: no response example"
            if body is not None or op.get("parameters"):  # anything that takes input
                assert "422" in op["responses"], f"{method} {path}: 422 undocumented"


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_behind_a_key_documents_401_403_and_429(service: str) -> None:
    spec = build_app(service, Settings()).openapi()
    secured = 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if path in ("/healthz", "/readyz"):
                assert not op.get("security"), f"{method} {path} must stay open"
                continue
            if path == "/v1/adapters/{system}/connections/{name}":
                # signed by the desk with its connection's inbound secret instead of a key
                assert "401" in op["responses"] and not op.get("security")
                continue
            assert op.get("security"), f"{service}: {method} {path} is not behind a key"
            secured += 1
            for code in ("401", "403", "429"):
                assert code in op["responses"], f"{service}: {method} {path}: {code} undocumented"
            assert "Retry-After" in op["responses"]["429"]["headers"]
    assert secured and spec["components"]["schemas"]["Error"]["required"] == ["error"]
