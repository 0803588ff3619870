"""Reads of courses for pages, exports and the API. Writes live in services.py."""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from accounts.models import User
from courses.models import Course, Lesson, Quiz, Week

# ---------------------------------------------------------------------------------------------------------
# The learner's website: catalogue, search, outlines and exports.
# ---------------------------------------------------------------------------------------------------------

# PostgreSQL's English configuration stems words ("gardens" finds "gardening"); courses in other languages
# still match on whole words, which the English stemmer leaves mostly alone.
SEARCH_CONFIG = "english"
SEARCH_QUERY_MAX_LENGTH = 200


def course_catalogue_queryset() -> QuerySet[Course]:
    """The public catalogue: written and approved. Requested courses stay off it until a moderator approves."""
    return Course.objects.filter(status=Course.Status.READY, review_state=Course.Review.APPROVED)


def course_featured(*, limit: int = 6) -> list[Course]:
    return list(course_catalogue_queryset().filter(featured=True).order_by("-ready_at")[:limit])


def course_recent(*, limit: int = 9, exclude_featured: bool = True) -> list[Course]:
    courses = course_catalogue_queryset()
    if exclude_featured:
        courses = courses.filter(featured=False)
    return list(courses.order_by("-ready_at")[:limit])


def course_search(*, query: str, limit: int = 30) -> list[Course]:
    """Public courses matching `query` in their title, description or week titles, best matches first."""
    query = " ".join(query.split())[:SEARCH_QUERY_MAX_LENGTH]
    if not query:
        return []
    if connection.vendor != "postgresql":
        return _course_search_simple(query=query, limit=limit)
    search = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
    vector = SearchVector("title", weight="A", config=SEARCH_CONFIG) + SearchVector(
        "description", weight="B", config=SEARCH_CONFIG
    )
    week_matches = Week.objects.annotate(
        search=SearchVector("title", config=SEARCH_CONFIG),
    ).filter(course=OuterRef("pk"), search=search)
    return list(
        course_catalogue_queryset()
        .annotate(search=vector, rank=SearchRank(vector, search), week_match=Exists(week_matches))
        .filter(Q(search=search) | Q(week_match=True))
        .order_by("-rank", "-ready_at")[:limit]
    )


def _course_search_simple(*, query: str, limit: int) -> list[Course]:
    """SQLite (the one-machine install) has no full-text search: every word must appear somewhere."""
    courses = course_catalogue_queryset()
    for word in query.split()[:10]:
        in_weeks = Week.objects.filter(course=OuterRef("pk"), title__icontains=word)
        courses = courses.filter(Q(title__icontains=word) | Q(description__icontains=word) | Exists(in_weeks))
    return list(courses.order_by("-ready_at")[:limit])


def course_get(*, course_id: object) -> Course | None:
    return Course.objects.filter(id=course_id).first()


def course_weeks_outline(*, course: Course) -> QuerySet[Week]:
    """The course's weeks in order, each with its quiz's status (questions left out), in one query."""
    return (
        Week.objects.filter(course=course)
        .select_related("quiz")
        .defer("quiz__questions", "overview", "reading_list")
        .order_by("number")
    )


def course_lessons_outline(*, course_id: object) -> QuerySet[Lesson]:
    """Every lesson of the course in reading order, without its text, in one query."""
    return (
        Lesson.objects.filter(course_id=course_id)
        .only("id", "week_id", "number", "title", "status", "course_id")
        .order_by("week__number", "number")
    )


def course_lesson_for_reading(*, course_id: object, lesson_id: int) -> Lesson | None:
    return Lesson.objects.select_related("course", "week").filter(course_id=course_id, id=lesson_id).first()


def course_for_export(*, course_id: object) -> Course | None:
    """The whole course, every week with its lessons and quiz, in three queries whatever its size."""
    lessons = Lesson.objects.order_by("number")
    return (
        Course.objects.filter(id=course_id)
        .prefetch_related(
            Prefetch("weeks", queryset=Week.objects.select_related("quiz").order_by("number")),
            Prefetch("weeks__lessons", queryset=lessons),
        )
        .first()
    )


def course_quiz_for_week(*, course_id: object, week_number: int) -> Quiz | None:
    """The week's quiz with its week and course, in one query."""
    return (
        Quiz.objects.select_related("week", "course")
        .filter(course_id=course_id, week__number=week_number)
        .first()
    )


def course_requested_by(*, user: User, limit: int = 20) -> list[Course]:
    """Courses the learner asked for, newest first, whatever their state (private ones included)."""
    return list(Course.objects.filter(requested_by=user).order_by("-created_at")[:limit])
