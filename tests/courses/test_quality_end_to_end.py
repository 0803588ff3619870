"""The course the issue asks CI to catch: the fake LLM invents a book, cites a dead link, answers a quiz question
no lesson supports and writes two near-identical lessons; each is caught and shown to the moderator (and
said plainly where learners read). Real pipeline, tasks in-process, against the fake LLM and fake libraries."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from courses.generation import request
from courses.models import Course, Lesson, LLMCall, QualityReport
from courses.moderation import editing
from courses.reading.exports import course_markdown
from tests.factories import moderator
from tests.fakes.libraries_server import FakeLibraries, book
from tests.fakes.openai_server import FakeOpenAI, reply_for

pytestmark = pytest.mark.django_db(transaction=True)

REAL_BOOK = {"title": "SPQR", "author": "Mary Beard", "url": "", "note": "A history of Rome."}
INVENTED_BOOK = {
    "title": "Waters of the Caesars",
    "author": "Lucius Fabricated",
    "url": "",
    "note": "Invented.",
}
COPIED = (
    "Roman engineers built aqueducts with a gentle and constant slope, so that water flowed by gravity alone "
    "from springs in the hills to fountains, baths and private houses in the city, sometimes over fifty miles "
    "of channels, tunnels and arcades that still stand in parts of Europe today. {n}"
)
UNSUPPORTED_PASSAGE = "Emperor Nero personally designed every aqueduct of Rome in a single night."


def readings(week: int, dead_link: str) -> list[dict[str, str]]:
    return (
        [REAL_BOOK, INVENTED_BOOK]
        if week == 1
        else [{**REAL_BOOK, "url": dead_link}]
        if week == 2
        else [REAL_BOOK]
    )


def outline() -> dict[str, Any]:
    def week(n: int) -> dict[str, Any]:
        return {
            "title": f"Week {n} on aqueducts",
            "overview": f"Week {n} follows the water.",
            "objectives": ["Explain how aqueducts kept their slope.", "Describe arches.", "Compare cities."],
            "lessons": [
                {"title": f"Lesson {n}.{m}", "summary": f"What lesson {n}.{m} covers."} for m in (1, 2, 3)
            ],
        }

    return {
        "title": "Roman aqueducts",
        "description": "How Rome brought water to its cities.",
        "audience": "Curious adults",
        "weeks": [week(n) for n in (1, 2, 3, 4)],
    }


def copied_lesson() -> dict[str, Any]:
    body = "Water made Rome.\n\n" + "\n\n".join(f"## Part {n}\n\n{COPIED.format(n='')}" for n in (1, 2, 3))
    return {"body_markdown": body}


def test_an_invented_book_a_dead_link_an_unsupported_answer_and_repeated_lessons_are_caught_and_shown(
    fake_openai: FakeOpenAI, libraries: FakeLibraries, client: Any
) -> None:
    libraries.books.append(book("SPQR: A History of Ancient Rome", "Mary Beard"))
    dead_link = f"{libraries.base_url}/pages/gone"
    invented_once: list[bool] = []

    def llm(body: dict[str, Any]) -> Any:
        name, task = body["response_format"]["json_schema"]["name"], body["messages"][-1]["content"]
        if name == "course_outline":
            return outline()
        if name == "lesson" and ("Write lesson 1 of week 1 " in task or "Write lesson 1 of week 3 " in task):
            return copied_lesson()
        if name == "quiz" and "quiz for week 2 " in task and not invented_once:
            invented_once.append(True)
            question = {
                "question": "Who designed the aqueducts?",
                "options": ["Nero", "Vitruvius", "Frontinus", "Agrippa"],
                "correct_index": 0,
                "explanation": "The lesson says so.",
                "lesson": 1,
                "passage": UNSUPPORTED_PASSAGE,
            }
            return {"questions": [question] * 4, "reading_list": [REAL_BOOK]}
        if name == "quiz":  # the week's readings come with its quiz
            week = int(task.split("quiz for week ")[1].split()[0])
            return {**reply_for(body), "reading_list": readings(week, dead_link)}
        return None

    fake_openai.override(llm)

    result = request.course_request(topic="Roman aqueducts", language="en", weeks=4, user=None, ip=None)

    course = Course.objects.get(pk=result.course.pk)
    assert course.status == Course.Status.READY
    # 1. The unsupported answer was rejected and asked again, and the rejection is on record.
    rejected = LLMCall.objects.get(course=course, stage="quiz", outcome=LLMCall.Outcome.INVALID_OUTPUT)
    assert "passage is not in lesson 1" in rejected.error
    assert all(UNSUPPORTED_PASSAGE not in str(quiz.questions) for quiz in course.quizzes.all())
    quality = QualityReport.objects.get(course=course)
    # 2. The invented book is not verified; the real one is.
    assert quality.findings["readings"]["not_verified"] == ["Waters of the Caesars"]
    assert quality.findings["readings"]["verified"] == 4
    # 3. The dead link is flagged.
    assert quality.findings["links"]["dead"] == [{"url": dead_link, "detail": "HTTP 404"}]
    # 4. The two near-identical lessons are found.
    pairs = {(r["first"]["label"], r["second"]["label"]) for r in quality.findings["repetition"]}
    assert pairs == {("Week 1, lesson 1", "Week 3, lesson 1")}
    assert quality.findings["questions"]["unsupported"] == []
    # The pair is shown on the course's admin page (before the edit below, which may rewrite one of them).
    client.force_login(moderator("boss@example.com"))
    before_edit = client.get(reverse("admin:courses_course_change", args=[course.pk])).content.decode()
    assert "Week 1, lesson 1 and Week 3, lesson 1" in before_edit

    # A later edit takes away a passage a question quotes: the report now shows that question unsupported.
    quiz = course.quizzes.get(week__number=1)
    quoted = Lesson.objects.get(week=quiz.week, number=quiz.questions[0]["lesson"])
    with_passage = quoted.body.replace(quiz.questions[0]["passage"], "Rewritten by a moderator.")
    editing.part_edit(part=quoted, changes={"body": with_passage}, actor=moderator())
    quality.refresh_from_db()
    assert {"week": 1, "question": 1, "text": quiz.questions[0]["question"]} in quality.findings["questions"][
        "unsupported"
    ]

    # Shown: to moderators on the course's admin page, and in the queue's quality column...
    client.force_login(moderator("boss@example.com"))
    page = client.get(reverse("admin:courses_course_change", args=[course.pk])).content.decode()
    assert "Not verified: Waters of the Caesars." in page
    assert f"Dead: {dead_link} (HTTP 404)" in page
    assert "Questions without a supporting passage" in page
    queue = client.get(reverse("admin:courses_course_changelist"), {"queue": "all"}).content.decode()
    assert f"<strong>{quality.score}</strong>" in queue
    # ...and to learners, in the export's reading list and the course page's summary.
    assert (
        "- Waters of the Caesars, Lucius Fabricated: Invented. (suggested, not verified)"
        in course_markdown(course=course)
    )
    assert "4 of 5 suggested readings were found in library catalogues." in quality.summary
    assert "1 of 1 links did not work when checked." in quality.summary
