"""The moderation queue and staff pages in the admin: what they show, what they do, and who may use them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from courses.admin.course import QUEUE_EMPTY_MESSAGE
from courses.models import AuditEntry, ContentFlag, Course, Lesson, LessonReport, LLMCall, PartRevision, Quiz
from courses.moderation import editing, review, screening
from delivery.models import LessonCompletion
from tests.factories import UserFactory, moderator, quiz_questions, written_course

pytestmark = pytest.mark.django_db

Review = Course.Review
QUEUE = "admin:courses_course_changelist"


def small_course(**fields: Any) -> Course:
    return written_course(weeks=1, lessons_per_week=2, **fields)


@pytest.fixture
def mod_client(client: Client) -> Client:
    client.force_login(moderator())
    return client


def login(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


# --- The queue -----------------------------------------------------------------------------------------
def test_the_queue_lists_what_waits_oldest_first_with_why_who_asked_and_the_cost(mod_client: Client) -> None:
    now = timezone.now()
    requester = UserFactory(email="asker@example.org")
    oldest = small_course(ready_at=now - timedelta(days=3), requested_by=requester)
    newer = small_course(ready_at=now - timedelta(days=1))
    reported = small_course(review_state=Review.APPROVED, ready_at=now - timedelta(days=9))
    report = review.lesson_report(
        lesson=reported.lessons.first(), reason="wrong", quoted_text="Rome fell in 1990"
    )
    LessonReport.objects.filter(pk=report.pk).update(created_at=now - timedelta(days=2))
    held = small_course(review_state=Review.APPROVED, ready_at=now - timedelta(days=9))
    review.course_hold(
        part=held.lessons.first(), findings=[screening.Finding("chatter", "Model chatter: “As an AI”.")]
    )
    small_course(review_state=Review.APPROVED)  # published, nothing open: not waiting
    small_course(status=Course.Status.WRITING, ready_at=None)  # not written yet: not waiting
    LLMCall.objects.create(
        course=oldest, stage="lesson", model="gpt-4o-mini", prompt_tokens=100_000, outcome="ok"
    )

    response = mod_client.get(reverse(QUEUE))

    assert response.status_code == 200
    waiting = list(response.context["cl"].result_list)
    assert waiting == [oldest, reported, newer, held]  # the hold started waiting just now
    page = response.content.decode()
    assert "asker@example.org" in page
    assert "$0.0150" in page  # 100k input tokens of gpt-4o-mini
    assert "Rome fell in 1990" in page
    assert "Model chatter" in page
    assert "Written, not yet reviewed" in page


def test_the_queue_costs_a_constant_number_of_queries(mod_client: Client) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert mod_client.get(reverse(QUEUE)).status_code == 200
        return len(captured)

    for _ in range(2):
        review.course_hold(part=small_course(), findings=[screening.Finding("empty", "The part is empty.")])
    few = queries()
    for _ in range(6):
        course = small_course()
        review.lesson_report(lesson=course.lessons.first(), reason="broken")
    assert queries() == few


def test_the_queue_leaves_out_the_app_sidebar_to_make_room_for_its_columns(mod_client: Client) -> None:
    small_course()

    for url in [reverse(QUEUE), reverse(QUEUE) + "?queue=all"]:
        page = mod_client.get(url).content.decode()
        assert "column-state" in page
        assert 'id="nav-sidebar"' not in page


def test_an_empty_queue_says_nothing_waits(mod_client: Client) -> None:
    small_course(review_state=Review.APPROVED)  # reviewed, nothing open

    assert QUEUE_EMPTY_MESSAGE in mod_client.get(reverse(QUEUE)).content.decode()
    assert QUEUE_EMPTY_MESSAGE not in mod_client.get(reverse(QUEUE) + "?queue=all").content.decode()
    assert QUEUE_EMPTY_MESSAGE not in mod_client.get(reverse(QUEUE) + "?q=nothing-like-this").content.decode()
    small_course()
    assert QUEUE_EMPTY_MESSAGE not in mod_client.get(reverse(QUEUE)).content.decode()


def test_one_click_approve_and_feature_from_the_queue(mod_client: Client) -> None:
    course = small_course()

    response = mod_client.post(reverse("admin:courses_course_approve", args=[course.pk]))
    assert response.status_code == 302
    mod_client.post(reverse("admin:courses_course_feature", args=[course.pk]))

    course.refresh_from_db()
    assert (course.review_state, course.featured) == (Review.APPROVED, True)
    actors = set(AuditEntry.objects.filter(course=course).values_list("actor_label", flat=True))
    assert actors == {"moderator@example.com"}


def test_one_click_approve_of_an_unwritten_course_says_why_not(mod_client: Client) -> None:
    course = small_course(status=Course.Status.WRITING)

    response = mod_client.post(reverse("admin:courses_course_approve", args=[course.pk]), follow=True)

    assert review.NOT_READY_MESSAGE in response.content.decode()
    assert Course.objects.get(pk=course.pk).review_state == Review.PENDING


def test_rejecting_asks_for_the_reason_the_requester_will_read(mod_client: Client) -> None:
    course = small_course()
    url = reverse("admin:courses_course_reject", args=[course.pk])

    page = mod_client.get(url).content.decode()
    assert 'name="reason"' in page
    assert "admin/css/forms.css" in page  # laid out like the admin's other forms
    assert mod_client.post(url, {"reason": ""}).status_code == 200  # the form again, with its error
    assert mod_client.post(url, {"reason": "Too many mistakes"}).status_code == 302

    course.refresh_from_db()
    assert (course.review_state, course.review_reason) == (Review.REJECTED, "Too many mistakes")


def test_bulk_actions_approve_many_and_reject_many_after_asking_why(mod_client: Client) -> None:
    courses = [small_course() for _ in range(3)]
    ids = [str(course.pk) for course in courses]

    mod_client.post(reverse(QUEUE), {"action": "approve_selected", "_selected_action": ids[:2]})
    asked = mod_client.post(reverse(QUEUE), {"action": "reject_selected", "_selected_action": ids[2:]})
    assert 'name="reason"' in asked.content.decode()
    assert "admin/css/forms.css" in asked.content.decode()
    mod_client.post(
        reverse(QUEUE),
        {"action": "reject_selected", "_selected_action": ids[2:], "apply": "1", "reason": "Off topic"},
    )

    states = [Course.objects.get(pk=pk).review_state for pk in ids]
    assert states == [Review.APPROVED, Review.APPROVED, Review.REJECTED]
    assert AuditEntry.objects.count() == 3


def test_learner_reports_filter_by_open_or_resolved(mod_client: Client) -> None:
    course = small_course()
    lesson = course.lessons.first()
    review.lesson_report(lesson=lesson, reason="wrong", quoted_text="still open")
    done = review.lesson_report(lesson=lesson, reason="wrong", quoted_text="long since fixed")
    review.report_resolve(report=done, actor=moderator())
    reports = reverse("admin:courses_lessonreport_changelist")

    page = mod_client.get(reports).content.decode()
    assert "By state" in page
    assert ">Open<" in page
    assert ">Resolved<" in page
    assert "Not empty" not in page
    assert "?state=open" in mod_client.get(reverse(QUEUE)).content.decode()  # the queue's "Open reports" link
    open_ones = mod_client.get(reports, {"state": "open"}).context["cl"].result_list
    resolved = mod_client.get(reports, {"state": "resolved"}).context["cl"].result_list
    assert [report.quoted_text for report in open_ones] == ["still open"]
    assert [report.quoted_text for report in resolved] == ["long since fixed"]


def test_the_course_page_shows_its_audit_log(mod_client: Client) -> None:
    course = small_course()
    review.course_request_changes(course=course, actor=moderator(), reason="Add sources to week 1")

    page = mod_client.get(reverse("admin:courses_course_change", args=[course.pk])).content.decode()

    assert "audit log" in page.lower()
    assert "Add sources to week 1" in page
    assert "Asked for changes" in page
    assert "Actor label" not in page


def test_the_audit_log_calls_its_actor_column_who(mod_client: Client) -> None:
    review.course_approve(course=small_course(), actor=moderator())

    page = mod_client.get(reverse("admin:courses_auditentry_changelist")).content.decode()

    assert "column-actor_label" in page
    assert ">Who<" in page
    assert "Actor label" not in page


# --- The content, editing, preview, history --------------------------------------------------------------
def test_the_course_page_folds_the_outline_json_away(mod_client: Client) -> None:
    course = small_course()

    page = mod_client.get(reverse("admin:courses_course_change", args=[course.pk])).content.decode()

    folded = page[page.index("<details") : page.index("</details>")]
    assert "Outline (JSON)" in folded
    assert "field-outline_json" in folded
    assert page.count("field-outline_json") == 1
    assert "field-topic" in page  # the other fields are still there, unfolded


def test_the_content_page_shows_every_part_with_its_flags_and_reports_in_constant_queries(
    mod_client: Client,
) -> None:
    def queries(course: Course) -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            response = mod_client.get(reverse("admin:courses_course_content", args=[course.pk]))
        return len(captured), response.content.decode()

    small = written_course(weeks=1, lessons_per_week=1)
    big = written_course(weeks=6, lessons_per_week=4)
    lesson = big.lessons.last()
    review.lesson_report(lesson=lesson, reason="offensive", quoted_text="a rude sentence")
    review.course_hold(part=lesson, findings=[screening.Finding("truncated", "The text stops mid-sentence.")])

    few, _ = queries(small)
    many, page = queries(big)

    assert few == many
    assert "a rude sentence" in page
    assert "The text stops mid-sentence." in page
    assert page.count("Edit lesson") == 24


def test_the_content_page_jumps_to_each_week_and_from_one_flagged_part_to_the_next(
    mod_client: Client,
) -> None:
    course = written_course(weeks=4, lessons_per_week=2, requester_ip="198.51.100.7")
    week_2 = course.weeks.get(number=2)
    reported = Lesson.objects.get(week=week_2, number=2)
    held = Lesson.objects.get(week__course=course, week__number=4, number=1)
    quiz = Quiz.objects.get(week__course=course, week__number=4)
    review.lesson_report(lesson=reported, reason="wrong", quoted_text="Rome fell in 1990")
    review.course_hold(part=held, findings=[screening.Finding("chatter", "Model chatter.")])
    review.course_hold(part=quiz, findings=[screening.Finding("chatter", "Model chatter.")])

    page = mod_client.get(reverse("admin:courses_course_content", args=[course.pk])).content.decode()

    start = page.index('<nav class="jump-menu"')
    menu = page[start : page.index("</nav>", start)]
    for week in course.weeks.all():
        assert f'<a href="#week-{week.pk}">Week {week.number}</a>' in menu
    assert menu.count("flagged</span>") == 2  # weeks 2 and 4
    assert f'href="#lesson-{reported.pk}">First flagged' in menu
    assert f'<a href="#lesson-{held.pk}">Next flagged' in page  # after the reported lesson…
    assert f'<a href="#quiz-{quiz.pk}">Next flagged' in page  # …then the quiz of the same week
    assert page.count("Next flagged") == 2  # the last flagged part has no "next"
    assert f'<details class="week" id="week-{week_2.pk}" open>' in page  # flagged weeks open, others folded
    assert f'<details class="week" id="week-{course.weeks.get(number=1).pk}">' in page
    assert "requested by anonymous" in page
    assert "198.51.100.7" not in page


def test_the_content_page_counts_the_revisions_of_weeks_lessons_and_quizzes_alike(mod_client: Client) -> None:
    course = small_course()
    week = course.weeks.get()
    quiz = Quiz.objects.get(week=week)
    lesson = course.lessons.first()
    for number in range(2):
        editing.part_edit(part=week, changes={"title": f"Week title {number}"}, actor=moderator())
    for number in range(3):
        editing.part_edit(part=quiz, changes={"questions": quiz_questions(number + 2)}, actor=moderator())
    editing.part_edit(part=lesson, changes={"body": "Changed.\n"}, actor=moderator())

    page = mod_client.get(reverse("admin:courses_course_content", args=[course.pk])).content.decode()

    history = reverse("admin:courses_part_history", args=["week", week.pk])
    assert f'<a href="{history}">History (2)</a>' in page
    history = reverse("admin:courses_part_history", args=["quiz", quiz.pk])
    assert f'<a href="{history}">History (3)</a>' in page
    history = reverse("admin:courses_part_history", args=["lesson", lesson.pk])
    assert f'<a href="{history}">History (1)</a>' in page


def test_a_moderator_edits_a_lesson_in_place_and_learners_keep_their_progress(mod_client: Client) -> None:
    course = small_course()
    lesson = course.lessons.first()
    learner = UserFactory()
    LessonCompletion.objects.create(user=learner, lesson=lesson, course=course)
    url = reverse("admin:courses_lesson_edit", args=[lesson.pk])

    form = mod_client.get(url).content.decode()
    assert 'data-preview-url="/admin/courses/course/preview/"' in form
    response = mod_client.post(url, {"title": "Better title", "body": "## Better\n\nBody.", "note": "typo"})

    assert response.status_code == 302
    lesson.refresh_from_db()
    assert (lesson.title, lesson.body.strip()) == ("Better title", "## Better\n\nBody.")
    assert LessonCompletion.objects.filter(user=learner, lesson=lesson).exists()
    assert PartRevision.objects.filter(lesson=lesson).count() == 1


def test_a_moderator_edits_a_weeks_outline_item(mod_client: Client) -> None:
    week = small_course().weeks.get()
    url = reverse("admin:courses_week_edit", args=[week.pk])

    mod_client.post(
        url, {"title": "Arches", "overview": "Stones.", "objectives": "Name the parts\n\nDraw one\n"}
    )

    week.refresh_from_db()
    assert (week.title, week.overview, week.objectives) == (
        "Arches",
        "Stones.",
        ["Name the parts", "Draw one"],
    )


def quiz_post(questions: list[dict[str, Any]], extra: dict[str, str] | None = None) -> dict[str, str]:
    data = {
        "q-TOTAL_FORMS": str(len(questions)),
        "q-INITIAL_FORMS": str(len(questions)),
        "q-MIN_NUM_FORMS": "1",
    }
    data["q-MAX_NUM_FORMS"] = "1000"
    for index, item in enumerate(questions):
        data[f"q-{index}-question"] = item["question"]
        data[f"q-{index}-options"] = "\n".join(item["options"])
        data[f"q-{index}-answer"] = str(item["answer"] + 1)
        data[f"q-{index}-explanation"] = item["explanation"]
    return data | (extra or {})


def test_a_moderator_edits_removes_and_adds_quiz_questions(mod_client: Client) -> None:
    quiz = Quiz.objects.get(course=small_course())
    questions = quiz_questions(1, count=3)
    questions[0]["question"] = "Which came first?"
    data = quiz_post(questions, {"q-1-DELETE": "on"})
    data |= {"q-TOTAL_FORMS": "4", "q-3-question": "New one?", "q-3-options": "Yes\nNo", "q-3-answer": "2"}

    response = mod_client.post(reverse("admin:courses_quiz_edit", args=[quiz.pk]), data)

    assert response.status_code == 302
    quiz.refresh_from_db()
    assert [item["question"] for item in quiz.questions] == [
        "Which came first?",
        "Week 1, question 3?",
        "New one?",
    ]
    assert quiz.questions[2] == {
        "question": "New one?",
        "options": ["Yes", "No"],
        "answer": 1,
        "explanation": "",
    }


def test_a_quiz_answer_that_is_not_an_option_is_refused(mod_client: Client) -> None:
    quiz = Quiz.objects.get(course=small_course())
    before = quiz.questions
    data = quiz_post(quiz_questions(1, count=1), {"q-0-answer": "9"})

    response = mod_client.post(reverse("admin:courses_quiz_edit", args=[quiz.pk]), data)

    assert response.status_code == 200
    assert "There are only 4 options." in response.content.decode()
    assert Quiz.objects.get(pk=quiz.pk).questions == before


def test_the_preview_renders_exactly_what_learners_see(mod_client: Client) -> None:
    url = reverse("admin:courses_markdown_preview")

    response = mod_client.post(url, {"text": "## Title\n\n<script>alert(1)</script>[x](javascript:alert(1))"})

    assert response.status_code == 200
    html = response.content.decode()
    assert '<h2 id="s-title">Title</h2>' in html
    assert "<script" not in html
    assert "javascript:" not in html
    assert mod_client.get(url).status_code == 405


def test_the_history_shows_an_escaped_diff_and_restores_a_version(mod_client: Client) -> None:
    lesson = small_course().lessons.first()
    original = lesson.body
    editing.part_edit(part=lesson, changes={"body": "<script>alert('x')</script>\n"}, actor=moderator())
    revision = PartRevision.objects.get()

    page = mod_client.get(reverse("admin:courses_part_history", args=["lesson", lesson.pk])).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script>alert('x')" not in page
    assert '<span class="diff-del">-## Why it matters</span>' in page
    mod_client.post(reverse("admin:courses_revision_restore", args=[revision.pk]))

    lesson.refresh_from_db()
    assert lesson.body == original
    assert PartRevision.objects.count() == 2


def test_regenerating_from_the_admin_rewrites_the_lesson(
    mod_client: Client, offline: None, django_capture_on_commit_callbacks: Any
) -> None:
    lesson = small_course().lessons.first()
    old = lesson.body

    with django_capture_on_commit_callbacks(execute=True):
        response = mod_client.post(
            reverse("admin:courses_part_regenerate", args=["lesson", lesson.pk]), {"instruction": "simpler"}
        )

    assert response.status_code == 302
    lesson.refresh_from_db()
    assert lesson.body != old
    assert PartRevision.objects.get(lesson=lesson).instruction == "simpler"


def test_regenerating_a_week_from_the_content_page_first_says_what_it_costs(mod_client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=3)
    week = course.weeks.get()
    content = reverse("admin:courses_course_content", args=[course.pk])
    regenerate = reverse("admin:courses_part_regenerate", args=["week", week.pk])

    page = mod_client.get(content).content.decode()
    assert f'<form method="get" action="{regenerate}" class="regenerate">' in page  # no POST from here
    confirm = mod_client.get(regenerate, {"instruction": "simpler", "next": content})

    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "5 LLM calls" in page  # the plan, three lessons and the quiz
    assert 'value="simpler"' in page
    assert f'name="next" value="{content}"' in page
    assert not PartRevision.objects.exists()
    assert Course.objects.get(pk=course.pk).weeks.get().title == week.title


# --- Who may do what ----------------------------------------------------------------------------------------
def staff_urls(course: Course) -> list[tuple[str, str]]:
    lesson = course.lessons.first()
    week = course.weeks.first()
    quiz = Quiz.objects.get(week=week)
    revision = editing.part_edit(
        part=lesson, changes={"body": "Changed.\n"}, actor=moderator("m2@example.com")
    )
    assert revision is not None
    report = review.lesson_report(lesson=lesson, reason="wrong")
    pk = course.pk
    return [
        ("get", reverse(QUEUE)),
        ("get", reverse("admin:courses_course_change", args=[pk])),
        ("get", reverse("admin:courses_course_content", args=[pk])),
        ("post", reverse("admin:courses_course_approve", args=[pk])),
        ("post", reverse("admin:courses_course_feature", args=[pk])),
        ("post", reverse("admin:courses_course_unfeature", args=[pk])),
        ("post", reverse("admin:courses_course_release", args=[pk])),
        ("get", reverse("admin:courses_course_reject", args=[pk])),
        ("get", reverse("admin:courses_course_request_changes", args=[pk])),
        ("get", reverse("admin:courses_week_edit", args=[week.pk])),
        ("get", reverse("admin:courses_lesson_edit", args=[lesson.pk])),
        ("get", reverse("admin:courses_quiz_edit", args=[quiz.pk])),
        ("get", reverse("admin:courses_part_history", args=["lesson", lesson.pk])),
        ("get", reverse("admin:courses_part_regenerate", args=["lesson", lesson.pk])),
        ("post", reverse("admin:courses_part_regenerate", args=["lesson", lesson.pk])),
        ("post", reverse("admin:courses_revision_restore", args=[revision.pk])),
        ("post", reverse("admin:courses_report_resolve", args=[report.pk])),
        ("post", reverse("admin:courses_markdown_preview")),
        ("get", reverse("admin:courses_dashboard")),
        ("get", reverse("admin:courses_lessonreport_changelist")),
        ("get", reverse("admin:courses_refusedtopic_changelist")),
        ("get", reverse("admin:courses_auditentry_changelist")),
        ("get", reverse("admin:courses_llmcall_changelist")),
    ]


def test_learners_and_anonymous_visitors_are_sent_to_log_in_on_every_staff_url(client: Client) -> None:
    course = small_course()
    urls = staff_urls(course)
    learner_client = login(UserFactory())

    for visitor in (client, learner_client):
        for method, url in urls:
            response = getattr(visitor, method)(url)
            assert response.status_code == 302, (method, url)
            assert response["Location"].startswith("/admin/login/"), url
    course.refresh_from_db()
    assert course.review_state == Review.PENDING
    assert AuditEntry.objects.filter(course=course).count() == 1  # only the setup's edit


def test_staff_without_moderation_permissions_get_403_on_our_pages() -> None:
    course = small_course()
    visitor = login(UserFactory(is_staff=True))

    for method, url in staff_urls(course):
        if "/preview/" in url:
            continue  # any staff member may preview markdown
        assert getattr(visitor, method)(url).status_code == 403, (method, url)


def test_moderators_work_the_queue_but_only_superusers_see_the_dashboard(mod_client: Client) -> None:
    superuser = login(UserFactory(is_staff=True, is_superuser=True))

    assert mod_client.get(reverse(QUEUE)).status_code == 200
    assert mod_client.get(reverse("admin:courses_dashboard")).status_code == 403
    assert mod_client.get(reverse("admin:courses_llmcall_changelist")).status_code == 403
    assert superuser.get(reverse("admin:courses_dashboard")).status_code == 200
    assert "Cost dashboard" not in mod_client.get(reverse(QUEUE)).content.decode()
    assert "Cost dashboard" in superuser.get(reverse(QUEUE)).content.decode()


def test_the_admin_index_spells_llm_calls_in_capitals() -> None:
    superuser = login(UserFactory(is_staff=True, is_superuser=True))

    page = superuser.get(reverse("admin:index")).content.decode()

    assert "LLM calls" in page
    assert "Llm calls" not in page


def test_the_records_of_a_course_open_on_their_own_pages() -> None:
    """Their forms order the course choices as the course admin does, which once meant the queue's annotation."""
    course = small_course()
    review.course_hold(part=course.lessons.first(), findings=[screening.Finding("chatter", "Chatter.")])
    call = LLMCall.objects.create(course=course, stage="lesson", model="gpt-4o-mini", outcome="ok")
    superuser = login(UserFactory(is_staff=True, is_superuser=True))

    for name, pk in [
        ("llmcall", call.pk),
        ("auditentry", AuditEntry.objects.filter(course=course).first().pk),  # type: ignore[union-attr]
        ("contentflag", ContentFlag.objects.get(course=course).pk),
    ]:
        assert superuser.get(reverse(f"admin:courses_{name}_change", args=[pk])).status_code == 200, name


