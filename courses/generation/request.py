"""How many new courses a visitor may ask for per day: anonymous visitors per IP address
(settings.COURSE_QUOTA_PER_IP), signed-in learners per account (settings.COURSE_QUOTA_PER_USER).

Only courses that get written count. Being offered an approved course that already exists costs nothing,
so it is offered even to someone whose allowance for the day is spent. Staff have no limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from courses.generation.pipeline import CourseRequestResult, course_request
from courses.generation.topics import TopicError, topic_key, topic_normalise
from courses.models import Course
from courses.selectors import course_reusable
from school.ratelimit import rate_limit_hit, rate_limit_key, rate_limit_release

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
class Quota:
    key: str
    limit: int
    message: str


def _quota(*, user: User | None, ip: str) -> Quota | None:
    """Today's counter for this visitor; None for staff, who have no limit."""
    day = timezone.now().date().isoformat()  # UTC: the allowance renews at midnight UTC
    if user is not None and user.is_staff:
        return None
    if user is not None:
        limit = settings.COURSE_QUOTA_PER_USER
        return Quota(
            rate_limit_key("course-quota-user", user.pk, day), limit, QUOTA_SPENT_LEARNER.format(limit=limit)
        )
    limit = settings.COURSE_QUOTA_PER_IP
    return Quota(rate_limit_key("course-quota-ip", ip, day), limit, QUOTA_SPENT_ANONYMOUS.format(limit=limit))


def course_quota_remaining(*, user: User | None, ip: str) -> int | None:
    """New courses this visitor may still ask for today; None when unlimited."""
    quota = _quota(user=user, ip=ip)
    if quota is None:
        return None
    return max(0, quota.limit - int(cache.get(quota.key, 0)))


def course_request_within_quota(
    *, topic: str, language: str, weeks: int, user: User | None, ip: str, fresh: bool = False
) -> CourseRequestResult:
    """`course_request`, counted against the visitor's daily allowance (QuotaExceeded once it is spent).

    The slot is taken before the course is created, so two requests at once cannot both take the last one;
    it is given back when nothing new gets written (a reused course, or an invalid request).
    """
    quota = _quota(user=user, ip=ip)
    if quota is None:
        return course_request(topic=topic, language=language, weeks=weeks, user=user, ip=ip, fresh=fresh)
    if rate_limit_hit(key=quota.key, limit=quota.limit, window_seconds=DAY_SECONDS):
        rate_limit_release(key=quota.key)
        existing = None if fresh else _reusable(topic=topic, language=language, weeks=weeks)
        if existing is None:
            raise QuotaExceeded(quota.message)
        return CourseRequestResult(course=existing, reused=True)
    try:
        result = course_request(topic=topic, language=language, weeks=weeks, user=user, ip=ip, fresh=fresh)
    except Exception:
        rate_limit_release(key=quota.key)
        raise
    if result.reused:
        rate_limit_release(key=quota.key)
    return result


def _reusable(*, topic: str, language: str, weeks: int) -> Course | None:
    try:
        key = topic_key(topic_normalise(topic))
    except TopicError:
        return None
    return course_reusable(topic_key=key, language=language, weeks=weeks)
