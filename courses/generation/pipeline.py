"""Writes about courses: requesting one, and each step of the pipeline that writes it.

The pipeline, driven by `courses.tasks` (each step safe to run twice; the database says what is done):
1. `course_request` creates the course (or offers an approved one) and queues the outline.
2. `course_outline_write` claims the course (queued → outlining) and streams its outline in, keeping what has
   arrived in `outline_draft` (a page shows it growing). Then either it stores weeks, lessons and quizzes
   (pending) in one transaction and queues every part at once, or, when the requester asked to review it,
   the course waits (outlined) until they confirm it (`courses.generation.outline_review`), or the sweeper
   does after OUTLINE_REVIEW_TIMEOUT_HOURS.
3. `lesson_write` / `quiz_write` claim one part (pending → writing, with a lease), write it, store it if they
   still hold the claim, then call `course_finish`. A week's quiz is written from its lessons' text: the
   lesson that completes the week queues it. The week's suggested readings come with its quiz, not in the
   outline: fitted to what the lessons teach, and off the outline that every lesson waits for.
4. `course_finish` ends the course with one conditional UPDATE: ready once every part is written, or
   incomplete once every part is written or has failed GENERATION_PART_MAX_ATTEMPTS times (some for good;
   a quiz whose week lost a lesson for good waits on that lesson, so it counts as done with it).
5. `course_sweep_stale` (every minute) queues again what a dead worker or a lost message left behind, and
   ends courses whose last part failed for good while nobody was watching: every course reaches an end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from courses import selectors
from courses.generation import llm, prompts
from courses.generation.schemas import CourseOutline, LessonDraft, QuizDraft, WeekPlan, WeekReplan
from courses.models import Course, Lesson, OutlineRevision, PartStatus, Quiz, Week
from courses.moderation import costs, review
from courses.quality import checks, passages
from courses.rendering import markdown_to_safe_html
from courses.topics import topic_key
from school.queue import enqueue_after_commit, enqueue_many_after_commit

logger = logging.getLogger(__name__)
PART_TASKS = {"lesson": "courses.tasks.llm_write_lesson", "quiz": "courses.tasks.llm_write_quiz"}

OUTLINE_FAILED = (
    "We could not plan this course: the writing service kept failing. Please try again in a few minutes."
)
OUTLINE_REFUSED = "The writing service declined to write a course on this topic."
OUTLINE_DROPPED = "Its outline was not confirmed in time, so it was dropped as you asked."
PART_FAILED = "The writing service kept failing on this part."
PART_INVALID = (
    "The writing service's answers for this part kept failing our checks (e.g. quiz options all the same)."
)
COURSE_INCOMPLETE = (
    "Some parts could not be written after every attempt. What was written can be read; the missing parts "
    "can be tried again."
)
PART_REFUSED = "The writing service declined to write this part."
# The writing service refuses Semester's requests for good (its settings do not match the server): waiting
# does not help; an administrator sees the server's own words under LLM calls and with `manage.py llm_doctor`.
OUTLINE_REJECTED = (
    "We could not plan this course: the writing service does not accept the requests Semester sends, "
    "so trying again will not help until an administrator fixes its settings."
)
PART_REJECTED = (
    "The writing service does not accept the requests Semester sends; an administrator must fix its settings."
)
# Every answer came back, but none had the shape of a course part.
OUTLINE_UNREADABLE = (
    "We could not plan this course: the writing service's answers did not have the shape of a course outline. "
    "Please try again later."
)
OUTLINE_REASONS: dict[str, str] = {
    llm.Outcome.REFUSAL: OUTLINE_REFUSED,
    llm.Outcome.REJECTED: OUTLINE_REJECTED,
    llm.Outcome.INVALID_OUTPUT: OUTLINE_UNREADABLE,
}
PART_REASONS: dict[str, str] = {
    llm.Outcome.REFUSAL: PART_REFUSED,
    llm.Outcome.REJECTED: PART_REJECTED,
    llm.Outcome.INVALID_OUTPUT: PART_INVALID,
}
PART_KIND_UNKNOWN = "Unknown part kind: {kind!r} (expected 'lesson' or 'quiz')."

PART_MODELS: dict[str, type[Lesson] | type[Quiz]] = {"lesson": Lesson, "quiz": Quiz}


@dataclass(frozen=True)
class SweepResult:
    outlines_queued: int
    parts_queued: int
    courses_finished: int


# --------------------------------------------------------------------------------------------------------
# Starting and retrying
# --------------------------------------------------------------------------------------------------------


def course_start(
    *,
    topic: str,
    language: str,
    weeks: int,
    user: User | None,
    ip: str | None,
    review_outline: bool = False,
    drop_unconfirmed: bool = False,
) -> Course:
    """Create the course for a request the gate (`courses.generation.request`) admitted, and queue its outline.
    With `review_outline` its weeks wait until its requester confirms the outline."""
    course = Course.objects.create(
        review_outline=review_outline,
        drop_unconfirmed=drop_unconfirmed,
        topic=topic,
        topic_key=topic_key(topic),
        language=language,
        weeks_count=weeks,
        requested_by=user,
        requester_ip=ip,
        generator=llm.generator_name(),
        heartbeat_at=timezone.now(),
    )
    _enqueue_outline(course.id)
    return course


def course_retry(*, course_id: UUID) -> bool:
    """Start a failed course again from its outline, or retry the failed parts of a writing or incomplete
    course (an incomplete one goes back to writing)."""
    restarted = Course.objects.filter(id=course_id, status=Course.Status.FAILED).update(
        status=Course.Status.QUEUED, status_reason="", heartbeat_at=timezone.now()
    )
    if restarted:
        _enqueue_outline(course_id)
        return True
    return course_retry_failed(course_id=course_id) > 0


def course_retry_failed(*, course_id: UUID) -> int:
    """Queue every failed lesson and quiz of the course again; returns how many."""
    return sum(_part_requeue(course_id, kind) for kind in PART_MODELS)


def part_retry(*, course_id: UUID, kind: str, part_id: int) -> bool:
    """Queue one failed lesson or quiz again. False when it is not (or no longer) failed."""
    if kind not in PART_MODELS:
        raise ValueError(PART_KIND_UNKNOWN.format(kind=kind))
    return _part_requeue(course_id, kind, id=part_id) > 0


def _part_requeue(course_id: UUID, kind: str, **only: int) -> int:
    """Reset the course's failed parts of `kind` (those matching `only`) to pending, and queue them."""
    # Only parts still failed are reset, so two clicks on "retry" queue one write.
    failed = PART_MODELS[kind].objects.filter(course_id=course_id, status=PartStatus.FAILED, **only)
    reset_ids = list(failed.values_list("id", flat=True))
    count = failed.filter(id__in=reset_ids).update(status=PartStatus.PENDING, failure_reason="")
    if count:
        # An incomplete course is being written again; its parts are pending first, so no `course_finish`
        # in between can end it before they are written.
        Course.objects.filter(id=course_id, status=Course.Status.INCOMPLETE).update(
            status=Course.Status.WRITING, status_reason=""
        )
        Course.objects.filter(id=course_id).update(heartbeat_at=timezone.now())
        _enqueue_parts([(kind, part_id) for part_id in reset_ids])
    return count


