"""The minimal course page at `courses:detail` (the website replaces it): status, failed parts and outline."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from courses.models import Course, Lesson, PartStatus
from courses.selectors import STAGE_READY
from tests.factories import CourseFactory, written_course

pytestmark = pytest.mark.django_db


def test_it_shows_the_outline_and_status_of_a_ready_course(
    client: Client, django_assert_max_num_queries
) -> None:
    course = written_course(weeks=4, lessons_per_week=3)

    with django_assert_max_num_queries(6):
        response = client.get(course.get_absolute_url())

    assert response.status_code == 200
    html = response.content.decode()
    assert course.title in html
    assert STAGE_READY in html
    assert "Week 4 of" in html
    assert "Lesson 4.3" in html
    assert "Generated offline" in html


def test_it_lists_the_parts_that_could_not_be_written(client: Client) -> None:
    course = written_course(weeks=4, status=Course.Status.WRITING, ready_at=None, generator="fake-model")
    Lesson.objects.filter(course=course, week__number=2, number=1).update(
        status=PartStatus.FAILED, failure_reason="The writing service kept failing on this part."
    )

    html = client.get(course.get_absolute_url()).content.decode()

    assert "Not written yet" in html
    assert "Week 2: Lesson 2.1" in html
    assert "Generated offline" not in html


def test_it_shows_why_a_course_failed(client: Client) -> None:
    course = CourseFactory(status=Course.Status.FAILED, status_reason="We could not plan this course.")

    html = client.get(reverse("courses:detail", args=[course.id])).content.decode()

    assert "We could not plan this course." in html


def test_an_unknown_course_is_not_found(client: Client) -> None:
    assert client.get(reverse("courses:detail", args=[uuid.uuid4()])).status_code == 404
