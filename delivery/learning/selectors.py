"""Reads of a learner's progress, shaped for the pages that show it. Each runs a fixed number of queries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any
from uuid import UUID

from django.db import connection, models
from django.db.models import Count, IntegerField, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse

from accounts.models import User
from courses.models import Course, Lesson, LessonPicture, PartStatus, TutorConversation, TutorMessage
from courses.selectors import (
    LessonEntry,
    WeekEntry,
    course_first_lesson_id_subquery,
    course_lesson_count_subquery,
    course_lesson_for_reading,
    course_structure,
    course_structure_version,
    reading_minutes,
)
from delivery.email.tokens import manage_token
from delivery.models import Enrollment, LessonCompletion, QuizAttempt, Subscription


@dataclass
class LessonItem:
    """A lesson in the course outline, with the learner's progress on it."""

    id: int
    number: int
    title: str
    status: str
    week_number: int
    minutes: int = 0  # reading time
    done: bool = False
    url: str = ""  # set by the view


QUIZ_MINUTES = 5  # the time estimate of a week's quiz


@dataclass
class WeekProgress:
    number: int
    title: str
    lessons: list[LessonItem]
    objectives: tuple[str, ...] = ()
    quiz_id: int | None = None
    quiz_status: str | None = None
    best_score: int | None = None  # the learner's best quiz score, None before any attempt
    quiz_total: int = 0
    quiz_url: str = ""  # set by the view

    @property
    def lessons_done(self) -> int:
        return sum(1 for lesson in self.lessons if lesson.done)

    @property
    def percent(self) -> int:
        return round(100 * self.lessons_done / len(self.lessons)) if self.lessons else 0

    @property
    def is_done(self) -> bool:
        return bool(self.lessons) and self.lessons_done == len(self.lessons)

    @property
    def quiz_ready(self) -> bool:
        return self.quiz_status == PartStatus.WRITTEN

    @property
    def minutes(self) -> int:
        """The week's time estimate: reading its lessons, then its quiz."""
        return sum(lesson.minutes for lesson in self.lessons) + (QUIZ_MINUTES if self.quiz_id else 0)


OUTCOMES_SHOWN = 5


@dataclass
class CourseOutline:
    """The course's weeks and lessons with one learner's progress, built only when a page shows them."""

    course: Course
    done: set[int]  # lesson ids the learner marked done
    best: dict[int, tuple[int, int]]  # quiz id -> the learner's best (score, total)
    # Changes with the course's structure and the learner's progress: the page is kept under it.
    fingerprint: str
    subscription: CourseSubscription | None = None  # the learner's, to this course

    @cached_property
    def weeks(self) -> list[WeekProgress]:
        weeks = []
        for entry in course_structure(course=self.course):
            score, total = self.best.get(entry.quiz_id or 0, (None, 0))
            lessons = [LessonItem(**lesson.__dict__, done=lesson.id in self.done) for lesson in entry.lessons]
            weeks.append(
                WeekProgress(
                    number=entry.number,
                    title=entry.title,
                    lessons=lessons,
                    quiz_id=entry.quiz_id,
                    quiz_status=entry.quiz_status,
                    best_score=score,
                    quiz_total=total,
                    objectives=entry.objectives,
                )
            )
        return weeks

    @property
    def outcomes(self) -> list[str]:
        """What the course teaches, at a glance: the first objective of up to five weeks spread over it."""
        weeks = [week for week in self.weeks if week.objectives]
        if len(weeks) > OUTCOMES_SHOWN:
            step = (len(weeks) - 1) / (OUTCOMES_SHOWN - 1)
            weeks = [weeks[round(i * step)] for i in range(OUTCOMES_SHOWN)]
        return [week.objectives[0] for week in weeks]

    @property
    def current_week(self) -> int | None:
        """The week to open: the one holding the next lesson to read; None once every lesson is done."""
        lesson = self.next_lesson
        return lesson.week_number if lesson else None

    @property
    def minutes(self) -> int:
        return sum(week.minutes for week in self.weeks)

    @property
    def hours(self) -> int:
        return max(1, round(self.minutes / 60))

    @property
    def lessons(self) -> list[LessonItem]:
        return [lesson for week in self.weeks for lesson in week.lessons]

    @property
    def lessons_total(self) -> int:
        return len(self.lessons)

    @property
    def lessons_done(self) -> int:
        return sum(week.lessons_done for week in self.weeks)

    @property
    def percent(self) -> int:
        return round(100 * self.lessons_done / self.lessons_total) if self.lessons_total else 0

    @property
    def next_lesson(self) -> LessonItem | None:
        """Where to continue: the first lesson, in reading order, not yet marked done."""
        return next((lesson for lesson in self.lessons if not lesson.done), None)


