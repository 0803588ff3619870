"""Rows for tests. `written_course(weeks=13, lessons_per_week=4)` builds a whole ready course."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import factory
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils import timezone

from accounts.models import User
from courses.models import Course, Lesson, LessonPicture, PartStatus, Quiz, Week
from courses.rendering import markdown_to_safe_html

LESSON_BODY = """## Why it matters

A short paragraph that explains the idea with an example.

## Exercise

Try it yourself in five minutes.
"""


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"learner{n}@example.com")


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course

    topic = factory.Sequence(lambda n: f"Topic number {n}")
    topic_key = factory.LazyAttribute(lambda course: course.topic.casefold())
    title = factory.LazyAttribute(lambda course: f"An introduction to {course.topic}")
    description = "A friendly course for curious beginners."
    audience = "Curious beginners"
    generator = "offline"


def written_course(*, weeks: int = 13, lessons_per_week: int = 4, **fields: Any) -> Course:
    """A ready course with every week, lesson and quiz written, created in a few bulk queries."""
    fields.setdefault("status", Course.Status.READY)
    fields.setdefault("ready_at", timezone.now())
    course = CourseFactory(weeks_count=weeks, **fields)
    week_rows = Week.objects.bulk_create(
        Week(
            course=course,
            number=n,
            title=f"Week {n} of {course.topic}",
            overview=f"This week covers part {n}.",
            overview_html=f"<p>This week covers part {n}.</p>",
            objectives=[f"Understand idea {n}.1", f"Apply idea {n}.2", f"Explain idea {n}.3"],
            reading_list=[
                {"title": f"Reading {n}", "author": "A. Author", "url": "https://example.org/r", "note": ""}
            ],
        )
        for n in range(1, weeks + 1)
    )
    now = timezone.now()
    Lesson.objects.bulk_create(
        Lesson(
            course=course,
            week=week,
            number=m,
            title=f"Lesson {week.number}.{m}",
            summary="What this lesson covers.",
            body=LESSON_BODY,
            body_html=markdown_to_safe_html(LESSON_BODY),
            status=PartStatus.WRITTEN,
            written_at=now,
        )
        for week in week_rows
        for m in range(1, lessons_per_week + 1)
    )
    Quiz.objects.bulk_create(
        Quiz(
            course=course,
            week=week,
            questions=quiz_questions(week.number),
            status=PartStatus.WRITTEN,
            written_at=now,
        )
        for week in week_rows
    )
    return course


def first_lesson(course: Course) -> Lesson:
    lesson = Lesson.objects.filter(course=course).order_by("week__number", "number").first()
    assert lesson is not None
    return lesson


def signed_in_session(user: User, backend: str = "accounts.backends.AccountBackend") -> str:
    """The key of a session signed in as `user` through `backend`, as `login()` leaves it (the site's session
    engine), for a browser or HTTP client to send as its session cookie."""
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = backend
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return str(session.session_key)


def lesson_picture(lesson: Lesson) -> LessonPicture:
    """A freely licensed Commons picture shown with `lesson`, as `courses.quality.pictures` would store it."""
    return LessonPicture.objects.create(
        lesson=lesson,
        course=lesson.course,
        title="Pont du Gard",
        image_url="https://upload.wikimedia.org/wikipedia/commons/thumb/a/ab/Pont.jpg/800px-Pont.jpg",
        source_url="https://commons.wikimedia.org/wiki/File:Pont.jpg",
        author="Jane Doe",
        licence="CC BY-SA 4.0",
    )


def quiz_questions(week_number: int, count: int = 4) -> list[dict[str, Any]]:
    return [
        {
            "question": f"Week {week_number}, question {q}?",
            "options": ["Right", "Wrong", "Also wrong", "Not this"],
            "answer": 0,
            "explanation": "Because the lesson said so.",
        }
        for q in range(1, count + 1)
    ]


def moderator(email: str = "moderator@example.com") -> User:
    """A staff member in the "moderators" group (created as the migration does, since flushes remove it)."""
    from courses.moderation.review import moderator_grant

    user = UserFactory(email=email)
    moderator_grant(user=user)
    return User.objects.get(pk=user.pk)  # fresh, so no permission cache from before the grant


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """A confirmed, active subscription (Monday 08:00 UTC) of a learner to a course."""

    class Meta:
        model = "delivery.Subscription"

    user = factory.SubFactory(UserFactory)
    email = factory.LazyAttribute(lambda subscription: subscription.user.email)
    course = factory.SubFactory(CourseFactory)
    status = "active"
    confirmed_at = factory.LazyFunction(timezone.now)
