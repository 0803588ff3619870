from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import User
from courses import visibility
from courses.generation.request import QUOTA_SPENT_ANONYMOUS, QUOTA_SPENT_LEARNER
from courses.models import Course
from courses.reading.forms import (
    LANGUAGE_UNKNOWN,
    TOPIC_CONTROL_CHARACTERS,
    TOPIC_EMPTY,
    TOPIC_TOO_LONG,
    WEEKS_NOT_A_NUMBER,
    WEEKS_OUT_OF_RANGE,
)
from tests.factories import CourseFactory, UserFactory, written_course

pytestmark = pytest.mark.django_db

REQUEST_URL = reverse("courses:request")


def ask(client: Client, topic: str = "Roman aqueducts", **fields: Any) -> Any:
    data = {"topic": topic, "language": "en", "weeks": "13", **fields}
    return client.post(REQUEST_URL, data, REMOTE_ADDR=fields.pop("ip", "198.51.100.7"))


def test_the_home_page_asks_one_clear_question_with_optional_language_and_length(client: Client) -> None:
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "What are you curious about?" in html
    assert '<label for="id_topic"' in html
    assert '<option value="fr">Français</option>' in html
    assert '<option value="13" selected>13 weeks</option>' in html
    assert f'<option value="{settings.COURSE_WEEKS_MIN}">' in html
    assert 'role="search"' in html


def test_the_home_page_shows_featured_and_recent_public_courses_only(client: Client) -> None:
    written_course(weeks=1, title="Featured volcanoes", review_state=Course.Review.APPROVED, featured=True)
    written_course(weeks=1, title="Recent knots", review_state=Course.Review.APPROVED)
    written_course(weeks=1, title="Private bees")  # pending review: private to its requester
    CourseFactory(title="Unfinished moss", review_state=Course.Review.APPROVED, status=Course.Status.WRITING)
    response = client.get("/")
    assert [course.title for course in response.context["featured"]] == ["Featured volcanoes"]
    assert [course.title for course in response.context["recent"]] == ["Recent knots"]
    html = response.content.decode()
    assert "Private bees" not in html
    assert "Unfinished moss" not in html


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"topic": ""}, "topic", TOPIC_EMPTY),
        ({"topic": "   "}, "topic", TOPIC_EMPTY),
        ({"topic": "x" * 201}, "topic", TOPIC_TOO_LONG),
        ({"topic": "jazz\x00history"}, "topic", TOPIC_CONTROL_CHARACTERS),
        ({"topic": "jazz \u202ehistory"}, "topic", TOPIC_CONTROL_CHARACTERS),
        ({"language": "xx"}, "language", LANGUAGE_UNKNOWN),
        ({"weeks": "3"}, "weeks", WEEKS_OUT_OF_RANGE),
        ({"weeks": "14"}, "weeks", WEEKS_OUT_OF_RANGE),
        ({"weeks": "many"}, "weeks", WEEKS_NOT_A_NUMBER),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(
    client: Client, fields: dict[str, str], field: str, message: str
) -> None:
    response = ask(client, **{"topic": "Roman aqueducts", **fields})
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Course.objects.exists()


def test_a_topic_of_exactly_200_characters_is_accepted(client: Client) -> None:
    assert ask(client, topic="y" * 200).status_code == 302


def test_a_request_creates_a_private_course_and_shows_it_being_written(client: Client) -> None:
    response = ask(client, topic="  The   history of jazz ", weeks="6", language="fr")
    course = Course.objects.get()
    assert response["Location"] == reverse("courses:writing", args=[course.id])
    assert (course.topic, course.weeks_count, course.language) == ("The history of jazz", 6, "fr")
    assert course.requester_ip == "198.51.100.7"
    assert course.requested_by is None
    assert not visibility.course_is_public(course)
    assert str(course.id) in client.session["semester_requested_courses"]


