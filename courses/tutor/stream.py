"""An answer pushed to the page as it is written: server-sent events from the ASGI server (`school.asgi` under
uvicorn), so a learner waiting on the model holds a coroutine there, not one of gunicorn's threads, and sends
no polls for gunicorn to queue in front of page requests (bench/bench_tutor.py).

Each event carries what a poll returns, {"text", "next", "ended"}, with `next` as its id: a browser that
reconnects sends it back as Last-Event-ID and gets only what it has not seen. One subscription per process
hears every answer's announcements and wakes the streams that follow that answer; the streams read through
one shared pool of connections. (A connection per stream cost 5 ms of CPU to open, most of a stream's cost.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator

import redis.asyncio
from django.conf import settings

from courses.tutor import live
from school.redis_client import async_redis_client

logger = logging.getLogger(__name__)

# A comment line this often keeps proxies from closing a stream while the model thinks; each stream also reads
# the answer again then, so it moves on even if an announcement was lost (the subscription reconnecting).
HEARTBEAT_SECONDS = 15.0


def stream_lifetime_seconds() -> float:
    """No answer is written for longer than a task may run; a stream open past that follows a dead worker."""
    return float(settings.CELERY_TASK_TIME_LIMIT + 60)


def event(progress: live.Progress) -> bytes:
    data = json.dumps({"text": progress.text, "next": progress.next, "ended": progress.ended})
    return f"id: {progress.next}\ndata: {data}\n\n".encode()


async def live_events(message_id: int, *, start: int = 0) -> AsyncIterator[bytes]:
    """The answer from piece `start` on, one event per write, until it has ended or the stream's time is up."""
    listener = await _listener()
    wake = asyncio.Event()
    listener.follow(message_id, wake)
    try:
        until = time.monotonic() + stream_lifetime_seconds()
        sent_at = time.monotonic()
        while time.monotonic() < until:
            await listener.start()  # again, if Redis dropped the subscription meanwhile
            wake.clear()  # before the read: a write announced during it wakes the next wait at once
            async with listener.client.pipeline(transaction=False) as pipe:
                live.live_read_queue(pipe, message_id, start=start)
                progress = live.live_progress(await pipe.execute(), start=start)
            if progress.text or progress.ended:
                yield event(progress)
                sent_at, start = time.monotonic(), progress.next
            if progress.ended:
                return
            if time.monotonic() - sent_at >= HEARTBEAT_SECONDS:
                yield b": writing\n\n"
                sent_at = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=HEARTBEAT_SECONDS)
    finally:
        listener.unfollow(message_id, wake)


class Listener:
    """This process's subscription to every answer's channel, and the streams waiting on each answer."""

    def __init__(self) -> None:
        self.client = async_redis_client(settings.REDIS_URL)
        self.waiting: dict[int, set[asyncio.Event]] = {}
        self.task: asyncio.Task[None] | None = None
        self.starting = asyncio.Lock()

    def follow(self, message_id: int, wake: asyncio.Event) -> None:
        self.waiting.setdefault(message_id, set()).add(wake)

    def unfollow(self, message_id: int, wake: asyncio.Event) -> None:
        waiting = self.waiting.get(message_id, set())
        waiting.discard(wake)
        if not waiting:
            self.waiting.pop(message_id, None)

    async def start(self) -> None:
        """Subscribe (again, if the last subscription ended) and wait until Redis has confirmed it, so no write
        announced after a stream's first read goes unheard."""
        async with self.starting:
            if self.task is not None and not self.task.done():
                return
            pubsub = self.client.pubsub()
            await pubsub.psubscribe(live.live_channel_pattern())
            while await pubsub.get_message(timeout=5) is None:  # the confirmation
                pass
            self.task = asyncio.create_task(self._hear(pubsub))

    async def _hear(self, pubsub: redis.asyncio.client.PubSub) -> None:
        try:
            async for message in pubsub.listen():
                message_id = live.live_channel_message_id(message.get("channel", b""))
                for wake in self.waiting.get(message_id or 0, ()):
                    wake.set()
        except Exception:
            logger.exception("The tutor's stream subscription ended; subscribing again")
        finally:
            await asyncio.shield(pubsub.aclose())
            for waiting in self.waiting.values():  # each reads again, and the first subscribes again
                for wake in waiting:
                    wake.set()


_listeners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Listener] = weakref.WeakKeyDictionary()


async def _listener() -> Listener:
    loop = asyncio.get_running_loop()
    if loop not in _listeners:
        _listeners[loop] = Listener()
    listener = _listeners[loop]
    await listener.start()
    return listener
