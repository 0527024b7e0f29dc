"""Intake's HTTP answers for the errors every feature raises, in one place: the error
documentation its routes share, the Idempotency-Key header, and the 422 bodies for invalid
input, a reused Idempotency-Key, a desk payload missing a field or mapping to an invalid
ticket."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, HTTPException
from pydantic import ValidationError

from tierline_intake.adapters.domain import MissingField
from tierline_intake.tickets.service import InvalidInput
from tierline_shared.web import error_body

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="retrying with the same key and body returns the first response; "
                "the same key with another body answers 422")]

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such ticket"},
    409: {"description": "The event does not fit the ticket's status; the body names the "
                         "allowed transitions"},
    413: {"description": "Body too large"},
    422: {"description": "Invalid body: the body names the field, or the Idempotency-Key was "
                         "used with another body"},
}


def invalid(exc: InvalidInput) -> HTTPException:
    return HTTPException(422, error_body("validation_error", [
        {"field": exc.field, "message": exc.message, "type": "value_error"}]))


def key_reused() -> HTTPException:
    return HTTPException(422, error_body(
        "idempotency_key_reused",
        "this Idempotency-Key was already used with a different request body"))


def missing_field(exc: MissingField) -> HTTPException:
    return HTTPException(422, error_body("validation_error", [
        {"field": f"body.{exc.path}", "message": exc.message, "type": "missing"}]))


def unmappable(exc: ValidationError) -> HTTPException:
    return HTTPException(422, error_body("validation_error", [
        {"field": "mapped." + ".".join(str(p) for p in err["loc"]), "message": err["msg"],
         "type": err["type"]} for err in exc.errors()]))
