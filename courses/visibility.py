"""Who may see a course, and whether it may be emailed: the one place these rules live.

- Public (the catalogue, search, featured lists): written (READY) and APPROVED by a moderator, and not held.
- Held for review (screening flagged a part): hidden from everyone but staff and never emailed; its requester
  is told it is being reviewed.
- Rejected: never emailed, and hidden from everyone but staff and its requester, who is shown the reason.
- Otherwise (pending review, needs changes): private to whoever holds its unguessable link, and emailable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from courses.models import Course

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

HELD_MESSAGE = (
    "This course is being reviewed by our moderators before anyone can read it. "
    "We will let you know when it is back."
)
REJECTED_MESSAGE = "Our moderators could not publish this course."
NEEDS_CHANGES_MESSAGE = "Our moderators asked for changes before this course can be published."


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
