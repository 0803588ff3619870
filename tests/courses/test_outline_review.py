"""Two-step requests: the outline first (streamed in, kept as it arrives), shaped by its requester, then written."""

from __future__ import annotations

import copy
import threading
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services import api_token_create
from courses import tasks
from courses.api import OUTLINE_NOT_YOURS
from courses.generation import outline_review, pipeline
from courses.generation.outline_review import (
    OUTLINE_CHANGED,
    OUTLINE_NOT_IN_REVIEW,
    OutlineError,
    outline_confirm,
    outline_edit,
    outline_estimate,
    outline_regenerate,
)
from courses.generation.request import course_request
from courses.models import Course, Lesson, LLMCall, OutlineRevision, PartStatus, Week
from courses.reading.views import OUTLINE_NOT_YOURS as PAGE_OUTLINE_NOT_YOURS
from tests.factories import UserFactory
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


def reviewed(user: Any = None, weeks: int = 4, **options: Any) -> Course:
    result = course_request(
        topic="Roman aqueducts",
        language="en",
        weeks=weeks,
        user=user,
        ip=None,
        review_outline=True,
        **options,
    )
    return Course.objects.get(id=result.course.id)


def chat_calls() -> int:
    return LLMCall.objects.exclude(stage="moderation").count()


def test_a_reviewed_request_writes_the_outline_only(fake_openai: FakeOpenAI) -> None:
    course = reviewed()

    assert course.status == Course.Status.OUTLINED
    assert chat_calls() == 1
    assert fake_openai.calls()[0]["json"]["stream"] is True
    assert len(course.outline_draft["weeks"]) == 4
    assert course.title == course.outline_draft["title"]
    assert not Week.objects.filter(course=course).exists()
    revision = OutlineRevision.objects.get(course=course)
    assert (revision.version, revision.cause, revision.content) == (1, "written", course.outline_draft)
    assert course.outline_version == 1


def test_the_estimate_counts_one_call_per_lesson_and_quiz(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.OPENAI_MODEL = "gpt-4o-mini"
    course = reviewed()
    lessons = sum(len(week["lessons"]) for week in course.outline_draft["weeks"])

    estimate = outline_estimate(course=course)

    assert estimate.calls == lessons + 4
    assert estimate.cost_usd is not None
    assert 0 < estimate.cost_usd < 0.1
    assert 10 < estimate.seconds < 60  # all at once, each about a lesson long at 80 tokens/s


def test_the_outline_is_kept_as_it_streams_in(fake_openai: FakeOpenAI) -> None:
    """A reload while the outline is being written shows the weeks already received."""
    fake_openai.time_to_first_token, fake_openai.tokens_per_second = 0.0, 1500.0
    course = Course.objects.create(topic="Roman aqueducts", topic_key="roman aqueducts", weeks_count=13)
    writer = threading.Thread(target=lambda: _write_outline(course.id))
    writer.start()
    seen: list[int] = []
    while writer.is_alive():
        row = Course.objects.get(id=course.id)
        if row.status == Course.Status.OUTLINING:
            seen.append(len([week for week in row.outline_draft.get("weeks", []) if week.get("title")]))
        time.sleep(0.05)
    writer.join()

    assert Course.objects.get(id=course.id).status == Course.Status.WRITING
    assert seen == sorted(seen)  # only ever grows
    assert any(0 < count < 13 for count in seen)  # some weeks were there before the whole outline


def _write_outline(course_id: Any) -> None:
    try:
        pipeline.course_outline_write(course_id=course_id)
    finally:
        connections.close_all()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda o: o["weeks"][0].update(title=""), "week 1, title: String should have at least 1 character"),
        (lambda o: o.update(weeks=[]), "a course has between 4 and 13 weeks (this one has 0)"),
        (lambda o: o.update(weeks=o["weeks"] * 5), "a course has between 4 and 13 weeks (this one has 20)"),
        (lambda o: o["weeks"][1].update(lessons=o["weeks"][1]["lessons"][:1] * 12), "week 2, lessons: List"),
        (lambda o: o["weeks"][0]["lessons"][0].update(title="x" * 50_000), "week 1, lesson 1, title: String"),
        (lambda o: o["weeks"][2].update(title="<b>Bold</b> week"), "week 3, title: write plain text"),
        (lambda o: o.update(title=["not", "text"]), "title: Input should be a valid string"),
    ],
)
def test_a_broken_outline_is_refused_with_a_clear_error_and_nothing_is_lost(
    fake_openai: FakeOpenAI, change: Any, problem: str
) -> None:
    course = reviewed()
    edited = copy.deepcopy(course.outline_draft)
    change(edited)

    with pytest.raises(OutlineError) as refused:
        outline_edit(course_id=course.id, user=None, document=edited, version=1)

    assert refused.value.message.startswith("This outline cannot be used as it is: ")
    assert problem in refused.value.message
    after = Course.objects.get(id=course.id)
    assert (after.outline_draft, after.outline_version) == (course.outline_draft, 1)


