"""The LLM judge (`manage.py evaluate_course ID`): a fixed rubric asked of the LLM through
`courses.generation.llm`, for each written lesson (accuracy, clarity, depth) and each week (objectives coverage,
quiz alignment). Scores and reasons are stored in the course's quality report, whose score then counts them;
every call is an LLMCall of stage "judge", so the cost dashboard counts it. Needs a key: offline there is no
model to judge with.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from courses.generation import llm, prompts
from courses.models import Course, Lesson, PartStatus, QualityReport, Week
from courses.quality import report

LESSON_RUBRIC = ("accuracy", "clarity", "depth")
WEEK_RUBRIC = ("objectives_coverage", "quiz_alignment")
JUDGE_NEEDS_KEY = "The LLM judge needs a model: set OPENAI_API_KEY (the offline generator cannot judge)."


class JudgeUnavailable(Exception):
    pass


def course_evaluate(*, course_id: UUID) -> QualityReport:
    """Judge every written lesson and every week of the course, store the verdicts, measure the report again.

    Raises JudgeUnavailable offline, and llm.LLMError when the LLM gives no usable verdict."""
    if llm.is_offline():
        raise JudgeUnavailable(JUDGE_NEEDS_KEY)
    course = Course.objects.get(id=course_id)
    lessons = list(
        Lesson.objects.filter(course=course, status=PartStatus.WRITTEN)
        .select_related("week")
        .order_by("week__number", "number")
    )
    weeks = list(Week.objects.filter(course=course).select_related("quiz").order_by("number"))
    verdicts = {
        "model": settings.OPENAI_MODEL,
        "at": timezone.now().isoformat(),
        "lessons": [_lesson_verdict(course, lesson) for lesson in lessons],
        "weeks": [_week_verdict(course, week, lessons) for week in weeks],
    }
    quality, _ = QualityReport.objects.get_or_create(course=course)
    quality.judge = verdicts
    quality.save(update_fields=["judge"])
    return report.report_compute(course_id=course.id)


def _lesson_verdict(course: Course, lesson: Lesson) -> dict[str, Any]:
    prompt = prompts.judge_lesson_prompt(
        course=str(course),
        audience=course.audience,
        week=lesson.week.number,
        lesson=lesson.number,
        summary=lesson.summary,
        body=lesson.body,
    )
    verdict = llm.complete(prompt, course=course)
    scores = {"accuracy": verdict.accuracy, "clarity": verdict.clarity, "depth": verdict.depth}
    return {"week": lesson.week.number, "lesson": lesson.number, "scores": scores, "reason": verdict.reason}


def _week_verdict(course: Course, week: Week, lessons: list[Lesson]) -> dict[str, Any]:
    quiz = getattr(week, "quiz", None)
    document = {
        "title": week.title,
        "objectives": week.objectives,
        "lessons": [
            {"number": lesson.number, "title": lesson.title, "summary": lesson.summary}
            for lesson in lessons
            if lesson.week_id == week.pk
        ],
        "quiz": [
            {"question": item.get("question"), "options": item.get("options"), "answer": item.get("answer")}
            for item in (quiz.questions if quiz else [])
        ],
    }
    verdict = llm.complete(
        prompts.judge_week_prompt(course=str(course), week=week.number, week_document=document), course=course
    )
    scores = {"objectives_coverage": verdict.objectives_coverage, "quiz_alignment": verdict.quiz_alignment}
    return {"week": week.number, "scores": scores, "reason": verdict.reason}