# --------------------------------------------------------------------------------------------------------
# Stage 1: the outline
# --------------------------------------------------------------------------------------------------------


def course_outline_write(*, course_id: UUID) -> None:
    """Claim a queued course, ask for its outline and store it; then queue all its parts at once."""
    claimed = Course.objects.filter(id=course_id, status=Course.Status.QUEUED).update(
        status=Course.Status.OUTLINING, heartbeat_at=timezone.now()
    )
    if not claimed:
        return  # already outlined, being outlined, or gone: a redelivered message has nothing to do
    course = Course.objects.get(id=course_id)
    previous = course.outline_draft if course.outline_instruction else None
    prompt = prompts.outline_prompt(
        topic=course.topic,
        language=course.language,
        weeks=course.weeks_count,
        previous=previous,
        instruction=course.outline_instruction,
    )
    try:
        outline = llm.complete_streaming(prompt, course=course, on_partial=_draft_keeper(course_id, previous))
        # Screened before it is stored, so a flagged course is held before any part of it can be read.
        review.outline_screen_and_hold(course=course, outline=outline)
    except llm.SpendCapReached:
        # Nothing was sent: back in the queue, saying why; the sweeper queues it again once it goes quiet.
        Course.objects.filter(id=course_id, status=Course.Status.OUTLINING).update(
            status=Course.Status.QUEUED, status_reason=costs.PAUSED_FOR_BUDGET, heartbeat_at=timezone.now()
        )
        return
    except llm.LLMError as error:
        reason = OUTLINE_REASONS.get(error.outcome, OUTLINE_FAILED)
        # An outline asked for again fails back to the one its requester had: nothing of theirs is lost.
        end = Course.Status.OUTLINED if previous else Course.Status.FAILED
        Course.objects.filter(id=course_id, status=Course.Status.OUTLINING).update(
            status=end, status_reason=reason, outline_instruction="", heartbeat_at=timezone.now()
        )
        logger.warning("Outline of course %s failed: %s", course_id, error)
        enqueue_after_commit("courses.tasks.send_course_ready_email", str(course_id))
        return
    except Exception:
        # Not the LLM's fault (a bug, the database): hand the course back so Celery's retry can claim it now.
        with suppress(DatabaseError):
            Course.objects.filter(id=course_id, status=Course.Status.OUTLINING).update(
                status=Course.Status.QUEUED
            )
        raise
    if course.review_outline:
        _outline_hold_for_review(course, outline)
        return
    try:
        outline_store(course_id=course_id, outline=outline, status=Course.Status.OUTLINING)
    except IntegrityError:
        logger.info("Outline of course %s was stored by another worker first", course_id)


