"""Reads about courses, for views, other apps (`delivery` reads courses only through here) and the pipeline."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector, TrigramWordSimilarity
from django.core.cache import caches
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Length

from accounts.models import User
from courses.models import Course, Lesson, LLMCall, PartStatus, QualityReport, Quiz, Week
from courses.topics import topic_key as topic_key_of
from courses.visibility import course_is_withheld, course_readable_early, public_courses
from school.db import row_by_pk

STAGE_QUEUED = "Waiting for a writer to pick up the course…"
STAGE_OUTLINING = "Planning the weeks…"
STAGE_OUTLINED = "The outline is written and waits for review before its weeks are written"
STAGE_WRITING = "Writing the lessons and quizzes: {written} of {total} parts written"
STAGE_WRITING_WITH_FAILURES = (
    "{written} of {total} parts written; {failed} could not be written and can be retried"
)
STAGE_READY = "Ready"
STAGE_INCOMPLETE = (
    "{written} of {total} parts written; {failed} could not be written after every attempt and can be retried"
)
STAGE_FAILED = "Could not be written"

PartKind = Literal["lesson", "quiz"]


@dataclass(frozen=True)
class FailedPart:
    kind: PartKind
    id: int
    week: int
    title: str
    reason: str


@dataclass(frozen=True)
class CourseProgress:
    status: str  # a Course.Status value
    stage_label: str
    parts_written: int
    parts_total: int
    parts_failed: int
    percent: int
    failed_parts: tuple[FailedPart, ...]
    is_offline: bool
    reason: str  # why the course failed, when it did

    @property
    def is_finished(self) -> bool:
        """Nothing will change without someone acting: ready, incomplete or failed."""
        return self.status in {Course.Status.READY, Course.Status.INCOMPLETE, Course.Status.FAILED}


def course_progress(*, course: Course) -> CourseProgress:
    """Where the course's generation stands, from the database, in two queries (lessons, quizzes)."""
    lessons = list(
        Lesson.objects.filter(course=course).values_list(
            "id", "week__number", "title", "status", "failure_reason"
        )
    )
    quizzes = list(
        Quiz.objects.filter(course=course).values_list("id", "week__number", "status", "failure_reason")
    )
    statuses = [lesson[3] for lesson in lessons] + [quiz[2] for quiz in quizzes]
    written = statuses.count(PartStatus.WRITTEN)
    failed = [
        FailedPart("lesson", part_id, week, title, reason)
        for part_id, week, title, status, reason in lessons
        if status == PartStatus.FAILED
    ] + [
        FailedPart("quiz", part_id, week, f"Week {week} quiz", reason)
        for part_id, week, status, reason in quizzes
        if status == PartStatus.FAILED
    ]
    failed.sort(key=lambda part: (part.week, part.kind == "quiz"))
    total = len(statuses)
    return CourseProgress(
        status=course.status,
        stage_label=_stage_label(course, written, total, len(failed)),
        parts_written=written,
        parts_total=total,
        parts_failed=len(failed),
        percent=100 if course.status == Course.Status.READY else (100 * written // total if total else 0),
        failed_parts=tuple(failed),
        is_offline=course.is_offline,
        reason=course.status_reason,
    )


@dataclass(frozen=True)
class WrittenWeek:
    """A week whose lessons are all written, offered to read while the rest of its course is being written."""

    number: int
    title: str
    lessons: tuple[Lesson, ...]


def course_weeks_written(*, course: Course) -> list[WrittenWeek]:
    """The weeks whose every lesson is written (and so was screened before it was stored), in order: one query.
    Only while `courses.visibility.course_readable_early` allows it; none otherwise."""
    if not course_readable_early(course):
        return []
    rows = (
        Lesson.objects.filter(course=course)
        .select_related("week")
        .only("id", "course_id", "number", "title", "status", "week__number", "week__title")
        .order_by("week__number", "number")
    )
    weeks: dict[int, list[Lesson]] = {}
    for lesson in rows:
        weeks.setdefault(lesson.week.number, []).append(lesson)
    return [
        WrittenWeek(number, lessons[0].week.title, tuple(lessons))
        for number, lessons in weeks.items()
        if all(lesson.status == PartStatus.WRITTEN for lesson in lessons)
    ]


def _stage_label(course: Course, written: int, total: int, failed: int) -> str:
    labels = {
        Course.Status.QUEUED: STAGE_QUEUED,
        Course.Status.OUTLINING: STAGE_OUTLINING,
        Course.Status.OUTLINED: STAGE_OUTLINED,
        Course.Status.READY: STAGE_READY,
        Course.Status.FAILED: STAGE_FAILED,
    }
    if course.status in labels:
        return labels[Course.Status(course.status)]
    if course.status == Course.Status.INCOMPLETE:
        template = STAGE_INCOMPLETE
    else:
        template = STAGE_WRITING_WITH_FAILURES if failed else STAGE_WRITING
    return template.format(written=written, total=total, failed=failed)


def course_reusable(*, topic_key: str, language: str, weeks: int) -> Course | None:
    """A public course (never a held one) for the same folded topic, language and length: offered instead
    of writing a new one."""
    return (
        public_courses()
        .filter(topic_key=topic_key, language=language, weeks_count=weeks)
        .order_by("-featured", "-ready_at")
        .first()
    )


def course_outline(*, course: Course) -> dict[str, Any]:
    """The course's plan, rebuilt from its rows in two queries (weeks, lessons)."""
    weeks = list(Week.objects.filter(course=course).order_by("number"))
    lessons = Lesson.objects.filter(course=course).only("week_id", "number", "title", "summary")
    return outline_document(course=course, weeks=weeks, lessons=list(lessons))


def outline_document(*, course: Course, weeks: list[Week], lessons: list[Lesson]) -> dict[str, Any]:
    """The plan every part prompt quotes (and the offline generator reads), from rows already in hand.

    Same rows, same dict, same JSON: the prompt prefix is byte-identical for every part of a course.
    """
    lessons_of: dict[int, list[Lesson]] = {}
    for lesson in sorted(lessons, key=lambda lesson: lesson.number):
        lessons_of.setdefault(lesson.week_id, []).append(lesson)
    return {
        "topic": course.topic,
        "title": course.title,
        "description": course.description,
        "audience": course.audience,
        "weeks": [
            {
                "number": week.number,
                "title": week.title,
                "overview": week.overview,
                "objectives": week.objectives,
                "lessons": [
                    {"number": lesson.number, "title": lesson.title, "summary": lesson.summary}
                    for lesson in lessons_of.get(week.pk, [])
                ],
            }
            for week in sorted(weeks, key=lambda week: week.number)
        ],
    }


# ---------------------------------------------------------------------------------------------------------
# The learner's website: catalogue, search, outlines and exports.
# ---------------------------------------------------------------------------------------------------------

# PostgreSQL's English configuration stems words ("gardens" finds "gardening"); courses in other languages
# still match on whole words, which the English stemmer leaves mostly alone.
SEARCH_CONFIG = "english"
SEARCH_QUERY_MAX_LENGTH = 200


def course_featured(*, limit: int = 6) -> list[Course]:
    return list(public_courses().filter(featured=True).order_by("-ready_at")[:limit])


def course_recent(*, limit: int = 9, exclude_featured: bool = True) -> list[Course]:
    courses = public_courses()
    if exclude_featured:
        courses = courses.filter(featured=False)
    return list(courses.order_by("-ready_at")[:limit])


# Lengths a learner filters the catalogue by: (label, fewest weeks, most weeks).
COURSE_LENGTHS = {
    "short": ("Up to 4 weeks", 1, 4),
    "medium": ("5 to 8 weeks", 5, 8),
    "long": ("9 weeks or more", 9, 1000),
}
COURSE_SORTS = {"relevance": "Best match", "newest": "Newest", "title": "Title", "shortest": "Shortest"}
_SORT_ORDER = {"newest": ("-ready_at",), "title": ("title",), "shortest": ("weeks_count", "-ready_at")}
SEARCH_WORDS_MAX = 10
# pg_trgm's word similarity above which a title is a near match ("sourdogh" ~ "Sourdough baking").
TRIGRAM_THRESHOLD = 0.5


def course_catalogue(*, language: str = "", length: str = "", sort: str = "") -> QuerySet[Course]:
    """Public courses for the catalogue, filtered by language and length, featured then newest by default."""
    courses = _filtered(public_courses(), language=language, length=length)
    return courses.order_by(*_SORT_ORDER.get(sort, ("-featured", "-ready_at")))


def _filtered(courses: QuerySet[Course], *, language: str, length: str) -> QuerySet[Course]:
    if language:
        courses = courses.filter(language=language)
    if length in COURSE_LENGTHS:
        _, fewest, most = COURSE_LENGTHS[length]
        courses = courses.filter(weeks_count__gte=fewest, weeks_count__lte=most)
    return courses


def _search_words(query: str) -> list[str]:
    return [word.casefold() for word in re.findall(r"\w+", query)][:SEARCH_WORDS_MAX]


def course_search(
    *, query: str, language: str = "", length: str = "", sort: str = "", limit: int = 30
) -> list[Course]:
    """Public courses matching `query`, best matches first (or in the `sort` order), filtered as the catalogue.

    A course matches when any word of the query, or the start of one ("bak" for baking), is in its title,
    description or week titles; on PostgreSQL also when its title is near the query (pg_trgm: typos). Courses
    matching more of the query rank higher, title matches above description matches.
    """
    query = " ".join(query.split())[:SEARCH_QUERY_MAX_LENGTH]
    words = _search_words(query)
    if not words:
        return []
    courses = _filtered(public_courses(), language=language, length=length)
    if connection.vendor != "postgresql":
        return _course_search_simple(courses, words=words, sort=sort, limit=limit)
    # Each word as a prefix, any of them: 'baking:* | bread:*' (words are \w+ only: nothing to escape).
    search = SearchQuery(" | ".join(f"{word}:*" for word in words), config=SEARCH_CONFIG, search_type="raw")
    vector = SearchVector("title", weight="A", config=SEARCH_CONFIG) + SearchVector(
        "description", weight="B", config=SEARCH_CONFIG
    )
    week_matches = Week.objects.annotate(
        search=SearchVector("title", config=SEARCH_CONFIG),
    ).filter(course=OuterRef("pk"), search=search)
    found = courses.annotate(
        search=vector,
        rank=SearchRank(vector, search) + TrigramWordSimilarity(query, "title"),
        near=TrigramWordSimilarity(query, "title"),
        week_match=Exists(week_matches),
    ).filter(Q(search=search) | Q(week_match=True) | Q(near__gte=TRIGRAM_THRESHOLD))
    return list(found.order_by(*_SORT_ORDER.get(sort, ("-rank", "-ready_at")))[:limit])


def _course_search_simple(
    courses: QuerySet[Course], *, words: list[str], sort: str = "", limit: int
) -> list[Course]:
    """SQLite (the one-machine install) has no full-text search: courses holding any of the words somewhere
    (inside a word too: "bak" finds baking), those holding the most words first."""
    anywhere = Q()
    for word in words:
        in_weeks = Week.objects.filter(course=OuterRef("pk"), title__icontains=word)
        anywhere |= Q(title__icontains=word) | Q(description__icontains=word) | Q(Exists(in_weeks))
    candidates = list(courses.filter(anywhere).prefetch_related("weeks")[: limit * 5])

    def score(course: Course) -> tuple[int, int]:
        text = " ".join([course.title, *(week.title for week in course.weeks.all())]).casefold()
        return sum(word in text for word in words), sum(
            word in course.description.casefold() for word in words
        )

    if sort in _SORT_ORDER:
        ordered = list(courses.filter(id__in=[c.id for c in candidates]).order_by(*_SORT_ORDER[sort]))
    else:
        ordered = sorted(candidates, key=lambda course: (score(course), course.ready_at), reverse=True)
    return ordered[:limit]


def course_similar(*, topic: str, language: str, limit: int = 3) -> list[Course]:
    """Public courses whose topic or title says nearly what `topic` does ("history of jazz" and "The history
    of jazz"), offered before a new course is written. Ignores courses with the very same topic key, which
    the request reuses by itself."""
    wanted = _significant(topic)
    if not wanted:
        return []
    longest = max(wanted, key=len)
    candidates = (
        public_courses()
        .filter(language=language)
        .filter(Q(title__icontains=longest) | Q(topic__icontains=longest))[:50]
    )
    scored = []
    for course in candidates:
        if course.topic_key == topic_key_of(topic):
            continue
        similarity = max(
            _jaccard(wanted, _significant(course.title)), _jaccard(wanted, _significant(course.topic))
        )
        if similarity >= SIMILAR_TOPIC_THRESHOLD:
            scored.append((similarity, course))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    return [course for _, course in scored[:limit]]


SIMILAR_TOPIC_THRESHOLD = 0.6
# Words that do not change what a topic is about: "the history of jazz" is "history jazz".
_FILLER_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "and",
        "or",
        "to",
        "in",
        "on",
        "for",
        "with",
        "about",
        "into",
        "from",
        "by",
        "at",
        "introduction",
        "intro",
        "basics",
        "course",
        "beginners",
        "beginner",
        "guide",
    ]
)


