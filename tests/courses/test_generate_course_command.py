"""`manage.py generate_course`: runs the pipeline and prints the course's address (and progress with --wait)."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from courses.generation.pipeline import OUTLINE_FAILED, OUTLINE_REJECTED
from courses.generation.request import LANGUAGE_UNKNOWN, WEEKS_OUT_OF_RANGE
from courses.models import Course
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("generate_course", *args, stdout=out)
    return out.getvalue().splitlines()


def test_it_writes_a_course_offline_and_prints_its_address() -> None:
    lines = run("Beekeeping", "--weeks", "4", "--wait")

    course = Course.objects.get()
    assert lines[0] == f"https://semester.test/courses/{course.id}/"
    assert lines[-1] == "ready"
    assert (course.status, course.generator, course.weeks_count) == (Course.Status.READY, "offline", 4)


def test_with_wait_it_shows_progress_until_ready(fake_openai: FakeOpenAI, celery_worker: Any) -> None:
    fake_openai.latency = 0.2

    lines = run("Volcanoes", "--weeks", "4", "--language", "it", "--wait", "--poll", "0.05")

    course = Course.objects.get()
    assert course.language == "it"
    assert re.fullmatch(r"https://semester\.test/courses/[0-9a-f-]{36}/", lines[0])
    parts = course.lessons.count() + course.quizzes.count()
    written = [
        int(m.group(1)) for line in lines if (m := re.fullmatch(rf"writing (\d+)/{parts} parts", line))
    ]
    assert written[0] == 0
    assert written == sorted(set(written))  # one line per change, counting up
    assert lines[-1] == "ready"


def test_it_reuses_an_approved_course_unless_fresh() -> None:
    run("Beekeeping", "--weeks", "4")
    Course.objects.update(review_state=Course.Review.APPROVED)

    reused = run("beekeeping!", "--weeks", "4")
    fresh = run("beekeeping", "--weeks", "4", "--fresh")

    assert reused[0].startswith("An approved course already covers this")
    assert Course.objects.count() == 2
    assert fresh[0] != reused[1]


def test_it_refuses_an_invalid_request_with_the_reason() -> None:
    with pytest.raises(CommandError, match=re.escape(f"language: {LANGUAGE_UNKNOWN}")):
        run("Beekeeping", "--language", "xx")
    with pytest.raises(CommandError, match=re.escape(f"weeks: {WEEKS_OUT_OF_RANGE.format(min=4, max=13)}")):
        run("Beekeeping", "--weeks", "20")


def test_with_wait_it_fails_loudly_when_the_course_fails(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 0
    fake_openai.fail_next("500")

    with pytest.raises(CommandError, match=re.escape(f"failed: {OUTLINE_FAILED}")):
        run("Volcanoes", "--weeks", "4", "--wait")


def test_with_wait_a_rejected_request_shows_the_servers_words_and_the_call_they_came_from(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.refuse_json_schema = True  # llama-cpp-python's 500 for a response_format it does not know

    with pytest.raises(CommandError) as raised:
        run("Volcanoes", "--weeks", "4", "--wait", "--poll", "0.05")

    course = Course.objects.get()
    assert (course.status, course.status_reason) == (Course.Status.FAILED, OUTLINE_REJECTED)
    message = str(raised.value)
    assert message.startswith(f"failed: {OUTLINE_REJECTED}")
    assert re.search(
        r"last failed LLM call: outline call \d+, attempt 1: Request rejected: HTTP 500", message
    )
    assert "literal_error" in message
    assert len(fake_openai.calls()) == 1  # never retried as an outage