def _draft_keeper(course_id: UUID, previous: dict[str, Any] | None) -> Callable[[dict[str, Any]], None]:
    """Keep each partial outline on the course as it streams in (a reload shows it), a sign of life too.
    While an outline is written again, the previous one stays until the new one is whole."""

    def keep(partial: dict[str, Any]) -> None:
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if previous is None:
            fields["outline_draft"] = partial
        Course.objects.filter(id=course_id, status=Course.Status.OUTLINING).update(**fields)

    return keep


@transaction.atomic
def _outline_hold_for_review(course: Course, outline: CourseOutline) -> None:
    """The whole outline as the next revision of the draft; the course waits for its requester."""
    locked = Course.objects.select_for_update().get(id=course.id)
    if locked.status != Course.Status.OUTLINING:
        return  # another worker, restarted by the sweeper, got there first
    document = outline.model_dump()
    cause = OutlineRevision.Cause.REGENERATE if locked.outline_instruction else OutlineRevision.Cause.WRITTEN
    locked.outline_version += 1
    OutlineRevision.objects.create(
        course=locked,
        version=locked.outline_version,
        content=document,
        cause=cause,
        instruction=locked.outline_instruction,
    )
    locked.title, locked.description, locked.audience = outline.title, outline.description, outline.audience
    locked.outline_draft, locked.outline_instruction, locked.status_reason = document, "", ""
    locked.status, locked.outlined_at, locked.heartbeat_at = (
        Course.Status.OUTLINED,
        timezone.now(),
        timezone.now(),
    )
    locked.generator = llm.generator_name()
    locked.save(
        update_fields=[
            "title", "description", "audience", "outline_draft", "outline_instruction", "outline_version",
            "status", "status_reason", "outlined_at", "heartbeat_at", "generator",
        ]
    )  # fmt: skip


