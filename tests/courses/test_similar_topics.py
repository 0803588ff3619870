"""Near-duplicate topics are offered for reuse before a new course is written."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from courses.models import Course
from courses.selectors import course_similar
from tests.factories import written_course

pytestmark = pytest.mark.django_db


def approved(title: str, topic: str = "", language: str = "en") -> Course:
    return written_course(
        weeks=2,
        lessons_per_week=1,
        title=title,
        topic=topic or title,
        language=language,
        review_state="approved",
    )


def test_a_topic_that_says_nearly_the_same_finds_the_course() -> None:
    jazz = approved("The history of jazz")
    approved("Jazz piano for beginners")
    approved("The history of Rome")
    assert course_similar(topic="history of jazz", language="en") == [jazz]
    assert course_similar(topic="A history of jazz", language="en") == [jazz]
    assert course_similar(topic="jazz history", language="en") == [jazz]


def test_other_topics_languages_and_private_courses_are_not_offered() -> None:
    approved("The history of jazz", language="fr")
    written_course(weeks=1, title="The history of jazz", topic="The history of jazz")  # awaiting review
    approved("Jazz harmony")
    assert course_similar(topic="history of jazz", language="en") == []
    assert course_similar(topic="the", language="en") == []


def test_asking_for_a_near_duplicate_offers_the_existing_course_first(client: Client) -> None:
    jazz = approved("The history of jazz")
    response = client.post(
        reverse("courses:request"), {"topic": "history of jazz", "language": "en", "weeks": "4"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "We may already have it" in html
    assert jazz.get_absolute_url() in html
    assert Course.objects.count() == 1  # nothing written yet

    response = client.post(
        reverse("courses:request"),
        {"topic": "history of jazz", "language": "en", "weeks": "4", "anyway": "on"},
    )
    assert response.status_code == 302
    assert Course.objects.count() == 2


def test_a_new_topic_goes_straight_to_writing(client: Client) -> None:
    approved("The history of jazz")
    response = client.post(
        reverse("courses:request"), {"topic": "Sourdough baking", "language": "en", "weeks": "4"}
    )
    assert response.status_code == 302
