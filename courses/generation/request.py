"""The one gate a course request passes, read top to bottom in `course_request`:

1. the request is valid: a topic we can name, a language we write in, a number of weeks in range;
2. an approved course that already covers it is offered instead: it costs nothing, so it is offered even to
   someone whose allowance for the day is spent;
3. the visitor's daily allowance takes a slot: per account for signed-in learners (COURSE_QUOTA_PER_USER),
   per IP address for anonymous visitors (COURSE_QUOTA_PER_IP); staff, and the shell (no account, no
   address), have none. The slot is given back when nothing new gets written;
4. the day's LLM spend cap is not reached (`courses.moderation.costs`);
5. the topic passes screening; a refused topic is kept for admins (`courses.moderation.review`);
then the course is created and its outline queued (`courses.generation.pipeline.course_start`); with
`review_outline` its weeks wait until the requester confirms the outline (`courses.generation.outline_review`).

A refusal raises CourseRequestError (a field and a sentence for the form or the API) or QuotaExceeded.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from courses.errors import CourseRequestError
from courses.generation.pipeline import course_start
from courses.models import Course
from courses.moderation import costs, review
from courses.selectors import course_reusable
from courses.topics import TopicError, topic_key, topic_normalise
from school.ratelimit import rate_limit_hit, rate_limit_key, rate_limit_release

LANGUAGE_UNKNOWN = "Choose one of the languages in the list."
WEEKS_OUT_OF_RANGE = "A course lasts between {min} and {max} weeks."
QUOTA_SPENT_ANONYMOUS = (
    "You have asked for {limit} new courses today, the most a visitor may. Sign in to ask for more, "
    "or try again tomorrow."
)
QUOTA_SPENT_LEARNER = (
    "You have asked for {limit} new courses today, the most one account may. Please try again tomorrow."
)
DAY_SECONDS = 24 * 3600


class QuotaExceeded(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CourseRequestResult:
    course: Course
    reused: bool  # an approved course already covered the request; nothing new is written


@dataclass(frozen=True)
class Quota:
    key: str
    limit: int
    message: str


def course_request(
    *,
    topic: str,
    language: str,
    weeks: int,
    user: User | None,
    ip: str | None,
    fresh: bool = False,
    review_outline: bool = False,
    drop_unconfirmed: bool = False,
) -> CourseRequestResult:
    """Offer the approved course that matches the request, or admit a new one and start writing it (with
    `review_outline`, its outline only, until its requester confirms it)."""
    clean_topic = _valid_request(topic=topic, language=language, weeks=weeks)
    if not fresh:
        existing = course_reusable(topic_key=topic_key(clean_topic), language=language, weeks=weeks)
        if existing is not None:
            return CourseRequestResult(course=existing, reused=True)
    quota = _quota(user=user, ip=ip)
    if quota is not None and rate_limit_hit(key=quota.key, limit=quota.limit, window_seconds=DAY_SECONDS):
        rate_limit_release(key=quota.key)
        raise QuotaExceeded(quota.message)
    try:
        if costs.spend_cap_reached():
            raise review.SpendCapReached()
        review.topic_admit(topic=clean_topic, language=language, user=user, ip=ip)
        course = course_start(
            topic=clean_topic,
            language=language,
            weeks=weeks,
            user=user,
            ip=ip,
            review_outline=review_outline,
            drop_unconfirmed=drop_unconfirmed,
        )
    except Exception:
        if quota is not None:  # nothing was written: the slot goes back
            rate_limit_release(key=quota.key)
        raise
    return CourseRequestResult(course=course, reused=False)


def course_quota_remaining(*, user: User | None, ip: str) -> int | None:
    """New courses this visitor may still ask for today; None when unlimited."""
    quota = _quota(user=user, ip=ip)
    if quota is None:
        return None
    return max(0, quota.limit - int(cache.get(quota.key, 0)))


def _valid_request(*, topic: str, language: str, weeks: int) -> str:
    try:
        clean_topic = topic_normalise(topic)
    except TopicError as error:
        raise CourseRequestError("topic", error.message) from None
    if language not in dict(settings.COURSE_LANGUAGES):
        raise CourseRequestError("language", LANGUAGE_UNKNOWN)
    if not settings.COURSE_WEEKS_MIN <= weeks <= settings.COURSE_WEEKS_MAX:
        message = WEEKS_OUT_OF_RANGE.format(min=settings.COURSE_WEEKS_MIN, max=settings.COURSE_WEEKS_MAX)
        raise CourseRequestError("weeks", message)
    return clean_topic


def _quota(*, user: User | None, ip: str | None) -> Quota | None:
    """Today's counter for this visitor; None for staff and for the shell, who have no limit."""
    day = timezone.now().date().isoformat()  # UTC: the allowance renews at midnight UTC
    if user is not None and user.is_staff:
        return None
    if user is not None:
        limit = settings.COURSE_QUOTA_PER_USER
        return Quota(
            rate_limit_key("course-quota-user", user.pk, day), limit, QUOTA_SPENT_LEARNER.format(limit=limit)
        )
    if ip is None:
        return None
    limit = settings.COURSE_QUOTA_PER_IP
    return Quota(rate_limit_key("course-quota-ip", ip, day), limit, QUOTA_SPENT_ANONYMOUS.format(limit=limit))
