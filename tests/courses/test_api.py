from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
import pytest
from django.conf import settings
from django.test import Client

from accounts.api import INVALID_TOKEN
from accounts.services import api_token_create
from courses.api import WEEK_NOT_FOUND
from courses.generation.request import QUOTA_SPENT_ANONYMOUS
from courses.models import Course, Lesson, PartStatus, Quiz
from courses.reading.forms import (
    LANGUAGE_UNKNOWN,
    TOPIC_CONTROL_CHARACTERS,
    TOPIC_EMPTY,
    TOPIC_TOO_LONG,
    WEEKS_OUT_OF_RANGE,
)
from courses.topics import TOPIC_BAD_CHARACTERS
from courses.visibility import API_COURSE_NOT_FOUND as COURSE_NOT_FOUND
from school.apitools import INVALID_JSON, NOT_JSON
from tests.factories import CourseFactory, UserFactory, written_course

pytestmark = pytest.mark.django_db


def post(client: Client, body: Any, token: str = "", raw: bool = False, ip: str = "198.51.100.20") -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if raw else json.dumps(body)
    return client.post("/api/courses", data, content_type="application/json", REMOTE_ADDR=ip, **headers)


def field_errors(response: Any) -> dict[str, str]:
    body = response.json()
    assert isinstance(body["detail"], str)
    return {error["field"]: error["message"] for error in body["errors"]}


def test_asking_for_a_course_answers_202_with_its_id_status_and_url(client: Client) -> None:
    response = post(client, {"topic": "Roman aqueducts", "language": "de", "weeks": 6})
    assert response.status_code == 202
    body = response.json()
    course = Course.objects.get()
    assert body["id"] == str(course.id)
    assert body["status"] == "queued"
    assert body["reused"] is False
    assert body["url"] == f"https://semester.test/courses/{course.id}/"
    assert body["api_url"] == f"https://semester.test/api/courses/{course.id}"
    assert (course.language, course.weeks_count, course.requester_ip) == ("de", 6, "198.51.100.20")


def test_language_and_length_are_optional(client: Client) -> None:
    assert post(client, {"topic": "Tides"}).status_code == 202
    course = Course.objects.get()
    assert (course.language, course.weeks_count) == ("en", settings.COURSE_WEEKS_DEFAULT)


def test_an_approved_course_on_the_topic_is_returned_with_200(client: Client) -> None:
    existing = written_course(weeks=13, topic="Knots", topic_key="knots", review_state=Course.Review.APPROVED)
    response = post(client, {"topic": "knots"})
    assert response.status_code == 200
    assert response.json()["id"] == str(existing.id)
    assert response.json()["reused"] is True
    assert post(client, {"topic": "knots", "fresh": True}).status_code == 202


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"topic": ""}, "topic", TOPIC_EMPTY),
        ({"topic": "x" * 201}, "topic", TOPIC_TOO_LONG),
        ({"topic": "a\x07b"}, "topic", TOPIC_CONTROL_CHARACTERS),
        ({"topic": "Tides", "language": "klingon"}, "language", LANGUAGE_UNKNOWN),
        ({"topic": "Tides", "weeks": 2}, "weeks", WEEKS_OUT_OF_RANGE),
        ({"topic": "Tides", "weeks": 99}, "weeks", WEEKS_OUT_OF_RANGE),
    ],
)
def test_bad_values_get_422_naming_the_field(
    client: Client, body: dict[str, Any], field: str, message: str
) -> None:
    response = post(client, body)
    assert response.status_code == 422
    assert field_errors(response) == {field: message}
    assert not Course.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "topic"),
        ({"topic": 42}, "topic"),
        ({"topic": ["a"]}, "topic"),
        ({"topic": "Tides", "weeks": "many"}, "weeks"),
        ({"topic": "Tides", "weeks": 4.5}, "weeks"),
        ({"topic": "Tides", "language": None}, "language"),
        ({"topic": "Tides", "fresh": "perhaps"}, "fresh"),
        ({"topic": "Tides", "colour": "blue"}, "colour"),
    ],
)
def test_wrong_types_and_missing_or_unknown_fields_get_422_naming_the_field(
    client: Client, body: dict[str, Any], field: str
) -> None:
    response = post(client, body)
    assert response.status_code == 422
    assert field in field_errors(response)


@pytest.mark.parametrize("raw", ["{not json", "", "[1, 2]", '"topic"', "null", "\xff\xfe"])
def test_malformed_bodies_get_a_4xx_json_error_never_a_500(client: Client, raw: str) -> None:
    response = post(client, raw, raw=True)
    assert 400 <= response.status_code < 500
    assert response["Content-Type"].startswith("application/json")
    assert field_errors(response)


