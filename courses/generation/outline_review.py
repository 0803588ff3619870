"""Shaping an outline before its weeks are written (two-step requests): edit, regenerate, confirm.

The outline under review is one document, `Course.outline_draft`, in the shape the LLM writes it
(`CourseOutline`). Every change:
1. is validated with the very schema the LLM's answer is (plus the course length and plain text), so an
   outline that reaches the writers is always one they could have been given;
2. is a conditional UPDATE on the draft's version: a change made from an older version (another tab) is
   refused with OUTLINE_CHANGED, never merged or overwritten;
3. is kept as an `OutlineRevision`.
`outline_confirm` stores the weeks and starts writing them once, however often it is called.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from pydantic import ValidationError

from accounts.models import User
from courses.generation import pipeline, prompts
from courses.generation.schemas import CourseOutline
from courses.models import Course, OutlineRevision
from courses.moderation import costs, review
from school.queue import enqueue_after_commit

OUTLINE_CHANGED = (
    "This outline was changed in another tab (or by someone else) since you opened it, so your change was not "
    "saved. Reload the page to see the latest version, then make your change again."
)
OUTLINE_NOT_IN_REVIEW = (
    "This outline is no longer waiting for review: its weeks are being written (or it failed)."
)
OUTLINE_INVALID = "This outline cannot be used as it is: {problems}"
OUTLINE_WEEKS = "a course has between {min} and {max} weeks (this one has {count})"
OUTLINE_MARKUP = "{where}: write plain text, without HTML tags"
OUTLINE_TOO_LARGE = "This outline is far longer than any course needs; nothing was saved."
INSTRUCTION_EMPTY = (
    "Say what the new outline should change, e.g. “more practical” or “assume I know calculus”."
)
INSTRUCTION_TOO_LONG = "Keep the instruction under {max} characters."
INSTRUCTION_MAX_LENGTH = 500
OUTLINE_MAX_BYTES = 200_000
MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!]")

# What a part's reply is expected to hold, in completion tokens (the prompts ask for 600-1,200 words of
# lesson and 4-6 questions), and its prompt beyond the outline it quotes: for the estimate shown with an outline.
EXPECTED_COMPLETION_TOKENS = {"lesson": 1400, "quiz": 700}
EXPECTED_TASK_TOKENS = 450
TIME_TO_FIRST_TOKEN_SECONDS = 0.5


class OutlineError(Exception):
    """A change to an outline under review was refused; `message` says why, for the requester."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.conflict = conflict


@dataclass(frozen=True)
class OutlineEstimate:
    calls: int
    cost_usd: float | None  # None when the model's price is unknown
    seconds: int


def outline_valid(document: Any) -> CourseOutline:
    """The document as a `CourseOutline`, or OutlineError naming every problem in words a person reads."""
    if len(str(document).encode()) > OUTLINE_MAX_BYTES:
        raise OutlineError(OUTLINE_TOO_LARGE)
    problems: list[str] = []
    weeks = document.get("weeks") if isinstance(document, dict) else None
    count = len(weeks) if isinstance(weeks, list) else 0
    if not settings.COURSE_WEEKS_MIN <= count <= settings.COURSE_WEEKS_MAX:
        problems.append(
            OUTLINE_WEEKS.format(min=settings.COURSE_WEEKS_MIN, max=settings.COURSE_WEEKS_MAX, count=count)
        )
    counted = bool(problems)  # the schema's own complaint about the number of weeks would say it again
    try:
        outline = CourseOutline.model_validate(_without_readings(document))
    except ValidationError as error:
        problems += [
            _problem(problem) for problem in error.errors() if not (counted and problem["loc"] == ("weeks",))
        ]
        outline = None
    if outline is not None:
        problems += _markup(outline)
    if problems:
        raise OutlineError(OUTLINE_INVALID.format(problems="; ".join(dict.fromkeys(problems)) + "."))
    assert outline is not None
    return outline


def _without_readings(document: Any) -> Any:
    """An outline drafted while weeks still had readings in it: its quizzes now bring them."""
    if not isinstance(document, dict) or not isinstance(document.get("weeks"), list):
        return document
    weeks = [
        {key: value for key, value in week.items() if key != "reading_list"}
        if isinstance(week, dict)
        else week
        for week in document["weeks"]
    ]
    return {**document, "weeks": weeks}


