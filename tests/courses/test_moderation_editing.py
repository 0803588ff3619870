"""Editing parts in place: revisions, restores, validation, progress kept, and requester edits screened."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from courses import selectors, visibility
from courses.generation import pipeline, prompts
from courses.models import AuditEntry, Course, Lesson, PartRevision, PartStatus, Quiz, Week
from courses.moderation import editing, review
from courses.moderation.forms import MARKDOWN_MAX_CHARS, MARKDOWN_TOO_LONG
from delivery.models import LessonCompletion
from tests.factories import UserFactory, moderator, quiz_questions, written_course

pytestmark = pytest.mark.django_db

NEW_BODY = "## Aqueducts\n\nWater ran downhill along a gentle slope for many miles.\n"


def setup_lesson() -> tuple[Course, Lesson]:
    course = written_course(weeks=1, lessons_per_week=2)
    return course, Lesson.objects.filter(course=course).first()  # type: ignore[return-value]


def test_editing_a_lesson_keeps_the_old_text_as_a_revision_and_the_row_and_progress() -> None:
    course, lesson = setup_lesson()
    learner, actor = UserFactory(), moderator()
    completion = LessonCompletion.objects.create(user=learner, lesson=lesson, course=course)
    old = {"title": lesson.title, "summary": lesson.summary, "body": lesson.body}

    revision = editing.part_edit(
        part=lesson, changes={"title": "Aqueducts", "body": NEW_BODY}, actor=actor, note="Clearer"
    )

    stored = Lesson.objects.get(pk=lesson.pk)
    assert (stored.title, stored.body) == ("Aqueducts", NEW_BODY)
    assert '<h2 id="s-aqueducts">Aqueducts</h2>' in stored.body_html
    assert revision is not None
    assert revision.content == old
    assert (revision.kind, revision.lesson, revision.cause, revision.author) == (
        "lesson",
        stored,
        "edit",
        actor,
    )
    assert LessonCompletion.objects.get(pk=completion.pk).lesson_id == lesson.pk
    entry = AuditEntry.objects.get(course=course)
    assert (entry.action, entry.actor, entry.revision) == (AuditEntry.Action.EDIT, actor, revision)
    assert "Clearer" in entry.reason
    assert Course.objects.get(pk=course.pk).content_version == course.content_version + 1


def test_an_edit_that_changes_nothing_leaves_no_revision() -> None:
    _, lesson = setup_lesson()

    assert editing.part_edit(part=lesson, changes={"title": lesson.title}, actor=moderator()) is None
    assert not PartRevision.objects.exists()
    assert not AuditEntry.objects.exists()


def test_the_rendered_body_of_an_edit_is_sanitized() -> None:
    _, lesson = setup_lesson()

    editing.part_edit(
        part=lesson,
        changes={"body": "Hi <script>alert(1)</script> [x](javascript:alert(2))"},
        actor=moderator(),
    )

    html = Lesson.objects.get(pk=lesson.pk).body_html
    assert "<script" not in html
    assert "javascript:" not in html


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"body": "   "}, "A lesson cannot be empty."),
        ({"title": ""}, "A title is needed"),
        ({"status": "written"}, "These fields cannot be edited: status."),
    ],
)
def test_edits_are_checked_before_anything_is_stored(changes: dict[str, str], message: str) -> None:
    _, lesson = setup_lesson()

    with pytest.raises(review.ModerationError, match=message):
        editing.part_edit(part=lesson, changes=changes, actor=moderator())
    assert not PartRevision.objects.exists()


def test_a_quiz_edit_must_stay_answerable() -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    quiz = Quiz.objects.get(course=course)
    broken = quiz_questions(1)
    broken[2]["answer"] = 9

    with pytest.raises(review.ModerationError, match="question 3"):
        editing.part_edit(part=quiz, changes={"questions": broken}, actor=moderator())
    fixed = quiz_questions(1, count=2)
    editing.part_edit(part=quiz, changes={"questions": fixed}, actor=moderator())
    assert Quiz.objects.get(pk=quiz.pk).questions == fixed


def test_editing_a_week_keeps_its_outline_item_as_a_revision() -> None:
    course = written_course(weeks=2, lessons_per_week=1)
    week = Week.objects.get(course=course, number=2)
    old_objectives = week.objectives

    editing.part_edit(
        part=week,
        changes={
            "title": "Siphons",
            "overview": "How water climbs.",
            "objectives": ["Explain a siphon", " "],
        },
        actor=moderator(),
    )

    week.refresh_from_db()
    assert (week.title, week.objectives) == ("Siphons", ["Explain a siphon"])
    assert PartRevision.objects.get(week=week).content["objectives"] == old_objectives


def test_an_edited_or_restored_week_overview_is_rendered_again_for_emails_the_pdf_and_the_api() -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    week, actor = Week.objects.get(course=course), moderator()
    old_html = week.overview_html

    revision = editing.part_edit(
        part=week, changes={"overview": "How **water** climbs. <script>x()</script>"}, actor=actor
    )
    week.refresh_from_db()
    assert week.overview_html == "<p>How <strong>water</strong> climbs. </p>"

    assert revision is not None
    editing.revision_restore(revision=revision, actor=actor)
    week.refresh_from_db()
    assert week.overview_html == old_html


def test_a_part_regenerated_after_an_edit_is_asked_for_from_the_outline_as_it_now_reads() -> None:
    course = written_course(weeks=2, lessons_per_week=1)
    stored = prompts.outline_json(selectors.course_outline(course=course))  # as the pipeline stores it
    Course.objects.filter(pk=course.pk).update(outline_json=stored)
    week = Week.objects.get(course=course, number=2)
    lesson, old_title = Lesson.objects.get(week=week), week.title
    editing.part_edit(part=week, changes={"title": "Siphons, and how water climbs"}, actor=moderator())
    editing.part_edit(part=lesson, changes={"title": "The inverted siphon"}, actor=moderator())

    lesson.refresh_from_db()
    outline = pipeline.lesson_prompt(lesson).messages[1]["content"]
    assert "Siphons, and how water climbs" in outline
    assert "The inverted siphon" in outline
    assert f'"{old_title}"' not in outline


def test_restoring_a_revision_brings_the_old_text_back_and_keeps_the_replaced_one() -> None:
    course, lesson = setup_lesson()
    original_body, actor = lesson.body, moderator()
    first = editing.part_edit(part=lesson, changes={"body": NEW_BODY}, actor=actor)
    assert first is not None

    restored = editing.revision_restore(revision=first, actor=actor)

    lesson.refresh_from_db()
    assert lesson.body == original_body
    assert restored.content["body"] == NEW_BODY  # the edited text is kept in its turn
    assert restored.cause == PartRevision.Cause.RESTORE
    assert list(course.audit_entries.order_by("id").values_list("action", flat=True)) == [
        AuditEntry.Action.EDIT,
        AuditEntry.Action.RESTORE,
    ]


def test_a_moderator_can_rescue_a_failed_lesson_by_writing_it() -> None:
    _, lesson = setup_lesson()
    Lesson.objects.filter(pk=lesson.pk).update(
        status=PartStatus.FAILED, failure_reason="Kept failing", body=""
    )
    lesson.refresh_from_db()

    editing.part_edit(part=lesson, changes={"body": NEW_BODY}, actor=moderator())

    lesson.refresh_from_db()
    assert (lesson.status, lesson.failure_reason) == (PartStatus.WRITTEN, "")
    assert lesson.written_at is not None


def test_a_requesters_own_edit_is_screened_like_generated_text(offline: None) -> None:
    requester = UserFactory()
    course = written_course(weeks=1, lessons_per_week=1, requested_by=requester)
    lesson = Lesson.objects.get(course=course)
    assert visibility.course_editable_by(course=course, user=requester)

    editing.part_edit(
        part=lesson, changes={"body": NEW_BODY + "\nAs an AI language model, I agree.\n"}, actor=requester
    )

    course.refresh_from_db()
    assert course.held_for_review
    assert sorted(course.flags.values_list("code", flat=True)) == ["chatter", "too_short"]


def test_who_may_edit_a_course() -> None:
    requester, stranger = UserFactory(), UserFactory()
    staff_without_permission = UserFactory(is_staff=True)
    course = written_course(weeks=1, lessons_per_week=1, requested_by=requester)

    assert visibility.course_editable_by(course=course, user=moderator())
    assert visibility.course_editable_by(course=course, user=requester)
    assert not visibility.course_editable_by(course=course, user=stranger)
    assert not visibility.course_editable_by(course=course, user=staff_without_permission)
    for state in (Course.Review.APPROVED, Course.Review.REJECTED):
        course.review_state = state
        assert not visibility.course_editable_by(course=course, user=requester), state


# --- The requester's own pages ---------------------------------------------------------------------------
def test_a_requester_edits_their_lesson_on_the_website(client: Client, offline: None) -> None:
    requester = UserFactory()
    course = written_course(weeks=1, lessons_per_week=1, requested_by=requester)
    lesson = Lesson.objects.get(course=course)
    url = reverse("courses:lesson_edit", args=[course.pk, lesson.pk])
    client.force_login(requester)

    page = client.get(url).content.decode()
    assert 'data-preview-url="/preview/"' in page
    assert 'aria-describedby="id_note_helptext"' in page
    assert 'id="id_note_helptext"' in page  # the help text a screen reader is pointed to is there
    response = client.post(url, {"title": "Mine", "body": NEW_BODY, "note": ""})

    assert response.status_code == 302
    assert response["Location"] == reverse("delivery:lesson", args=[course.pk, lesson.pk])  # to read it
    lesson.refresh_from_db()
    assert lesson.title == "Mine"
    assert PartRevision.objects.get(lesson=lesson).author == requester
    preview = client.post(reverse("courses:markdown_preview"), {"text": "**bold** <script>x</script>"})
    assert preview.content.decode().startswith("<p><strong>bold</strong>")
    assert "<script" not in preview.content.decode()


def test_lesson_edits_and_previews_longer_than_the_limit_are_refused(client: Client, offline: None) -> None:
    requester = UserFactory()
    course = written_course(weeks=1, lessons_per_week=1, requested_by=requester)
    lesson = Lesson.objects.get(course=course)
    client.force_login(requester)
    too_long = "[" * (MARKDOWN_MAX_CHARS + 1)

    edit = client.post(
        reverse("courses:lesson_edit", args=[course.pk, lesson.pk]), {"title": "Mine", "body": too_long}
    )
    preview = client.post(reverse("courses:markdown_preview"), {"text": too_long})

    assert edit.status_code == 200
    assert MARKDOWN_TOO_LONG in edit.content.decode()
    lesson.refresh_from_db()
    assert lesson.title != "Mine"
    assert preview.status_code == 413
    assert preview.content.decode() == MARKDOWN_TOO_LONG


def test_a_requester_regenerates_a_part_from_the_website(
    client: Client, offline: None, django_capture_on_commit_callbacks: Any
) -> None:
    requester = UserFactory()
    course = written_course(
        weeks=4, lessons_per_week=3, requested_by=requester
    )  # as the offline writer needs
    quiz = Quiz.objects.get(course=course, week__number=2)
    client.force_login(requester)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("courses:part_regenerate", args=[course.pk, "quiz", quiz.pk]), {"instruction": "harder"}
        )

    assert PartRevision.objects.get(quiz=quiz).instruction == "harder"


def test_regenerating_a_lesson_from_its_page_leads_back_to_it(
    client: Client, offline: None, django_capture_on_commit_callbacks: Any
) -> None:
    requester = UserFactory()
    course = written_course(weeks=4, lessons_per_week=3, requested_by=requester)
    lesson = Lesson.objects.get(course=course, week__number=2, number=1)
    client.force_login(requester)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("courses:part_regenerate", args=[course.pk, "lesson", lesson.pk]))

    assert response["Location"] == reverse("delivery:lesson", args=[course.pk, lesson.pk])
    assert PartRevision.objects.get(lesson=lesson).cause == PartRevision.Cause.REGENERATE


def test_a_requester_cannot_edit_their_course_while_it_is_held_for_review(client: Client) -> None:
    requester = UserFactory()
    course = written_course(weeks=1, lessons_per_week=1, requested_by=requester, held_for_review=True)
    lesson = Lesson.objects.get(course=course)
    client.force_login(requester)

    assert not visibility.course_editable_by(course=course, user=requester)
    assert visibility.course_editable_by(course=course, user=moderator())
    response = client.post(
        reverse("courses:lesson_edit", args=[course.pk, lesson.pk]), {"title": "x", "body": NEW_BODY}
    )
    assert response.status_code == 403
    assert visibility.HELD_MESSAGE in response.content.decode()
    assert not PartRevision.objects.exists()


def test_nobody_else_edits_or_regenerates_a_requesters_course(client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=1, requested_by=UserFactory())
    lesson = Lesson.objects.get(course=course)
    edit = reverse("courses:lesson_edit", args=[course.pk, lesson.pk])
    regenerate = reverse("courses:part_regenerate", args=[course.pk, "lesson", lesson.pk])

    assert client.get(edit).status_code == 302  # anonymous: to sign in
    assert client.post(reverse("courses:markdown_preview"), {"text": "x"}).status_code == 302
    client.force_login(UserFactory())
    assert client.get(edit).status_code == 403
    assert client.post(regenerate).status_code == 403
    assert not PartRevision.objects.exists()