@transaction.atomic
def outline_store(*, course_id: UUID, outline: CourseOutline, status: str) -> bool:
    """Store the outline's weeks, lessons and quizzes and queue every part, if the course is still in
    `status` (outlining, or outlined and being confirmed). False when another caller stored it first."""
    course = Course.objects.select_for_update().get(id=course_id)
    if course.status != status:
        return False  # another worker, restarted by the sweeper, stored its outline first
    weeks = Week.objects.bulk_create(
        Week(
            course=course,
            number=number,
            overview_html=markdown_to_safe_html(plan.overview),
            **week_fields(plan),
        )
        for number, plan in enumerate(outline.weeks, start=1)
    )
    lessons = Lesson.objects.bulk_create(
        Lesson(course=course, week=week, number=number, title=lesson.title, summary=lesson.summary)
        for week, plan in zip(weeks, outline.weeks, strict=True)
        for number, lesson in enumerate(plan.lessons, start=1)
    )
    course.title, course.description, course.audience = outline.title, outline.description, outline.audience
    document = selectors.outline_document(course=course, weeks=weeks, lessons=lessons)
    course.outline_json = prompts.outline_json(document)
    course.outline_draft, course.weeks_count = outline.model_dump(), len(outline.weeks)
    course.status, course.heartbeat_at = Course.Status.WRITING, timezone.now()
    if status == Course.Status.OUTLINING:
        course.generator = llm.generator_name()
    fields = ["title", "description", "audience", "outline_json", "outline_draft", "weeks_count", "status"]
    course.save(update_fields=[*fields, "heartbeat_at", "generator"])
    # Lessons only, week by week, so the first weeks are readable first when workers cannot take every part at
    # once; each week's quiz is queued by the lesson that completes the week (`_quiz_enqueue_when_due`).
    Quiz.objects.bulk_create(Quiz(course=course, week=week) for week in weeks)
    _enqueue_parts(
        [("lesson", lesson.pk) for week in weeks for lesson in lessons if lesson.week_id == week.pk]
    )
    return True


# --------------------------------------------------------------------------------------------------------
# Stage 2: lessons in parallel, then each week's quiz from its written lessons
# --------------------------------------------------------------------------------------------------------


def lesson_write(*, lesson_id: int) -> None:
    """Write one lesson, exactly once however often it is called; queue its week's quiz if it was the week's
    last lesson to be written; then try to finish the course."""
    _part_write(Lesson, lesson_id, lesson_prompt, lesson_fields)


def quiz_write(*, quiz_id: int) -> None:
    """Write one week's quiz from the text of its written lessons, exactly once; then try to finish.

    A quiz queued before its lessons are all written (by the sweeper, or a retry) does nothing: the lesson
    that completes the week queues it again."""
    week_id = Quiz.objects.filter(id=quiz_id).values_list("week_id", flat=True).first()
    if week_id is None or _week_lessons_unwritten(week_id):
        return
    _part_write(Quiz, quiz_id, quiz_prompt, quiz_fields)


def _week_lessons_unwritten(week_id: int) -> bool:
    return Lesson.objects.filter(week_id=week_id).exclude(status=PartStatus.WRITTEN).exists()


def _quiz_enqueue_when_due(lesson_id: int) -> None:
    """Queue the quiz of the lesson's week once every lesson of that week is written.

    Run after the lesson's own store has committed: of two lessons finishing together, the later one always
    sees both written (both may queue it; the quiz's claim lets one write it)."""
    week_id = Lesson.objects.filter(id=lesson_id).values_list("week_id", flat=True).first()
    if week_id is None or _week_lessons_unwritten(week_id):
        return
    pending = Quiz.objects.filter(week_id=week_id, status=PartStatus.PENDING).values_list("id", flat=True)
    _enqueue_parts([("quiz", quiz_id) for quiz_id in pending])


def _part_write(
    model: type[Lesson] | type[Quiz],
    part_id: int,
    prompt_for: Callable[[Any], prompts.Prompt[Any]],
    fields_for: Callable[[Any, dict[str, Any]], dict[str, Any]],
) -> None:
    claimed_at = _part_claim(model, part_id)
    if claimed_at is None:
        return  # written, failed, or being written by a live worker
    part = model.objects.select_related("week", "course").get(id=part_id)
    try:
        prompt = prompt_for(part)
        answer = llm.complete(prompt, course=part.course)
        fields = fields_for(answer, prompt.facts)
        for name, value in fields.items():  # the new text on the row in memory only, to screen it
            setattr(part, name, value)
        if isinstance(answer, QuizDraft):  # screened with the quiz (`screening.part_texts`)
            part.week.reading_list = quiz_readings(answer)
        review.part_screen_and_hold(part=part)  # before storing: held before it can be read
    except llm.SpendCapReached:
        _part_pause(model, part_id, claimed_at)
        return
    except llm.LLMError as error:
        _part_fail(model, part_id, claimed_at, error)
    except Exception:
        # Not the LLM's fault (a bug, the database): hand the claim back so Celery's retry can take it now,
        # instead of the part waiting for its lease to run out.
        with suppress(DatabaseError):
            model.objects.filter(id=part_id, status=PartStatus.WRITING, claimed_at=claimed_at).update(
                status=PartStatus.PENDING
            )
        raise
    else:
        with transaction.atomic():
            stored = _part_store(model, part_id, claimed_at, **fields)
            if stored and model is Quiz:
                Week.objects.filter(id=part.week_id).update(reading_list=part.week.reading_list)
        if stored and model is Lesson:
            _quiz_enqueue_when_due(part_id)
    course_finish(course_id=part.course_id)