def test_broken_json_names_the_body(client: Client) -> None:
    response = post(client, "{not json", raw=True)
    assert response.status_code == 400
    assert field_errors(response) == {"body": INVALID_JSON}


def test_anonymous_callers_share_the_per_ip_quota_with_the_website(client: Client) -> None:
    client.post("/courses/request/", {"topic": "On the website", "weeks": "4"}, REMOTE_ADDR="198.51.100.20")
    for n in range(settings.COURSE_QUOTA_PER_IP - 1):
        assert post(client, {"topic": f"Topic {n}"}).status_code == 202
    response = post(client, {"topic": "One more"})
    assert response.status_code == 429
    assert response.json()["detail"] == QUOTA_SPENT_ANONYMOUS.format(limit=settings.COURSE_QUOTA_PER_IP)


def test_a_token_acts_as_its_learner_with_their_own_quota(client: Client, settings: Any) -> None:
    settings.COURSE_QUOTA_PER_IP = 0
    learner = UserFactory()
    _, token = api_token_create(user=learner, name="cli")
    assert post(client, {"topic": "Tides"}).status_code == 429
    assert post(client, {"topic": "Tides"}, token=token).status_code == 202
    assert Course.objects.get().requested_by == learner


def test_a_bad_token_is_refused_rather_than_served_anonymously(client: Client) -> None:
    response = post(client, {"topic": "Tides"}, token="sem_not-a-real-token")
    assert response.status_code == 401
    assert field_errors(response) == {"Authorization": INVALID_TOKEN}
    assert not Course.objects.exists()


