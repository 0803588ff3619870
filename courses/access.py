"""Who may see a course. A requested course is private: only its link (an unguessable UUID) leads to it, and
it stays off the catalogue and search until a moderator approves it. A rejected course is withdrawn from
everyone but its requester and the staff."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from courses.models import Course

REQUESTED_SESSION_KEY = "semester_requested_courses"
REQUESTED_REMEMBERED = 50  # an anonymous visitor's most recent requests, kept in their session


def requested_courses_remember(request: HttpRequest, course: Course) -> None:
    """Remember in the session that this visitor asked for the course, so they may retry or see its fate."""
    ids = [str(course.id), *request.session.get(REQUESTED_SESSION_KEY, [])]
    request.session[REQUESTED_SESSION_KEY] = list(dict.fromkeys(ids))[:REQUESTED_REMEMBERED]


def viewer_is_requester(request: HttpRequest, course: Course) -> bool:
    user = request.user
    if user.is_authenticated and (user.is_staff or course.requested_by_id == user.pk):
        return True
    # Only look into the session if there is one: no cookie means no request of theirs, and no query.
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    return str(course.id) in request.session.get(REQUESTED_SESSION_KEY, [])


def course_visible(request: HttpRequest, course: Course) -> bool:
    if course.review_state != Course.Review.REJECTED:
        return True
    return viewer_is_requester(request, course)
