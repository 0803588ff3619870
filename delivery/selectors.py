"""Reads of a learner's progress, shaped for the pages that show it. Each runs a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db.models import Count, Exists, IntegerField, Max, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import User
from courses.models import Course, Lesson, PartStatus, Quiz, Week
from courses.selectors import course_lesson_for_reading, course_lessons_outline, course_weeks_outline
from delivery.models import Enrollment, LessonCompletion, QuizAttempt


@dataclass
class WeekProgress:
    week: Week
    lessons: list[Lesson] = field(default_factory=list)  # each with a `done` attribute
    quiz: Quiz | None = None
    best_score: int | None = None  # the learner's best quiz score, None before any attempt
    quiz_total: int = 0

    @property
    def lessons_done(self) -> int:
        return sum(1 for lesson in self.lessons if getattr(lesson, "done", False))

    @property
    def percent(self) -> int:
        return round(100 * self.lessons_done / len(self.lessons)) if self.lessons else 0

    @property
    def is_done(self) -> bool:
        return bool(self.lessons) and self.lessons_done == len(self.lessons)

    @property
    def quiz_ready(self) -> bool:
        return self.quiz is not None and self.quiz.status == PartStatus.WRITTEN


@dataclass
class CourseOutline:
    weeks: list[WeekProgress]

    @property
    def lessons(self) -> list[Lesson]:
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
    def next_lesson(self) -> Lesson | None:
        """Where to continue: the first lesson, in reading order, not yet marked done."""
        return next((lesson for lesson in self.lessons if not getattr(lesson, "done", False)), None)


def _lesson_done(user: User | None) -> Exists | Value:
    if user is None:
        return Value(False)
    return Exists(LessonCompletion.objects.filter(user=user, lesson=OuterRef("pk")))


def _best_attempt(user: User | None, column: str) -> Subquery | Value:
    """`column` ("score" or "total") of the learner's best attempt at the quiz of the week in the outer query."""
    if user is None:
        return Value(None, output_field=IntegerField())
    attempts = QuizAttempt.objects.filter(user=user, quiz__week=OuterRef("pk"))
    return Subquery(
        attempts.order_by("-score", "-created_at").values(column)[:1], output_field=IntegerField()
    )


def learner_course_outline(*, course: Course, user: User | None) -> CourseOutline:
    """The course's weeks and lessons with the learner's progress on each: two queries, whatever the size."""
    weeks = course_weeks_outline(course=course).annotate(
        best_score=_best_attempt(user, "score"), best_total=_best_attempt(user, "total")
    )
    lessons = course_lessons_outline(course_id=course.id).annotate(done=_lesson_done(user))
    by_week: dict[int, WeekProgress] = {}
    for week in weeks:
        by_week[week.id] = WeekProgress(
            week=week,
            quiz=getattr(week, "quiz", None),
            best_score=week.best_score,  # type: ignore[attr-defined]
            quiz_total=week.best_total or 0,  # type: ignore[attr-defined]
        )
    for lesson in lessons:
        if lesson.week_id in by_week:
            by_week[lesson.week_id].lessons.append(lesson)
    return CourseOutline(weeks=list(by_week.values()))


@dataclass
class LessonPage:
    lesson: Lesson
    previous: Lesson | None
    next: Lesson | None
    position: int  # from 1, across the whole course
    count: int
    done: bool


def learner_lesson(*, course_id: UUID | str, lesson_id: int, user: User | None) -> LessonPage | None:
    """A lesson with its neighbours across weeks and whether the learner marked it done: three queries."""
    lesson = course_lesson_for_reading(course_id=course_id, lesson_id=lesson_id)
    if lesson is None:
        return None
    # Titles and ids only, so this stays small even for a long course; it gives both neighbours at once.
    siblings = list(
        course_lessons_outline(course_id=course_id)
        .select_related("week")
        .only("id", "title", "number", "week__number", "week__title", "status")
    )
    index = next(i for i, sibling in enumerate(siblings) if sibling.id == lesson.id)
    done = user is not None and LessonCompletion.objects.filter(user=user, lesson=lesson).exists()
    return LessonPage(
        lesson=lesson,
        previous=siblings[index - 1] if index > 0 else None,
        next=siblings[index + 1] if index + 1 < len(siblings) else None,
        position=index + 1,
        count=len(siblings),
        done=done,
    )


def learner_last_attempt(*, user: User | None, quiz: Quiz) -> QuizAttempt | None:
    if user is None:
        return None
    return QuizAttempt.objects.filter(user=user, quiz=quiz).order_by("-created_at").first()


@dataclass
class LearnerCourse:
    """One course on "My learning"."""

    enrollment: Enrollment
    course: Course
    lessons_total: int
    lessons_done: int
    week_reached: int  # the highest week with a lesson done; 0 before the first
    quizzes_taken: int = 0
    quiz_percent: int | None = None  # the mean of the best score on each quiz taken

    @property
    def percent(self) -> int:
        return round(100 * self.lessons_done / self.lessons_total) if self.lessons_total else 0


def _count(queryset: QuerySet[Any]) -> Coalesce:
    return Coalesce(Subquery(queryset, output_field=IntegerField()), 0)


def learner_courses(*, user: User) -> list[LearnerCourse]:
    """The learner's courses, most recently studied first, with their progress: two queries in all."""
    mine = LessonCompletion.objects.filter(user=user, course=OuterRef("course"))
    enrollments = (
        Enrollment.objects.filter(user=user)
        .select_related("course")
        .annotate(
            lessons_total=_count(
                Lesson.objects.filter(course=OuterRef("course"))
                .order_by()
                .values("course")
                .annotate(n=Count("id"))
                .values("n")
            ),
            lessons_done=_count(mine.order_by().values("course").annotate(n=Count("id")).values("n")),
            week_reached=_count(
                mine.order_by().values("course").annotate(n=Max("lesson__week__number")).values("n")
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
