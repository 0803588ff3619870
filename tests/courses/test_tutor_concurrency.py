"""50 learners asking the tutor at once, on real PostgreSQL and Redis: the daily allowance and the spend cap
hold however the asks interleave, and every accepted question gets exactly one answer."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from courses.models import Lesson, LLMCall, TutorMessage
from courses.tutor import asking
from tests.factories import UserFactory, written_course
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)
ASKERS = 50


def at_once(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job in its own thread, released together; each result is its return value or its error."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return job()
        except asking.TutorError as error:
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def asker(user: Any, lesson: Lesson) -> Callable[[], TutorMessage]:
    return lambda: asking.tutor_ask(
        user=user, week=lesson.week, lesson=lesson, question="What is the exercise?"
    )


def test_the_daily_allowance_holds_for_fifty_concurrent_askers(offline: None, settings: Any) -> None:
    settings.TUTOR_QUESTIONS_PER_DAY = 3
    course = written_course(weeks=5, lessons_per_week=1)
    lessons = list(Lesson.objects.filter(course=course).order_by("week__number"))
    learners = [UserFactory() for _ in range(10)]
    # each learner asks about five lessons at once: five asks, three allowed
    results = at_once([asker(user, lesson) for user in learners for lesson in lessons])
    accepted = [result for result in results if isinstance(result, TutorMessage)]
    refused = [result for result in results if isinstance(result, asking.TutorError)]
    assert len(accepted) == 30
    assert len(refused) == 20
    assert {str(error) for error in refused} == {asking.ALLOWANCE_USED.format(limit=3)}
    per_learner = Counter(TutorMessage.objects.values_list("conversation__user_id", flat=True))
    assert set(per_learner.values()) == {3}
    assert set(TutorMessage.objects.values_list("status", flat=True)) == {TutorMessage.Status.DONE}


def test_fifty_concurrent_askers_each_get_one_streamed_answer_recorded_under_tutor(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_TIMEOUT_SECONDS = 10
    fake_openai.first_token_latency = 0.2
    fake_openai.tokens_per_second = 200
    lesson = Lesson.objects.filter(course=written_course(weeks=4, lessons_per_week=1)).first()
    assert lesson is not None
    results = at_once([asker(UserFactory(), lesson) for _ in range(ASKERS)])
    assert all(isinstance(result, TutorMessage) for result in results)
    assert TutorMessage.objects.filter(status=TutorMessage.Status.DONE).count() == ASKERS
    assert LLMCall.objects.filter(stage="tutor", outcome=LLMCall.Outcome.OK).count() == ASKERS
    assert fake_openai.max_in_flight > 1  # the answers were written side by side


def test_the_spend_cap_refuses_fifty_concurrent_askers(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.LLM_DAILY_SPEND_CAP_USD = 0.01
    LLMCall.objects.create(stage="lesson", model="gpt-4o", completion_tokens=10_000, outcome="ok")
    lesson = Lesson.objects.filter(course=written_course(weeks=4, lessons_per_week=1)).first()
    assert lesson is not None
    results = at_once([asker(UserFactory(), lesson) for _ in range(ASKERS)])
    assert {str(result) for result in results} == {asking.SPEND_CAP_REACHED}
    assert not TutorMessage.objects.exists()
    assert not fake_openai.calls()