def _column(model: type[models.Model], field: str) -> str:
    column = model._meta.get_field(field)
    assert isinstance(column, models.Field)  # a concrete field, never a reverse relation
    quote = connection.ops.quote_name
    return f"{quote(model._meta.db_table)}.{quote(str(column.column))}"


@cache
def _progress_sql() -> str:
    """Lessons done (lesson id), quiz attempts (quiz id, score, total) and the email subscription (its status,
    id, next week, and 0 if unconfirmed or else 1 + its link generation) of one learner in one course.

    Written out rather than built by the ORM: building and compiling the UNION of two annotated querysets
    took about four times as long as running it (~0.9 ms of the page every learner opens most)."""
    done, attempt, sub = LessonCompletion, QuizAttempt, Subscription
    table = connection.ops.quote_name
    # Only names from the models' metadata go into the text; the learner and the course are parameters.
    return (
        f"SELECT 'lesson', {_column(done, 'lesson')}, 0, 0 FROM {table(done._meta.db_table)}"  # noqa: S608
        f" WHERE {_column(done, 'user')} = %s AND {_column(done, 'course')} = %s"
        f" UNION ALL SELECT 'quiz', {_column(attempt, 'quiz')}, {_column(attempt, 'score')},"
        f" {_column(attempt, 'total')} FROM {table(attempt._meta.db_table)}"
        f" WHERE {_column(attempt, 'user')} = %s AND {_column(attempt, 'course')} = %s"
        f" UNION ALL SELECT 'subscription:' || {_column(sub, 'status')}, {_column(sub, 'id')},"
        f" {_column(sub, 'next_week')},"
        f" CASE WHEN {_column(sub, 'confirmed_at')} IS NULL THEN 0 ELSE 1 + {_column(sub, 'link_generation')} END"
        f" FROM {table(sub._meta.db_table)}"
        f" WHERE {_column(sub, 'email')} = %s AND {_column(sub, 'course')} = %s"
    )


@dataclass(frozen=True)
class CourseSubscription:
    """The learner's email subscription to the course, as the course page shows it."""

    id: int
    status: str
    next_week: int
    confirmed: bool
    link_generation: int = 0

    @property
    def is_following(self) -> bool:
        """Live or waiting for confirmation: the page shows this instead of a fresh subscribe form."""
        return self.status in (
            Subscription.Status.ACTIVE,
            Subscription.Status.PAUSED,
            Subscription.Status.PENDING,
        )

    @property
    def status_label(self) -> str:
        return str(Subscription.Status(self.status).label)

    @property
    def manage_url(self) -> str:
        """Empty until the address is confirmed: the confirmation link comes first."""
        if not self.confirmed:
            return ""
        return reverse(
            "delivery:manage", args=[manage_token(subscription_id=self.id, generation=self.link_generation)]
        )


Progress = tuple[set[int], dict[int, tuple[int, int]], CourseSubscription | None]


def _learner_progress(*, course: Course, user: User | None) -> Progress:
    """The lessons the learner marked done, their best (score, total) on each quiz, and their subscription.

    One query (a UNION of the three tables): it runs on every course page a learner opens."""
    if user is None:
        return set(), {}, None
    # The course id adapted as the ORM would: SQLite (the one-machine install) stores UUIDs as text.
    course_id = Course._meta.pk.get_db_prep_value(course.pk, connection)  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        cursor.execute(_progress_sql(), [user.pk, course_id, user.pk, course_id, user.email, course_id])
        rows = cursor.fetchall()
    done: set[int] = set()
    best: dict[int, tuple[int, int]] = {}
    subscription = None
    for kind, part_id, score, total in rows:
        if kind == "lesson":
            done.add(part_id)
        elif kind.startswith("subscription:"):
            subscription = CourseSubscription(
                part_id, kind.split(":", 1)[1], score, total > 0, max(total - 1, 0)
            )
        elif part_id not in best or score > best[part_id][0]:
            best[part_id] = (score, total)
    return done, best, subscription


def learner_course_outline(
    *,
    course: Course,
    user: User | None,
    visitor_done: set[int] | None = None,
    visitor_best: dict[int, tuple[int, int]] | None = None,
) -> CourseOutline:
    """The course's weeks and lessons with the learner's progress on each.

    One small query for a signed-in learner, none for an anonymous reader, whose progress (kept in their
    session: `delivery.learning.visitor`) the view passes as `visitor_done` and `visitor_best`. The weeks are built (from the cached
    `course_structure`) only when a page shows them: a page kept under the fingerprint needs none of it.
    """
    done, best, subscription = _learner_progress(course=course, user=user)
    if user is None and (visitor_done or visitor_best):
        done, best = set(visitor_done or ()), dict(visitor_best or {})
    progress = "anonymous" if user is None and not (done or best) else f"{sorted(done)}{sorted(best.items())}"
    state = f"{course_structure_version(course=course)}|{progress}|{subscription}"
    digest = hashlib.sha256(state.encode()).hexdigest()
    return CourseOutline(
        course=course, done=done, best=best, fingerprint=digest[:40], subscription=subscription
    )


