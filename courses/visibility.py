"""Who may see a course, and whether it may be emailed: the one place these rules live.

- Public (the catalogue, search, featured lists): written (READY) and APPROVED by a moderator, and not held.
- Held for review (screening flagged a part): hidden from everyone but staff and never emailed; its requester
  is told it is being reviewed.
- Rejected: never emailed, and hidden from everyone but staff and its requester, who is shown the reason.
- Otherwise (pending review, needs changes): private to whoever holds its unguessable link, and emailable.

The second half feeds these rules what the website and the API know of a visitor (an anonymous requester is
known only by their session) and turns their answer into a page: a course that does not exist, or that is
withdrawn from this visitor (rejected), is not found (404); a course held for review answers 403 with the review
notice instead of its content (templates/403.html shows it). This module is public: `delivery` reads its rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from accounts.api import request_user
from courses.models import Course
from school.apitools import ApiError

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

HELD_MESSAGE = (
    "This course is being reviewed by our moderators before anyone can read it. "
    "We will let you know when it is back."
)
REJECTED_MESSAGE = "Our moderators could not publish this course."
NEEDS_CHANGES_MESSAGE = "Our moderators asked for changes before this course can be published."
COURSE_NOT_FOUND = "No such course"
API_COURSE_NOT_FOUND = "No course with this id (or it was withdrawn)."


def public_courses() -> QuerySet[Course]:
    """Courses anyone may find: the catalogue, search and featured lists start from this queryset."""
    return Course.objects.filter(
        status=Course.Status.READY, review_state=Course.Review.APPROVED, held_for_review=False
    )


def course_is_public(course: Course) -> bool:
    """Listed in the catalogue, search and featured lists: the same rule as `public_courses()`, for one row."""
    return (
        course.status == Course.Status.READY
        and course.review_state == Course.Review.APPROVED
        and not course.held_for_review
    )


def course_is_held(course: Course) -> bool:
    """Screening flagged a part and no moderator has cleared it yet: hide it and never email it."""
    return course.held_for_review


def course_is_withheld(course: Course) -> bool:
    """Held or rejected: shown to staff only (its requester sees why) and never emailed, not even a week."""
    return course.held_for_review or course.review_state == Course.Review.REJECTED


def course_readable_early(course: Course) -> bool:
    """May its written lessons be read while the rest is still being written? Only while it is being written
    and not withheld: each lesson was screened before it was stored, and a hold (or a rejection) hides them all
    again at once. Who may read them is who may follow its writing (`course_followable`), which for a course
    that is not withheld is who may read it (`course_readable`): this narrows those rules, never widens them."""
    return course.status == Course.Status.WRITING and not course_is_withheld(course)


def _is_staff(user: User | AnonymousUser | Any) -> bool:
    return bool(getattr(user, "is_staff", False) and getattr(user, "is_active", False))


def course_visible_to(
    course: Course, user: User | AnonymousUser | Any, *, is_requester: bool | None = None
) -> bool:
    """May this visitor read the course's lessons?

    Staff always. A held course nobody else (its content is what is in question). A rejected course only its
    requester. Anything else whoever holds the link. `is_requester` lets the website pass what it knows
    (e.g. an anonymous visitor's session); by default the signed-in user is compared with the requester.
    """
    if course.held_for_review and not _is_staff(user):
        return False
    return course_progress_visible_to(course, user, is_requester=is_requester)


def course_progress_visible_to(
    course: Course, user: User | AnonymousUser | Any, *, is_requester: bool | None = None
) -> bool:
    """May this visitor follow the course's writing (its progress, none of its text)?

    As `course_visible_to`, except that a hold does not hide it: the requester watching their course being
    written is told it is held, and a held course's progress shows nothing that is in question.
    """
    if _is_staff(user):
        return True
    if course.review_state == Course.Review.REJECTED:
        return course_is_requester(course, user) if is_requester is None else is_requester
    return True


def course_is_requester(course: Course, user: User | AnonymousUser | Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and course.requested_by_id == user.pk)


def course_review_notice(
    course: Course, user: User | AnonymousUser | Any, *, is_requester: bool | None = None
) -> str:
    """What to tell this visitor about the course's review, or "" when there is nothing to say.

    The requester learns why their course is hidden or unpublished (with the moderator's reason); anyone
    else holding the link of a withheld course is only told it is being reviewed or is unavailable.
    `is_requester` works as in `course_visible_to`.
    """
    if course.held_for_review:
        return HELD_MESSAGE
    if is_requester is None:
        is_requester = course_is_requester(course, user)
    requester = is_requester or _is_staff(user)
    if course.review_state == Course.Review.REJECTED:
        return _with_reason(REJECTED_MESSAGE, course.review_reason) if requester else REJECTED_MESSAGE
    if course.review_state == Course.Review.NEEDS_CHANGES and requester:
        return _with_reason(NEEDS_CHANGES_MESSAGE, course.review_reason)
    return ""


def _with_reason(message: str, reason: str) -> str:
    return f"{message} Reason: {reason}" if reason else message


def course_shown_title(course: Course) -> str:
    """The course's name where a course may be listed whatever its review (My learning, its progress page):
    while it is held, the topic its requester typed, since the LLM-written title may be what is in question."""
    return course.topic if course.held_for_review else (course.title or course.topic)


# ---------------------------------------------------------------------------------------------------------
# The rules applied to a request: the website (session, pages) and the JSON API
# ---------------------------------------------------------------------------------------------------------
REQUESTED_SESSION_KEY = "semester_requested_courses"
REQUESTED_REMEMBERED = 50  # an anonymous visitor's most recent requests, kept in their session


class CourseWithheld(PermissionDenied):
    """A page of a course held for review: Django answers 403, and the page says why (the exception's text)."""


def requested_courses_remember(request: HttpRequest, course: Course) -> None:
    """Remember in the session that this visitor asked for the course, so they may retry or see its fate."""
    ids = [str(course.id), *request.session.get(REQUESTED_SESSION_KEY, [])]
    request.session[REQUESTED_SESSION_KEY] = list(dict.fromkeys(ids))[:REQUESTED_REMEMBERED]


def requested_courses_claim(request: HttpRequest, *, user: User) -> int:
    """At sign-in: the courses this visitor asked for while anonymous become the account's (listed in My
    learning, editable while private). Courses someone else already owns stay theirs. Returns how many."""
    ids = request.session.get(REQUESTED_SESSION_KEY, [])
    if not ids:
        return 0
    return Course.objects.filter(id__in=ids, requested_by__isnull=True).update(requested_by=user)


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
    if not course_is_public(course):
        noindex_mark(request)  # a private course's address is its only lock: keep it out of search engines
    requester = viewer_is_requester(request, course)
    if not course_progress_visible_to(course, request.user, is_requester=requester):
        raise Http404(COURSE_NOT_FOUND)
    return course, requester


NOINDEX_ATTRIBUTE = "semester_noindex"


def noindex_mark(request: HttpRequest) -> None:
    """Ask search engines not to index this response: `school.http.NoIndexMiddleware` sends X-Robots-Tag, and
    the base template a robots meta tag."""
    setattr(request, NOINDEX_ATTRIBUTE, True)


def course_review_notice_for(request: HttpRequest, course: Course) -> str:
    """`course_review_notice` for this visitor, knowing an anonymous requester by their session."""
    return course_review_notice(course, request.user, is_requester=viewer_is_requester(request, course))


def course_visible_via_api(request: HttpRequest, course_id: UUID) -> Course:
    """The course, unless it does not exist or was withdrawn from this caller (404 naming `course_id`), or
    is held for review (403, the review notice as `detail`: none of its content is served meanwhile)."""
    course = Course.objects.filter(id=course_id).order_by().first()
    user = request_user(request)
    if course is None or not course_progress_visible_to(course, user):
        raise ApiError(404, API_COURSE_NOT_FOUND, field="course_id")
    if not course_visible_to(course, user):
        raise ApiError(403, course_review_notice(course, user))
    return course


def course_editable_by(*, course: Course, user: User) -> bool:
    """Moderators edit any course; a requester edits their own course while it is private.

    Once approved (published) or rejected, only moderators change it: only admins publish. While it is held
    for review, its requester cannot even read it (`courses.visibility`), let alone change it.
    """
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff and user.has_perm("courses.change_lesson"):
        return True
    private = course.review_state in (
        Course.Review.PENDING,
        Course.Review.NEEDS_CHANGES,
    ) and not course_is_held(course)
    return private and course.requested_by_id == user.pk
