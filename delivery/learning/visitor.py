"""An anonymous visitor's progress, kept in their session until they sign in, then carried into the account.

A visitor may mark lessons done and take quizzes without an account; nothing is lost when they sign in later:
`visitor_work_carry` moves it, with the courses they asked for, into the account they signed in to.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from courses.visibility import requested_courses_claim
from delivery.learning.progress import anonymous_progress_carry

DONE_SESSION_KEY = "semester_done_lessons"
ATTEMPTS_SESSION_KEY = "semester_quiz_attempts"
DONE_REMEMBERED = 1000  # lessons; a visitor's session stays small
ATTEMPTS_REMEMBERED = 100


def _has_session(request: HttpRequest) -> bool:
    # No session cookie means no progress of theirs, and no query to find that out.
    return settings.SESSION_COOKIE_NAME in request.COOKIES or request.session.modified


def visitor_done_lessons(request: HttpRequest) -> set[int]:
    """The lessons this anonymous visitor marked done (ids)."""
    if not _has_session(request):
        return set()
    return {int(lesson_id) for lesson_id in request.session.get(DONE_SESSION_KEY, [])}


def visitor_lesson_mark(request: HttpRequest, *, lesson_id: int, done: bool) -> None:
    ids = [i for i in request.session.get(DONE_SESSION_KEY, []) if i != lesson_id]
    request.session[DONE_SESSION_KEY] = ([lesson_id, *ids] if done else ids)[:DONE_REMEMBERED]


def visitor_attempts(request: HttpRequest) -> list[dict[str, Any]]:
    """This visitor's quiz attempts, newest first: {"quiz", "answers", "score", "total", "at"}."""
    if not _has_session(request):
        return []
    return list(request.session.get(ATTEMPTS_SESSION_KEY, []))


def visitor_best_scores(request: HttpRequest) -> dict[int, tuple[int, int]]:
    """Quiz id → this visitor's best (score, total), as `learner_course_outline` shows them."""
    best: dict[int, tuple[int, int]] = {}
    for attempt in visitor_attempts(request):
        quiz_id, score = attempt["quiz"], attempt["score"]
        if quiz_id not in best or score > best[quiz_id][0]:
            best[quiz_id] = (score, attempt["total"])
    return best


def visitor_attempt_keep(
    request: HttpRequest, *, quiz_id: int, answers: dict[int, int], score: int, total: int
) -> None:
    attempt = {
        "quiz": quiz_id,
        "answers": {str(n): choice for n, choice in answers.items()},
        "score": score,
        "total": total,
        "at": timezone.now().isoformat(),
    }
    attempts = [attempt, *request.session.get(ATTEMPTS_SESSION_KEY, [])]
    request.session[ATTEMPTS_SESSION_KEY] = attempts[:ATTEMPTS_REMEMBERED]


def visitor_latest_attempt(request: HttpRequest, *, quiz_id: int) -> dict[str, Any] | None:
    return next((a for a in visitor_attempts(request) if a["quiz"] == quiz_id), None)


def visitor_work_carry(request: HttpRequest, *, user: User) -> None:
    """Carry what the visitor did before signing in into `user`'s account, then forget the session's copy.

    Call it right after `login()`, which keeps the session's data. Courses they asked for become theirs;
    lessons done and quiz attempts join their progress, merged without duplicates."""
    requested_courses_claim(request, user=user)
    done = request.session.pop(DONE_SESSION_KEY, [])
    attempts = request.session.pop(ATTEMPTS_SESSION_KEY, [])
    if done or attempts:
        anonymous_progress_carry(user=user, lesson_ids=list(done), attempts=list(attempts))


def visitor_work_carry_on_sign_in(
    sender: object, request: HttpRequest | None, user: object, **kwargs: object
) -> None:
    """Receives Django's `user_logged_in` (connected in `DeliveryConfig.ready`): accounts signs learners in
    without knowing, or importing, what delivery keeps for visitors."""
    if request is not None and isinstance(user, User) and hasattr(request, "session"):
        visitor_work_carry(request, user=user)
