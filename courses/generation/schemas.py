"""The shapes the LLM must answer in: pydantic models, sent as strict JSON schemas and used to validate replies.

A reply is used only if it validates completely; anything else is retried (see `courses.generation.llm`). The offline
generator's answers go through the same models, so both paths produce the same structure.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from courses.quality.passages import passage_problems

# Strict structured outputs accept only a subset of JSON Schema: string lengths are not in it, so they are
# checked by pydantic after the reply arrives instead. https://platform.openai.com/docs/guides/structured-outputs
UNSUPPORTED_KEYWORDS = ("minLength", "maxLength", "default")
LENGTH_KEYWORDS = ("minLength", "maxLength")
# llama.cpp compiles maxLength N into N nested optional characters: 4,000 fails to parse (llama-cpp-python's
# server then drops the connection), 1,000 works. Longer limits are left to pydantic's check of the reply.
GRAMMAR_MAX_LENGTH = 1000

Title = Annotated[str, Field(min_length=1, max_length=200)]
Line = Annotated[str, Field(min_length=1, max_length=600)]
Paragraph = Annotated[str, Field(min_length=1, max_length=4000)]

LESSON_MIN_WORDS = 150  # far below the 600 asked for: rejects stubs, never a slightly short lesson
HEADING = re.compile(r"^#{1,6}\s+\S", re.MULTILINE)
ModelT = TypeVar("ModelT", bound=BaseModel)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Reading(Answer):
    title: Title
    author: Annotated[str, Field(max_length=200)]
    url: Annotated[str, Field(max_length=500, description="An http(s) link, or empty when unsure.")]
    note: Line

    @field_validator("url")
    @classmethod
    def keep_web_links_only(cls, url: str) -> str:
        """A link the model made up in another scheme is dropped rather than failing the whole outline."""
        return url if url.startswith(("https://", "http://")) else ""


class LessonPlan(Answer):
    title: Title
    summary: Line


class WeekPlan(Answer):
    """A week as the outline plans it. Its readings are not part of it: they come with the week's quiz
    (`QuizDraft`), written after its lessons, so the outline every lesson waits for is shorter."""

    title: Title
    overview: Paragraph
    objectives: Annotated[list[Line], Field(min_length=3, max_length=5)]
    lessons: Annotated[list[LessonPlan], Field(min_length=3, max_length=4)]


ReadingList = Annotated[list[Reading], Field(min_length=1, max_length=3)]


class WeekReplan(WeekPlan):
    """A week planned again (regeneration), with readings that fit its new plan."""

    reading_list: ReadingList


class CourseOutline(Answer):
    title: Title
    description: Paragraph
    audience: Title
    weeks: Annotated[list[WeekPlan], Field(min_length=4, max_length=13)]


class LessonDraft(Answer):
    body_markdown: Annotated[str, Field(min_length=1, max_length=20000)]

    @field_validator("body_markdown")
    @classmethod
    def looks_like_an_article(cls, body: str) -> str:
        if len(body.split()) < LESSON_MIN_WORDS:
            raise ValueError(f"a lesson needs at least {LESSON_MIN_WORDS} words")
        if not HEADING.search(body):
            raise ValueError("a lesson needs markdown section headings")
        return body


class QuizQuestion(Answer):
    question: Line
    options: Annotated[list[Line], Field(min_length=3, max_length=5)]
    correct_index: Annotated[int, Field(ge=0, le=4, description="0-based index into options.")]
    explanation: Line
    lesson: Annotated[int, Field(ge=1, le=4, description="The number of this week's lesson that teaches it.")]
    passage: Annotated[
        str,
        Field(
            min_length=20,
            max_length=600,
            description="One or two sentences copied word for word from that lesson, supporting the answer.",
        ),
    ]

    @model_validator(mode="after")
    def answer_is_one_of_the_options(self) -> QuizQuestion:
        if self.correct_index >= len(self.options):
            raise ValueError("correct_index points past the options")
        if len({option.casefold() for option in self.options}) != len(self.options):
            raise ValueError("options must differ from each other")
        return self


class QuizDraft(Answer):
    """Validated with the week's lessons as context (`{"lessons": {number: markdown}}`, the quiz prompt's facts):
    a question whose passage is not in the lesson it names makes the whole reply invalid, asked again."""

    questions: Annotated[list[QuizQuestion], Field(min_length=4, max_length=6)]
    reading_list: ReadingList  # the week's suggested readings, chosen once its lessons are written

    @model_validator(mode="after")
    def every_passage_is_in_its_lesson(self, info: ValidationInfo) -> QuizDraft:
        lessons = (info.context or {}).get("lessons")
        if lessons is not None:
            problems = passage_problems([(item.lesson, item.passage) for item in self.questions], lessons)
            if problems:
                raise ValueError("; ".join(problems))
        return self


Score = Annotated[int, Field(ge=1, le=5, description="1 (poor) to 5 (excellent).")]


class LessonJudgement(Answer):
    """The LLM judge's rubric for one lesson (`courses.quality.judge`)."""

    accuracy: Score
    clarity: Score
    depth: Score
    reason: Line