LIST_ITEMS = {"weeks": "week", "lessons": "lesson", "objectives": "objective"}


def _problem(problem: Any) -> str:
    """("weeks", 1, "lessons", 2, "title") → "week 2, lesson 3, title: String should have …"."""
    words: list[str] = []
    location = list(problem["loc"])
    while location:
        part = location.pop(0)
        if part in LIST_ITEMS and location and isinstance(location[0], int):
            words.append(f"{LIST_ITEMS[part]} {location.pop(0) + 1}")
        else:
            words.append(str(part).replace("_", " "))
    return f"{', '.join(words) or 'the outline'}: {problem['msg']}"


def _markup(outline: CourseOutline) -> list[str]:
    texts = [
        ("the title", outline.title),
        ("the description", outline.description),
        ("the audience", outline.audience),
    ]
    for n, week in enumerate(outline.weeks, start=1):
        texts += [(f"week {n}, title", week.title), (f"week {n}, overview", week.overview)]
        for m, lesson in enumerate(week.lessons, start=1):
            texts += [
                (f"week {n}, lesson {m}, title", lesson.title),
                (f"week {n}, lesson {m}, summary", lesson.summary),
            ]
    return [OUTLINE_MARKUP.format(where=where) for where, text in texts if MARKUP.search(text)]


def outline_estimate(*, course: Course) -> OutlineEstimate:
    """What writing the rest of the course will take: one call per lesson and quiz, their cost at the model's
    prices, and the time at LLM_ESTIMATE_TOKENS_PER_SECOND with LLM_MAX_CONCURRENCY calls at once."""
    weeks = (course.outline_draft or {}).get("weeks") or []
    lessons = sum(len(week.get("lessons") or []) for week in weeks if isinstance(week, dict))
    quizzes = len(weeks)
    outline_tokens = len(prompts.outline_json(course.outline_draft or {})) // 4
    prompt_tokens = (lessons + quizzes) * (outline_tokens + EXPECTED_TASK_TOKENS)
    completion = lessons * EXPECTED_COMPLETION_TOKENS["lesson"] + quizzes * EXPECTED_COMPLETION_TOKENS["quiz"]
    price = costs.model_price(settings.OPENAI_MODEL)
    cost = None
    if price is not None:
        cost = costs.call_cost_usd(
            model=settings.OPENAI_MODEL,
            prompt_tokens=prompt_tokens,
            cached_tokens=0,
            completion_tokens=completion,
        )
    rounds = math.ceil((lessons + quizzes) / settings.LLM_MAX_CONCURRENCY) if lessons else 0
    per_call = (
        TIME_TO_FIRST_TOKEN_SECONDS
        + EXPECTED_COMPLETION_TOKENS["lesson"] / settings.LLM_ESTIMATE_TOKENS_PER_SECOND
    )
    return OutlineEstimate(calls=lessons + quizzes, cost_usd=cost, seconds=math.ceil(rounds * per_call))


def outline_edit(*, course_id: UUID, user: User | None, document: Any, version: int) -> int:
    """Replace the draft with `document` if it is valid and the draft is still at `version`; the new version."""
    outline = outline_valid(document)
    return _revise(
        course_id=course_id,
        version=version,
        user=user,
        cause=OutlineRevision.Cause.EDIT,
        content=outline.model_dump(),
    )


def outline_regenerate(*, course_id: UUID, user: User | None, instruction: str, version: int) -> None:
    """Have the outline written again as `instruction` asks (one LLM call); the current one is kept meanwhile,
    and comes back if the new one cannot be written."""
    instruction = " ".join(instruction.split())
    if not instruction:
        raise OutlineError(INSTRUCTION_EMPTY)
    if len(instruction) > INSTRUCTION_MAX_LENGTH:
        raise OutlineError(INSTRUCTION_TOO_LONG.format(max=INSTRUCTION_MAX_LENGTH))
    if costs.spend_cap_reached():
        raise OutlineError(costs.SPEND_CAP_MESSAGE)
    with transaction.atomic():
        _locked_in_review(course_id, version)
        Course.objects.filter(id=course_id).update(
            status=Course.Status.QUEUED, outline_instruction=instruction, heartbeat_at=timezone.now()
        )
        enqueue_after_commit("courses.tasks.llm_write_outline", str(course_id))


