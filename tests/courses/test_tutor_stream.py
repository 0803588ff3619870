"""The tutor's answers pushed as server-sent events by the ASGI server (`courses.tutor.stream`), against the real
Redis: each write as it happens, resuming where the browser stopped, the connections closed when it leaves,
an end to every stream, and gunicorn refusing to stream so the page polls instead."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.test import AsyncClient, Client
from django.urls import reverse

from courses.models import Lesson, TutorMessage
from courses.tutor import live, stream
from courses.tutor.selectors import stream_url
from school.redis_client import redis_client
from tests.factories import UserFactory, first_lesson, written_course

STREAM_ORIGIN = "http://127.0.0.1:8001"
T = TypeVar("T")


def events_of(chunks: list[bytes]) -> list[dict[str, Any]]:
    """The data of each event in `chunks`, skipping heartbeat comments."""
    text = b"".join(chunks).decode()
    return [
        json.loads(line.removeprefix("data: "))
        for block in text.split("\n\n")
        for line in block.splitlines()
        if line.startswith("data: ")
    ]


def run(make: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run(make())` in a thread of its own: the browser tests' Playwright keeps an event loop running in
    the main thread for the whole session, and the suite runs these tests after them."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


def stream_path(message_id: int) -> str:
    return reverse("courses:tutor_stream", args=[live.live_token(message_id)])


def test_each_write_is_sent_as_it_happens_then_the_end_closes_the_stream() -> None:
    written_at: list[float] = []
    received: list[tuple[float, bytes]] = []

    async def write() -> None:
        for piece in ("The water ", "keeps warm."):
            await asyncio.sleep(0.3)
            written_at.append(time.monotonic())
            await asyncio.to_thread(live.live_append, 31, piece)
        await asyncio.sleep(0.3)
        written_at.append(time.monotonic())
        await asyncio.to_thread(live.live_end, 31, status="done", html="<p>The water keeps warm.</p>")

    async def follow() -> None:
        writer = asyncio.create_task(write())
        async for chunk in stream.live_events(31):
            received.append((time.monotonic(), chunk))
        await writer

    run(follow)
    assert events_of([chunk for _, chunk in received]) == [
        {"text": "The water ", "next": 1, "ended": None},
        {"text": "keeps warm.", "next": 2, "ended": None},
        {
            "text": "",
            "next": 2,
            "ended": {"status": "done", "html": "<p>The water keeps warm.</p>", "notice": ""},
        },
    ]
    # Each event reached the page after its write and before the next one: pushed, not gathered.
    for (arrived, _), written, following in zip(
        received, written_at, [*written_at[1:], float("inf")], strict=True
    ):
        assert written <= arrived < following


def test_a_browser_that_reconnects_gets_only_what_it_has_not_seen() -> None:
    for piece in ("One, ", "two, ", "three."):
        live.live_append(32, piece)
    live.live_end(32, status="done", html="<p>One, two, three.</p>")

    async def get() -> Any:
        response = await AsyncClient().get(stream_path(32), headers={"Last-Event-ID": "2"})
        return response, [chunk async for chunk in response.streaming_content]

    response, chunks = run(get)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Access-Control-Allow-Origin"] == "*"  # the token is the key; no cookie is read
    assert "no-store" in response["Cache-Control"]
    assert b"id: 3\n" in b"".join(chunks)
    assert events_of(chunks) == [
        {
            "text": "three.",
            "next": 3,
            "ended": {"status": "done", "html": "<p>One, two, three.</p>", "notice": ""},
        }
    ]


def test_a_forged_token_gets_nothing_from_the_stream() -> None:
    async def get() -> Any:
        return await AsyncClient().get(reverse("courses:tutor_stream", args=["32:forged"]))

    response = run(get)
    assert response.status_code == 404
    assert json.loads(response.content) == {"error": "No such answer."}


def test_gunicorn_does_not_stream_so_the_page_polls_instead(client: Client) -> None:
    """Under WSGI a stream would hold a thread until the answer ends: the page's script falls back to polls."""
    live.live_append(33, "Because ")
    with ThreadPoolExecutor(1) as pool:  # the async view, called from WSGI; see `run`
        response = pool.submit(client.get, stream_path(33)).result()
    assert response.status_code == 404
    assert response.json() == {"error": "Answers are not streamed here; poll instead."}


