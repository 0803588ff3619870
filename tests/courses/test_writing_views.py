from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from courses.models import Course, Lesson, PartStatus, Quiz
from courses.reading.views import RETRY_QUEUED
from tests.factories import CourseFactory, UserFactory, first_lesson, written_course

pytestmark = pytest.mark.django_db


def half_written(**fields: object) -> Course:
    """A course in the middle of being written: weeks 1-2 written, the rest pending."""
    course = written_course(
        weeks=4, lessons_per_week=2, status=Course.Status.WRITING, ready_at=None, **fields
    )
    Lesson.objects.filter(course=course, week__number__gt=2).update(status=PartStatus.PENDING, body_html="")
    Quiz.objects.filter(course=course, week__number__gt=2).update(status=PartStatus.PENDING)
    return course


def writing_url(course: Course, fragment: bool = False) -> str:
    return reverse("courses:writing", args=[course.id]) + ("?fragment=1" if fragment else "")


def test_the_page_shows_a_progress_bar_with_parts_written_of_total_and_the_stage(client: Client) -> None:
    course = half_written()
    response = client.get(writing_url(course))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<progress max="100" value="50"' in html
    assert "6 of 12 parts written" in html
    assert "Writing the lessons and quizzes: 6 of 12 parts written" in html
    assert 'aria-current="step">Writing lessons and quizzes' in html
    assert response["Cache-Control"] == "no-store"


def test_the_page_works_without_javascript_and_polls_with_it(client: Client) -> None:
    html = client.get(writing_url(half_written())).content.decode()
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert 'data-poll-url="' in html
    assert "js/semester.js" in html


def test_the_fragment_holds_only_the_live_part(client: Client) -> None:
    course = half_written()
    html = client.get(writing_url(course, fragment=True)).content.decode()
    assert 'data-state="writing"' in html
    assert "<html" not in html
    Lesson.objects.filter(course=course).update(status=PartStatus.WRITTEN)
    Quiz.objects.filter(course=course).update(status=PartStatus.WRITTEN)
    Course.objects.filter(id=course.id).update(status=Course.Status.READY)
    html = client.get(writing_url(course, fragment=True)).content.decode()
    assert 'data-state="ready"' in html
    assert '<progress max="100" value="100"' in html


def test_a_ready_course_goes_straight_to_its_page(client: Client) -> None:
    course = written_course(weeks=1)
    assert client.get(writing_url(course))["Location"] == course.get_absolute_url()


def test_a_failed_course_shows_the_reason_and_lets_its_requester_retry(client: Client) -> None:
    requester = UserFactory()
    course = CourseFactory(
        status=Course.Status.FAILED, status_reason="The planner gave up.", requested_by=requester
    )
    client.force_login(requester)
    html = client.get(writing_url(course)).content.decode()
    assert "This course could not be written." in html
    assert "The planner gave up." in html
    assert reverse("courses:retry", args=[course.id]) in html
    response = client.post(reverse("courses:retry", args=[course.id]), follow=True)
    course.refresh_from_db()
    assert course.status in {Course.Status.QUEUED, Course.Status.READY}
    assert RETRY_QUEUED in response.content.decode()


def test_a_failed_course_no_longer_says_it_is_being_written(client: Client) -> None:
    course = CourseFactory(status=Course.Status.FAILED, status_reason="The planner gave up.")

    html = client.get(writing_url(course)).content.decode()

    assert "Your course could not be written" in html
    assert "being written" not in html


def test_only_the_requester_may_retry(client: Client) -> None:
    course = CourseFactory(status=Course.Status.FAILED, requested_by=UserFactory())
    html = client.get(writing_url(course)).content.decode()
    assert reverse("courses:retry", args=[course.id]) not in html
    assert client.post(reverse("courses:retry", args=[course.id])).status_code == 403
    course.refresh_from_db()
    assert course.status == Course.Status.FAILED


def test_an_anonymous_requester_is_known_by_their_session(client: Client) -> None:
    client.post(reverse("courses:request"), {"topic": "Tides", "language": "en", "weeks": "4"})
    course = Course.objects.get()
    Course.objects.filter(id=course.id).update(status=Course.Status.FAILED, status_reason="Nope.")
    html = client.get(writing_url(course)).content.decode()
    assert reverse("courses:retry", args=[course.id]) in html


def test_failed_parts_are_shown_as_missing_with_a_retry_for_each(client: Client) -> None:
    requester = UserFactory()
    course = half_written(requested_by=requester)
    lesson = Lesson.objects.filter(course=course, week__number=3).first()
    assert lesson is not None
    Lesson.objects.filter(id=lesson.id).update(
        status=PartStatus.FAILED, failure_reason="The writer kept failing."
    )
    client.force_login(requester)
    html = client.get(writing_url(course)).content.decode()
    assert "Missing parts" in html
    assert "The writer kept failing." in html
    retry_url = reverse("courses:retry_part", args=[course.id, "lesson", lesson.id])
    assert retry_url in html
    client.post(retry_url)
    lesson.refresh_from_db()
    assert lesson.status != PartStatus.FAILED


def test_an_unknown_part_kind_is_not_found(client: Client) -> None:
    requester = UserFactory()
    course = half_written(requested_by=requester)
    client.force_login(requester)
    assert client.post(reverse("courses:retry_part", args=[course.id, "essay", 1])).status_code == 404


def test_retrying_needs_a_post(client: Client) -> None:
    course = CourseFactory(status=Course.Status.FAILED)
    assert client.get(reverse("courses:retry", args=[course.id])).status_code == 405


def test_the_short_link_leads_to_the_page_that_suits_the_course(client: Client) -> None:
    writing = half_written()
    ready = written_course(weeks=1)
    assert client.get(reverse("courses:detail", args=[ready.id]))["Location"] == ready.get_absolute_url()
    response = client.get(reverse("courses:detail", args=[writing.id]), follow=True)
    assert response.redirect_chain[-1][0] == writing_url(writing)


def test_each_week_whose_lessons_are_all_written_is_offered_to_read_with_and_without_javascript(
    client: Client,
) -> None:
    course = half_written()
    Quiz.objects.filter(course=course, week__number=2).update(status=PartStatus.PENDING)  # lessons are enough
    Lesson.objects.filter(course=course, week__number=3, number=1).update(status=PartStatus.WRITTEN)
    lessons = {
        (e.week.number, e.number): e for e in Lesson.objects.filter(course=course).select_related("week")
    }
    for url in (writing_url(course), writing_url(course, fragment=True)):
        html = client.get(url).content.decode()
        assert "Week 1 is ready to read" in html
        assert "Week 2 is ready to read" in html
        assert "Week 3 is ready to read" not in html  # half of it is still being written
        assert f'href="{lessons[1, 1].get_absolute_url()}"' in html
        assert f'href="{lessons[2, 2].get_absolute_url()}"' in html
        assert f'href="{lessons[3, 1].get_absolute_url()}"' not in html


def test_a_held_or_rejected_course_offers_nothing_to_read(client: Client) -> None:
    requester = UserFactory()
    course = half_written(requested_by=requester)
    client.force_login(requester)
    assert "Week 1 is ready to read" in client.get(writing_url(course)).content.decode()
    for withheld in ({"held_for_review": True}, {"review_state": Course.Review.REJECTED}):
        Course.objects.filter(id=course.id).update(**withheld)
        html = client.get(writing_url(course)).content.decode()
        assert "ready to read" not in html
        assert first_lesson(course).get_absolute_url() not in html
        Course.objects.filter(id=course.id).update(held_for_review=False, review_state=Course.Review.PENDING)
