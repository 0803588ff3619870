from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from courses.models import Course, Lesson, LessonPicture, PartStatus, Quiz, TutorConversation, TutorMessage
from delivery.learning.progress import lesson_mark_done, quiz_attempt_record
from delivery.learning.views import (
    LESSON_MARKED_DONE,
    LESSON_MARKED_DONE_VISITOR,
    QUESTION_UNANSWERED,
    QUIZ_UNANSWERED,
)
from delivery.models import Enrollment, LessonCompletion, QuizAttempt
from tests.factories import CourseFactory, UserFactory, lesson_picture, moderator, written_course

pytestmark = pytest.mark.django_db


@pytest.fixture
def course() -> Course:
    return written_course(weeks=3, lessons_per_week=2)


def lessons_of(course: Course) -> list[Lesson]:
    return list(Lesson.objects.filter(course=course).order_by("week__number", "number"))


def test_the_course_page_lists_every_week_and_lesson_with_downloads_and_the_subscribe_form(
    client: Client, course: Course
) -> None:
    response = client.get(course.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    for lesson in lessons_of(course):
        assert lesson.title in html
        assert reverse("delivery:lesson", args=[course.id, lesson.id]) in html
    assert "Week 3 of" in html
    assert "Start learning" in html
    assert reverse("delivery:subscribe", args=[course.id]) in html  # the subscribe form
    assert reverse("courses:export_pdf", args=[course.id]) in html
    assert reverse("courses:export_markdown", args=[course.id]) in html
    assert reverse("delivery:quiz", args=[course.id, 1]) in html
    assert "{#" not in html  # no template comment leaks onto the page


def test_the_course_page_says_plainly_when_a_course_was_written_offline(
    client: Client, course: Course
) -> None:
    html = client.get(course.get_absolute_url()).content.decode()
    assert "offline generator" in html


def test_the_course_page_shows_the_learners_progress_and_where_to_continue(
    client: Client, course: Course
) -> None:
    learner = UserFactory()
    first, second, third = lessons_of(course)[:3]
    lesson_mark_done(user=learner, lesson=first)
    lesson_mark_done(user=learner, lesson=second)
    quiz = Quiz.objects.get(course=course, week__number=1)
    quiz_attempt_record(user=learner, quiz=quiz, answers={0: 0, 1: 0, 2: 1, 3: 1})
    client.force_login(learner)
    response = client.get(course.get_absolute_url())
    html = response.content.decode()
    assert "Continue where you left off" in html
    assert reverse("delivery:lesson", args=[course.id, third.id]) in html
    assert "2 of 6" in html
    assert "2/2 done · quiz best 2/4" in html
    outline = response.context["outline"]
    assert [week.lessons_done for week in outline.weeks] == [2, 0, 0]
    assert outline.next_lesson is not None
    assert outline.next_lesson.id == third.id


def test_the_course_page_opens_with_outcomes_and_a_time_estimate_and_folds_all_weeks_but_the_current(
    client: Client, course: Course
) -> None:
    learner = UserFactory()
    for lesson in lessons_of(course)[:2]:  # week 1 done: week 2 is the current one
        lesson_mark_done(user=learner, lesson=lesson)
    client.force_login(learner)

    html = client.get(course.get_absolute_url()).content.decode()

    assert "What you will learn" in html
    assert "<li>Understand idea 1.1</li>" in html
    assert re.search(r"A 3-week course · about \d+ hours? in all", html)
    assert html.count("<details") == 3
    assert html.count("<details open>") == 1
    week_two = html.split('id="week-2"', 1)[1]
    assert week_two.lstrip(">\n ").startswith("<details open>")
    assert re.search(r"2 lessons and a quiz · about \d+ min", html)
    assert html.index("Continue where you left off") < html.index("What you will learn")


def test_a_new_reader_has_week_one_open(client: Client, course: Course) -> None:
    html = client.get(course.get_absolute_url()).content.decode()
    assert html.split('id="week-1"', 1)[1].lstrip(">\n ").startswith("<details open>")
    assert html.count("<details open>") == 1


def test_a_lesson_shows_its_reading_time_and_its_weeks_lessons_beside_it(
    client: Client, course: Course
) -> None:
    learner = UserFactory()
    first, second = lessons_of(course)[:2]
    lesson_mark_done(user=learner, lesson=first)
    client.force_login(learner)

    html = client.get(reverse("delivery:lesson", args=[course.id, second.id])).content.decode()

    aside = html.split('<aside class="week-lessons"', 1)[1].split("</aside>", 1)[0]
    assert "Week 1:" in aside
    assert f'<span aria-current="page">{second.title}</span>' in aside
    assert reverse("delivery:lesson", args=[course.id, first.id]) in aside
    assert 'aria-label="done"' in aside
    assert lessons_of(course)[2].title not in aside  # week 2's lessons are not listed
    assert "min read" in html


def test_mark_done_and_continue_on_a_weeks_last_lesson_goes_to_its_quiz(
    client: Client, course: Course
) -> None:
    client.force_login(UserFactory())
    last_of_week_one = lessons_of(course)[1]
    url = reverse("delivery:lesson_done", args=[course.id, last_of_week_one.id])
    page = client.get(reverse("delivery:lesson", args=[course.id, last_of_week_one.id])).content.decode()
    assert "Mark as done and continue to the quiz" in page
    response = client.post(url, {"done": "1", "then": "next"})
    assert response["Location"] == reverse("delivery:quiz", args=[course.id, 1])


def test_mark_done_and_continue_skips_a_quiz_not_written_yet(client: Client, course: Course) -> None:
    Quiz.objects.filter(course=course, week__number=1).update(status=PartStatus.FAILED)
    Course.objects.filter(id=course.id).update(content_version=course.content_version + 1)
    client.force_login(UserFactory())
    first_of_week_two = lessons_of(course)[2]
    response = client.post(
        reverse("delivery:lesson_done", args=[course.id, lessons_of(course)[1].id]),
        {"done": "1", "then": "next"},
    )
    assert response["Location"] == reverse("delivery:lesson", args=[course.id, first_of_week_two.id])


def test_quiz_results_link_wrong_answers_to_their_lesson_and_offer_the_next_week(
    client: Client, course: Course
) -> None:
    learner = UserFactory()
    client.force_login(learner)
    response = client.post(quiz_url(course), {"q0": "0", "q1": "0", "q2": "0", "q3": "1"}, follow=True)
    html = response.content.decode()
    assert html.count("Read again:") == 1  # only the wrong answer
    assert reverse("delivery:lesson", args=[course.id, lessons_of(course)[0].id]) in html
    first_of_week_two = lessons_of(course)[2]
    start = html.split("Start week 2", 1)[0].rsplit("<a", 1)[1]
    assert reverse("delivery:lesson", args=[course.id, first_of_week_two.id]) in start


def test_the_last_weeks_quiz_offers_no_next_week(client: Client, course: Course) -> None:
    client.force_login(UserFactory())
    html = client.post(quiz_url(course, 3), {"q0": "0", "q1": "0", "q2": "0", "q3": "0"}, follow=True)
    assert "Start week" not in html.content.decode()


def test_a_course_still_being_written_sends_readers_to_its_progress_page(client: Client) -> None:
    course = CourseFactory(status=Course.Status.WRITING)
    response = client.get(course.get_absolute_url())
    assert response.status_code == 302
    assert response["Location"] == reverse("courses:writing", args=[course.id])


def test_a_rejected_course_is_gone_for_everyone_but_its_requester(client: Client) -> None:
    requester = UserFactory()
    course = written_course(weeks=1, requested_by=requester, review_state=Course.Review.REJECTED)
    assert client.get(course.get_absolute_url()).status_code == 404
    client.force_login(requester)
    assert client.get(course.get_absolute_url()).status_code == 200


def test_an_unknown_course_is_not_found(client: Client) -> None:
    assert client.get("/courses/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_the_course_page_runs_a_constant_number_of_queries_for_13_weeks_of_4_lessons(
    client: Client, django_assert_num_queries: object
) -> None:
    course = written_course(weeks=13, lessons_per_week=4)
    learner = UserFactory()
    for lesson in lessons_of(course)[:10]:
        lesson_mark_done(user=learner, lesson=lesson)
    client.force_login(learner)
    # user, course, the course's structure (weeks, quizzes, lessons), its quality summary, the learner's
    # progress (lessons done and quiz scores in one UNION); the session comes from the cache
    with django_assert_num_queries(5):  # type: ignore[operator]
        response = client.get(course.get_absolute_url())
    assert response.status_code == 200
    assert response.content.decode().count('class="done"') == 10
    # The structure of a ready course is then cached: one query fewer for every later visit.
    with django_assert_num_queries(3):  # type: ignore[operator]
        assert client.get(course.get_absolute_url()).content.decode().count('class="done"') == 10


def test_the_course_page_needs_one_query_for_an_anonymous_reader_once_its_structure_is_cached(
    client: Client, django_assert_num_queries: object
) -> None:
    course = written_course(weeks=13, lessons_per_week=4)
    with django_assert_num_queries(3):  # type: ignore[operator]  # course, structure, quality summary
        assert client.get(course.get_absolute_url()).status_code == 200
    with django_assert_num_queries(1):  # type: ignore[operator]
        assert client.get(course.get_absolute_url()).status_code == 200


def test_a_change_to_the_courses_text_shows_at_once(client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    client.get(course.get_absolute_url())
    Lesson.objects.filter(course=course).update(title="A better title")
    Course.objects.filter(id=course.id).update(content_version=2)
    assert "A better title" in client.get(course.get_absolute_url()).content.decode()


def test_the_body_kept_for_anonymous_readers_follows_review_changes_and_is_never_shown_to_learners(
    client: Client,
) -> None:
    course = written_course(weeks=1, lessons_per_week=1, review_state=Course.Review.APPROVED)
    assert "Featured" not in client.get(course.get_absolute_url()).content.decode()
    Course.objects.filter(id=course.id).update(featured=True)
    assert "Featured" in client.get(course.get_absolute_url()).content.decode()
    learner = UserFactory()
    lesson_mark_done(user=learner, lesson=lessons_of(course)[0])
    client.force_login(learner)
    assert "1 of 1</strong> lessons done" in client.get(course.get_absolute_url()).content.decode()


def csrf_field(html: str) -> str:
    return html.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]


def test_a_kept_course_page_gives_every_visitor_their_own_csrf_token_and_their_subscription_works() -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first_html = first.get(course.get_absolute_url()).content.decode()  # fills the kept page
    second_html = second.get(course.get_absolute_url()).content.decode()  # served from it
    assert "csrf-token-slot" not in first_html + second_html
    assert csrf_field(first_html) != csrf_field(second_html)
    form = {"email": "reader@example.com", "weekday": "0", "send_time": "08:00", "timezone": "UTC"}
    response = second.post(
        reverse("delivery:subscribe", args=[course.id]),
        {**form, "csrfmiddlewaretoken": csrf_field(second_html)},
    )
    assert response.status_code == 302  # to "check your inbox": the token in the kept page was this visitor's


def test_a_signed_in_learners_kept_page_follows_their_progress_and_is_theirs_alone(client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=2)
    learner, other = UserFactory(email="ada@example.com"), UserFactory(email="grace@example.com")
    client.force_login(learner)
    assert "0 of 2</strong> lessons done" in client.get(course.get_absolute_url()).content.decode()
    client.force_login(other)  # the same progress as the learner (none), but their own header
    html = client.get(course.get_absolute_url()).content.decode()
    assert "grace@example.com" in html
    assert "ada@example.com" not in html
    client.force_login(learner)
    lesson_mark_done(user=learner, lesson=lessons_of(course)[0])
    assert "1 of 2</strong> lessons done" in client.get(course.get_absolute_url()).content.decode()


def test_a_page_kept_while_offline_is_not_shown_once_an_llm_is_configured(
    client: Client, settings: Any
) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    settings.OPENAI_API_KEY = ""
    assert "Offline mode" in client.get(course.get_absolute_url()).content.decode()
    settings.OPENAI_API_KEY = "sk-configured"
    assert "Offline mode" not in client.get(course.get_absolute_url()).content.decode()


def test_only_anonymous_pages_are_shared_through_redis_a_learners_own_stay_in_their_process(
    client: Client,
) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    redis = caches["default"]._cache.get_client()  # type: ignore[attr-defined]

    def kept_in_redis() -> int:
        return len(redis.keys("*course-page*"))

    client.get(course.get_absolute_url())
    assert kept_in_redis() == 1
    client.force_login(UserFactory())
    assert "0 of 1</strong> lessons done" in client.get(course.get_absolute_url()).content.decode()
    assert kept_in_redis() == 1
    assert "0 of 1</strong> lessons done" in client.get(course.get_absolute_url()).content.decode()  # kept


def test_a_message_on_the_course_page_shows_once_and_is_not_kept_for_the_next_visitor(client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    learner = UserFactory()
    client.force_login(learner)
    lesson = lessons_of(course)[0]
    client.post(reverse("delivery:lesson_done", args=[course.id, lesson.id]))  # queues "marked as done"
    assert LESSON_MARKED_DONE in client.get(course.get_absolute_url()).content.decode()
    assert LESSON_MARKED_DONE not in client.get(course.get_absolute_url()).content.decode()


def test_a_lesson_page_shows_the_sanitized_lesson_with_navigation_across_weeks(
    client: Client, course: Course
) -> None:
    lessons = lessons_of(course)
    last_of_week_one, first_of_week_two = lessons[1], lessons[2]
    Lesson.objects.filter(id=last_of_week_one.id).update(body_html="<p>Hello <strong>there</strong></p>")
    response = client.get(reverse("delivery:lesson", args=[course.id, last_of_week_one.id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hello <strong>there</strong>" in html
    assert reverse("delivery:lesson", args=[course.id, lessons[0].id]) in html
    assert reverse("delivery:lesson", args=[course.id, first_of_week_two.id]) in html
    assert "Lesson 2 of 6" in html
    assert "take the week 1 quiz" in html
    assert "Your progress is kept in this browser" in html


def test_a_lesson_of_another_course_is_not_found(client: Client, course: Course) -> None:
    other = written_course(weeks=1, lessons_per_week=1)
    lesson = lessons_of(other)[0]
    assert client.get(reverse("delivery:lesson", args=[course.id, lesson.id])).status_code == 404


def test_reading_a_lesson_enrolls_the_signed_in_learner(client: Client, course: Course) -> None:
    learner = UserFactory()
    client.force_login(learner)
    client.get(reverse("delivery:lesson", args=[course.id, lessons_of(course)[0].id]))
    assert Enrollment.objects.filter(user=learner, course=course).exists()


@pytest.mark.parametrize("weeks", [2, 13])
def test_a_lesson_page_runs_a_constant_number_of_queries_whatever_the_courses_size(
    client: Client, django_assert_num_queries: object, weeks: int
) -> None:
    course = written_course(weeks=weeks, lessons_per_week=4)
    learner = UserFactory()
    lesson = lessons_of(course)[5]
    client.force_login(learner)
    client.get(reverse("delivery:lesson", args=[course.id, lesson.id]))  # enrolls, caches the structure
    Client().get(reverse("delivery:lesson", args=[course.id, lesson.id]))  # keeps the anonymous page
    # user, course, and one query for the reader's marks, tutor questions and the lesson's picture; the
    # session, the structure and the finished page from the cache; the enrollment's activity is written at
    # most every five minutes
    with django_assert_num_queries(3):  # type: ignore[operator]
        assert client.get(reverse("delivery:lesson", args=[course.id, lesson.id])).status_code == 200
    with django_assert_num_queries(2):  # type: ignore[operator]  # course; the picture
        assert Client().get(reverse("delivery:lesson", args=[course.id, lesson.id])).status_code == 200


@pytest.mark.parametrize("weeks", [2, 13])
def test_the_quiz_results_run_a_constant_number_of_queries_whatever_the_courses_size(
    client: Client, django_assert_num_queries: object, weeks: int
) -> None:
    course = written_course(weeks=weeks, lessons_per_week=4)
    learner = UserFactory()
    client.force_login(learner)
    client.post(quiz_url(course), {"q0": "0", "q1": "1", "q2": "0", "q3": "0"})
    # user, quiz (with course and week), the learner's latest attempt, the week's lessons for the review links,
    # the course's structure for "Start week N+1" (then cached)
    with django_assert_num_queries(5):  # type: ignore[operator]
        assert "You scored 3 out of 4" in client.get(quiz_url(course)).content.decode()


def signed_in_at_first_lesson(client: Client, course: Course) -> tuple[User, Lesson, str]:
    """A learner signed in on `client`, the course's first lesson and its page's address."""
    learner = UserFactory()
    lesson = lessons_of(course)[0]
    client.force_login(learner)
    return learner, lesson, reverse("delivery:lesson", args=[course.id, lesson.id])


def test_a_kept_lesson_page_follows_the_readers_marks_and_the_lessons_text(
    client: Client, course: Course
) -> None:
    learner, lesson, url = signed_in_at_first_lesson(client, course)
    assert "Mark as done" in client.get(url).content.decode()
    lesson_mark_done(user=learner, lesson=lesson)
    assert "You marked this lesson as done" in client.get(url).content.decode()
    Lesson.objects.filter(id=lesson.id).update(body_html="<p>Rewritten by a moderator</p>")
    Course.objects.filter(id=course.id).update(content_version=course.content_version + 1)
    assert "Rewritten by a moderator" in client.get(url).content.decode()
    assert "Rewritten by a moderator" in Client().get(url).content.decode()
    assert "You marked this lesson as done" not in Client().get(url).content.decode()


def test_a_kept_lesson_page_shows_a_picture_found_later_and_the_learners_question_to_the_tutor(
    client: Client, course: Course
) -> None:
    learner, lesson, url = signed_in_at_first_lesson(client, course)
    client.get(url)
    Client().get(url)  # both pages kept
    picture = lesson_picture(
        lesson
    )  # pictures are found apart from the course's text: its version does not move
    assert picture.image_url in client.get(url).content.decode()
    assert picture.image_url in Client().get(url).content.decode()
    LessonPicture.objects.filter(id=picture.id).update(removed_at=timezone.now())
    assert picture.image_url not in client.get(url).content.decode()
    conversation = TutorConversation.objects.create(
        user=learner, course=course, week=lesson.week, lesson=lesson
    )
    TutorMessage.objects.create(conversation=conversation, question="Why did the aqueduct need arches?")
    assert "Why did the aqueduct need arches?" in client.get(url).content.decode()
    assert "Why did the aqueduct need arches?" not in Client().get(url).content.decode()


def test_a_kept_lesson_page_gives_each_visitor_their_own_csrf_token(course: Course) -> None:
    url = reverse("delivery:lesson", args=[course.id, lessons_of(course)[0].id])
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first.get(url)
    html = second.get(url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token is not None
    response = second.post(
        reverse("delivery:lesson_done", args=[course.id, lessons_of(course)[0].id]),
        {"done": "1", "csrfmiddlewaretoken": token[1]},
    )
    assert response.status_code == 302


def test_a_lesson_page_links_to_its_report_form_and_offers_no_editing_to_readers(
    client: Client, course: Course
) -> None:
    lesson = lessons_of(course)[0]
    url = reverse("delivery:lesson", args=[course.id, lesson.id])

    html = client.get(url).content.decode()

    assert f'href="{reverse("courses:lesson_report", args=[course.id, lesson.id])}"' in html
    assert "Report a problem with this lesson" in html
    assert reverse("courses:lesson_edit", args=[course.id, lesson.id]) not in html
    client.force_login(UserFactory())
    assert reverse("courses:lesson_edit", args=[course.id, lesson.id]) not in client.get(url).content.decode()


def test_the_requester_of_a_private_course_edits_or_regenerates_a_lesson_from_its_page(
    client: Client,
) -> None:
    requester = UserFactory()
    course = written_course(weeks=1, lessons_per_week=1, requested_by=requester)
    lesson = lessons_of(course)[0]
    url = reverse("delivery:lesson", args=[course.id, lesson.id])
    regenerate = reverse("courses:part_regenerate", args=[course.id, "lesson", lesson.id])
    client.force_login(requester)

    html = client.get(url).content.decode()

    assert f'href="{reverse("courses:lesson_edit", args=[course.id, lesson.id])}"' in html
    form = html[html.rindex("<form", 0, html.index(f'action="{regenerate}"')) :].split("</form>")[0]
    assert 'method="post"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    assert 'name="instruction"' in form
    Course.objects.filter(id=course.id).update(
        review_state=Course.Review.APPROVED
    )  # published: moderators only
    assert regenerate not in client.get(url).content.decode()
    client.force_login(moderator())
    assert regenerate in client.get(url).content.decode()


def test_marking_a_lesson_done_records_it_and_says_so(client: Client, course: Course) -> None:
    learner = UserFactory()
    lesson = lessons_of(course)[0]
    client.force_login(learner)
    response = client.post(
        reverse("delivery:lesson_done", args=[course.id, lesson.id]), {"done": "1"}, follow=True
    )
    assert LessonCompletion.objects.filter(user=learner, lesson=lesson).exists()
    html = response.content.decode()
    assert LESSON_MARKED_DONE in html
    assert "You marked this lesson as done" in html


def test_mark_done_and_continue_goes_to_the_next_lesson(client: Client, course: Course) -> None:
    client.force_login(UserFactory())
    first, second = lessons_of(course)[:2]
    response = client.post(
        reverse("delivery:lesson_done", args=[course.id, first.id]), {"done": "1", "then": "next"}
    )
    assert response["Location"] == reverse("delivery:lesson", args=[course.id, second.id])


def test_a_lesson_can_be_marked_not_done_again(client: Client, course: Course) -> None:
    learner = UserFactory()
    lesson = lessons_of(course)[0]
    lesson_mark_done(user=learner, lesson=lesson)
    client.force_login(learner)
    client.post(reverse("delivery:lesson_done", args=[course.id, lesson.id]), {"done": "0"})
    assert not LessonCompletion.objects.filter(user=learner, lesson=lesson).exists()


def test_an_anonymous_readers_lesson_done_is_kept_in_their_session_and_shown(
    client: Client, course: Course
) -> None:
    lesson = lessons_of(course)[0]
    response = client.post(
        reverse("delivery:lesson_done", args=[course.id, lesson.id]), {"done": "1"}, follow=True
    )
    html = response.content.decode()
    assert LESSON_MARKED_DONE_VISITOR in html
    assert "You marked this lesson as done" in html
    assert not LessonCompletion.objects.exists()
    course_html = client.get(course.get_absolute_url()).content.decode()
    assert "<strong>1 of 6</strong> lessons done" in course_html
    assert course_html.count('class="done"') == 1


def test_an_anonymous_readers_progress_is_not_shown_to_other_visitors(client: Client, course: Course) -> None:
    client.get(course.get_absolute_url())  # the shared anonymous page is kept
    client.post(reverse("delivery:lesson_done", args=[course.id, lessons_of(course)[0].id]), {"done": "1"})
    assert client.get(course.get_absolute_url()).content.decode().count('class="done"') == 1
    assert Client().get(course.get_absolute_url()).content.decode().count('class="done"') == 0


def test_marking_needs_a_post(client: Client, course: Course) -> None:
    client.force_login(UserFactory())
    lesson = lessons_of(course)[0]
    assert client.get(reverse("delivery:lesson_done", args=[course.id, lesson.id])).status_code == 405


def quiz_url(course: Course, week: int = 1) -> str:
    return reverse("delivery:quiz", args=[course.id, week])


def test_the_quiz_page_shows_every_question_as_a_labelled_group(client: Client, course: Course) -> None:
    html = client.get(quiz_url(course)).content.decode()
    assert html.count("<fieldset>") == 4
    assert "<legend>Week 1, question 1?</legend>" in html
    assert 'name="q3"' in html


def test_taking_a_quiz_stores_the_attempt_and_shows_the_score_with_explanations(
    client: Client, course: Course
) -> None:
    learner = UserFactory()
    client.force_login(learner)
    response = client.post(quiz_url(course), {"q0": "0", "q1": "0", "q2": "0", "q3": "2"})
    attempt = QuizAttempt.objects.get(user=learner)
    assert (attempt.score, attempt.total) == (3, 4)
    assert attempt.answers == {"0": 0, "1": 0, "2": 0, "3": 2}
    assert response["Location"] == f"{quiz_url(course)}?attempt={attempt.id}#results"
    html = client.get(response["Location"]).content.decode()
    assert "You scored 3 out of 4" in html
    assert "Because the lesson said so." in html
    assert "Not quite." in html


def test_a_quiz_with_an_unanswered_question_is_sent_back_with_the_answers_kept(
    client: Client, course: Course
) -> None:
    client.force_login(UserFactory())
    response = client.post(quiz_url(course), {"q0": "1", "q1": "0"})
    assert response.status_code == 400
    html = response.content.decode()
    assert QUIZ_UNANSWERED in html
    assert 'name="q0" value="1" required checked' in html
    assert not QuizAttempt.objects.exists()


def test_a_quiz_sent_back_marks_each_question_left_unanswered(client: Client, course: Course) -> None:
    client.force_login(UserFactory())

    html = client.post(quiz_url(course), {"q0": "1", "q1": "0"}).content.decode()

    assert html.count(QUESTION_UNANSWERED) == 2
    assert '<fieldset aria-describedby="q2_error">' in html
    assert f'<p class="field-error" id="q3_error">{QUESTION_UNANSWERED}</p>' in html
    assert 'id="q0_error"' not in html


def test_a_quiz_shown_for_the_first_time_marks_no_question(client: Client, course: Course) -> None:
    assert QUESTION_UNANSWERED not in client.get(quiz_url(course)).content.decode()


def test_a_quiz_answer_that_is_not_an_option_is_refused(client: Client, course: Course) -> None:
    client.force_login(UserFactory())
    response = client.post(quiz_url(course), {"q0": "9", "q1": "0", "q2": "0", "q3": "0"})
    assert response.status_code == 400
    assert not QuizAttempt.objects.exists()


@pytest.mark.parametrize("answer", ["²", "1" * 5000, "٣", "-1", " 1"])
def test_a_quiz_answer_that_is_not_a_plain_small_number_is_sent_back(
    client: Client, course: Course, answer: str
) -> None:
    client.force_login(UserFactory())
    response = client.post(quiz_url(course), {"q0": answer, "q1": "0", "q2": "0", "q3": "0"})
    assert response.status_code == 400
    assert not QuizAttempt.objects.exists()


@pytest.mark.parametrize("attempt", ["²", "9" * 5000, "x"])
def test_an_attempt_that_is_not_a_plain_number_shows_the_quiz_afresh(
    client: Client, course: Course, attempt: str
) -> None:
    client.force_login(UserFactory())
    response = client.get(f"{quiz_url(course)}?attempt={attempt}")
    assert response.status_code == 200
    assert "You scored" not in response.content.decode()


def test_an_anonymous_readers_score_is_kept_in_their_session_not_in_the_database(
    client: Client, course: Course
) -> None:
    response = client.post(quiz_url(course), {"q0": "0", "q1": "0", "q2": "0", "q3": "0"}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "You scored 4 out of 4" in html
    assert "Your score is kept in this browser" in html
    assert not QuizAttempt.objects.exists()
    assert "You scored 4 out of 4" in client.get(quiz_url(course)).content.decode()  # still there later
    assert 'name="q0"' in client.get(quiz_url(course) + "?retry=1").content.decode()


def test_a_learner_coming_back_to_a_quiz_sees_their_latest_result_and_may_try_again(
    client: Client, course: Course
) -> None:
    learner = UserFactory()
    quiz = Quiz.objects.get(course=course, week__number=1)
    quiz_attempt_record(user=learner, quiz=quiz, answers={0: 0, 1: 0, 2: 0, 3: 2})
    client.force_login(learner)
    html = client.get(quiz_url(course)).content.decode()
    assert "You scored 3 out of 4" in html
    assert f'{quiz_url(course)}?retry=1">Try again' in html


def test_another_learners_attempt_is_not_shown(client: Client, course: Course) -> None:
    quiz = Quiz.objects.get(course=course, week__number=1)
    attempt, _ = quiz_attempt_record(user=UserFactory(), quiz=quiz, answers={0: 0, 1: 0, 2: 0, 3: 0})
    client.force_login(UserFactory())
    html = client.get(f"{quiz_url(course)}?attempt={attempt.id}").content.decode()
    assert "You scored" not in html


def test_a_quiz_not_written_yet_says_so(client: Client, course: Course) -> None:
    Quiz.objects.filter(course=course, week__number=2).update(status=PartStatus.FAILED)
    html = client.get(quiz_url(course, 2)).content.decode()
    assert "has not been written yet" in html
    assert "<fieldset>" not in html


def test_a_week_without_a_quiz_is_not_found(client: Client, course: Course) -> None:
    assert client.get(quiz_url(course, 9)).status_code == 404


def test_my_learning_lists_the_learners_courses_with_their_progress(client: Client) -> None:
    learner = UserFactory()
    started = written_course(weeks=3, lessons_per_week=2, title="Birdsong")
    other = written_course(weeks=2, lessons_per_week=2, title="Knots")
    lessons = lessons_of(started)
    for lesson in lessons[:3]:
        lesson_mark_done(user=learner, lesson=lesson)
    quiz = Quiz.objects.get(course=started, week__number=1)
    quiz_attempt_record(user=learner, quiz=quiz, answers={0: 0, 1: 1, 2: 1, 3: 1})
    quiz_attempt_record(user=learner, quiz=quiz, answers={0: 0, 1: 0, 2: 0, 3: 1})
    lesson_mark_done(user=UserFactory(), lesson=lessons_of(other)[0])  # someone else's progress
    client.force_login(learner)
    response = client.get(reverse("delivery:my_learning"))
    rows = response.context["courses"]
    assert [row.course for row in rows] == [started]
    row = rows[0]
    assert (row.lessons_done, row.lessons_total, row.week_reached) == (3, 6, 2)
    assert (row.quizzes_taken, row.quiz_percent) == (1, 75)
    html = response.content.decode()
    assert "Birdsong" in html
    assert "Knots" not in html
    assert "3 of 6 (50%)" in html
    assert "Week 2 of 3" in html
    assert row.next_lesson_id == lessons[3].id
    continue_link = reverse("delivery:lesson", args=[started.id, lessons[3].id])
    assert f'href="{continue_link}">Continue where you left off' in html


def test_my_learning_continues_at_the_first_lesson_not_done_and_congratulates_at_the_end(
    client: Client,
) -> None:
    learner = UserFactory()
    course = written_course(weeks=2, lessons_per_week=2)
    lessons = lessons_of(course)
    for lesson in (lessons[0], lessons[2]):  # done out of order: the second lesson is where to continue
        lesson_mark_done(user=learner, lesson=lesson)
    client.force_login(learner)
    assert client.get(reverse("delivery:my_learning")).context["courses"][0].next_lesson_id == lessons[1].id
    for lesson in (lessons[1], lessons[3]):
        lesson_mark_done(user=learner, lesson=lesson)
    html = client.get(reverse("delivery:my_learning")).content.decode()
    assert "Every lesson done" in html
    assert "Continue where you left off" not in html


def test_my_learning_runs_a_constant_number_of_queries(
    client: Client, django_assert_num_queries: object
) -> None:
    learner = UserFactory()
    for _ in range(4):
        course = written_course(weeks=13, lessons_per_week=4, requested_by=learner)
        for lesson in lessons_of(course)[:5]:
            lesson_mark_done(user=learner, lesson=lesson)
        quiz_attempt_record(user=learner, quiz=course.quizzes.first(), answers={0: 0})  # type: ignore[arg-type]
    client.force_login(learner)
    # user, enrollments with counts, quiz attempts, courses asked for, tutor conversations, email subscriptions;
    # the session comes from the cache
    with django_assert_num_queries(6):  # type: ignore[operator]
        response = client.get(reverse("delivery:my_learning"))
    assert len(response.context["courses"]) == 4


def test_my_learning_lists_the_courses_the_learner_asked_for(client: Client) -> None:
    learner = UserFactory()
    CourseFactory(requested_by=learner, title="Volcanoes", status=Course.Status.WRITING)
    client.force_login(learner)
    html = client.get(reverse("delivery:my_learning")).content.decode()
    assert "Volcanoes" in html
    assert "Writing" in html


def test_my_learning_asks_anonymous_visitors_to_sign_in(client: Client) -> None:
    response = client.get(reverse("delivery:my_learning"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign_in"))


def test_a_lesson_can_be_reached_by_its_place_in_the_course(client: Client, course: Course) -> None:
    lesson = Lesson.objects.get(course=course, week__number=2, number=1)
    response = client.get(reverse("delivery:lesson_at", args=[course.id, 2, 1]))
    assert response["Location"] == reverse("delivery:lesson", args=[course.id, lesson.id])
    assert client.get(reverse("delivery:lesson_at", args=[course.id, 9, 1])).status_code == 404


def test_quiz_feedback_links_to_the_lesson_section_that_teaches_the_answer(
    client: Client, course: Course
) -> None:
    quiz = Quiz.objects.get(course=course, week__number=1)
    questions = quiz.questions
    questions[0].update(
        lesson=2, passage="A short paragraph.", section="Why it matters", anchor="s-why-it-matters"
    )
    Quiz.objects.filter(pk=quiz.pk).update(questions=questions)
    client.force_login(UserFactory())

    response = client.post(quiz_url(course), {"q0": "1", "q1": "0", "q2": "0", "q3": "0"})
    html = client.get(response["Location"]).content.decode()

    lesson_url = reverse("delivery:lesson_at", args=[course.id, 1, 2])
    assert f'Review: <a href="{lesson_url}#s-why-it-matters">lesson 2, section ‘Why it matters’</a>' in html
    assert html.count("Review:") == 1  # the other questions were written before quizzes quoted lessons