def test_streams_share_the_processs_connections_and_a_learner_who_leaves_is_forgotten() -> None:
    """A connection per stream cost 5 ms of CPU to open; the stream server keeps one pool and one subscription."""
    redis = redis_client(settings.REDIS_URL)
    before = len(redis.client_list())

    async def come_and_go() -> tuple[int, dict[int, Any]]:
        for number in range(30):
            live.live_append(300 + number, "Half an answer")
            events = stream.live_events(300 + number)
            await anext(events)
            await events.aclose()  # what uvicorn does when the browser goes away
        listener = await stream._listener()
        return len(redis.client_list()), dict(listener.waiting)

    during, waiting = run(come_and_go)
    assert during <= before + 2  # a reader and the subscription, for thirty learners one after another
    assert waiting == {}


def test_a_stream_following_a_dead_worker_ends_when_no_answer_could_still_be_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(stream, "stream_lifetime_seconds", lambda: 0.5)
    live.live_append(35, "Cut short")

    async def follow() -> list[bytes]:
        return [chunk async for chunk in stream.live_events(35)]

    started = time.monotonic()
    chunks = run(follow)
    assert 0.5 <= time.monotonic() - started < 3
    assert events_of(chunks) == [{"text": "Cut short", "next": 1, "ended": None}]
    assert b": writing\n\n" in chunks  # heartbeats kept the connection open meanwhile


@pytest.mark.django_db
def test_the_page_names_the_stream_only_where_the_stream_server_is_set_up(
    client: Client, offline: None, settings: Any
) -> None:
    lesson: Lesson = first_lesson(written_course(weeks=1, lessons_per_week=1))
    client.force_login(UserFactory())
    ask_url = reverse("courses:tutor_ask", args=[lesson.course_id, lesson.id])
    page_url = reverse("delivery:lesson", args=[lesson.course_id, lesson.id])
    settings.TUTOR_STREAM_ORIGIN = STREAM_ORIGIN
    # Asked from the page's script; the answer is not written yet (its task runs once the ask commits).
    asked = client.post(ask_url, {"question": "Why?"}, headers={"Accept": "application/json"}).json()
    message = TutorMessage.objects.get()
    url = stream_url(message.id)
    assert url == STREAM_ORIGIN + stream_path(message.id)
    assert f'data-stream-url="{url}"' in asked["html"]
    assert f'data-stream-url="{url}"' in client.get(page_url).content.decode()

    settings.TUTOR_STREAM_ORIGIN = ""
    assert "data-stream-url" not in client.get(page_url).content.decode()
    assert f'data-live-url="{asked["live_url"]}"' in client.get(page_url).content.decode()


def test_the_stream_server_serves_the_streams_and_nothing_else() -> None:
    """Pages, forms and the API are gunicorn's: a second copy of the site on the stream server's port would be a
    second stack to keep right (its asks, for one, would publish their Celery messages from another thread)."""
    from school.asgi import application

    live.live_end(36, status="done", html="<p>Done.</p>")

    async def get(path: str) -> tuple[int, bytes]:
        sent: list[Any] = []
        requested = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if requested.is_set():  # the browser stays until the response ends
                await asyncio.Event().wait()
            requested.set()
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8001),
        }  # fmt: skip
        await application(scope, receive, send)
        return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])

    status, body = run(lambda: get(stream_path(36)))
    assert status == 200
    assert events_of([body])[0]["ended"]["html"] == "<p>Done.</p>"
    for path in ("/", "/courses/", "/admin/", "/tutor/live/x/"):
        assert run(lambda path=path: get(path))[0] == 404, path  # type: ignore[misc]


def test_streams_are_still_woken_after_redis_drops_the_subscription() -> None:
    redis = redis_client(settings.REDIS_URL)

    async def wait_for_a_write(events: Any, message_id: int) -> float:
        waiting = asyncio.create_task(anext(events))
        await asyncio.sleep(0.3)
        written = time.monotonic()
        await asyncio.to_thread(live.live_append, message_id, "after")
        await waiting
        return time.monotonic() - written

    async def follow_across_the_drop() -> tuple[float, float]:
        open_before = stream.live_events(40)
        live.live_append(40, "Before ")
        await anext(open_before)
        assert redis.client_kill_filter(_type="pubsub") >= 1  # what a Redis restart or a network cut does
        await asyncio.sleep(0.2)
        opened_after = stream.live_events(41)
        woken = await wait_for_a_write(open_before, 40), await wait_for_a_write(opened_after, 41)
        await open_before.aclose()
        await opened_after.aclose()
        return woken

    # Both woken by the write, not by the re-read every 15 s.
    assert max(run(follow_across_the_drop)) < 2