def outline_confirm(*, course_id: UUID, version: int | None = None) -> bool:
    """Start writing the weeks of the outline under review (at `version`, if given). True for the one call that
    started them; False when it was already confirmed. The outline is screened first, as the LLM's was."""
    course = Course.objects.filter(id=course_id).first()
    if course is None or course.status != Course.Status.OUTLINED:
        return False
    if version is not None and course.outline_version != version:
        raise OutlineError(OUTLINE_CHANGED, conflict=True)
    outline = outline_valid(course.outline_draft)
    review.outline_screen_and_hold(course=course, outline=outline)
    return pipeline.outline_store(course_id=course_id, outline=outline, status=Course.Status.OUTLINED)


def _locked_in_review(course_id: UUID, version: int) -> Course:
    course = Course.objects.select_for_update().get(id=course_id)
    if course.status != Course.Status.OUTLINED:
        raise OutlineError(OUTLINE_NOT_IN_REVIEW)
    if course.outline_version != version:
        raise OutlineError(OUTLINE_CHANGED, conflict=True)
    return course


def _revise(*, course_id: UUID, version: int, user: User | None, cause: str, content: dict[str, Any]) -> int:
    with transaction.atomic():
        course = _locked_in_review(course_id, version)
        changed = Course.objects.filter(
            id=course_id, status=Course.Status.OUTLINED, outline_version=version
        ).update(
            outline_draft=content,
            outline_version=F("outline_version") + 1,
            weeks_count=len(content["weeks"]),
            title=content["title"],
            description=content["description"],
            audience=content["audience"],
        )
        if not changed:  # the row lock makes this unreachable; the condition still says what is meant
            raise OutlineError(OUTLINE_CHANGED, conflict=True)
        OutlineRevision.objects.create(
            course=course, version=version + 1, content=content, cause=cause, author=_author(user)
        )
    return version + 1


def _author(user: User | None) -> User | None:
    return user if user is not None and user.is_authenticated else None


# --------------------------------------------------------------------------------------------------------
# The editor's moves, on the document (the website's form posts the whole outline and one of these)
# --------------------------------------------------------------------------------------------------------
def _new_lesson(number: int) -> dict[str, Any]:
    # Numbered, so the lessons of a new week differ (a quiz asking which lesson covers what needs that).
    return {"title": f"New lesson {number}", "summary": "Say in a sentence or two what this lesson covers."}


def outline_move(document: dict[str, Any], action: str) -> dict[str, Any]:
    """`document` changed by one of the editor's buttons: "week-up-N", "week-down-N", "week-remove-N",
    "week-add", "lesson-up-N-M", "lesson-down-N-M", "lesson-remove-N-M", "lesson-add-N" (N, M from 1).
    An unknown action or position changes nothing (the result is still validated when saved)."""
    weeks: list[dict[str, Any]] = document.setdefault("weeks", [])
    kind, verb, *numbers = [*action.split("-"), ""][:2] + action.split("-")[2:]
    if not all(number.isdigit() for number in numbers):
        return document
    places = [int(number) - 1 for number in numbers]
    if kind == "week":
        _move(weeks, verb, places, _new_week)
    elif kind == "lesson" and places and 0 <= places[0] < len(weeks):
        lessons = weeks[places[0]].setdefault("lessons", [])
        _move(lessons, verb, places[1:], lambda: _new_lesson(len(lessons) + 1))
    return document


def _move(items: list[dict[str, Any]], verb: str, places: list[int], new: Any) -> None:
    if verb == "add":
        items.append(new())
        return
    if not places or not 0 <= places[0] < len(items):
        return
    at = places[0]
    if verb == "remove":
        items.pop(at)
    elif verb in ("up", "down"):
        to = at - 1 if verb == "up" else at + 1
        if 0 <= to < len(items):
            items[at], items[to] = items[to], items[at]


def _new_week() -> dict[str, Any]:
    """A week the requester adds: titled and planned by them in the editor; objectives follow its lessons."""
    lessons = [_new_lesson(number) for number in (1, 2, 3)]
    return {
        "title": "New week",
        "overview": "Say in a sentence or two what this week is about.",
        "objectives": [f"Explain what new lesson {number} covers." for number in (1, 2, 3)],
        "lessons": lessons,
    }
