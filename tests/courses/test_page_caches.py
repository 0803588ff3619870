"""The course's cached structure, the course page's cached outline and the stored PDF all key on the course's
content version and state: every change to a course's text or review shows on its pages at once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from courses import visibility
from courses.models import Course, Lesson, PartStatus, Quiz
from courses.moderation import editing, review, screening
from courses.reading import exports
from tests.factories import UserFactory, moderator, written_course

pytestmark = pytest.mark.django_db

# Long enough to pass the screening every requester's edit goes through (a stub would hold the course).
NEW_BODY = (
    "## Reading the tide table\n\n"
    + "High water comes twice a day, about fifty minutes later each day. " * 15
)
FINDING = screening.Finding("chatter", "Model chatter: “As an AI”.", "As an AI, I think…")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def lessons_of(course: Course) -> list[Lesson]:
    return list(Lesson.objects.filter(course=course).order_by("week__number", "number"))


def page_urls(course: Course) -> tuple[str, str, str]:
    """The course page, its first lesson and the lesson after it (whose pager names the first)."""
    first, second = lessons_of(course)[:2]
    return (
        reverse("delivery:course", args=[course.id]),
        reverse("delivery:lesson", args=[course.id, first.id]),
        reverse("delivery:lesson", args=[course.id, second.id]),
    )


def visit(client: Client, *urls: str) -> list[str]:
    """GET each page (which also fills the caches); their HTML."""
    responses = [client.get(url) for url in urls]
    assert all(response.status_code == 200 for response in responses), [r.status_code for r in responses]
    return [response.content.decode() for response in responses]


def stored_pdf(course: Course) -> str:
    """Pretend the course's PDF for its current version was made (rendering is tested in test_exports)."""
    course.refresh_from_db()
    name = exports.pdf_storage_name(course_id=course.id, version=course.content_version)
    default_storage.save(name, ContentFile(b"%PDF-1.7 made from the old text"))
    assert exports.course_pdf_state(course=course).is_ready
    return name


def test_a_lesson_edited_on_the_website_shows_at_once_on_the_course_and_lesson_pages(
    client: Client, offline: None
) -> None:
    requester = UserFactory()
    course = written_course(weeks=2, lessons_per_week=2, requested_by=requester)
    first = lessons_of(course)[0]
    client.force_login(requester)
    visit(client, *page_urls(course))
    stored_pdf(course)

    client.post(
        reverse("courses:lesson_edit", args=[course.id, first.id]),
        {"title": "Reading the tide table", "body": NEW_BODY, "note": ""},
    )

    course_page, lesson_page, next_page = visit(client, *page_urls(course))
    assert "Reading the tide table" in course_page
    assert "Lesson 1.1" not in course_page
    assert "High water comes twice a day" in lesson_page
    assert "Reading the tide table" in next_page  # the pager's "previous" link
    course.refresh_from_db()
    assert exports.course_pdf_state(course=course).state == "missing"  # the next PDF has the new text


def test_a_restored_revision_shows_at_once(client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=2)
    first = lessons_of(course)[0]
    revision = editing.part_edit(part=first, changes={"title": "A passing title"}, actor=moderator())
    assert revision is not None
    assert "A passing title" in visit(client, *page_urls(course))[0]

    editing.revision_restore(revision=revision, actor=moderator("another@example.com"))

    course_page, _, next_page = visit(client, *page_urls(course))
    assert "A passing title" not in course_page + next_page
    assert "Lesson 1.1" in course_page


def test_a_regenerated_lesson_shows_at_once_and_makes_a_new_pdf(
    client: Client, offline: None, django_capture_on_commit_callbacks: Any
) -> None:
    requester = UserFactory()
    course = written_course(
        weeks=4, lessons_per_week=3, requested_by=requester
    )  # as the offline writer needs
    first = lessons_of(course)[0]
    client.force_login(requester)
    old_page = visit(client, page_urls(course)[1])[0]
    old_pdf = stored_pdf(course)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("courses:part_regenerate", args=[course.id, "lesson", first.id]))

    first.refresh_from_db()
    new_page = visit(client, page_urls(course)[1])[0]
    assert "A short paragraph that explains the idea" in old_page
    assert "A short paragraph that explains the idea" not in new_page
    assert first.body_html in new_page
    course.refresh_from_db()
    assert exports.pdf_storage_name(course_id=course.id, version=course.content_version) != old_pdf
    assert exports.course_pdf_state(course=course).state == "missing"


