"""The JSON API's authentication: a learner's API token, or an anonymous caller; and who is asking."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from accounts.models import User
from accounts.services import api_token_authenticate

INVALID_TOKEN = "The API token is missing, revoked or not valid. Create one at /accounts/api-tokens/."


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