def test_a_course_reports_its_status_progress_and_outline(client: Client) -> None:
    course = written_course(weeks=2, lessons_per_week=2, status=Course.Status.WRITING, ready_at=None)
    lesson = Lesson.objects.filter(course=course).order_by("id").last()
    assert lesson is not None
    Lesson.objects.filter(id=lesson.id).update(status=PartStatus.FAILED, failure_reason="Kept failing.")
    response = client.get(f"/api/courses/{course.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "writing"
    assert body["is_offline"] is True
    assert body["is_public"] is False
    assert body["progress"]["parts_total"] == 6
    assert body["progress"]["parts_written"] == 5
    assert body["progress"]["failed_parts"] == [
        {"kind": "lesson", "id": lesson.id, "week": 2, "title": lesson.title, "reason": "Kept failing."}
    ]
    assert [week["number"] for week in body["outline"]] == [1, 2]
    assert [item["title"] for item in body["outline"][0]["lessons"]] == ["Lesson 1.1", "Lesson 1.2"]
    assert body["outline"][0]["quiz_status"] == "written"


@pytest.mark.parametrize("course_id", ["00000000-0000-0000-0000-000000000000"])
def test_an_unknown_course_is_404_naming_the_id(client: Client, course_id: str) -> None:
    response = client.get(f"/api/courses/{course_id}")
    assert response.status_code == 404
    assert field_errors(response) == {"course_id": COURSE_NOT_FOUND}


@pytest.mark.parametrize("path", ["/api/courses/not-a-uuid", "/api/courses/not-a-uuid/weeks/1"])
def test_a_malformed_course_id_is_a_4xx_naming_it(client: Client, path: str) -> None:
    response = client.get(path)
    assert 400 <= response.status_code < 500
    assert "course_id" in field_errors(response)


def test_a_rejected_course_is_hidden_from_everyone_but_its_requester(client: Client) -> None:
    requester = UserFactory()
    course = written_course(weeks=1, requested_by=requester, review_state=Course.Review.REJECTED)
    assert client.get(f"/api/courses/{course.id}").status_code == 404
    _, token = api_token_create(user=requester, name="mine")
    response = client.get(f"/api/courses/{course.id}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200


def test_a_week_gives_lessons_as_markdown_and_sanitized_html_and_the_quiz_without_answers(
    client: Client,
) -> None:
    course = written_course(weeks=2, lessons_per_week=2)
    Lesson.objects.filter(course=course, week__number=2, number=1).update(
        body="Hi <script>alert(1)</script> **there**", body_html=""
    )
    response = client.get(f"/api/courses/{course.id}/weeks/2")
    assert response.status_code == 200
    body = response.json()
    assert body["number"] == 2
    first = body["lessons"][0]
    assert first["markdown"] == "Hi <script>alert(1)</script> **there**"
    assert "<strong>there</strong>" in first["html"]
    assert "<script" not in first["html"]
    assert body["quiz"]["questions"][0] == {
        "number": 0,
        "question": "Week 2, question 1?",
        "options": ["Right", "Wrong", "Also wrong", "Not this"],
    }
    assert "answer" not in json.dumps(body["quiz"])
    assert "explanation" not in json.dumps(body["quiz"])
    assert body["objectives"][0] == "Understand idea 2.1"


@pytest.mark.parametrize("number", ["0", "3", "-1", "99999999999999999999999"])
def test_a_week_that_does_not_exist_is_404_naming_the_number(client: Client, number: str) -> None:
    course = written_course(weeks=2, lessons_per_week=1)
    response = client.get(f"/api/courses/{course.id}/weeks/{number}")
    assert response.status_code == 404
    assert field_errors(response) == {"number": WEEK_NOT_FOUND}


def test_a_week_number_that_is_not_a_number_is_422_naming_it(client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    response = client.get(f"/api/courses/{course.id}/weeks/two")
    assert response.status_code == 422
    assert "number" in field_errors(response)


def test_a_quiz_not_written_yet_comes_without_questions(client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    Quiz.objects.filter(course=course).update(status=PartStatus.PENDING)
    body = client.get(f"/api/courses/{course.id}/weeks/1").json()
    assert body["quiz"]["status"] == "pending"
    assert body["quiz"]["questions"] == []


def test_the_openapi_document_is_served_at_its_documented_path(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Semester API"
    paths = document["paths"]
    assert "/api/courses" in paths
    assert "/api/courses/{course_id}" in paths
    assert "/api/courses/{course_id}/weeks/{number}" in paths
    assert "BearerAuth" in json.dumps(document["components"]) or "TokenAuth" in json.dumps(
        document["components"]
    )


def test_the_api_docs_page_loads_without_a_cdn(client: Client) -> None:
    html = client.get("/api/docs").content.decode()
    assert "swagger" in html.lower()
    assert "cdn." not in html


def test_a_course_still_queued_has_an_empty_outline(client: Client) -> None:
    course = CourseFactory()
    body = client.get(f"/api/courses/{course.id}").json()
    assert body["status"] == "queued"
    assert body["outline"] == []
    assert body["progress"]["percent"] == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
)
def test_a_request_whose_body_is_not_declared_json_is_refused_with_415(
    client: Client, content_type: str
) -> None:
    body = json.dumps({"topic": "Sourdough baking", "language": "en"})

    response = client.generic("POST", "/api/courses", body, content_type=content_type)

    assert response.status_code == 415
    assert response.json()["detail"] == NOT_JSON
    assert not Course.objects.exists()


@pytest.mark.parametrize(
    "topic",
    [
        "Tea \ud800 ceremonies",
        "\udfff",
        "Tea \ue000",
        "Tea \U000f0000",
        "Tea \U0010fffd",
        "Tea \u202e",
        "Tea\x00",
    ],
)
def test_the_openapi_document_refuses_every_topic_character_the_server_refuses(
    client: Client, topic: str
) -> None:
    pattern = client.get("/api/openapi.json").json()["components"]["schemas"]["CourseRequestIn"]["properties"]
    response = post(client, json.dumps({"topic": topic}), raw=True)  # "\ud800" travels as a JSON escape

    assert response.status_code == 422
    assert field_errors(response)["topic"] in (TOPIC_BAD_CHARACTERS, TOPIC_CONTROL_CHARACTERS)
    assert re.search(pattern["topic"]["pattern"], topic) is None
    assert re.search(pattern["topic"]["pattern"], "Tea \u00e9 \U0001f375 ceremonies") is not None


def test_the_topic_pattern_reads_the_same_to_schemathesiss_validator_as_to_python(client: Client) -> None:
    """schemathesis checks answers with jsonschema-rs (Rust's regex, which has no surrogates); a pattern it
    cannot compile let any topic through, so conforming requests were refused."""
    pattern = client.get("/api/openapi.json").json()["components"]["schemas"]["CourseRequestIn"]["properties"]
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": pattern["topic"]["pattern"]})
    for topic in (
        "Tea",
        "Tea \U0001f375",
        "\u00ae\u00a5\u001b",
        "Tea \ue000",
        "Tea \U000f0000",
        "\u3000 ",
        "a\u202eb",
    ):
        assert validator.is_valid(topic) == (re.search(pattern["topic"]["pattern"], topic) is not None)
