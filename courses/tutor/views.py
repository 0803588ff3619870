"""The tutor's pages: ask (a form post that works without JavaScript, or a fetch that returns JSON), the
answer as it grows (JSON read from Redis, no database), and "Report this answer"."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from courses.models import Lesson, TutorMessage
from courses.tutor import live, stream
from courses.tutor.asking import REPORT_DONE, TutorError, tutor_answer_report, tutor_ask
from courses.tutor.selectors import ShownMessage
from courses.visibility import course_readable

WANTS_JSON = "application/json"


def _wants_json(request: HttpRequest) -> bool:
    return WANTS_JSON in request.headers.get("Accept", "")


@require_POST
def ask(request: HttpRequest, course_id: UUID, lesson_id: int) -> HttpResponse:
    lesson = get_object_or_404(
        Lesson.objects.select_related("week", "course"), pk=lesson_id, course_id=course_id
    )
    if not isinstance(request.user, User):
        return redirect_to_login(lesson.get_absolute_url())
    course_readable(request, lesson.course)
    try:
        message = tutor_ask(
            user=request.user, week=lesson.week, lesson=lesson, question=request.POST.get("question", "")
        )
    except TutorError as error:
        if _wants_json(request):
            return JsonResponse({"error": str(error)}, status=400)
        messages.error(request, str(error))
        return redirect(lesson.get_absolute_url() + "#tutor")
    if _wants_json(request):
        shown = ShownMessage.being_written(message)
        html = render_to_string("courses/tutor/_message.html", {"shown": shown})
        return JsonResponse({"id": message.id, "live_url": shown.live_url, "html": html})
    return redirect(lesson.get_absolute_url() + f"#tutor-{message.id}")


@require_GET
def live_answer(request: HttpRequest, token: str) -> HttpResponse:
    """The answer from `?from=N` on, and how it ended once it has: {"text", "next", "ended"}. Served by
    `courses.tutor.middleware.LiveAnswerMiddleware` before the rest of the stack; this view answers the same
    for a stack without it, and refuses other methods."""
    return live_answer_json(request, token)


def live_answer_json(request: HttpRequest, token: str) -> HttpResponse:
    message_id = live.live_token_read(token)
    if message_id is None:
        response: HttpResponse = JsonResponse({"error": "No such answer."}, status=404)
    else:
        progress = live.live_read(message_id, start=_piece_number(request.GET.get("from", "")))
        response = JsonResponse({"text": progress.text, "next": progress.next, "ended": progress.ended})
    add_never_cache_headers(response)
    return response


@require_GET
async def live_stream(request: HttpRequest, token: str) -> HttpResponseBase:
    """The answer pushed as server-sent events (`courses.tutor.stream`), from Last-Event-ID or `?from=N` on.
    Only the ASGI server streams: under gunicorn a stream would hold one of its threads until the answer
    ends, so there this refuses and the page polls `live_answer` instead. The token is the only key, as for
    polls, and no cookie is read, so any origin may open it: the ASGI server may sit on a port of its own."""
    message_id = live.live_token_read(token)
    if message_id is None or not settings.REDIS_URL or not isinstance(request, ASGIRequest):
        why = "No such answer." if message_id is None else "Answers are not streamed here; poll instead."
        response: HttpResponseBase = JsonResponse({"error": why}, status=404)
    else:
        start = _piece_number(request.headers.get("Last-Event-ID") or request.GET.get("from", ""))
        response = StreamingHttpResponse(
            stream.live_events(message_id, start=start),
            content_type="text/event-stream",
        )
        response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the events back
    response["Access-Control-Allow-Origin"] = "*"
    add_never_cache_headers(response)
    return response


def _piece_number(value: str) -> int:
    """Where a poll or a stream starts: the first piece the page has not shown yet (0 unless a number)."""
    return int(value) if value.isdigit() else 0


@login_required
@require_POST
def report(request: HttpRequest, message_id: int) -> HttpResponse:
    message = get_object_or_404(
        TutorMessage.objects.select_related("conversation__lesson__course"),
        pk=message_id,
        conversation__user=request.user,
    )
    user = cast(User, request.user)
    try:
        tutor_answer_report(message=message, user=user, comment=request.POST.get("comment", "")[:2000])
    except TutorError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, REPORT_DONE)
    lesson = message.conversation.lesson
    return redirect(lesson.get_absolute_url() + f"#tutor-{message.id}" if lesson else "/")
