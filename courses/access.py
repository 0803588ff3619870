"""What the website knows about a visitor that `courses.visibility` cannot: whether they asked for a course
(an anonymous requester is known only by their session). The rules themselves live in `courses.visibility`;
this module feeds them the request and turns their answer into a page.

A course that does not exist, or that is withdrawn from this visitor (rejected), is not found (404). A course
held for review answers 403 with the review notice instead of its content (templates/403.html shows it).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from courses.models import Course
from courses.visibility import (
    course_progress_visible_to,
    course_review_notice,
    course_visible_to,
)

REQUESTED_SESSION_KEY = "semester_requested_courses"
REQUESTED_REMEMBERED = 50  # an anonymous visitor's most recent requests, kept in their session
COURSE_NOT_FOUND = "No such course"


class CourseWithheld(PermissionDenied):
    """A page of a course held for review: Django answers 403, and the page says why (the exception's text)."""


def requested_courses_remember(request: HttpRequest, course: Course) -> None:
    """Remember in the session that this visitor asked for the course, so they may retry or see its fate."""
    ids = [str(course.id), *request.session.get(REQUESTED_SESSION_KEY, [])]
    request.session[REQUESTED_SESSION_KEY] = list(dict.fromkeys(ids))[:REQUESTED_REMEMBERED]


def viewer_is_requester(request: HttpRequest, course: Course) -> bool:
    """Did this visitor ask for the course (or may they act as if they had: staff)?"""
    user = request.user
    if user.is_authenticated and (user.is_staff or course.requested_by_id == user.pk):
        return True
    # Only look into the session if there is one: no cookie means no request of theirs, and no query.
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    return str(course.id) in request.session.get(REQUESTED_SESSION_KEY, [])


def course_readable(request: HttpRequest, course: Course | None) -> Course:
    """The course, if this visitor may read it. Http404 when there is no such course or it was withdrawn
    from them; CourseWithheld when it is held for review (the 403 page shows the notice instead)."""
    course, requester = _followable(request, course)
    if not course_visible_to(course, request.user, is_requester=requester):
        raise CourseWithheld(course_review_notice(course, request.user, is_requester=requester))
    return course


def course_followable(request: HttpRequest, course: Course | None) -> Course:
    """The course, if this visitor may follow its writing: as `course_readable`, but a held course's page of
    progress stays open (it shows none of the course's text, and tells the requester why it is held)."""
    return _followable(request, course)[0]


def _followable(request: HttpRequest, course: Course | None) -> tuple[Course, bool]:
    """The course and whether this visitor asked for it; Http404 unless they may follow its writing."""
    if course is None:
        raise Http404(COURSE_NOT_FOUND)
    requester = viewer_is_requester(request, course)
    if not course_progress_visible_to(course, request.user, is_requester=requester):
        raise Http404(COURSE_NOT_FOUND)
    return course, requester


def course_review_notice_for(request: HttpRequest, course: Course) -> str:
    """`course_review_notice` for this visitor, knowing an anonymous requester by their session."""
    return course_review_notice(course, request.user, is_requester=viewer_is_requester(request, course))