def test_every_staff_post_requires_the_csrf_token() -> None:
    course = small_course()
    urls = [url for method, url in staff_urls(course) if method == "post"]
    visitor = login(UserFactory(is_staff=True, is_superuser=True), csrf=True)

    for url in urls:
        assert visitor.post(url, {"reason": "x", "text": "x"}).status_code == 403, url
    assert Course.objects.get(pk=course.pk).review_state == Review.PENDING
    assert not ContentFlag.objects.exists()
    lesson: Lesson = course.lessons.first()  # type: ignore[assignment]
    assert lesson.body == "Changed.\n"  # the restore did not happen


def test_moderators_read_the_refused_topics(mod_client: Client, offline: None) -> None:
    with pytest.raises(review.TopicRefused):
        review.topic_admit(topic="How to make a pipe bomb", ip="198.51.100.4")

    page = mod_client.get(reverse("admin:courses_refusedtopic_changelist")).content.decode()

    assert "How to make a pipe bomb" in page
    assert "198.51.100.4" in page
    assert "violence/weapons" in page


def test_the_content_page_never_trusts_stored_html_blindly(mod_client: Client) -> None:
    course = small_course()
    Lesson.objects.filter(course=course).update(body_html='<p onclick="x()">Hi</p><script>alert(1)</script>')

    page = mod_client.get(reverse("admin:courses_course_content", args=[course.pk])).content.decode()

    assert "<p>Hi</p>" in page
    assert "alert(1)" not in page
    assert "onclick" not in page


def test_a_quiz_edit_keeps_each_questions_supporting_passage_and_its_section(mod_client: Client) -> None:
    quiz = Quiz.objects.get(course=small_course())
    grounded = {
        "lesson": 1,
        "passage": "A short paragraph.",
        "section": "Why it matters",
        "anchor": "s-why-it-matters",
    }
    questions = [{**item, **grounded} for item in quiz_questions(1, count=2)]
    Quiz.objects.filter(pk=quiz.pk).update(questions=questions)
    data = quiz_post(questions)
    for index in range(2):
        data |= {f"q-{index}-{key}": str(value) for key, value in grounded.items()}
    data |= {"q-0-question": "Reworded?", "q-1-passage": "Another short paragraph."}

    mod_client.post(reverse("admin:courses_quiz_edit", args=[quiz.pk]), data)

    quiz.refresh_from_db()
    assert quiz.questions[0] == {**questions[0], "question": "Reworded?"}
    # A new passage may sit in another section: the old section's link is not kept for it.
    moved = {key: value for key, value in questions[1].items() if key not in {"section", "anchor"}}
    assert quiz.questions[1] == {**moved, "passage": "Another short paragraph."}
