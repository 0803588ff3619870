"""The tutor's answer polls, answered before the rest of the middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from courses.tutor.views import live_answer_json


class LiveAnswerMiddleware:
    """A learner's page asks for its growing answer several times a second while it is written: a Redis read.
    Each poll went through the whole stack (sessions, CSRF, authentication, messages, CSP, URL resolution),
    which cost several times the read and, with fifty learners asking, queued in front of page requests
    (bench/README.md, bench_tutor.py). Placed right after SecurityMiddleware, so polls keep its headers and
    redirects; the answer's token is its only key, as in `courses.tutor.views.live_answer`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefix = reverse("courses:tutor_live", args=["-"])[:-2]  # "/tutor/live/"

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if request.method == "GET" and path.startswith(self.prefix) and path.endswith("/"):
            token = path[len(self.prefix) : -1]
            if token and "/" not in token:
                return live_answer_json(request, token)
        return self.get_response(request)
