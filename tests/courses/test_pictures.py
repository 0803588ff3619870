"""One freely licensed Wikimedia Commons picture per lesson: chosen, checked, credited, shown on the lesson page,
in the email and in the PDF, and removable by moderators; against the fake Commons on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from courses.models import Course, Lesson, LessonPicture
from courses.quality import pictures
from courses.reading.exports import course_pdf_html
from delivery.email.emails import week_email
from tests.factories import first_lesson, moderator, written_course
from tests.fakes.libraries_server import FakeLibraries, picture

pytestmark = pytest.mark.django_db

CAPTION = "Pont du Gard by Jane Doe, CC BY-SA 4.0, via Wikimedia Commons"


def test_the_first_freely_licensed_picture_that_still_exists_is_stored_with_its_credit(
    libraries: FakeLibraries,
) -> None:
    libraries.pictures += [
        picture("Aqueduct poster.jpg", "Fair use"),
        picture("Aqueduct deleted.jpg", "CC BY 4.0", exists=False),
        picture("Pont du Gard.jpg", "CC BY-SA 4.0", artist="Jane Doe"),
    ]
    course = written_course(weeks=1, lessons_per_week=2)

    assert pictures.course_pictures_find(course_id=course.pk) == 2

    stored = LessonPicture.objects.get(lesson=first_lesson(course))
    assert (stored.title, stored.author, stored.licence) == ("Pont du Gard.jpg", "Jane Doe", "CC BY-SA 4.0")
    assert stored.source_url == "https://commons.wikimedia.org/wiki/File:Pont_du_Gard.jpg"
    assert stored.image_url.startswith("https://upload.wikimedia.org/")
    assert any("titles=File%3APont+du+Gard.jpg" in path for path in libraries.requests)  # checked to exist


def test_a_lesson_gets_no_picture_when_none_is_freely_licensed(libraries: FakeLibraries) -> None:
    libraries.pictures += [picture("Poster.jpg", "All rights reserved"), picture("Logo.png", "Fair use")]
    course = written_course(weeks=1, lessons_per_week=1)

    assert pictures.course_pictures_find(course_id=course.pk) == 0
    assert not LessonPicture.objects.exists()


def with_picture(course: Course) -> LessonPicture:
    lesson = first_lesson(course)
    return LessonPicture.objects.create(
        lesson=lesson,
        course=course,
        title="Pont du Gard",
        image_url="https://upload.wikimedia.org/wikipedia/commons/thumb/a/ab/Pont.jpg/800px-Pont.jpg",
        source_url="https://commons.wikimedia.org/wiki/File:Pont.jpg",
        author="Jane Doe",
        licence="CC BY-SA 4.0",
    )


def test_the_picture_and_its_credit_are_in_the_lesson_page_the_email_and_the_pdf(client: Any) -> None:
    course = written_course(weeks=1, lessons_per_week=2, review_state=Course.Review.APPROVED)
    shown = with_picture(course)
    lesson = shown.lesson

    page = client.get(reverse("delivery:lesson", args=[course.pk, lesson.pk])).content.decode()
    email = week_email(course=course, week_number=1)
    pdf = course_pdf_html(course=course)

    for html in (page, email.html, pdf):
        assert f'src="{shown.image_url}"' in html
        assert "Jane Doe" in html
        assert "CC BY-SA 4.0" in html
        assert html.count(shown.image_url) == 1  # one lesson has a picture


def test_a_moderator_removes_a_picture_and_it_is_shown_nowhere(client: Any) -> None:
    course = written_course(weeks=1, lessons_per_week=1, review_state=Course.Review.APPROVED)
    shown = with_picture(course)
    client.force_login(moderator())
    content = reverse("admin:courses_course_content", args=[course.pk])
    assert "Remove picture" in client.get(content).content.decode()

    client.post(reverse("admin:courses_picture_remove", args=[shown.pk]))

    shown.refresh_from_db()
    assert shown.removed_at is not None
    assert Course.objects.get(pk=course.pk).content_version == 2  # pages, email and PDF made again
    assert (
        shown.image_url
        not in client.get(reverse("delivery:lesson", args=[course.pk, shown.lesson_id])).content.decode()
    )
    assert Lesson.objects.get(pk=shown.lesson_id).shown_picture is None
