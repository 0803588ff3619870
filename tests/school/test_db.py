from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courses.models import Course
from school.db import row_by_pk
from tests.factories import CourseFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_returns_the_row_the_orm_would_return_field_for_field() -> None:
    course = CourseFactory(
        outline_draft={"weeks": [1, 2]}, outlined_at=timezone.now(), requested_by=UserFactory()
    )
    found = row_by_pk(Course, course.pk)
    expected = Course.objects.get(pk=course.pk)
    assert found is not None
    for field in Course._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    assert found.outline_draft == {"weeks": [1, 2]}  # converted from the JSON column, as the ORM does
    assert not found._state.adding  # saves as an update, like a fetched row
    assert found._state.db == "default"


def test_it_takes_the_key_as_text_too() -> None:
    course = CourseFactory()
    assert row_by_pk(Course, str(course.pk)) == course


def test_it_returns_none_for_a_missing_or_malformed_key() -> None:
    assert row_by_pk(Course, uuid.uuid4()) is None
    assert row_by_pk(Course, "not-a-uuid") is None


def test_it_runs_one_query_without_ordering() -> None:
    course = CourseFactory()
    with CaptureQueriesContext(connection) as captured:
        row_by_pk(Course, course.pk)
        row_by_pk(Course, course.pk)
    assert len(captured) == 2
    assert all("ORDER BY" not in query["sql"] for query in captured.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_each_thread_uses_its_own_connection() -> None:
    courses = [CourseFactory() for _ in range(4)]
    found: list[Course | None] = []

    def read(course: Course) -> None:
        found.append(row_by_pk(Course, course.pk))
        connection.close()

    threads = [threading.Thread(target=read, args=(course,)) for course in courses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(str(c.pk) for c in found if c) == sorted(str(c.pk) for c in courses)
