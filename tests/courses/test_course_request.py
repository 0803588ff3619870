"""`course_request`: validation a form can show per field, reuse of approved courses, and queuing the rest."""

from __future__ import annotations

from typing import Any

import pytest

from courses.errors import CourseRequestError
from courses.generation.request import LANGUAGE_UNKNOWN, WEEKS_OUT_OF_RANGE, course_request
from courses.models import Course, LLMCall
from courses.topics import TOPIC_EMPTY, topic_key
from tests.factories import UserFactory, written_course
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


def approved_course(topic: str = "Roman aqueducts", **fields: Any) -> Course:
    fields.setdefault("language", "en")
    fields.setdefault("review_state", Course.Review.APPROVED)
    return written_course(weeks=fields.pop("weeks", 4), topic=topic, topic_key=topic_key(topic), **fields)


def test_an_approved_course_on_the_same_topic_is_reused_with_no_llm_call(fake_openai: FakeOpenAI) -> None:
    existing = approved_course()

    result = course_request(topic="  roman AQUEDUCTS! ", language="en", weeks=4, user=None, ip=None)

    assert result.reused is True
    assert result.course == existing
    assert fake_openai.requests == []
    assert not LLMCall.objects.exists()
    assert Course.objects.count() == 1


@pytest.mark.parametrize(
    "different",
    [
        {"language": "fr"},
        {"weeks": 5},
        {"review_state": Course.Review.PENDING},
        {"review_state": Course.Review.REJECTED},
        {"status": Course.Status.WRITING},
    ],
)
def test_a_course_differing_in_language_length_or_approval_is_not_reused(
    fake_openai: FakeOpenAI, different: dict[str, Any]
) -> None:
    approved_course(**different)

    result = course_request(topic="Roman aqueducts", language="en", weeks=4, user=None, ip=None)

    assert result.reused is False
    assert Course.objects.get(id=result.course.id).status == Course.Status.READY
    assert Course.objects.count() == 2


def test_fresh_asks_for_a_new_course_even_when_one_could_be_reused(fake_openai: FakeOpenAI) -> None:
    existing = approved_course()

    result = course_request(topic="Roman aqueducts", language="en", weeks=4, user=None, ip=None, fresh=True)

    assert result.reused is False
    assert result.course != existing
    assert len(fake_openai.calls()) > 1


def test_a_new_course_remembers_who_asked_and_the_normalised_topic(fake_openai: FakeOpenAI) -> None:
    user = UserFactory()

    result = course_request(
        topic="  Roman   aqueducts ", language="en", weeks=4, user=user, ip="2001:db8::1", fresh=False
    )

    course = Course.objects.get(id=result.course.id)
    assert (course.topic, course.topic_key) == ("Roman aqueducts", "roman aqueducts")
    assert (course.requested_by, course.requester_ip) == (user, "2001:db8::1")
    assert (course.language, course.weeks_count) == ("en", 4)


@pytest.mark.parametrize(
    ("topic", "language", "weeks", "field", "message"),
    [
        ("   ", "en", 13, "topic", TOPIC_EMPTY),
        ("Bees", "xx", 13, "language", LANGUAGE_UNKNOWN),
        ("Bees", "en", 3, "weeks", WEEKS_OUT_OF_RANGE.format(min=4, max=13)),
        ("Bees", "en", 14, "weeks", WEEKS_OUT_OF_RANGE.format(min=4, max=13)),
    ],
)
def test_an_invalid_request_names_the_field_and_creates_nothing(
    topic: str, language: str, weeks: int, field: str, message: str
) -> None:
    with pytest.raises(CourseRequestError) as raised:
        course_request(topic=topic, language=language, weeks=weeks, user=None, ip=None)

    assert (raised.value.field, raised.value.message) == (field, message)
    assert not Course.objects.exists()