# How each kind of part is asked for and stored; regeneration (courses.moderation.regeneration) uses the same pair, so a
# rewritten part has exactly the shape of the first version.
def week_prompt(week: Week, *, lessons: int) -> prompts.Prompt[WeekReplan]:
    """A new plan for `week` with `lessons` lessons (regeneration: the pipeline plans weeks in the outline)."""
    return prompts.week_prompt(
        language=week.course.language,
        outline_json=course_outline_json(week.course),
        week=week.number,
        title=week.title,
        lessons=lessons,
    )


def week_fields(plan: WeekPlan) -> dict[str, Any]:
    """The week row's fields from its plan (its lessons' titles and summaries go on the lesson rows). The
    outline's weeks have no readings yet (their quizzes bring them); a week planned again has its own."""
    fields: dict[str, Any] = {"title": plan.title, "overview": plan.overview, "objectives": plan.objectives}
    if isinstance(plan, WeekReplan):
        fields["reading_list"] = [reading.model_dump() for reading in plan.reading_list]
    return fields


def lesson_prompt(lesson: Lesson) -> prompts.Prompt[LessonDraft]:
    return prompts.lesson_prompt(
        language=lesson.course.language,
        outline_json=course_outline_json(lesson.course),
        week=lesson.week.number,
        lesson=lesson.number,
        title=lesson.title,
        summary=lesson.summary,
    )


def lesson_fields(draft: LessonDraft, facts: dict[str, Any]) -> dict[str, Any]:
    return {"body": draft.body_markdown, "body_html": markdown_to_safe_html(draft.body_markdown)}


def quiz_prompt(quiz: Quiz) -> prompts.Prompt[QuizDraft]:
    return prompts.quiz_prompt(
        language=quiz.course.language,
        outline_json=course_outline_json(quiz.course),
        week=quiz.week.number,
        title=quiz.week.title,
        lessons=week_lesson_bodies(quiz.week_id),
    )


def week_lesson_bodies(week_id: int) -> dict[int, str]:
    """The week's written lessons' markdown by number: what its quiz is written from and checked against."""
    written = Lesson.objects.filter(week_id=week_id, status=PartStatus.WRITTEN).order_by("number")
    return dict(written.values_list("number", "body"))


def quiz_fields(draft: QuizDraft, facts: dict[str, Any]) -> dict[str, Any]:
    """The quiz row's fields; each question keeps its passage and the lesson section it comes from, which the
    learner's feedback links to ("Review: lesson 2, section 'Siege engines'"). `facts` are the prompt's."""
    lessons: dict[int, str] = facts.get("lessons") or {}
    questions = []
    for question in draft.questions:
        section = passages.passage_section(question.passage, lessons.get(question.lesson, ""))
        questions.append(
            {
                "question": question.question,
                "options": question.options,
                "answer": question.correct_index,
                "explanation": question.explanation,
                "lesson": question.lesson,
                "passage": question.passage,
                "section": section.heading if section else "",
                "anchor": section.anchor if section else "",
            }
        )
    return {"questions": questions}


def quiz_readings(draft: QuizDraft) -> list[dict[str, Any]]:
    """The week's readings, as its quiz's writer chose them from the week's lessons."""
    return [reading.model_dump() for reading in draft.reading_list]


def course_outline_json(course: Course) -> str:
    """The outline every part prompt quotes (the stored prompt prefix); rebuilt from the rows for a course made
    some other way (e.g. by hand)."""
    return course.outline_json or prompts.outline_json(selectors.course_outline(course=course))