def test_a_valid_edit_is_a_new_version_and_a_revision(fake_openai: FakeOpenAI) -> None:
    learner = UserFactory()
    course = reviewed(user=learner)
    edited = copy.deepcopy(course.outline_draft)
    edited["weeks"][0]["title"] = "Why Rome needed water"
    edited["weeks"].append(copy.deepcopy(edited["weeks"][1]))  # five weeks now

    assert outline_edit(course_id=course.id, user=learner, document=edited, version=1) == 2

    course.refresh_from_db()
    assert course.outline_draft["weeks"][0]["title"] == "Why Rome needed water"
    assert course.weeks_count == 5
    assert list(OutlineRevision.objects.filter(course=course).values_list("version", "cause", "author")) == [
        (2, "edit", learner.pk),
        (1, "written", None),
    ]


def test_two_tabs_editing_the_same_version_do_not_overwrite_each_other(fake_openai: FakeOpenAI) -> None:
    course = reviewed()
    first, second = copy.deepcopy(course.outline_draft), copy.deepcopy(course.outline_draft)
    first["title"], second["title"] = "First tab", "Second tab"

    outline_edit(course_id=course.id, user=None, document=first, version=1)
    with pytest.raises(OutlineError) as refused:
        outline_edit(course_id=course.id, user=None, document=second, version=1)

    assert refused.value.conflict
    assert refused.value.message == OUTLINE_CHANGED
    assert Course.objects.get(id=course.id).outline_draft["title"] == "First tab"


def test_confirming_twice_writes_the_course_once(fake_openai: FakeOpenAI) -> None:
    course = reviewed()
    edited = copy.deepcopy(course.outline_draft)
    edited["weeks"][0]["lessons"][0]["title"] = "Springs and sources"
    outline_edit(course_id=course.id, user=None, document=edited, version=1)

    started = [outline_confirm(course_id=course.id), outline_confirm(course_id=course.id)]

    course.refresh_from_db()
    assert started == [True, False]
    assert course.status == Course.Status.READY
    lessons = Lesson.objects.filter(course=course)
    assert lessons.get(week__number=1, number=1).title == "Springs and sources"
    assert chat_calls() == 1 + lessons.count() + 4  # the outline, then each part once
    assert '"Springs and sources"' in course.outline_json  # every part was written from the edited outline


def test_confirming_an_old_version_is_refused(fake_openai: FakeOpenAI) -> None:
    course = reviewed()
    outline_edit(course_id=course.id, user=None, document=course.outline_draft, version=1)

    with pytest.raises(OutlineError, match="changed in another tab"):
        outline_confirm(course_id=course.id, version=1)

    assert Course.objects.get(id=course.id).status == Course.Status.OUTLINED


def test_regenerating_with_an_instruction_writes_a_new_version(fake_openai: FakeOpenAI) -> None:
    course = reviewed()

    outline_regenerate(course_id=course.id, user=None, instruction="  more practical  ", version=1)

    course.refresh_from_db()
    assert (course.status, course.outline_version) == (Course.Status.OUTLINED, 2)
    request = fake_openai.calls()[-1]["json"]
    assert '"more practical"' in request["messages"][-1]["content"]
    revision = OutlineRevision.objects.get(course=course, version=2)
    assert (revision.cause, revision.instruction) == ("regenerate", "more practical")
    with pytest.raises(OutlineError, match="Say what the new outline should change"):
        outline_regenerate(course_id=course.id, user=None, instruction="   ", version=2)


