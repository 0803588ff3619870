"""The quality report: measured after a course is written and after every edit, with its parts, what it did
not check, and the thresholds that hold a course for review."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from courses.generation import request
from courses.models import ContentFlag, Course, Lesson, PartRevision, QualityReport, Quiz, Week
from courses.moderation import editing, regeneration, review
from courses.quality import lookups, pictures, quizzes, report, sources
from tests.factories import (
    UserFactory,
    first_lesson,
    lesson_picture,
    moderator,
    quiz_questions,
    written_course,
)
from tests.fakes.libraries_server import FakeLibraries

PARAGRAPH = (
    "Roman engineers built aqueducts with a gentle and constant slope, so that water flowed by gravity alone "
    "from springs in the hills to fountains, baths and private houses in the city, sometimes over fifty "
    "miles of channels, tunnels and arcades that still stand in parts of Europe today."
)


@pytest.mark.django_db(transaction=True)
def test_a_course_written_offline_gets_a_report_that_says_what_it_did_not_check(offline: None) -> None:
    result = request.course_request(topic="Roman aqueducts", language="en", weeks=4, user=None, ip=None)

    quality = QualityReport.objects.get(course=result.course)
    assert set(quality.parts) >= {"quizzes", "grounding", "length", "coverage", "repetition", "flags"}
    assert "readings" not in quality.parts  # nothing was looked up, so nothing is claimed
    assert quality.parts["grounding"] == 100
    assert quality.score == round(sum(quality.parts.values()) / len(quality.parts))
    assert report.LOOKUPS_OFFLINE in quality.unchecked
    assert report.JUDGE_MISSING in quality.unchecked
    assert quality.findings["lessons"][0]["grade"] is not None
    assert quality.content_version == Course.objects.get(pk=result.course.pk).content_version


@pytest.mark.django_db
def test_an_edit_measures_the_course_again(django_capture_on_commit_callbacks: Any) -> None:
    course = written_course(weeks=4, lessons_per_week=2)
    lesson = Lesson.objects.filter(course=course).first()
    assert lesson is not None

    with django_capture_on_commit_callbacks(execute=True):
        editing.part_edit(part=lesson, changes={"body": lesson.body + "\n\n" + PARAGRAPH}, actor=moderator())

    quality = QualityReport.objects.get(course=course)
    assert quality.content_version == Course.objects.get(pk=course.pk).content_version
    # The factory's quizzes were written before questions quoted their lessons.
    assert len(quality.findings["questions"]["unsupported"]) == 16
    assert quality.parts["grounding"] == 0


@pytest.mark.django_db
def test_repeated_lessons_hold_the_course_when_the_setting_says_so(settings: Any) -> None:
    settings.QUALITY_HOLD_REPEATED_PARAGRAPHS = 1
    course = written_course(weeks=4, lessons_per_week=2)
    Lesson.objects.filter(course=course, week__number__in=[1, 3], number=1).update(
        body=f"## Water\n\n{PARAGRAPH}"
    )

    quality = report.report_compute(course_id=course.pk)

    assert [(r["first"]["label"], r["second"]["label"]) for r in quality.findings["repetition"]] == [
        ("Week 1, lesson 1", "Week 3, lesson 1")
    ]
    assert quality.parts["repetition"] == 75
    course.refresh_from_db()
    assert course.held_for_review
    assert ContentFlag.objects.get(course=course).code == "repetition"

    report.report_compute(course_id=course.pk)  # measured again: the same finding is not flagged twice
    assert ContentFlag.objects.filter(course=course).count() == 1


@pytest.mark.django_db
def test_a_low_score_holds_the_course_only_below_the_setting(settings: Any) -> None:
    course = written_course(weeks=4, lessons_per_week=2)
    settings.QUALITY_HOLD_SCORE_BELOW = 10
    report.report_compute(course_id=course.pk)
    assert not Course.objects.get(pk=course.pk).held_for_review

    settings.QUALITY_HOLD_SCORE_BELOW = 100
    report.report_compute(course_id=course.pk)
    assert Course.objects.get(pk=course.pk).held_for_review


@pytest.mark.parametrize(
    ("question", "flaws"),
    [
        ({"question": "Which is right?", "options": ["Rome", "Athens", "Sparta"], "answer": 0}, []),
        (
            {"question": "Which is right?", "options": ["Rome", "Athens", "All of the above"], "answer": 0},
            ["all_or_none"],
        ),
        (
            {
                "question": "Which is right?",
                "options": ["Rome", "Athens", "The city of Rome on seven hills"],
                "answer": 2,
            },
            ["longest_correct", "overlapping_options"],
        ),
        (
            {
                "question": "Which is NOT a Roman road?",
                "options": ["Via Appia", "Via Flaminia", "Hadrian's Wall"],
                "answer": 2,
            },
            ["negative_stem"],
        ),
        (
            {
                "question": "Which is right?",
                "options": ["Gravity moves water", "Water moves by gravity", "Pumps"],
                "answer": 0,
            },
            ["overlapping_options"],
        ),
    ],
)
def test_item_writing_rules_find_the_classic_flaws(question: dict[str, Any], flaws: list[str]) -> None:
    assert quizzes.question_flaws(question) == flaws


def test_right_answers_bunched_in_one_position_are_a_bias() -> None:
    assert quizzes.position_bias([0, 1, 2, 3, 0, 1, 2, 3]) is None
    assert quizzes.position_bias([1, 1, 1, 1, 1, 0, 2, 3]) == {"position": 2, "share": 0.62, "questions": 8}


@pytest.mark.django_db
def test_flawed_questions_and_position_bias_lower_the_quiz_part() -> None:
    course = written_course(weeks=4, lessons_per_week=2)
    plain = {"question": "Which city?", "options": ["Rome", "Athens", "Sparta", "Corinth"], "answer": 0}
    Quiz.objects.filter(course=course).update(questions=[plain] * 4)
    quiz = Quiz.objects.get(course=course, week__number=1)
    quiz.questions[0] = {**plain, "options": ["Rome", "Athens", "Sparta", "None of the above"]}
    quiz.save(update_fields=["questions"])

    quality = report.report_compute(course_id=course.pk)

    questions = quality.findings["questions"]
    assert [(flaw["week"], flaw["question"], flaw["code"]) for flaw in questions["flaws"]] == [
        (1, 1, "all_or_none")
    ]
    assert questions["position_bias"] == {
        "position": 1,
        "share": 1.0,
        "questions": 16,
    }  # the factory's all "0"
    assert quality.parts["quizzes"] == round(100 * (16 - 1 - 4) / 16)


@pytest.mark.django_db
def test_the_queue_sorts_courses_by_quality_and_the_course_page_shows_the_report(client: Any) -> None:
    weak, strong = written_course(weeks=4, lessons_per_week=2), written_course(weeks=4, lessons_per_week=2)
    QualityReport.objects.create(course=weak, score=41, parts={"grounding": 0, "length": 82, "flags": 100})
    report.report_compute(course_id=strong.pk)
    QualityReport.objects.filter(course=strong).update(score=93)
    client.force_login(moderator())
    changelist = reverse("admin:courses_course_changelist")

    worst_first = client.get(changelist, {"queue": "all", "o": "5"}).content.decode()
    best_first = client.get(changelist, {"queue": "all", "o": "-5"}).content.decode()

    assert worst_first.index(str(weak)) < worst_first.index(str(strong))
    assert best_first.index(str(strong)) < best_first.index(str(weak))
    assert "<strong>41</strong><br><small>Quiz answers supported by a lesson: 0</small>" in worst_first
    page = client.get(reverse("admin:courses_course_change", args=[strong.pk])).content.decode()
    assert "Questions without a supporting passage" in page
    assert report.JUDGE_MISSING in page


@pytest.mark.django_db
def test_the_learner_course_page_summarises_only_what_was_measured(client: Any, settings: Any) -> None:
    course = written_course(weeks=4, lessons_per_week=2, review_state=Course.Review.APPROVED)
    settings.QUALITY_LOOKUPS = False

    report.report_compute(course_id=course.pk)
    html = client.get(course.get_absolute_url()).content.decode()

    assert "About this course&#x27;s quality" in html or "About this course's quality" in html
    assert "0 of 16 quiz answers point to the lesson passage that teaches them." in html
    assert report.SUMMARY_READINGS_UNCHECKED in html
    assert "found in library catalogues" not in html
    assert "links" not in html.split("About this course")[1].split("</details>")[0]


@pytest.mark.django_db
def test_a_lesson_link_to_a_download_and_a_reading_that_is_a_binary_file_are_shown_in_the_report(
    client: Any, libraries: FakeLibraries, settings: Any
) -> None:
    settings.OPENAI_API_KEY = "test"  # not offline: the outside checks run (no LLM is called here)
    libraries.pages.update(
        {
            "/pages/museum": 200,
            "/pages/setup.exe": (200, {"Content-Type": "application/x-msdownload"}),
            "/pages/reading": (
                200,
                {"Content-Type": "application/octet-stream", "Content-Disposition": "attachment"},
            ),
        }
    )
    museum, download, reading = (
        f"{libraries.base_url}/pages/{name}" for name in ("museum", "setup.exe", "reading")
    )
    course = written_course(weeks=1, lessons_per_week=1, review_state=Course.Review.APPROVED)
    Lesson.objects.filter(course=course).update(
        body=f"See [the museum]({museum}) and [the simulator]({download}).\n\n{PARAGRAPH}\n"
    )
    Week.objects.filter(course=course).update(
        reading_list=[{"title": "Waters of Rome", "author": "A. Author", "url": reading, "note": ""}]
    )

    sources.course_sources_check(course_id=course.pk)

    found = QualityReport.objects.get(course=course).findings["links"]
    assert (found["checked"], found["dead"]) == (3, [])
    assert found["not_pages"] == [
        {
            "url": download,
            "content_type": "application/x-msdownload",
            "detail": lookups.NOT_A_PAGE.format(content_type="application/x-msdownload"),
        },
        {
            "url": reading,
            "content_type": "application/octet-stream",
            "detail": lookups.A_DOWNLOAD.format(content_type="application/octet-stream"),
        },
    ]
    assert QualityReport.objects.get(course=course).parts["links"] == 33
    client.force_login(moderator())
    admin_page = client.get(reverse("admin:courses_course_change", args=[course.pk])).content.decode()
    assert f"Not a page: {download} (not a page but a file of type application/x-msdownload)" in admin_page
    learner_page = client.get(course.get_absolute_url()).content.decode()
    assert report.SUMMARY_LINKS_NOT_PAGES.format(count=2, checked=3) in learner_page
    assert report.SUMMARY_LINKS_OK not in learner_page


def _lesson_edit(course: Course) -> None:
    lesson = first_lesson(course)
    editing.part_edit(part=lesson, changes={"body": lesson.body + "\n\n" + PARAGRAPH}, actor=moderator())


def _quiz_edit(course: Course) -> None:
    quiz = Quiz.objects.filter(course=course).first()
    assert quiz is not None
    editing.part_edit(part=quiz, changes={"questions": quiz_questions(1, count=3)}, actor=moderator())


def _week_edit(course: Course) -> None:
    week = Week.objects.filter(course=course).first()
    assert week is not None
    editing.part_edit(part=week, changes={"title": "Water on the move"}, actor=moderator())


def _restore(course: Course) -> None:
    _week_edit(course)
    revision = PartRevision.objects.get(course=course)
    editing.revision_restore(revision=revision, actor=moderator())


def _picture_removal(course: Course) -> None:
    pictures.lesson_picture_remove(picture=lesson_picture(first_lesson(course)), actor=moderator())


def _lesson_regeneration(course: Course) -> None:
    regeneration.part_regenerate_request(part=first_lesson(course), actor=moderator())


def _week_regeneration(course: Course) -> None:
    week = Week.objects.filter(course=course).first()
    assert week is not None
    regeneration.part_regenerate_request(part=week, actor=moderator())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "edit",
    [
        _lesson_edit,
        _quiz_edit,
        _week_edit,
        _restore,
        _picture_removal,
        _lesson_regeneration,
        _week_regeneration,
    ],
)
def test_every_kind_of_edit_measures_the_course_again(
    edit: Any, django_capture_on_commit_callbacks: Any, request: Any
) -> None:
    if "regeneration" in edit.__name__:
        request.getfixturevalue("fake_openai")
    course = written_course(weeks=1, lessons_per_week=2)
    report.report_compute(course_id=course.pk)
    before = QualityReport.objects.get(course=course).computed_at

    with django_capture_on_commit_callbacks(execute=True):
        edit(course)

    course.refresh_from_db()
    quality = QualityReport.objects.get(course=course)
    assert course.content_version > 1
    assert quality.content_version == course.content_version
    assert quality.computed_at > before


@pytest.mark.django_db(transaction=True)  # tasks run as each transaction commits, as a worker would take them
def test_a_requesters_edit_that_screening_flags_is_counted_in_the_report(offline: None) -> None:
    requester = UserFactory()
    course = written_course(weeks=1, lessons_per_week=1, requested_by=requester)
    lesson = first_lesson(course)

    # The edit is stored (and measured) first; screening flags it just after.
    editing.part_edit(
        part=lesson, changes={"body": lesson.body + "\nAs an AI language model, I agree.\n"}, actor=requester
    )

    quality = QualityReport.objects.get(course=course)
    open_flags = ContentFlag.objects.filter(course=course, resolved_at__isnull=True).count()
    assert open_flags >= 1
    assert quality.findings["flags"] == open_flags
    assert quality.parts["flags"] == max(0, 100 - report.FLAG_PENALTY * open_flags)


@pytest.mark.django_db
@pytest.mark.parametrize("step", [review.course_approve, review.course_release])
def test_resolving_the_flags_measures_the_course_again(
    step: Any, offline: None, django_capture_on_commit_callbacks: Any
) -> None:
    course = written_course(weeks=1, lessons_per_week=1, held_for_review=True)
    ContentFlag.objects.create(course=course, part_kind="outline", code="chatter", detail="Chatter.")
    report.report_compute(course_id=course.pk)
    assert QualityReport.objects.get(course=course).findings["flags"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        step(course=course, actor=moderator())

    quality = QualityReport.objects.get(course=course)
    assert (quality.findings["flags"], quality.parts["flags"]) == (0, 100)