def _part_claim(model: type[Lesson] | type[Quiz], part_id: int) -> datetime | None:
    """Take the part if it waits to be written, or if its last claim is older than the lease.

    The claim time is the fencing token: only the holder of the latest claim may store the part.
    """
    now = timezone.now()
    lease_start = now - timedelta(seconds=settings.GENERATION_PART_LEASE_SECONDS)
    pending, writing = PartStatus.PENDING, PartStatus.WRITING
    # Adapted as the ORM adapts them, so its later `claimed_at=` filter matches (SQLite stores text).
    at, since = (connection.ops.adapt_datetimefield_value(time) for time in (now, lease_start))
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(model), [writing, at, part_id, pending, writing, since])
        return now if cursor.rowcount else None


@cache
def _claim_sql(model: type[Lesson] | type[Quiz]) -> str:
    """The claim's conditional UPDATE, written out: every part runs it before its LLM call can start, and the
    ORM spent ~0.8 ms of CPU building it (the same order as running it). The states and times are parameters."""
    table = connection.ops.quote_name(model._meta.db_table)
    return (
        f"UPDATE {table} SET status = %s, claimed_at = %s, attempts = attempts + 1"  # noqa: S608
        " WHERE id = %s AND (status = %s OR (status = %s AND claimed_at < %s))"
    )


def _part_store(model: type[Lesson] | type[Quiz], part_id: int, claimed_at: datetime, **fields: Any) -> bool:
    stored = model.objects.filter(id=part_id, status=PartStatus.WRITING, claimed_at=claimed_at).update(
        status=PartStatus.WRITTEN, written_at=timezone.now(), failure_reason="", **fields
    )
    if not stored:
        logger.info(
            "%s %s was claimed again while being written; this copy is dropped", model.__name__, part_id
        )
    return bool(stored)


def _part_pause(model: type[Lesson] | type[Quiz], part_id: int, claimed_at: datetime) -> None:
    """Today's budget cannot cover the part: it waits again (the try not counted), and its course says why.
    The sweeper queues it again once the course has been quiet for a while, when budget may be back."""
    model.objects.filter(id=part_id, status=PartStatus.WRITING, claimed_at=claimed_at).update(
        status=PartStatus.PENDING, attempts=F("attempts") - 1
    )
    course_id = model.objects.filter(id=part_id).values_list("course_id", flat=True).first()
    if course_id is not None:
        Course.objects.filter(pk=course_id, status=Course.Status.WRITING).update(
            status_reason=costs.PAUSED_FOR_BUDGET, heartbeat_at=timezone.now()
        )


def _part_fail(
    model: type[Lesson] | type[Quiz], part_id: int, claimed_at: datetime, error: llm.LLMError
) -> None:
    reason = PART_REASONS.get(error.outcome, PART_FAILED)
    model.objects.filter(id=part_id, status=PartStatus.WRITING, claimed_at=claimed_at).update(
        status=PartStatus.FAILED, failure_reason=reason
    )
    logger.warning("%s %s failed: %s", model.__name__, part_id, error)


def course_finish(*, course_id: UUID) -> bool:
    """End the course if no part can still change: ready when every part is written, incomplete when the
    rest failed GENERATION_PART_MAX_ATTEMPTS times. True for the one caller whose UPDATE ended it.

    Every part runs this as it is stored, so its statements are written out (`_finish_sql`): the ORM took
    longer to build and compile them than PostgreSQL took to run them."""
    now = timezone.now()
    finish, incomplete, heartbeat = _finish_sql()
    writing, ready, written = Course.Status.WRITING, Course.Status.READY, PartStatus.WRITTEN
    # Adapted as the ORM would: SQLite (the one-machine install) stores UUIDs and times as text.
    at = connection.ops.adapt_datetimefield_value(now)
    course = Course._meta.pk.get_db_prep_value(course_id, connection)  # type: ignore[union-attr]
    pending, failed, most = PartStatus.PENDING, PartStatus.FAILED, settings.GENERATION_PART_MAX_ATTEMPTS
    open_lesson = [course, pending, PartStatus.WRITING, failed, most]
    open_quiz = [course, pending, PartStatus.WRITING, failed, most, failed, most]
    unwritten = [course, written, course, written]
    with connection.cursor() as cursor:
        cursor.execute(finish, [ready, at, at, course, writing, course, written, course, written])
        if cursor.rowcount:
            checks.course_quality_queue(course_id=course_id)  # measured once ready, off the path to ready
            # "email me when it is ready" (the task sends only if an address was left)
            enqueue_after_commit("courses.tasks.send_course_ready_email", str(course_id))
            return True
        cursor.execute(
            incomplete,
            [
                Course.Status.INCOMPLETE,
                at,
                COURSE_INCOMPLETE,
                course,
                writing,
                *open_lesson,
                *open_quiz,
                *unwritten,
            ],
        )
        if cursor.rowcount:
            logger.warning("Course %s is incomplete: some parts failed every attempt", course_id)
            enqueue_after_commit("courses.tasks.send_course_ready_email", str(course_id))
            return True
        cursor.execute(heartbeat, [at, course, writing])
    return False


