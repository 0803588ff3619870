"""What every router of the JSON API shares: errors that name the field they are about. Authentication and
the requesting learner are `accounts.api`'s."""

from __future__ import annotations

from typing import Any

from ninja import Schema
from ninja.errors import HttpError

INVALID_INPUT = "Some of the input is not valid."
INVALID_JSON = "The request body is not valid JSON."
NOT_FOUND = "Not found."
NOT_JSON = "Send the request body as JSON, with the header Content-Type: application/json."
# Parts of a pydantic error location that name where the value came from, not which value it is.
LOCATION_PREFIXES = {"body", "query", "path", "header", "cookie", "form", "payload"}


def field_name(location: tuple[Any, ...] | list[Any]) -> str:
    """The field a pydantic error is about: ("body", "payload", "weeks") → "weeks"."""
    parts = [str(part) for part in location]
    while parts and parts[0] in LOCATION_PREFIXES:
        parts.pop(0)
    return ".".join(parts) or "body"


class FieldErrorOut(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    """Every 4xx answer of the API: what went wrong, and which fields it is about."""

    detail: str
    errors: list[FieldErrorOut]


def error_body(detail: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": errors or []}


class ApiError(HttpError):
    """Every 4xx answer of the API, raised (never returned) so they all take the same shape: `field` names
    the input it is about when there is one; `errors` lists several (a form's) instead."""

    def __init__(
        self, status_code: int, message: str, field: str = "", errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(status_code, message)
        self.errors = (
            errors if errors is not None else ([{"field": field, "message": message}] if field else [])
        )