def test_a_failed_regeneration_gives_back_the_outline_it_had(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 0
    course = reviewed()
    fake_openai.fail_next("500")

    outline_regenerate(course_id=course.id, user=None, instruction="shorter", version=1)

    after = Course.objects.get(id=course.id)
    assert (after.status, after.outline_draft, after.outline_version) == (
        Course.Status.OUTLINED,
        course.outline_draft,
        1,
    )
    assert after.status_reason == pipeline.OUTLINE_FAILED


def test_an_unconfirmed_outline_is_written_after_the_timeout(fake_openai: FakeOpenAI, settings: Any) -> None:
    course = reviewed()
    kept = reviewed(weeks=5)
    Course.objects.filter(id=course.id).update(
        outlined_at=timezone.now() - timedelta(hours=settings.OUTLINE_REVIEW_TIMEOUT_HOURS, minutes=1)
    )

    tasks.sweep_stale_courses()

    assert Course.objects.get(id=course.id).status == Course.Status.READY
    assert Course.objects.get(id=kept.id).status == Course.Status.OUTLINED  # its day is not over


def test_an_unconfirmed_outline_is_dropped_if_the_requester_said_so(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    course = reviewed(drop_unconfirmed=True)
    Course.objects.filter(id=course.id).update(outlined_at=timezone.now() - timedelta(hours=25))

    tasks.sweep_stale_courses()

    course.refresh_from_db()
    assert (course.status, course.status_reason) == (Course.Status.FAILED, pipeline.OUTLINE_DROPPED)
    assert chat_calls() == 1


def test_a_worker_killed_while_streaming_leaves_a_course_the_sweeper_finishes(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    """The worker died mid-stream: the course is outlining, with half an outline, and silent."""
    silent = timezone.now() - timedelta(seconds=settings.GENERATION_STALE_AFTER_SECONDS + 1)
    course = Course.objects.create(
        topic="Roman aqueducts",
        topic_key="roman aqueducts",
        weeks_count=4,
        status=Course.Status.OUTLINING,
        outline_draft={"title": "Half", "weeks": [{"title": "Week one"}]},
        heartbeat_at=silent,
        review_outline=True,
    )

    assert tasks.sweep_stale_courses()["outlines_queued"] == 1

    course.refresh_from_db()
    assert course.status == Course.Status.OUTLINED
    assert len(course.outline_draft["weeks"]) == 4


def test_reusing_an_approved_course_still_costs_nothing(fake_openai: FakeOpenAI) -> None:
    course = reviewed()
    outline_confirm(course_id=course.id)
    Course.objects.filter(id=course.id).update(review_state=Course.Review.APPROVED)
    calls = chat_calls()

    again = course_request(
        topic="roman aqueducts!", language="en", weeks=4, user=None, ip=None, review_outline=True
    )

    assert again.reused
    assert chat_calls() == calls


# --------------------------------------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------------------------------------


def test_the_api_writes_straight_through_unless_asked_to_review(
    fake_openai: FakeOpenAI, client: Client
) -> None:
    learner = UserFactory()
    _, token = api_token_create(user=learner, name="cli")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    straight = client.post(
        "/api/courses", {"topic": "Tides", "weeks": 4}, content_type="application/json", **auth
    )
    review = client.post(
        "/api/courses",
        {"topic": "Glaciers", "weeks": 4, "review_outline": True},
        content_type="application/json",
        **auth,
    )

    assert Course.objects.get(id=straight.json()["id"]).status == Course.Status.READY
    assert Course.objects.get(id=review.json()["id"]).status == Course.Status.OUTLINED


def test_the_api_edits_and_confirms_an_outline_for_its_requester_only(
    fake_openai: FakeOpenAI, client: Client
) -> None:
    learner, stranger = UserFactory(), UserFactory()
    _, token = api_token_create(user=learner, name="cli")
    _, other = api_token_create(user=stranger, name="cli")
    course = reviewed(user=learner)
    url = f"/api/courses/{course.id}/outline"
    mine, theirs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}, {"HTTP_AUTHORIZATION": f"Bearer {other}"}
    shown = client.get(url, **mine).json()
    edited = copy.deepcopy(shown["outline"])
    edited["weeks"][3]["title"] = "Aqueducts today"

    refused = client.put(url, {"version": 1, "outline": edited}, content_type="application/json", **theirs)
    saved = client.put(url, {"version": 1, "outline": edited}, content_type="application/json", **mine)
    stale = client.put(url, {"version": 1, "outline": edited}, content_type="application/json", **mine)
    edited["weeks"] = edited["weeks"][:1]
    invalid = client.put(url, {"version": 2, "outline": edited}, content_type="application/json", **mine)
    confirmed = client.post(f"{url}/confirm", {"version": 2}, content_type="application/json", **mine)
    twice = client.post(f"{url}/confirm", {"version": 2}, content_type="application/json", **mine)

    assert shown["estimate"]["calls"] > 4
    assert (refused.status_code, refused.json()["detail"]) == (403, OUTLINE_NOT_YOURS)
    assert (saved.status_code, saved.json()["version"]) == (200, 2)
    assert (stale.status_code, stale.json()["detail"]) == (409, OUTLINE_CHANGED)
    assert invalid.status_code == 422
    assert "this one has 1" in invalid.json()["detail"]
    assert confirmed.status_code == 202
    assert (twice.status_code, twice.json()["detail"]) == (409, OUTLINE_NOT_IN_REVIEW)
    assert Week.objects.get(course=course, number=4).title == "Aqueducts today"
    assert Course.objects.get(id=course.id).status == Course.Status.READY


# --------------------------------------------------------------------------------------------------------
# The website
# --------------------------------------------------------------------------------------------------------


def test_the_website_asks_for_review_by_default(fake_openai: FakeOpenAI, client: Client) -> None:
    home = client.get(reverse("courses:home")).content.decode()
    response = client.post(
        reverse("courses:request"), {"topic": "Roman aqueducts", "weeks": "4", "review_outline": "on"}
    )

    assert 'name="review_outline" id="id_review_outline" checked' in home
    course = Course.objects.get()
    assert course.status == Course.Status.OUTLINED
    page = client.get(response["Location"]).content.decode()
    assert "Write this course" in page
    assert "LLM calls" in page
    assert course.outline_draft["weeks"][0]["title"] in page


def test_the_editor_saves_a_move_and_keeps_what_was_typed_when_refused(
    fake_openai: FakeOpenAI, client: Client
) -> None:
    learner = UserFactory()
    client.force_login(learner)
    course = reviewed(user=learner)
    weeks = course.outline_draft["weeks"]
    form = _form(course.outline_draft, version=1)
    url = reverse("courses:outline_change", args=[course.id])

    moved = client.post(url, {**form, "action": "week-down-1"})
    form_v2 = {**_form(Course.objects.get(id=course.id).outline_draft, version=2), "w1-title": ""}
    refused = client.post(url, {**form_v2, "w2-title": "What I typed"})

    assert moved.status_code == 302
    after = Course.objects.get(id=course.id)
    assert [week["title"] for week in after.outline_draft["weeks"][:2]] == [
        weeks[1]["title"],
        weeks[0]["title"],
    ]
    assert after.outline_draft["weeks"][1]["objectives"] == weeks[0]["objectives"]  # moved with its week
    assert refused.status_code == 400
    assert "week 1, title: String should have at least 1 character" in refused.content.decode()
    assert 'value="What I typed"' in refused.content.decode()
    assert Course.objects.get(id=course.id).outline_version == 2


def test_only_the_requester_may_shape_the_outline(fake_openai: FakeOpenAI, client: Client) -> None:
    course = reviewed(user=UserFactory())
    client.force_login(UserFactory())

    page = client.get(reverse("courses:writing", args=[course.id])).content.decode()
    response = client.post(reverse("courses:outline_write", args=[course.id]), {"version": "1"})

    assert "Write this course" not in page
    assert course.outline_draft["weeks"][0]["title"] in page  # but the outline is there to read
    assert response.status_code == 403
    assert PAGE_OUTLINE_NOT_YOURS in response.content.decode() or response.status_code == 403
    assert Course.objects.get(id=course.id).status == Course.Status.OUTLINED


def _form(outline: dict[str, Any], *, version: int) -> dict[str, str]:
    form = {"version": str(version), "weeks": str(len(outline["weeks"]))}
    form |= {key: outline[key] for key in ("title", "description", "audience")}
    for n, week in enumerate(outline["weeks"], start=1):
        form |= {f"w{n}-title": week["title"], f"w{n}-overview": week["overview"], f"w{n}-source": str(n)}
        form[f"w{n}-lessons"] = str(len(week["lessons"]))
        for m, lesson in enumerate(week["lessons"], start=1):
            form |= {f"w{n}-l{m}-title": lesson["title"], f"w{n}-l{m}-summary": lesson["summary"]}
    return form


# --------------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------------


def test_generate_course_with_review_prints_the_outline_and_stops(fake_openai: FakeOpenAI) -> None:
    out = StringIO()

    call_command("generate_course", "Roman aqueducts", "--weeks", "4", "--review", "--wait", stdout=out)

    course = Course.objects.get()
    lines = out.getvalue().splitlines()
    assert course.status == Course.Status.OUTLINED
    assert lines[-5] == f"Week 1: {course.outline_draft['weeks'][0]['title']}"
    assert lines[-1].startswith(
        "The outline waits for review: shape and confirm it at https://semester.test/"
    )
    assert not Lesson.objects.filter(course=course, status=PartStatus.WRITTEN).exists()


def test_the_estimate_module_constants_match_the_prompts() -> None:
    """The estimate assumes what the prompts ask for: a 600-1,200-word lesson (~1.3 tokens a word)."""
    assert 600 * 1.3 <= outline_review.EXPECTED_COMPLETION_TOKENS["lesson"] <= 1200 * 1.3