@cache
def _finish_sql() -> tuple[str, str, str]:
    """The UPDATE that flips a writing course with no unwritten lesson or quiz to ready (status_reason
    cleared); the one that flips it to incomplete when some part is unwritten and none is pending, being
    written, or failed with attempts left; and the one that only records its heartbeat. The ids, states and
    counts are parameters."""
    table = connection.ops.quote_name
    course, lesson, quiz = (table(model._meta.db_table) for model in (Course, Lesson, Quiz))
    unwritten = "SELECT 1 FROM {parts} WHERE {parts}.course_id = %s AND {parts}.status <> %s"
    finish = (
        f"UPDATE {course} SET status = %s, ready_at = %s, heartbeat_at = %s, status_reason = ''"  # noqa: S608
        f" WHERE id = %s AND status = %s"
        f" AND NOT EXISTS ({unwritten.format(parts=lesson)}) AND NOT EXISTS ({unwritten.format(parts=quiz)})"
    )
    # A lesson can still change while pending, being written, or failed with attempts left. So can a quiz,
    # except one waiting for its week's lessons when one of them failed for good: it waits on that lesson.
    lesson_changing = (
        f"SELECT 1 FROM {lesson} WHERE {lesson}.course_id = %s AND ({lesson}.status IN (%s, %s)"  # noqa: S608
        f" OR ({lesson}.status = %s AND {lesson}.attempts < %s))"
    )
    lesson_lost = (
        f"SELECT 1 FROM {lesson} WHERE {lesson}.week_id = {quiz}.week_id"  # noqa: S608
        f" AND {lesson}.status = %s AND {lesson}.attempts >= %s"
    )
    quiz_changing = (
        f"SELECT 1 FROM {quiz} WHERE {quiz}.course_id = %s AND ({quiz}.status IN (%s, %s)"  # noqa: S608
        f" AND NOT EXISTS ({lesson_lost}) OR ({quiz}.status = %s AND {quiz}.attempts < %s))"
    )
    # Something must still be unwritten: the last part may have been stored since the "ready?" statement
    # (another worker's), and a course with nothing left to write is ready, not incomplete.
    incomplete = (
        f"UPDATE {course} SET status = %s, heartbeat_at = %s, status_reason = %s"  # noqa: S608
        f" WHERE id = %s AND status = %s AND NOT EXISTS ({lesson_changing}) AND NOT EXISTS ({quiz_changing})"
        f" AND (EXISTS ({unwritten.format(parts=lesson)}) OR EXISTS ({unwritten.format(parts=quiz)}))"
    )
    heartbeat = f"UPDATE {course} SET heartbeat_at = %s WHERE id = %s AND status = %s"  # noqa: S608
    return finish, incomplete, heartbeat


# --------------------------------------------------------------------------------------------------------
# The sweeper
# --------------------------------------------------------------------------------------------------------