@dataclass
class LessonPage:
    lesson: Lesson
    previous: LessonEntry | None
    next: LessonEntry | None
    position: int  # from 1, across the whole course
    count: int
    done: bool
    week: WeekEntry | None = None  # the lesson's week, its lessons listed beside it
    week_done: set[int] = field(default_factory=set)  # which of the week's lessons the learner marked done

    @property
    def is_last_of_week(self) -> bool:
        return self.next is None or self.next.week_number != self.lesson.week.number

    @property
    def quiz_next(self) -> bool:
        """Whether "continue" leads to the week's quiz: after the week's last lesson, once it is written."""
        return self.is_last_of_week and self.week is not None and self.week.quiz_status == PartStatus.WRITTEN

    @property
    def minutes(self) -> int:
        """The lesson's reading time."""
        return reading_minutes(len(self.lesson.body))

    def mark(self, done: set[int]) -> None:
        """Take the learner's progress from elsewhere (an anonymous visitor's session)."""
        self.week_done = {entry.id for entry in self.week.lessons if entry.id in done} if self.week else set()
        self.done = self.lesson.id in done


def learner_lesson(*, course_id: UUID | str, lesson_id: int, user: User | None) -> LessonPage | None:
    """A lesson with its neighbours across weeks, its week's lessons and which of those the learner marked
    done: two queries (the neighbours and the week come from the cached course structure)."""
    lesson = course_lesson_for_reading(course_id=course_id, lesson_id=lesson_id)
    if lesson is None:
        return None
    structure = course_structure(course=lesson.course)
    siblings = [entry for week in structure for entry in week.lessons]
    index = next((i for i, sibling in enumerate(siblings) if sibling.id == lesson.id), 0)
    week = next((week for week in structure if week.id == lesson.week_id), None)
    page = LessonPage(
        lesson=lesson,
        previous=siblings[index - 1] if index > 0 else None,
        next=siblings[index + 1] if index + 1 < len(siblings) else None,
        position=index + 1,
        count=len(siblings),
        done=False,
        week=week,
    )
    if user is not None:
        ids = [entry.id for entry in week.lessons] if week else [lesson.id]
        page.mark(
            set(
                LessonCompletion.objects.filter(user=user, lesson_id__in=ids).values_list(
                    "lesson_id", flat=True
                )
            )
        )
    return page


@dataclass
class LearnerCourse:
    """One course on "My learning"."""

    enrollment: Enrollment
    course: Course
    lessons_total: int
    lessons_done: int
    week_reached: int  # the highest week with a lesson done; 0 before the first
    next_lesson_id: int | None = None  # the first lesson, in reading order, not yet done; None when all are
    quizzes_taken: int = 0
    quiz_percent: int | None = None  # the mean of the best score on each quiz taken

    @property
    def percent(self) -> int:
        return round(100 * self.lessons_done / self.lessons_total) if self.lessons_total else 0


def _count(queryset: QuerySet[Any]) -> Coalesce:
    return Coalesce(Subquery(queryset, output_field=IntegerField()), 0)


def learner_courses(*, user: User) -> list[LearnerCourse]:
    """The learner's courses, most recently studied first, with their progress and where to continue: two
    queries in all."""
    mine = LessonCompletion.objects.filter(user=user, course=OuterRef("course"))
    enrollments = (
        Enrollment.objects.filter(user=user)
        .select_related("course")
        .annotate(
            lessons_total=_count(course_lesson_count_subquery(course=OuterRef("course"))),
            lessons_done=_count(mine.order_by().values("course").annotate(n=Count("id")).values("n")),
            week_reached=_count(
                mine.order_by().values("course").annotate(n=Max("lesson__week__number")).values("n")
            ),
            next_lesson_id=Subquery(
                course_first_lesson_id_subquery(
                    course=OuterRef("course"),
                    excluding=LessonCompletion.objects.filter(user=user).values("lesson_id"),
                )
            ),
        )
        .order_by("-last_activity_at")
    )
    rows = [
        LearnerCourse(
            enrollment=enrollment,
            course=enrollment.course,
            lessons_total=enrollment.lessons_total,  # type: ignore[attr-defined]
            lessons_done=enrollment.lessons_done,  # type: ignore[attr-defined]
            week_reached=enrollment.week_reached,  # type: ignore[attr-defined]
            next_lesson_id=enrollment.next_lesson_id,  # type: ignore[attr-defined]
        )
        for enrollment in enrollments
    ]
    _add_quiz_scores(user=user, rows=rows)
    return rows


