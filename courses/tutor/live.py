"""An answer as it is written, handed from the worker that writes it to the page that shows it.

The worker appends each piece to a Redis list keyed by the message id and, once the answer has ended, stores
how it ended (and its final, sanitized HTML) beside it, and announces each write on the answer's channel. The
page follows it either as a stream pushed by the ASGI server (`courses.tutor.stream`, woken by the channel) or,
where none is set up, by polling `live_read` through a small JSON endpoint; neither touches the database or
the LLM. Without Redis (one process, tasks run at once), a dictionary in memory does, for polls only. Keys
expire an hour after the last write: by then the database holds the answer.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing

from school.redis_client import redis_client

KEEP_SECONDS = 3600
_SALT = "courses.tutor.live"


@dataclass(frozen=True)
class Progress:
    text: str  # the pieces from `start` on, joined
    next: int  # where the next read starts
    ended: dict[str, Any] | None  # {"status": ..., "html": ..., "notice": ...} once the answer has ended


def live_token(message_id: int) -> str:
    """What the page's poll URL carries: the message id, signed, so no one reads another learner's answer."""
    return signing.Signer(salt=_SALT).sign(str(message_id))


def live_token_read(token: str) -> int | None:
    try:
        value = signing.Signer(salt=_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None


def live_append(message_id: int, piece: str) -> None:
    if not piece:
        return
    if not settings.REDIS_URL:
        with _lock:
            _memory.setdefault(message_id, []).append(piece)
        return
    key = _text_key(message_id)
    with redis_client(settings.REDIS_URL).pipeline(transaction=False) as pipe:
        pipe.rpush(key, piece)
        pipe.expire(key, KEEP_SECONDS)
        pipe.publish(live_channel(message_id), b"text")
        pipe.execute()


def live_end(message_id: int, *, status: str, html: str, notice: str = "") -> None:
    ended = json.dumps({"status": status, "html": html, "notice": notice})
    if not settings.REDIS_URL:
        with _lock:
            _memory_ended[message_id] = ended
        return
    with redis_client(settings.REDIS_URL).pipeline(transaction=False) as pipe:
        pipe.set(_end_key(message_id), ended, ex=KEEP_SECONDS)
        pipe.publish(live_channel(message_id), b"end")
        pipe.execute()


def live_read(message_id: int, *, start: int = 0) -> Progress:
    start = max(start, 0)
    if not settings.REDIS_URL:
        with _lock:
            pieces, ended = list(_memory.get(message_id, [])[start:]), _memory_ended.get(message_id)
        return _progress(pieces, ended, start=start)
    with redis_client(settings.REDIS_URL).pipeline(transaction=False) as pipe:
        live_read_queue(pipe, message_id, start=start)
        return live_progress(pipe.execute(), start=start)


def live_read_queue(pipe: Any, message_id: int, *, start: int) -> None:
    """Queue the reads `live_progress` makes sense of on a Redis pipeline, sync or asyncio alike."""
    pipe.lrange(_text_key(message_id), max(start, 0), -1)
    pipe.get(_end_key(message_id))


def live_progress(replies: list[Any], *, start: int) -> Progress:
    """The answer from the replies of the reads `live_read_queue` queued."""
    raw_pieces, ended = replies
    return _progress([piece.decode() for piece in raw_pieces], ended, start=max(start, 0))


def _progress(pieces: list[str], ended: str | bytes | None, *, start: int) -> Progress:
    return Progress("".join(pieces), start + len(pieces), json.loads(ended) if ended else None)


def live_channel(message_id: int) -> str:
    """Where each write to the answer is announced, so a stream wakes when there is something to send."""
    return f"semester:tutor:{message_id}:written"


def live_channel_pattern() -> str:
    """Every answer's channel, for one subscription per stream server."""
    return "semester:tutor:*:written"


def live_channel_message_id(channel: bytes) -> int | None:
    middle = channel.removeprefix(b"semester:tutor:").removesuffix(b":written")
    return int(middle) if middle.isdigit() else None


def _text_key(message_id: int) -> str:
    return f"semester:tutor:{message_id}:text"


def _end_key(message_id: int) -> str:
    return f"semester:tutor:{message_id}:end"


_lock = threading.Lock()
_memory: dict[int, list[str]] = {}
_memory_ended: dict[int, str] = {}