def test_the_offline_generator_writes_the_requested_course_to_ready(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ask(client, topic="Sourdough baking", weeks="4")
    course = Course.objects.get()
    assert course.status == Course.Status.READY
    assert course.is_offline
    response = client.get(reverse("courses:writing", args=[course.id]))
    assert response["Location"] == course.get_absolute_url()


def test_a_signed_in_learner_is_recorded_as_the_requester(client: Client) -> None:
    learner = UserFactory()
    client.force_login(learner)
    ask(client)
    assert Course.objects.get().requested_by == learner


def test_an_approved_course_on_the_same_topic_is_offered_at_once_with_a_way_to_ask_for_a_fresh_one(
    client: Client,
) -> None:
    existing = written_course(
        weeks=13, topic="Roman aqueducts", topic_key="roman aqueducts", review_state=Course.Review.APPROVED
    )
    response = ask(client, topic="ROMAN aqueducts!")
    assert response["Location"] == f"{existing.get_absolute_url()}?reused=1"
    assert Course.objects.count() == 1
    html = client.get(response["Location"]).content.decode()
    assert "Write me a fresh one instead" in html
    assert 'name="fresh" value="on"' in html
    fresh = ask(client, topic="Roman aqueducts", fresh="on")
    assert Course.objects.count() == 2
    new = Course.objects.exclude(id=existing.id).get()
    assert fresh["Location"] == reverse("courses:writing", args=[new.id])


def test_anonymous_visitors_get_a_few_new_courses_per_ip_address_per_day(client: Client) -> None:
    for n in range(settings.COURSE_QUOTA_PER_IP):
        assert ask(client, topic=f"Topic {n}").status_code == 302
    response = ask(client, topic="One too many")
    assert response.status_code == 429
    assert QUOTA_SPENT_ANONYMOUS.format(limit=settings.COURSE_QUOTA_PER_IP) in response.content.decode()
    assert Course.objects.count() == settings.COURSE_QUOTA_PER_IP
    assert ask(client, topic="From elsewhere", ip="198.51.100.8").status_code == 302


def test_a_reused_course_costs_nothing_and_is_offered_even_when_the_quota_is_spent(client: Client) -> None:
    written_course(weeks=13, topic="Knots", topic_key="knots", review_state=Course.Review.APPROVED)
    for _ in range(settings.COURSE_QUOTA_PER_IP + 2):
        assert "reused=1" in ask(client, topic="Knots")["Location"]
    for n in range(settings.COURSE_QUOTA_PER_IP):
        assert ask(client, topic=f"Topic {n}").status_code == 302
    assert "reused=1" in ask(client, topic="knots")["Location"]
    assert ask(client, topic="knots", fresh="on").status_code == 429


def test_signed_in_learners_get_their_own_larger_quota(client: Client, settings: Any) -> None:
    settings.COURSE_QUOTA_PER_USER = 5
    client.force_login(UserFactory())
    for n in range(5):
        assert ask(client, topic=f"Topic {n}", ip=f"198.51.100.{n}").status_code == 302
    response = ask(client, topic="Sixth")
    assert response.status_code == 429
    assert QUOTA_SPENT_LEARNER.format(limit=5) in response.content.decode()


def test_staff_have_no_quota(client: Client, settings: Any) -> None:
    settings.COURSE_QUOTA_PER_USER = 1
    client.force_login(User.objects.create_user("staff@example.com", is_staff=True))
    for n in range(3):
        assert ask(client, topic=f"Topic {n}").status_code == 302


def test_the_home_page_says_how_many_new_courses_are_left_today(client: Client) -> None:
    ask(client)
    html = client.get("/", REMOTE_ADDR="198.51.100.7").content.decode()
    assert f"You can ask for {settings.COURSE_QUOTA_PER_IP - 1} more new courses today." in html


def test_asking_for_a_course_needs_a_post(client: Client) -> None:
    assert client.get(REQUEST_URL).status_code == 405
