"""Reading a course's finished weeks while the rest of it is being written (issue 12: "when can I read week 1")."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from courses.models import Course, Lesson, PartStatus, Quiz
from delivery.models import LessonCompletion
from tests.factories import UserFactory, moderator, written_course

pytestmark = pytest.mark.django_db

EARLY_NOTE = "The rest of this course is still being written."


def half_written(**fields: object) -> Course:
    """Being written: week 1's lessons written (its quiz not yet), weeks 2 and 3 not."""
    course = written_course(
        weeks=3, lessons_per_week=2, status=Course.Status.WRITING, ready_at=None, **fields
    )
    Lesson.objects.filter(course=course, week__number__gt=1).update(status=PartStatus.PENDING, body_html="")
    Quiz.objects.filter(course=course).update(status=PartStatus.PENDING)
    return course


def lesson_url(course: Course, week: int, number: int = 1) -> str:
    lesson = Lesson.objects.get(course=course, week__number=week, number=number)
    return reverse("delivery:lesson", args=[course.id, lesson.id])


def writing_url(course: Course) -> str:
    return reverse("courses:writing", args=[course.id])


def test_the_requester_reads_week_1_while_the_rest_is_written_with_no_marks_or_quiz(client: Client) -> None:
    requester = UserFactory()
    course = half_written(requested_by=requester)
    client.force_login(requester)
    response = client.get(lesson_url(course, 1))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<h1 id="lesson-title">Lesson 1.1</h1>' in html
    assert 'class="prose"' in html
    assert EARLY_NOTE in html
    assert f'href="{writing_url(course)}"' in html
    assert (
        reverse(
            "delivery:lesson_done",
            args=[course.id, Lesson.objects.get(course=course, week__number=1, number=1).id],
        )
        not in html
    )
    assert reverse("delivery:quiz", args=[course.id, 1]) not in html
    assert 'id="tutor"' not in html
    assert f'href="{lesson_url(course, 1, 2)}"' in html  # the week's other written lesson
    assert f'href="{lesson_url(course, 2)}"' not in html  # not yet written
    assert response["Cache-Control"] == "no-store"
    assert html.count('class="next"') == 1  # to the week's next lesson, written
    last = client.get(lesson_url(course, 1, 2)).content.decode()
    assert last.count('class="next"') == 1
    assert f'<a class="next" href="{writing_url(course)}">' in last  # week 2 is still being written


def test_anyone_with_the_link_reads_it_but_once_rejected_only_the_requester_is_even_told_it_exists(
    client: Client,
) -> None:
    requester = UserFactory()
    course = half_written(requested_by=requester)
    assert client.get(lesson_url(course, 1)).status_code == 200  # its private link is its lock
    Course.objects.filter(id=course.id).update(review_state=Course.Review.REJECTED)
    assert client.get(lesson_url(course, 1)).status_code == 404
    client.force_login(requester)
    assert client.get(lesson_url(course, 1))["Location"] == writing_url(course)


def test_a_lesson_not_yet_written_still_sends_readers_to_the_progress_page(client: Client) -> None:
    course = half_written()
    assert client.get(lesson_url(course, 1)).status_code == 200
    response = client.get(lesson_url(course, 2))
    assert response.status_code == 302
    assert response["Location"] == writing_url(course)


def test_a_held_course_hides_its_written_lessons_again_even_from_its_requester_and_staff(
    client: Client,
) -> None:
    requester = UserFactory()
    course = half_written(requested_by=requester)
    client.force_login(requester)
    assert client.get(lesson_url(course, 1)).status_code == 200
    Course.objects.filter(id=course.id).update(held_for_review=True)
    assert client.get(lesson_url(course, 1)).status_code == 403
    client.force_login(moderator())
    assert client.get(lesson_url(course, 1))["Location"] == writing_url(course)


def test_a_failed_or_outlined_course_offers_no_lesson_to_read(client: Client) -> None:
    course = half_written()
    assert client.get(lesson_url(course, 1)).status_code == 200
    for status in (Course.Status.FAILED, Course.Status.OUTLINED):
        Course.objects.filter(id=course.id).update(status=status)
        assert client.get(lesson_url(course, 1))["Location"] == writing_url(course)


def test_the_page_read_early_is_not_served_once_the_course_is_written(client: Client) -> None:
    course = half_written()
    url = lesson_url(course, 1)
    assert EARLY_NOTE in client.get(url).content.decode()
    Lesson.objects.filter(course=course).update(status=PartStatus.WRITTEN)
    Quiz.objects.filter(course=course).update(status=PartStatus.WRITTEN)
    Course.objects.filter(id=course.id).update(status=Course.Status.READY)
    html = client.get(url).content.decode()
    assert EARLY_NOTE not in html
    assert "Mark as done" in html


def test_a_lesson_read_early_cannot_be_marked_done_until_the_course_is_written(client: Client) -> None:
    requester = UserFactory()
    course = half_written(requested_by=requester)
    client.force_login(requester)
    lesson = Lesson.objects.get(course=course, week__number=1, number=1)

    response = client.post(reverse("delivery:lesson_done", args=[course.id, lesson.id]), {"then": "next"})

    assert response.status_code == 302
    assert response["Location"] == lesson_url(course, 1)
    assert not LessonCompletion.objects.filter(user=requester).exists()