def test_a_moderators_new_title_in_the_admin_makes_a_new_pdf(client: Client) -> None:
    course = written_course(weeks=4, lessons_per_week=1)  # the form checks the length: at least 4 weeks
    stored_pdf(course)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))  # moderators may not change the row
    url = reverse("admin:courses_course_change", args=[course.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    for inline in client.get(url).context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({f"{management.prefix}-{name}": value for name, value in management.initial.items()})

    response = client.post(url, {**data, "title": "Tides, plainly"})

    assert response.status_code == 302
    course.refresh_from_db()
    assert (course.title, course.content_version) == ("Tides, plainly", 2)
    assert exports.course_pdf_state(course=course).state == "missing"
    assert "Tides, plainly" in visit(client, page_urls(course)[0])[0]


def test_a_course_finished_by_retrying_its_failed_part_shows_the_part_at_once(
    client: Client, offline: None, django_capture_on_commit_callbacks: Any
) -> None:
    requester = UserFactory()
    course = written_course(weeks=4, lessons_per_week=3, requested_by=requester, status=Course.Status.WRITING)
    failed = lessons_of(course)[0]
    Lesson.objects.filter(id=failed.id).update(status=PartStatus.FAILED, body="", body_html="")
    client.force_login(requester)
    assert client.get(page_urls(course)[0])["Location"] == reverse("courses:writing", args=[course.id])

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("courses:retry_part", args=[course.id, "lesson", failed.id]))

    course.refresh_from_db()
    assert course.status == Course.Status.READY
    _, lesson_page, _ = visit(client, *page_urls(course))
    assert "could not be written" not in lesson_page
    assert Lesson.objects.get(id=failed.id).body_html in lesson_page


def test_a_held_course_disappears_at_once_and_comes_back_when_a_moderator_approves_it(client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=2, review_state=Course.Review.APPROVED, featured=True)
    catalogue = reverse("courses:catalogue")
    visit(client, *page_urls(course), catalogue, "/")
    stored_pdf(course)

    review.course_hold(part=lessons_of(course)[0], findings=[FINDING])

    for url in (*page_urls(course), reverse("courses:export_pdf", args=[course.id])):
        response = client.get(url)
        assert response.status_code == 403
        assert visibility.HELD_MESSAGE in response.content.decode()
    assert course.title not in client.get(catalogue).content.decode()
    assert course.title not in client.get("/").content.decode()

    review.course_approve(course=course, actor=moderator())

    course_page, lesson_page, _ = visit(client, *page_urls(course))
    assert "Lesson 1.2" in course_page
    assert visibility.HELD_MESSAGE not in course_page + lesson_page
    assert course.title in client.get(catalogue).content.decode()


def test_a_released_course_is_readable_again_at_once_but_stays_off_the_catalogue(client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=2, review_state=Course.Review.APPROVED)
    visit(client, *page_urls(course))
    review.course_hold(part=Quiz.objects.get(course=course), findings=[FINDING])
    assert client.get(page_urls(course)[0]).status_code == 403

    review.course_release(course=course, actor=moderator(), reason="A false alarm.")

    assert "Lesson 1.1" in visit(client, *page_urls(course))[0]
    assert course.title not in client.get(reverse("courses:catalogue")).content.decode()


def test_a_kept_page_carries_each_responses_own_csp_nonce(client: Client) -> None:
    course = written_course(weeks=4, lessons_per_week=2)
    nonces = []
    for url in [course.get_absolute_url()] * 2 + [lessons_of(course)[0].get_absolute_url()] * 2:
        response = client.get(url)  # the second visit of each page is served from the kept copy
        in_header = re.findall(r"'nonce-([^']+)'", response["Content-Security-Policy"])
        in_scripts = set(re.findall(r'<script nonce="([^"]*)"', response.content.decode()))
        assert in_scripts == set(in_header), (url, in_scripts, in_header)
        nonces.append(in_header[0])
    assert len(set(nonces)) == 4