def _add_quiz_scores(*, user: User, rows: list[LearnerCourse]) -> None:
    best: dict[tuple[object, int], float] = {}
    attempts = QuizAttempt.objects.filter(
        user=user, course_id__in=[row.course.id for row in rows], total__gt=0
    )
    for course_id, quiz_id, score, total in attempts.values_list("course_id", "quiz_id", "score", "total"):
        key = (course_id, quiz_id)
        best[key] = max(best.get(key, 0.0), score / total)
    for row in rows:
        scores = [value for (course_id, _), value in best.items() if course_id == row.course.id]
        row.quizzes_taken = len(scores)
        row.quiz_percent = round(100 * sum(scores) / len(scores)) if scores else None


@dataclass(frozen=True)
class LearnerSubscription:
    """A course the learner gets by email, on "My learning"."""

    subscription: Subscription
    manage_url: str  # empty until the address is confirmed: the confirmation link comes first


def learner_subscriptions(*, user: User) -> list[LearnerSubscription]:
    """The learner's email subscriptions (theirs, or to their address), newest first, with the course: one query."""
    rows = Subscription.objects.filter(models.Q(user=user) | models.Q(email=user.email)).select_related(
        "course"
    )
    return [
        LearnerSubscription(
            row,
            CourseSubscription(
                row.id, row.status, row.next_week, row.confirmed_at is not None, row.link_generation
            ).manage_url,
        )
        for row in rows.order_by("-created_at")
    ]


@dataclass(frozen=True)
class LessonReading:
    """What a lesson page shows beyond the course's text, for one reader: the page is kept under these."""

    course_done: frozenset[int]  # the course's lessons the reader marked done
    tutor_messages: int  # the reader's questions to the tutor about this lesson
    picture: tuple[object, ...]  # the lesson's picture as the page shows it, () without one


def lesson_picture_state(picture: LessonPicture | None) -> tuple[object, ...]:
    """A picture as its lesson's page shows it: pictures are found and removed apart from the text's version."""
    return () if picture is None else (picture.pk, picture.image_url, picture.removed_at is not None)


@cache
def _lesson_reading_sql() -> str:
    """The lesson's picture, the reader's lessons done in the course and their tutor questions on the lesson.

    Written out, as `_progress_sql`: it runs on every lesson page a learner opens, most of them kept whole,
    where building three ORM queries cost more than the rest of the request."""
    picture, done, message, talk = LessonPicture, LessonCompletion, TutorMessage, TutorConversation
    table = connection.ops.quote_name
    # Only names from the models' metadata go into the text; the lesson, reader and course are parameters.
    return (
        f"SELECT 'picture', {_column(picture, 'id')}, {_column(picture, 'image_url')},"  # noqa: S608
        f" CASE WHEN {_column(picture, 'removed_at')} IS NULL THEN 0 ELSE 1 END"
        f" FROM {table(picture._meta.db_table)} WHERE {_column(picture, 'lesson')} = %s"
        f" UNION ALL SELECT 'done', {_column(done, 'lesson')}, '', 0 FROM {table(done._meta.db_table)}"
        f" WHERE {_column(done, 'user')} = %s AND {_column(done, 'course')} = %s"
        f" UNION ALL SELECT 'tutor', COUNT(*), '', 0 FROM {table(message._meta.db_table)}"
        f" INNER JOIN {table(talk._meta.db_table)}"
        f" ON {_column(message, 'conversation')} = {_column(talk, 'id')}"
        f" WHERE {_column(talk, 'user')} = %s AND {_column(talk, 'lesson')} = %s"
    )


def learner_lesson_reading(*, course: Course, lesson_id: int, user: User | None) -> LessonReading:
    """`LessonReading` for a signed-in learner (user) or an anonymous reader (None: their marks are in their
    session, so only the picture is read here). One query."""
    course_id = Course._meta.pk.get_db_prep_value(course.pk, connection)  # type: ignore[union-attr]
    user_id = user.pk if user is not None else None
    with connection.cursor() as cursor:
        cursor.execute(_lesson_reading_sql(), [lesson_id, user_id, course_id, user_id, lesson_id])
        rows = cursor.fetchall()
    done: set[int] = set()
    messages = 0
    picture: tuple[object, ...] = ()
    for kind, number, url, removed in rows:
        if kind == "done":
            done.add(number)
        elif kind == "tutor":
            messages = number
        else:
            picture = (number, url, bool(removed))
    return LessonReading(course_done=frozenset(done), tutor_messages=messages, picture=picture)
