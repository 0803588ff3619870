"""What every router of the JSON API shares: authentication, the requesting learner, and errors that name
the field they are about."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Schema
from ninja.errors import HttpError
from ninja.security import HttpBearer

from accounts.models import User
from accounts.services import api_token_authenticate

INVALID_INPUT = "Some of the input is not valid."
INVALID_JSON = "The request body is not valid JSON."
INVALID_TOKEN = "The API token is missing, revoked or not valid. Create one at /accounts/api-tokens/."
NOT_FOUND = "Not found."
NOT_JSON = "Send the request body as JSON, with the header Content-Type: application/json."
# Parts of a pydantic error location that name where the value came from, not which value it is.
LOCATION_PREFIXES = {"body", "query", "path", "header", "cookie", "form", "payload"}


class TokenAuth(HttpBearer):
    """`Authorization: Bearer sem_…`: a token made on the "API tokens" page, acting as its learner."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        return api_token_authenticate(raw=token)


class AnonymousAuth:
    """Lets a request without any Authorization header through as anonymous (per-IP quotas apply).
    A request that sends a bad token is refused rather than served anonymously."""

    openapi_type = "http"
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> str | None:
        return None if request.headers.get("Authorization") else "anonymous"


def request_user(request: HttpRequest) -> User | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, User) else None


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
