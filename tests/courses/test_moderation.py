"""Review transitions and their audit entries, holds from screening, and the visibility rules."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.core.management import call_command

from accounts.models import User
from courses import visibility
from courses.models import AuditEntry, ContentFlag, Course, Lesson
from courses.moderation import review, screening
from tests.factories import CourseFactory, UserFactory, moderator, written_course

pytestmark = pytest.mark.django_db

Review = Course.Review
Action = AuditEntry.Action
FINDING = screening.Finding("chatter", "Model chatter: “As an AI”.", "As an AI…")


def ready_course(**fields: object) -> Course:
    return written_course(weeks=1, lessons_per_week=1, **fields)


def only_entry(course: Course) -> AuditEntry:
    entries = list(course.audit_entries.all())
    assert len(entries) == 1
    return entries[0]


def test_approving_a_written_course_publishes_it_and_audits_who_when_from_and_to() -> None:
    course, actor = ready_course(), moderator()

    entry = review.course_approve(course=course, actor=actor, reason="Looks right")

    course.refresh_from_db()
    assert course.review_state == Review.APPROVED
    assert visibility.course_is_public(course)
    assert entry == only_entry(course)
    assert (entry.actor, entry.actor_label, entry.action) == (actor, actor.email, Action.APPROVE)
    assert (entry.from_state, entry.to_state, entry.reason) == (
        Review.PENDING,
        Review.APPROVED,
        "Looks right",
    )
    assert entry.created_at is not None


def test_approving_twice_records_one_transition() -> None:
    course, actor = ready_course(), moderator()
    review.course_approve(course=course, actor=actor)

    assert review.course_approve(course=course, actor=actor) is None
    assert course.audit_entries.count() == 1


def test_a_course_still_being_written_cannot_be_approved() -> None:
    course = CourseFactory(status=Course.Status.WRITING)

    with pytest.raises(review.ModerationError, match=review.NOT_READY_MESSAGE):
        review.course_approve(course=course, actor=moderator())
    assert not course.audit_entries.exists()


def test_rejecting_needs_a_reason_which_the_requester_reads() -> None:
    requester = UserFactory()
    course = ready_course(requested_by=requester, review_state=Review.APPROVED, featured=True)

    with pytest.raises(review.ModerationError, match=review.REASON_REQUIRED_MESSAGE):
        review.course_reject(course=course, actor=moderator(), reason="  ")
    review.course_reject(course=course, actor=moderator(), reason="Full of errors about dates.")

    course.refresh_from_db()
    assert (course.review_state, course.featured) == (Review.REJECTED, False)
    entry = only_entry(course)
    assert (entry.action, entry.from_state, entry.to_state) == (
        Action.REJECT,
        Review.APPROVED,
        Review.REJECTED,
    )
    notice = visibility.course_review_notice(course, requester)
    assert notice.startswith(visibility.REJECTED_MESSAGE)
    assert "Full of errors about dates." in notice
    assert visibility.course_review_notice(course, UserFactory()) == visibility.REJECTED_MESSAGE


def test_asking_for_changes_keeps_the_course_out_of_the_catalogue_and_tells_the_requester_why() -> None:
    requester = UserFactory()
    course = ready_course(requested_by=requester)

    review.course_request_changes(course=course, actor=moderator(), reason="Week 1 needs an example.")

    course.refresh_from_db()
    assert course.review_state == Review.NEEDS_CHANGES
    assert not visibility.course_is_public(course)
    assert only_entry(course).action == Action.REQUEST_CHANGES
    assert "Week 1 needs an example." in visibility.course_review_notice(course, requester)


def test_only_an_approved_course_can_be_featured_and_each_step_is_audited() -> None:
    course, actor = ready_course(), moderator()
    with pytest.raises(review.ModerationError, match=review.FEATURE_NEEDS_APPROVAL_MESSAGE):
        review.course_feature(course=course, actor=actor)

    review.course_approve(course=course, actor=actor)
    review.course_feature(course=course, actor=actor)
    assert course.featured
    review.course_unfeature(course=course, actor=actor)

    course.refresh_from_db()
    assert not course.featured
    actions = list(course.audit_entries.order_by("created_at", "id").values_list("action", flat=True))
    assert actions == [Action.APPROVE, Action.FEATURE, Action.UNFEATURE]


def test_a_flagged_part_holds_an_approved_course_back_and_out_of_the_catalogue() -> None:
    course = ready_course(review_state=Review.APPROVED, featured=True)
    lesson = Lesson.objects.get(course=course)

    flags = review.course_hold(part=lesson, findings=[FINDING])

    course.refresh_from_db()
    assert course.held_for_review
    assert not course.featured
    assert course.review_state == Review.PENDING  # a moderator must approve it again
    assert visibility.course_is_held(course)
    assert visibility.course_is_withheld(course)
    assert not visibility.public_courses().filter(pk=course.pk).exists()
    assert [(flag.part_kind, flag.lesson, flag.code) for flag in flags] == [("lesson", lesson, "chatter")]
    entry = only_entry(course)
    assert (entry.actor, entry.actor_label, entry.action) == (None, review.SYSTEM_ACTOR, Action.HOLD)
    assert (entry.from_state, entry.to_state) == (Review.APPROVED, Review.PENDING)
    assert "As an AI" in entry.reason


def test_holding_again_for_the_same_finding_adds_no_duplicate_flag_and_no_second_entry() -> None:
    course = ready_course()
    lesson = Lesson.objects.get(course=course)
    review.course_hold(part=lesson, findings=[FINDING])

    assert review.course_hold(part=lesson, findings=[FINDING]) == []
    assert ContentFlag.objects.filter(course=course).count() == 1
    assert course.audit_entries.count() == 1


def test_approving_a_held_course_resolves_its_flags() -> None:
    course, actor = ready_course(), moderator()
    review.course_hold(part=Lesson.objects.get(course=course), findings=[FINDING])

    review.course_approve(course=course, actor=actor)

    course.refresh_from_db()
    assert not course.held_for_review
    assert visibility.course_is_public(course)
    flag = ContentFlag.objects.get(course=course)
    assert flag.resolved_by == actor
    assert flag.resolved_at is not None


def test_releasing_a_hold_keeps_the_course_unpublished() -> None:
    course, actor = ready_course(), moderator()
    with pytest.raises(review.ModerationError, match=review.NOT_HELD_MESSAGE):
        review.course_release(course=course, actor=actor)
    review.course_hold(part=course, findings=[FINDING])

    review.course_release(course=course, actor=actor, reason="False alarm")

    course.refresh_from_db()
    assert not course.held_for_review
    assert course.review_state == Review.PENDING
    assert not ContentFlag.objects.filter(course=course, resolved_at__isnull=True).exists()
    assert course.audit_entries.first().action == Action.RELEASE  # type: ignore[union-attr]


def test_visibility_rules_in_one_place() -> None:
    requester, stranger, staff = UserFactory(), UserFactory(), UserFactory(is_staff=True)
    pending = ready_course(requested_by=requester)
    approved = ready_course(review_state=Review.APPROVED)
    rejected = ready_course(requested_by=requester, review_state=Review.REJECTED, review_reason="No.")
    held = ready_course(requested_by=requester, held_for_review=True)

    assert list(visibility.public_courses()) == [approved]
    for viewer in (AnonymousUser(), stranger, requester):
        assert visibility.course_visible_to(pending, viewer)
        assert not visibility.course_visible_to(held, viewer)
    assert visibility.course_visible_to(rejected, requester)
    assert not visibility.course_visible_to(rejected, stranger)
    assert not visibility.course_visible_to(rejected, AnonymousUser())
    assert visibility.course_visible_to(rejected, AnonymousUser(), is_requester=True)
    assert all(visibility.course_visible_to(course, staff) for course in (pending, rejected, held))
    assert visibility.course_review_notice(held, requester) == visibility.HELD_MESSAGE
    assert visibility.course_review_notice(pending, requester) == ""
    assert [visibility.course_is_withheld(c) for c in (pending, approved, rejected, held)] == [
        False,
        False,
        True,
        True,
    ]


def test_the_migration_creates_the_moderators_group_with_its_permissions() -> None:
    group = Group.objects.get(name=review.MODERATORS_GROUP)
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert codenames == set(review.MODERATOR_PERMISSIONS)
    assert "view_llmcall" not in codenames  # costs are for superusers


def test_the_moderator_grant_command_makes_a_staff_moderator(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("moderator_grant", "Ada@Example.org")

    user = User.objects.get(email="ada@example.org")
    assert user.is_staff
    assert not user.is_superuser
    assert user.has_perm("courses.moderate_course")
    assert user.has_perm("courses.change_lesson")
    assert not user.has_perm("courses.view_llmcall")
    assert "changepassword" in capsys.readouterr().out