def _significant(text: str) -> set[str]:
    return {word for word in _search_words(text.replace("'", " ")) if word not in _FILLER_WORDS}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def course_get(*, course_id: UUID | str) -> Course | None:
    return row_by_pk(Course, course_id)  # every course and lesson page reads it: compiled once


# About 200 words a minute, at about six characters a word (markdown included): a reading-time estimate.
READING_CHARS_PER_MINUTE = 1200


def reading_minutes(characters: int) -> int:
    """Minutes to read a text of this many characters; at least one for any text."""
    return max(1, -(-characters // READING_CHARS_PER_MINUTE)) if characters else 0


@dataclass(frozen=True)
class LessonEntry:
    id: int
    number: int
    title: str
    status: str
    week_number: int
    minutes: int = 0  # reading time


@dataclass(frozen=True)
class WeekEntry:
    id: int
    number: int
    title: str
    quiz_id: int | None
    quiz_status: str | None
    lessons: tuple[LessonEntry, ...]
    objectives: tuple[str, ...] = ()


# The structure of a ready course changes only with its text (which bumps content_version); an hour bounds
# how long a change made without that bump could show.
STRUCTURE_CACHE_SECONDS = 3600


def course_quality_summary(*, course: Course) -> list[str]:
    """The quality report's few sentences for learners (empty until it is measured).

    Cached per structure version, which moves on when the summary changes (`courses.quality.report` touches
    the course's `updated_at`): one query the first time, none after."""
    cache = caches["versioned"]
    key = f"course-quality-summary:v1:{course_structure_version(course=course)}"
    summary = cache.get(key)
    if summary is None:
        stored = QualityReport.objects.filter(course=course).values_list("summary", flat=True).first()
        summary = [str(line) for line in stored or []]
        cache.set(key, summary, timeout=STRUCTURE_CACHE_SECONDS)
    return list(summary)


def course_structure_version(*, course: Course) -> str:
    """Changes whenever the course's structure may have: a key for caches of anything built from it.

    Every change to a course's text moves `content_version` on (`courses.moderation.editing.course_content_changed`);
    parts are only written outside it while the course is not yet ready, and readiness is in the key. Its
    review is not: who may see a course is decided on every request (`courses.visibility`), never cached.
    """
    stamp = int(course.updated_at.timestamp()) if course.updated_at else 0
    return f"{course.id}:{course.content_version}:{course.status}:{stamp}"


def course_structure(*, course: Course) -> tuple[WeekEntry, ...]:
    """The course's weeks, lessons and quizzes (titles and states, no text), in reading order.

    Every course and lesson page needs it, so a ready course's structure is cached per content version:
    those pages then cost no query for it, whatever the course's size. Otherwise one query.
    """
    if not course.is_readable:
        return _course_structure_load(course)
    # Versioned: every process keeps the structures it read, so a later page costs no cache round trip either.
    cache = caches["versioned"]
    key = f"course-structure:v2:{course_structure_version(course=course)}"
    structure = cache.get(key)
    if structure is None:
        structure = _course_structure_load(course)
        cache.set(key, structure, timeout=STRUCTURE_CACHE_SECONDS)
    return structure


def _course_structure_load(course: Course) -> tuple[WeekEntry, ...]:
    """One query: weeks left-joined to their quiz and lessons, one row per lesson (or per empty week), with
    each lesson's length (not its text) for its reading time."""
    rows = (
        Week.objects.filter(course=course)
        .order_by("number", "lessons__number")
        .values_list(
            "id", "number", "title", "objectives", "quiz__id", "quiz__status",
            "lessons__id", "lessons__number", "lessons__title", "lessons__status", Length("lessons__body"),
        )
    )  # fmt: skip
    weeks: dict[int, tuple[Any, ...]] = {}
    lessons: dict[int, list[LessonEntry]] = {}
    for week_id, number, title, objectives, quiz_id, quiz_status, lesson_id, *lesson in rows:
        weeks.setdefault(week_id, (number, title, tuple(objectives or ()), quiz_id, quiz_status))
        entries = lessons.setdefault(week_id, [])
        if lesson_id is not None:
            lesson_number, lesson_title, status, characters = lesson
            minutes = reading_minutes(characters or 0)
            entries.append(LessonEntry(lesson_id, lesson_number, lesson_title, status, number, minutes))
    return tuple(
        WeekEntry(week_id, number, title, quiz_id, quiz_status, tuple(lessons[week_id]), objectives)
        for week_id, (number, title, objectives, quiz_id, quiz_status) in weeks.items()
    )


def course_lesson_for_reading(*, course_id: UUID | str, lesson_id: int) -> Lesson | None:
    lessons = Lesson.objects.select_related("course", "week", "picture")
    try:  # get(), not first(): ordering one row by its key is work for nothing, on the busiest pages
        return lessons.get(course_id=course_id, id=lesson_id)
    except Lesson.DoesNotExist:
        return None


def course_lesson_id_at(*, course_id: UUID | str, week_number: int, number: int) -> int | None:
    return (
        Lesson.objects.filter(course_id=course_id, week__number=week_number, number=number)
        .values_list("id", flat=True)
        .first()
    )


def course_for_export(*, course_id: UUID | str) -> Course | None:
    """The whole course, every week with its lessons and quiz, in three queries whatever its size."""
    lessons = Lesson.objects.select_related("picture").order_by("number")
    return (
        Course.objects.filter(id=course_id)
        .prefetch_related(
            Prefetch("weeks", queryset=Week.objects.select_related("quiz").order_by("number")),
            Prefetch("weeks__lessons", queryset=lessons),
        )
        .first()
    )


def course_quiz_for_week(*, course_id: UUID | str, week_number: int) -> Quiz | None:
    """The week's quiz with its week and course, in one query."""
    return (
        Quiz.objects.select_related("week", "course")
        .filter(course_id=course_id, week__number=week_number)
        .first()
    )


def course_requested_by(*, user: User, limit: int = 20) -> list[Course]:
    """Courses the learner asked for, newest first, whatever their state (private ones included)."""
    return list(Course.objects.filter(requested_by=user).order_by("-created_at")[:limit])


# ---------------------------------------------------------------------------------------------------------
# Weekly email delivery: what the dispatcher and the emails read of a course.
# ---------------------------------------------------------------------------------------------------------
def course_is_emailable(course: Course) -> bool:
    """May this course's weeks be emailed now? Written, and neither held for review nor rejected (the rules
    of `courses.visibility`). The subscribe form, the dispatcher and every send ask here."""
    return course.status == Course.Status.READY and not course_is_withheld(course)


def courses_for_delivery(*, course_ids: Iterable[UUID | str]) -> dict[UUID, Course]:
    """Courses by id (whole rows: `course_is_emailable` may read any field)."""
    return {course.id: course for course in Course.objects.filter(id__in=list(course_ids))}


def week_with_lessons_and_quiz(*, course_id: UUID | str, number: int) -> Week:
    """A week with its course, lessons (in order) and quiz, in two queries (its email, and the API's week).
    Raises Week.DoesNotExist when the course has no such week."""
    return (
        Week.objects.select_related("course", "quiz")
        .prefetch_related(
            Prefetch("lessons", queryset=Lesson.objects.select_related("picture").order_by("number"))
        )
        .get(course_id=course_id, number=number)
    )


def weeks_outline_for_email(*, course_id: UUID | str) -> list[Week]:
    """Every week's number and title, for calendars of what is coming."""
    return list(Week.objects.filter(course_id=course_id).only("id", "number", "title").order_by("number"))


def quiz_with_course_and_week(*, quiz_id: int) -> Quiz | None:
    """The quiz with its course and week, in one query: what an answer link in an email points at."""
    return Quiz.objects.select_related("course", "week").filter(id=quiz_id).first()


_WORD = re.compile(r"\w{4,}")


def _words(text: str) -> set[str]:
    return {word.casefold() for word in _WORD.findall(text)}


def quiz_question_lessons(*, quiz: Quiz) -> dict[int, Lesson]:
    """The lesson of the quiz's week that each question is about (question position → lesson), one query.

    A grounded question names its lesson; one written before quizzes did goes to the lesson whose title and
    summary share the most words with the question, its answer and its explanation (the week's first lesson
    when none shares any).
    """
    lessons = list(
        Lesson.objects.filter(week_id=quiz.week_id)
        .order_by("number")
        .only("id", "number", "title", "summary", "course_id")
    )
    if not lessons:
        return {}
    vocabulary = [(_words(f"{lesson.title} {lesson.summary}"), lesson) for lesson in lessons]
    found = {}
    by_number = {lesson.number: lesson for lesson in lessons}
    for number, question in enumerate(quiz.questions):
        if isinstance(question.get("lesson"), int) and question["lesson"] in by_number:  # a grounded question
            found[number] = by_number[question["lesson"]]
            continue
        options = question.get("options", [])
        answer = int(question.get("answer", question.get("correct_index", 0)))
        asked = _words(
            " ".join(
                [question.get("question", ""), question.get("explanation", ""), *options[answer : answer + 1]]
            )
        )
        best = max(vocabulary, key=lambda pair: len(pair[0] & asked))
        found[number] = best[1] if best[0] & asked else lessons[0]
    return found


def week_with_course(*, week_id: int) -> Week | None:
    """The week with its course, in one query: what a "mark this week done" link in an email points at."""
    return Week.objects.select_related("course").filter(id=week_id).first()


# ---------------------------------------------------------------------------------------------------------
# Learner progress: what delivery's progress records and pages read of a course.
# ---------------------------------------------------------------------------------------------------------
def course_lesson_count(*, course_id: UUID | str) -> int:
    """How many lessons the course has, in one query: a learner who has done as many has finished it."""
    return Lesson.objects.filter(course_id=course_id).count()


def week_lesson_ids(*, week: Week) -> list[int]:
    """The ids of the week's lessons, in one query: what "mark this week done" marks."""
    return list(week.lessons.values_list("id", flat=True))


def course_lesson_count_subquery(*, course: OuterRef) -> QuerySet[Lesson, Any]:
    """How many lessons `course` has, as a one-row, one-column ("n") subquery to embed in a query over
    rows that point at courses; no row when it has none."""
    return (
        Lesson.objects.filter(course=course).order_by().values("course").annotate(n=Count("id")).values("n")
    )


def course_first_lesson_id_subquery(*, course: OuterRef, excluding: QuerySet[Any]) -> QuerySet[Lesson, Any]:
    """The id of `course`'s first lesson in reading order whose id is not in `excluding` (a one-column
    queryset of lesson ids), as a one-row subquery to embed; no row when every lesson is excluded."""
    return (
        Lesson.objects.filter(course=course)
        .exclude(id__in=excluding)
        .order_by("week__number", "number")
        .values("id")[:1]
    )


def course_last_llm_failure(*, course: Course) -> LLMCall | None:
    """The course's most recent LLM call that failed: the server's own words, for admins and the command line."""
    return course.llm_calls.exclude(outcome=LLMCall.Outcome.OK).order_by("-created_at", "-id").first()


def llm_call_summary(call: LLMCall) -> str:
    """One line naming a recorded call and what the server said: "outline call 12, attempt 2: Request rejected: …"."""
    return f"{call.stage} call {call.pk}, attempt {call.attempt}: {call.get_outcome_display()}: {call.error}"