def course_sweep_stale() -> SweepResult:
    """Queue again whatever a dead worker or a lost message left behind; finish courses whose flip was missed.

    1. Courses queued or outlining that went silent: back to queued, outline queued again.
    2. Parts whose claim outlived the lease (their worker died): queued again, whatever the course's heartbeat.
    3. Courses writing that went silent: their pending parts queued again, and failed parts that have had
       fewer than GENERATION_PART_MAX_ATTEMPTS tries reset and queued (the LLM may be back); a course with
       nothing left to try ends, ready or incomplete (`course_finish`).
    Queuing twice is harmless (every write claims its row first), so overlapping sweeps need no lock.
    """
    now = timezone.now()
    silent_since = now - timedelta(seconds=settings.GENERATION_STALE_AFTER_SECONDS)
    _sweep_unconfirmed(now)
    if costs.spend_budget_left():  # budget is back: paused courses stop saying so, and are queued below
        Course.objects.filter(status_reason=costs.PAUSED_FOR_BUDGET).update(status_reason="")
    outlines = _sweep_outlines(now, silent_since)
    stale = Course.objects.filter(_silent(silent_since), status=Course.Status.WRITING)
    stale_courses = list(stale.values_list("id", flat=True))
    parts = _sweep_parts(now, stale_courses)
    finished = sum(course_finish(course_id=course_id) for course_id in stale_courses)
    return SweepResult(outlines_queued=outlines, parts_queued=parts, courses_finished=finished)


def _sweep_outlines(now: datetime, silent_since: datetime) -> int:
    stale = Course.objects.filter(
        _silent(silent_since), status__in=[Course.Status.QUEUED, Course.Status.OUTLINING]
    )
    course_ids = list(stale.values_list("id", flat=True))
    stale.filter(id__in=course_ids).update(status=Course.Status.QUEUED, heartbeat_at=now)
    for course_id in course_ids:
        _enqueue_outline(course_id)
    return len(course_ids)


def _sweep_unconfirmed(now: datetime) -> None:
    """Outlines nobody confirmed within OUTLINE_REVIEW_TIMEOUT_HOURS: written anyway, or dropped if asked."""
    since = now - timedelta(hours=settings.OUTLINE_REVIEW_TIMEOUT_HOURS)
    waiting = Course.objects.filter(status=Course.Status.OUTLINED, outlined_at__lt=since)
    waiting.filter(drop_unconfirmed=True).update(
        status=Course.Status.FAILED, status_reason=OUTLINE_DROPPED, heartbeat_at=now
    )
    for course_id, draft in waiting.filter(drop_unconfirmed=False).values_list("id", "outline_draft"):
        outline = CourseOutline.model_validate(draft)  # every stored draft passed this schema
        outline_store(course_id=course_id, outline=outline, status=Course.Status.OUTLINED)


def _silent(since: datetime) -> Q:
    """No sign of life since `since` (a course that never had a heartbeat counts from its creation)."""
    return Q(heartbeat_at__lt=since) | Q(heartbeat_at__isnull=True, created_at__lt=since)


def _sweep_parts(now: datetime, stale_courses: list[UUID]) -> int:
    lease_start = now - timedelta(seconds=settings.GENERATION_PART_LEASE_SECONDS)
    abandoned = Q(status=PartStatus.WRITING, claimed_at__lt=lease_start)
    waiting = Q(course_id__in=stale_courses, status=PartStatus.PENDING)
    parts: list[tuple[str, int]] = []
    course_ids = set(stale_courses)
    for kind, model in PART_MODELS.items():
        in_writing_courses = model.objects.filter(course__status=Course.Status.WRITING)
        in_writing_courses.filter(
            course_id__in=stale_courses,
            status=PartStatus.FAILED,
            attempts__lt=settings.GENERATION_PART_MAX_ATTEMPTS,
        ).update(status=PartStatus.PENDING, failure_reason="")
        for part_id, course_id in in_writing_courses.filter(abandoned | waiting).values_list(
            "id", "course_id"
        ):
            parts.append((kind, part_id))
            course_ids.add(course_id)
    Course.objects.filter(id__in=course_ids).update(heartbeat_at=now)
    _enqueue_parts(parts)
    return len(parts)


# --------------------------------------------------------------------------------------------------------
# Queuing (after the transaction that made the work visible has committed)
# --------------------------------------------------------------------------------------------------------


def _enqueue_outline(course_id: UUID) -> None:
    enqueue_after_commit("courses.tasks.llm_write_outline", str(course_id))


def _enqueue_parts(parts: list[tuple[str, int]]) -> None:
    """Queue ("lesson" | "quiz", id) parts as one group, so workers take them all at once."""
    enqueue_many_after_commit([(PART_TASKS[kind], (part_id,)) for kind, part_id in parts])
