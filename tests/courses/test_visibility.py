"""Every page, list and API endpoint of the website follows `courses.visibility`: held courses are in no list
and show the review notice instead of their content; rejected ones are gone for all but their requester."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import api_token_create
from courses import selectors, visibility
from courses.generation.request import course_request
from courses.models import Course, Lesson
from delivery.models import LessonCompletion
from tests.factories import UserFactory, moderator, written_course

pytestmark = pytest.mark.django_db

SECRET_BODY = "The passage screening flagged, which nobody may read until a moderator has."


def held_course(**fields: Any) -> Course:
    """An approved course on "Tidal pools" that screening then held: written, once public, now hidden."""
    fields.setdefault("requested_by", UserFactory())
    course = written_course(
        weeks=1,
        lessons_per_week=1,
        topic="Tidal pools",
        topic_key="tidal pools",
        title="Tidal pools for everyone",
        review_state=Course.Review.PENDING,
        held_for_review=True,
        **fields,
    )
    Lesson.objects.filter(course=course).update(title="The flagged lesson", body_html=f"<p>{SECRET_BODY}</p>")
    return course


def pages_of(course: Course) -> dict[str, str]:
    lesson = Lesson.objects.get(course=course)
    return {
        "course": reverse("delivery:course", args=[course.id]),
        "lesson": reverse("delivery:lesson", args=[course.id, lesson.id]),
        "quiz": reverse("delivery:quiz", args=[course.id, 1]),
        "report": reverse("courses:lesson_report", args=[course.id, lesson.id]),
        "markdown": reverse("courses:export_markdown", args=[course.id]),
        "pdf": reverse("courses:export_pdf", args=[course.id]),
        "pdf status": reverse("courses:export_pdf_status", args=[course.id]),
        "edit": reverse("courses:lesson_edit", args=[course.id, lesson.id]),
    }


def test_a_held_course_is_in_no_list_and_never_offered_for_reuse(client: Client) -> None:
    course = held_course(featured=True)
    Course.objects.filter(id=course.id).update(review_state=Course.Review.APPROVED)  # held from approved
    course.refresh_from_db()

    assert not visibility.course_is_public(course)
    assert selectors.course_featured() == []
    assert selectors.course_recent(exclude_featured=False) == []
    assert selectors.course_search(query="tidal pools") == []
    assert selectors.course_reusable(topic_key="tidal pools", language="en", weeks=1) is None
    home = client.get("/").content.decode()
    catalogue = client.get(reverse("courses:catalogue")).content.decode()
    search = client.get(reverse("courses:catalogue") + "?q=tidal").content.decode()
    assert all("Tidal pools for everyone" not in html for html in (home, catalogue, search))
    result = course_request(topic="Tidal pools", language="en", weeks=4, user=None, ip="192.0.2.1")
    assert not result.reused


@pytest.mark.parametrize(
    "page", ["course", "lesson", "quiz", "report", "markdown", "pdf", "pdf status", "edit"]
)
def test_every_page_of_a_held_course_shows_its_requester_the_notice_instead_of_the_content(
    client: Client, page: str
) -> None:
    requester = UserFactory()
    course = held_course(requested_by=requester)
    client.force_login(requester)

    response = client.get(pages_of(course)[page])

    html = response.content.decode()
    assert response.status_code == 403
    assert visibility.HELD_MESSAGE in html
    assert SECRET_BODY not in html
    assert "The flagged lesson" not in html


def test_strangers_with_the_link_are_told_the_same_and_staff_still_read_it(client: Client) -> None:
    course = held_course()
    urls = pages_of(course)
    for name in ("course", "lesson", "quiz", "markdown"):
        response = client.get(urls[name])
        assert (response.status_code, visibility.HELD_MESSAGE in response.content.decode()) == (403, True)
    client.force_login(moderator())
    lesson_page = client.get(urls["lesson"]).content.decode()
    assert SECRET_BODY in lesson_page
    assert visibility.HELD_MESSAGE in client.get(urls["course"]).content.decode()  # staff see why too


def test_marking_a_lesson_of_a_held_course_done_is_refused(client: Client) -> None:
    learner = UserFactory()
    course = held_course()
    lesson = Lesson.objects.get(course=course)
    client.force_login(learner)

    response = client.post(reverse("delivery:lesson_done", args=[course.id, lesson.id]))

    assert response.status_code == 403
    assert not LessonCompletion.objects.filter(user=learner).exists()


def test_the_api_serves_a_held_course_to_staff_only_and_tells_others_why(client: Client) -> None:
    requester = UserFactory()
    course = held_course(requested_by=requester)
    _, mine = api_token_create(user=requester, name="mine")
    _, staff = api_token_create(user=moderator(), name="staff")
    lesson = Lesson.objects.get(course=course)

    for path in (f"/api/courses/{course.id}", f"/api/courses/{course.id}/weeks/1"):
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {mine}")
        assert response.status_code == 403
        assert response.json()["detail"] == visibility.HELD_MESSAGE
        assert SECRET_BODY not in response.content.decode()
        assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {staff}").status_code == 200
    done = client.post(
        f"/api/courses/{course.id}/lessons/{lesson.id}/done",
        json.dumps({"done": True}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {mine}",
    )
    assert done.status_code == 403


def test_a_rejected_course_shows_its_requester_the_moderators_reason(client: Client) -> None:
    requester = UserFactory()
    course = written_course(
        weeks=1,
        requested_by=requester,
        review_state=Course.Review.REJECTED,
        review_reason="It recommends eating wild mushrooms without checking them.",
    )
    assert client.get(course.get_absolute_url()).status_code == 404
    _, token = api_token_create(user=requester, name="mine")
    client.force_login(requester)

    html = client.get(course.get_absolute_url()).content.decode()
    api = client.get(f"/api/courses/{course.id}", HTTP_AUTHORIZATION=f"Bearer {token}").json()

    notice = (
        f"{visibility.REJECTED_MESSAGE} Reason: It recommends eating wild mushrooms without checking them."
    )
    assert notice in html
    assert api["review_notice"] == notice
    assert api["is_public"] is False


def test_an_anonymous_requester_known_by_their_session_sees_why_their_course_was_rejected(
    client: Client,
) -> None:
    client.post(reverse("courses:request"), {"topic": "Tides", "language": "en", "weeks": "4"})
    course = Course.objects.get()
    Course.objects.filter(id=course.id).update(
        status=Course.Status.FAILED, review_state=Course.Review.REJECTED, review_reason="Off topic."
    )

    html = client.get(reverse("courses:writing", args=[course.id])).content.decode()

    assert f"{visibility.REJECTED_MESSAGE} Reason: Off topic." in html
    assert Client().get(reverse("courses:writing", args=[course.id])).status_code == 404


def test_the_requester_reads_what_the_moderators_asked_to_change_and_others_do_not(client: Client) -> None:
    requester = UserFactory()
    course = written_course(
        weeks=1,
        requested_by=requester,
        review_state=Course.Review.NEEDS_CHANGES,
        review_reason="Week 1 needs an example.",
    )
    notice = f"{visibility.NEEDS_CHANGES_MESSAGE} Reason: Week 1 needs an example."
    assert notice not in client.get(course.get_absolute_url()).content.decode()
    client.force_login(requester)
    assert notice in client.get(course.get_absolute_url()).content.decode()


def test_the_writing_page_of_a_held_course_shows_progress_and_the_notice_but_none_of_its_text(
    client: Client,
) -> None:
    requester = UserFactory()
    course = held_course(requested_by=requester, status=Course.Status.WRITING, ready_at=None)
    Lesson.objects.filter(course=course).update(status="failed", failure_reason="Kept failing.")
    client.force_login(requester)

    response = client.get(reverse("courses:writing", args=[course.id]))

    html = response.content.decode()
    assert response.status_code == 200
    assert visibility.HELD_MESSAGE in html
    assert "Tidal pools" in html  # the topic its requester typed
    for text in ("Tidal pools for everyone", "A friendly course", "The flagged lesson"):
        assert text not in html
    assert "Week 1: a lesson" in html
    assert "Being reviewed" in html


def test_my_learning_lists_a_held_course_by_its_topic(client: Client) -> None:
    requester = UserFactory()
    held_course(requested_by=requester)
    client.force_login(requester)

    html = client.get(reverse("delivery:my_learning")).content.decode()

    assert "Tidal pools" in html
    assert "Tidal pools for everyone" not in html
    assert "Being reviewed" in html


def test_a_private_courses_pages_ask_search_engines_not_to_index_them(client: Client) -> None:
    private = written_course(weeks=1, lessons_per_week=1, review_state=Course.Review.PENDING)
    public = written_course(weeks=1, lessons_per_week=1, review_state=Course.Review.APPROVED)
    assert not visibility.course_is_public(private)
    assert visibility.course_is_public(public)

    def pages(course: Course) -> list[str]:
        lesson = Lesson.objects.get(course=course)
        return [
            f"/courses/{course.id}/",
            reverse("delivery:lesson", args=[course.id, lesson.id]),
            f"/courses/{course.id}/writing/",
        ]

    for path in pages(private):
        response = client.get(path, follow=True)
        assert response["X-Robots-Tag"] == "noindex, nofollow", path
        assert '<meta name="robots" content="noindex, nofollow">' in response.content.decode(), path
    for path in pages(public):
        response = client.get(path, follow=True)
        assert "X-Robots-Tag" not in response, path
        assert 'name="robots"' not in response.content.decode(), path
