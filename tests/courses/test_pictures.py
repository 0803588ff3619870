"""One freely licensed Wikimedia Commons picture per lesson: chosen, checked, credited, shown on the lesson page,
in the email and in the PDF, and removable or replaceable by moderators; against the fake Commons on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from courses.models import AuditEntry, Course, Lesson, LessonPicture, QualityReport, Week
from courses.quality import pictures, report, sources
from courses.reading.exports import course_pdf_html
from delivery.email.emails import week_email
from tests.factories import UserFactory, first_lesson, lesson_picture, moderator, written_course
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
    return lesson_picture(first_lesson(course))


def test_the_picture_and_its_credit_are_in_the_lesson_page_the_email_and_the_pdf(client: Any) -> None:
    course = written_course(weeks=1, lessons_per_week=2, review_state=Course.Review.APPROVED)
    shown = with_picture(course)
    lesson = shown.lesson

    page = client.get(reverse("delivery:lesson", args=[course.pk, lesson.pk])).content.decode()
    email = week_email(course=course, week_number=1)
    pdf = course_pdf_html(course=course)

    response = client.get(reverse("delivery:lesson", args=[course.pk, lesson.pk]))
    img_src = next(
        d for d in response["Content-Security-Policy"].split(";") if d.strip().startswith("img-src")
    )
    assert "https://upload.wikimedia.org" in img_src.split()  # else the browser would not load it
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


@pytest.fixture
def lookups_on(libraries: FakeLibraries, settings: Any) -> FakeLibraries:
    settings.OPENAI_API_KEY = "test"  # not offline: outside lookups run (no LLM is called here)
    return libraries


def lesson_editor(lesson: Lesson, **query: str) -> str:
    return reverse("admin:courses_lesson_edit", args=[lesson.pk]) + (
        "?" + "&".join(f"{name}={value}" for name, value in query.items()) if query else ""
    )


def test_the_lesson_editor_shows_other_freely_licensed_pictures_for_a_typed_search(
    client: Any, lookups_on: FakeLibraries
) -> None:
    lookups_on.searches["viaduct"] = [
        picture("Pont du Gard", "CC BY-SA 4.0"),  # the one shown now: not offered again
        picture("Segovia aqueduct.jpg", "CC BY 4.0", artist="Ann Smith"),
        picture("Aqueduct poster.jpg", "Fair use"),
        picture("Nimes viaduct.jpg", "Public domain", artist="Old Photographer"),
    ]
    course = written_course(weeks=1, lessons_per_week=1)
    shown = with_picture(course)
    client.force_login(moderator())

    before = client.get(lesson_editor(shown.lesson)).content.decode()
    page = client.get(lesson_editor(shown.lesson, picture_query="Roman viaduct")).content.decode()

    assert "Find another picture" in before
    assert "Use this picture" not in before
    assert page.count("Use this picture") == 2
    assert "Segovia aqueduct.jpg" in page
    assert "Ann Smith" in page
    assert "CC BY 4.0" in page
    assert "Nimes viaduct.jpg" in page
    assert "Public domain" in page
    assert "Aqueduct poster.jpg" not in page
    assert 'value="Segovia aqueduct.jpg"' in page
    assert 'value="Pont du Gard"' not in page
    assert any("gsrsearch=filetype%3Abitmap+Roman+viaduct" in path for path in lookups_on.requests)


def test_without_a_typed_search_the_lesson_subject_is_searched(
    client: Any, lookups_on: FakeLibraries
) -> None:
    lookups_on.pictures += [picture("Segovia aqueduct.jpg", "CC BY 4.0")]
    course = written_course(weeks=1, lessons_per_week=1)
    lesson = first_lesson(course)
    client.force_login(moderator())

    page = client.get(lesson_editor(lesson)).content.decode()
    assert f'value="{pictures.lesson_picture_query(lesson)}"' in page
    assert "This lesson shows no picture." in page


def test_a_moderator_replaces_the_picture_and_the_new_one_shows_in_the_page_the_email_and_the_pdf(
    client: Any, lookups_on: FakeLibraries, django_capture_on_commit_callbacks: Any
) -> None:
    lookups_on.searches["segovia"] = [picture("Segovia aqueduct.jpg", "CC BY 4.0", artist="Ann Smith")]
    course = written_course(weeks=1, lessons_per_week=2, review_state=Course.Review.APPROVED)
    old = with_picture(course)
    client.force_login(moderator())

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:courses_picture_replace", args=[old.lesson_id]), {"title": "Segovia aqueduct.jpg"}
        )

    assert response.status_code == 302
    assert response["Location"].endswith("#picture")
    new = Lesson.objects.select_related("picture").get(pk=old.lesson_id).shown_picture
    assert new is not None
    assert new.pk == old.pk
    assert (new.title, new.author, new.licence) == ("Segovia aqueduct.jpg", "Ann Smith", "CC BY 4.0")
    assert new.source_url == "https://commons.wikimedia.org/wiki/File:Segovia_aqueduct.jpg"
    assert any("titles=File%3ASegovia+aqueduct.jpg" in path for path in lookups_on.requests)  # checked
    lesson_page = client.get(reverse("delivery:lesson", args=[course.pk, old.lesson_id])).content.decode()
    email = week_email(course=course, week_number=1)
    pdf = course_pdf_html(course=Course.objects.get(pk=course.pk))
    for html in (lesson_page, email.html, pdf):
        assert f'src="{new.image_url}"' in html
        assert "Ann Smith" in html
        assert old.image_url not in html
    course.refresh_from_db()
    quality = QualityReport.objects.get(course=course)
    assert quality.content_version == course.content_version >= 2  # measured again after the change
    assert quality.findings["pictures"]["licences"] == ["CC BY 4.0"]
    entry = AuditEntry.objects.get(course=course)
    assert "Segovia aqueduct.jpg" in entry.reason


def test_a_removed_picture_can_be_replaced(client: Any, lookups_on: FakeLibraries) -> None:
    lookups_on.pictures += [picture("Segovia aqueduct.jpg", "CC BY 4.0")]
    course = written_course(weeks=1, lessons_per_week=1)
    old = with_picture(course)
    client.force_login(moderator())
    client.post(reverse("admin:courses_picture_remove", args=[old.pk]))

    client.post(
        reverse("admin:courses_picture_replace", args=[old.lesson_id]), {"title": "Segovia aqueduct.jpg"}
    )

    old.refresh_from_db()
    assert (old.title, old.removed_at, old.removed_by) == ("Segovia aqueduct.jpg", None, None)


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (picture("Aqueduct poster.jpg", "Fair use"), pictures.PICTURE_NOT_FREE),
        (picture("Aqueduct deleted.jpg", "CC BY 4.0", exists=False), pictures.PICTURE_MISSING),
        (None, pictures.PICTURE_MISSING),  # a title Commons never had (a forged form)
    ],
)
def test_a_pick_that_is_not_free_or_does_not_exist_is_refused_and_the_picture_kept(
    client: Any, lookups_on: FakeLibraries, file: dict[str, Any] | None, message: str
) -> None:
    if file is not None:
        lookups_on.pictures.append(file)
    course = written_course(weeks=1, lessons_per_week=1)
    old = with_picture(course)
    client.force_login(moderator())
    title = file["title"].removeprefix("File:") if file else "Made up.jpg"

    response = client.post(
        reverse("admin:courses_picture_replace", args=[old.lesson_id]), {"title": title}, follow=True
    )

    assert message in response.content.decode()
    assert LessonPicture.objects.get(pk=old.pk).title == "Pont du Gard"
    assert Course.objects.get(pk=course.pk).content_version == 1


def test_offline_no_search_is_offered_and_no_pick_is_taken(client: Any, libraries: FakeLibraries) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    old = with_picture(course)
    client.force_login(moderator())

    page = client.get(lesson_editor(old.lesson, picture_query="Segovia")).content.decode()
    client.post(
        reverse("admin:courses_picture_replace", args=[old.lesson_id]), {"title": "Segovia aqueduct.jpg"}
    )

    assert report.LOOKUPS_OFFLINE in page
    assert "Use this picture" not in page
    assert libraries.requests == []
    assert LessonPicture.objects.get(pk=old.pk).title == "Pont du Gard"


def test_only_staff_who_may_change_lessons_replace_pictures(client: Any, lookups_on: FakeLibraries) -> None:
    lookups_on.pictures += [picture("Segovia aqueduct.jpg", "CC BY 4.0")]
    course = written_course(weeks=1, lessons_per_week=1)
    old = with_picture(course)
    client.force_login(UserFactory(is_staff=True))

    response = client.post(reverse("admin:courses_picture_replace", args=[old.lesson_id]), {"title": "x.jpg"})

    assert response.status_code == 403
    assert lookups_on.requests == []


def test_pictures_found_after_the_course_is_ready_move_the_content_version_on_so_the_pdf_is_made_again(
    lookups_on: FakeLibraries,
) -> None:
    course = written_course(weeks=1, lessons_per_week=1, review_state=Course.Review.APPROVED)
    Week.objects.filter(course=course).update(reading_list=[])  # only the picture changes here
    before = course_pdf_html(course=course)
    lookups_on.pictures += [picture("Pont du Gard.jpg", "CC BY-SA 4.0", artist="Jane Doe")]

    sources.course_sources_check(course_id=course.pk)
    sources.course_sources_check(course_id=course.pk)  # nothing new: the version stays

    course.refresh_from_db()
    assert course.content_version == 2  # the PDF, keyed on it, is made again, with the picture
    assert "Jane Doe" not in before
    assert "Jane Doe" in course_pdf_html(course=course)
    assert QualityReport.objects.get(course=course).content_version == 2


def test_readings_marked_verified_after_the_course_is_ready_move_the_content_version_on(
    lookups_on: FakeLibraries,
) -> None:
    course = written_course(weeks=1, lessons_per_week=1)

    sources.course_sources_check(course_id=course.pk)

    course.refresh_from_db()
    assert Week.objects.get(course=course).reading_list[0]["checked"]
    assert course.content_version == 2
