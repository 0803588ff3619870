"""Semester's JSON API (django-ninja), mounted at /api/. The OpenAPI document is at /api/openapi.json and
browsable at /api/docs.

Errors always have the same shape, so a program can show them next to the right input:
    {"detail": "<a sentence>", "errors": [{"field": "<name>", "message": "<a sentence>"}]}
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from accounts.api import INVALID_TOKEN, AnonymousAuth, TokenAuth
from courses.api import router as courses_router
from delivery.api import router as subscriptions_router
from delivery.learning.api import router as progress_router
from school.apitools import INVALID_INPUT, INVALID_JSON, NOT_FOUND, NOT_JSON, ApiError, error_body, field_name

# Every answer the API may give, documented on every operation, so clients (and the conformance test) know them.
ERROR_RESPONSES = {
    400: "The request body is not valid JSON.",
    401: "The API token is missing, revoked or not valid.",
    403: "The course is held for review: none of its content is served meanwhile.",
    404: "No such course, week or lesson (or it was withdrawn).",
    415: "The request body is not declared as JSON (Content-Type: application/json).",
    422: "Some of the input is not valid: one entry per field in `errors`.",
    429: "Too many requests from this address or account: try again later.",
}
BODY_METHODS = {"POST", "PUT", "PATCH"}
TOKEN_ONLY_TAGS = {"progress"}  # a learner's own progress: no anonymous access


class SemesterAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document lists the error answers and the anonymous access every operation has."""

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(**kwargs)
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for operations in schema["paths"].values():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for code, description in ERROR_RESPONSES.items():
                    if code != 415 or method.upper() in BODY_METHODS:
                        responses.setdefault(code, {"description": description, "content": error})
                if not TOKEN_ONLY_TAGS & set(operation.get("tags", [])):
                    operation["security"] = [*operation.get("security", []), {}]  # {}: no token at all
        return schema


api = SemesterAPI(
    title="Semester API",
    version="1",
    description="Ask for a course on anything, watch it being written, read it, and track your progress.",
    urls_namespace="api",
    auth=[TokenAuth(), AnonymousAuth()],
)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    errors = [
        {"field": field_name(item.get("loc", ())), "message": str(item.get("msg", ""))}
        for item in error.errors
    ]
    return api.create_response(request, error_body(INVALID_INPUT, errors), status=422)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    errors = [{"field": "Authorization", "message": INVALID_TOKEN}]
    return api.create_response(request, error_body(INVALID_TOKEN, errors), status=401)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    if error.status_code == 400 and str(error).startswith("Cannot parse request body"):
        return api.create_response(
            request, error_body(INVALID_JSON, [{"field": "body", "message": INVALID_JSON}]), status=400
        )
    errors = error.errors if isinstance(error, ApiError) else []
    return api.create_response(request, error_body(str(error), errors), status=error.status_code)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    return api.create_response(request, error_body(NOT_FOUND), status=404)


api.add_router("/courses", courses_router)
api.add_router("/courses", subscriptions_router)
api.add_router("/", progress_router)

# The types a browser may send from any page without asking first (a "simple" CORS request): refusing them
# means no other site can make its visitors' browsers call the API.


def json_body_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """415 for a POST, PUT or PATCH whose body is not declared as JSON (an empty body with no type is fine)."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method in BODY_METHODS and not _declares_json(request):
            errors = [{"field": "Content-Type", "message": NOT_JSON}]
            return api.create_response(request, error_body(NOT_JSON, errors), status=415)
        return view(request, *args, **kwargs)

    return checked


def _declares_json(request: HttpRequest) -> bool:
    content_type = request.content_type or ""
    if content_type in ("", "application/octet-stream") and not request.body:
        return True  # nothing sent (Django reads a missing type as octet-stream)
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


api.add_decorator(json_body_required, mode="view")
