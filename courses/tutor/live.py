"""An answer as it is written, handed from the worker that writes it to the page that shows it.

The worker appends each piece to a Redis list keyed by the message id and, once the answer has ended, stores
how it ended (and its final, sanitized HTML) beside it; the page polls `live_read` through a small JSON
endpoint that touches neither the database nor the LLM. Without Redis (one process, tasks run at once), a
dictionary in memory does. Keys expire an hour after the last write: by then the database holds the answer.
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
        pipe.execute()


def live_end(message_id: int, *, status: str, html: str, notice: str = "") -> None:
    ended = json.dumps({"status": status, "html": html, "notice": notice})
    if not settings.REDIS_URL:
        with _lock:
            _memory_ended[message_id] = ended
        return
    redis_client(settings.REDIS_URL).set(_end_key(message_id), ended, ex=KEEP_SECONDS)


def live_read(message_id: int, *, start: int = 0) -> Progress:
    start = max(start, 0)
    if not settings.REDIS_URL:
        with _lock:
            pieces, ended = list(_memory.get(message_id, [])[start:]), _memory_ended.get(message_id)
    else:
        with redis_client(settings.REDIS_URL).pipeline(transaction=False) as pipe:
            pipe.lrange(_text_key(message_id), start, -1)
            pipe.get(_end_key(message_id))
            raw_pieces, ended_raw = pipe.execute()
        pieces = [piece.decode() for piece in raw_pieces]
        ended = ended_raw.decode() if ended_raw else None
    return Progress("".join(pieces), start + len(pieces), json.loads(ended) if ended else None)


def _text_key(message_id: int) -> str:
    return f"semester:tutor:{message_id}:text"


def _end_key(message_id: int) -> str:
    return f"semester:tutor:{message_id}:end"


_lock = threading.Lock()
_memory: dict[int, list[str]] = {}
_memory_ended: dict[int, str] = {}