class WeekJudgement(Answer):
    """The LLM judge's rubric for one week: its lessons against its objectives, and its quiz against both."""

    objectives_coverage: Score
    quiz_alignment: Score
    reason: Line


@cache
def outline_schema(weeks: int) -> type[CourseOutline]:
    """The outline model for a course of exactly `weeks` weeks, so the schema itself asks for that many."""
    return _with_exactly(CourseOutline, "weeks", WeekPlan, weeks)


@cache
def week_plan_schema(lessons: int) -> type[WeekReplan]:
    """A week's plan with exactly `lessons` lessons: a regenerated week keeps its lessons (and their ids)."""
    return _with_exactly(WeekReplan, "lessons", LessonPlan, lessons)


def _with_exactly(base: type[ModelT], field: str, item: type[BaseModel], count: int) -> type[ModelT]:
    """`base` with its list `field` holding exactly `count` items."""
    exactly = Annotated[list[item], Field(min_length=count, max_length=count)]  # type: ignore[valid-type]
    return create_model(base.__name__, __base__=base, **{field: (exactly, ...)})  # type: ignore[call-overload]


@cache
def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema in the form strict structured outputs require.

    Every object gets `additionalProperties: false` and lists all its properties as required; keywords outside
    the supported subset are removed (pydantic still enforces them on the reply). Cached: treat as read-only.
    """
    return request_json_schema(model, length_limits=False)


@cache
def request_json_schema(model: type[BaseModel], *, length_limits: bool) -> dict[str, Any]:
    """The schema sent for `model`: strict, with string lengths kept when `length_limits` (for servers that
    compile the schema into a grammar, so a small model cannot leave a field empty or run on), up to
    GRAMMAR_MAX_LENGTH characters. Read-only."""
    schema = copy.deepcopy(model.model_json_schema())
    dropped = tuple(k for k in UNSUPPORTED_KEYWORDS if not (length_limits and k in LENGTH_KEYWORDS))
    _make_strict(schema, dropped)
    for definition in schema.get("$defs", {}).values():
        _make_strict(definition, dropped)
    _drop_long_max_lengths(schema)
    return schema


def _drop_long_max_lengths(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("maxLength", 0) > GRAMMAR_MAX_LENGTH:
            del node["maxLength"]
        for child in node.values():
            _drop_long_max_lengths(child)
    elif isinstance(node, list):
        for child in node:
            _drop_long_max_lengths(child)


def _make_strict(node: dict[str, Any], dropped: tuple[str, ...] = UNSUPPORTED_KEYWORDS) -> None:
    for keyword in dropped:
        node.pop(keyword, None)
    if isinstance(node.get("title"), str):
        node.pop("title")  # pydantic's generated titles only cost tokens
    properties = node.get("properties")
    if node.get("type") == "object" or properties is not None:
        node["additionalProperties"] = False
        node["required"] = list(properties or {})
        for child in (properties or {}).values():
            _make_strict(child, dropped)
    if isinstance(node.get("items"), dict):
        _make_strict(node["items"], dropped)
    for variant in node.get("anyOf", []):
        _make_strict(variant, dropped)
