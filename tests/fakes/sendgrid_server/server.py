"""The fake itself: a LoopbackFake answering ``POST /v3/mail/send`` with SendGrid's statuses, limits and
faults, and its standalone command line (``python -m tests.fakes.sendgrid_server``).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from http import HTTPStatus

from tests.fakes._http import LoopbackFake, Reply, serve_until_terminated
from tests.fakes.sendgrid_server.records import (
    Fault,
    RecordedRequest,
    SentMessage,
    flatten_messages,
    new_message_id,
)
from tests.fakes.sendgrid_server.validation import (
    MAX_PAYLOAD_BYTES,
    RATE_LIMIT,
    JsonDict,
    api_error,
    validate_mail_send,
)

MAIL_SEND_PATH = "/v3/mail/send"
STATS_PATH = "/__fake/stats"
RESET_PATH = "/__fake/reset"


class FakeSendGrid(LoopbackFake):
    """SendGrid v3 Mail Send on loopback, with fault and latency knobs that are safe to change live.

    Knobs: ``latency`` (seconds/request), ``fail_next(status, times)``, ``fault_rate`` +
    ``fault_statuses``, ``reject_addresses``, ``reset_after`` (429 reset delay), ``api_keys``
    (None accepts any non-empty bearer key), ``keep_bodies``. Counters: ``max_in_flight``.
    """

    thread_name = "fake-sendgrid"
    poll_interval = 0.02  # keeps stop() (and so every test fixture teardown) fast

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        seed: int = 0,
        keep_bodies: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.keep_bodies = keep_bodies
        self.fault_rate = 0.0
        self.fault_statuses: list[Fault] = [500, 503, 429]
        self.reset_after = 1.0
        self.api_keys: set[str] | None = None
        self._rejected: frozenset[str] = frozenset()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._pending: deque[Fault] = deque()
        self._messages: list[SentMessage] = []
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0

    @property
    def host_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSendGrid is not started")
        return f"http://{self.host}:{self.port}"

    # ----- knobs and inspection

    @property
    def reject_addresses(self) -> frozenset[str]:
        return self._rejected

    @reject_addresses.setter
    def reject_addresses(self, emails: Iterable[str]) -> None:
        self._rejected = frozenset(e.lower() for e in emails)

    def fail_next(self, status: Fault, times: int = 1) -> None:
        """Answer the next ``times`` mail-send requests with ``status`` (or drop them: "disconnect")."""
        if status != "disconnect" and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError(f"unsupported fault {status!r}")
        with self._lock:
            self._pending.extend([status] * times)

    @property
    def messages(self) -> list[SentMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def max_in_flight(self) -> int:
        return self._max_in_flight

    def reset(self) -> None:
        """Forget recorded traffic, pending faults and the in-flight peak; knobs stay as set."""
        with self._lock:
            self._messages = []
            self._requests = []
            self._pending.clear()
            self._max_in_flight = self._in_flight

    def stats(self) -> dict[str, int]:
        with self._lock:
            accepted = sum(1 for r in self._requests if r.status == 202)
            return {
                "requests": len(self._requests),
                "accepted": accepted,
                "messages": len(self._messages),
                "max_in_flight": self._max_in_flight,
            }

    # ----- request handling (called on server threads)

    def refuse_length(self, length: int) -> Reply | None:
        if length > MAX_PAYLOAD_BYTES:
            return Reply(413, {"errors": [api_error("Payload too large.")]})
        return None

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        path = path.split("?", 1)[0]
        if path == STATS_PATH:
            return Reply(200, self.stats())
        if path == RESET_PATH and method == "POST":
            self.reset()
            return Reply(200, {"ok": True})
        if path != MAIL_SEND_PATH:
            return Reply(404, {"errors": [api_error("resource not found")]})
        if method != "POST":
            return Reply(405, {"errors": [api_error("method not allowed")]})
        self._enter()
        try:
            if self.latency > 0:
                time.sleep(self.latency)
            return self._mail_send(headers, raw)
        finally:
            self._exit()

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _exit(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _take_fault(self) -> Fault | None:
        with self._lock:
            if self._pending:
                return self._pending.popleft()
            if self.fault_rate > 0 and self.fault_statuses and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.fault_statuses)
        return None

    def _mail_send(self, headers: dict[str, str], raw: bytes) -> Reply:
        record = RecordedRequest("POST", MAIL_SEND_PATH, None, headers, None, received_at=time.time())
        fault = self._take_fault()
        if fault is not None:
            record.fault = fault
            return self._finish(record, self._fault_reply(fault))
        auth_error = self._auth_error(headers)
        if auth_error is not None:
            return self._finish(record, auth_error)
        try:
            body = json.loads(raw)
        except ValueError:
            return self._finish(record, Reply(400, {"errors": [api_error("Bad Request")]}))
        record.body = body if self.keep_bodies else None
        errors = validate_mail_send(body, self._rejected)
        if errors:
            record.errors = errors
            return self._finish(record, Reply(400, {"errors": errors}))
        return self._accept(record, body)

    def _auth_error(self, headers: dict[str, str]) -> Reply | None:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, key = auth.partition(" ")
        if scheme != "Bearer" or not key.strip():
            return Reply(401, {"errors": [api_error("authorization required")]})
        if self.api_keys is not None and key.strip() not in self.api_keys:
            return Reply(
                401,
                {"errors": [api_error("The provided authorization grant is invalid, expired, or revoked")]},
            )
        return None

    def _accept(self, record: RecordedRequest, body: JsonDict) -> Reply:
        message_id = new_message_id()
        messages = flatten_messages(body, message_id, self.keep_bodies)
        record.message_id = message_id
        with self._lock:
            self._messages.extend(messages)
        return self._finish(record, Reply(202, None, {"X-Message-Id": message_id}))

    def _finish(self, record: RecordedRequest, reply: Reply) -> Reply:
        record.status = reply.status
        with self._lock:
            self._requests.append(record)
        return reply

    def _fault_reply(self, fault: Fault) -> Reply:
        if fault == "disconnect":
            return Reply(None)
        if fault == 429:
            reset_at = math.ceil(time.time() + self.reset_after)
            headers = {
                "X-RateLimit-Limit": str(RATE_LIMIT),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset_at),
            }
            return Reply(429, {"errors": [api_error("too many requests")]}, headers)
        messages = {
            400: api_error("Bad Request (injected fault)", "personalizations"),
            401: api_error("The provided authorization grant is invalid, expired, or revoked"),
        }
        return Reply(fault, {"errors": [messages.get(fault) or api_error(_status_phrase(fault))]})


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower()  # e.g. "internal server error"
    except ValueError:
        return "error"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a fake SendGrid v3 Mail Send API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every mail send")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="share of requests answered with a fault"
    )
    parser.add_argument(
        "--keep-bodies", action="store_true", help="record full bodies (off: compact records)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse_args(argv)
    fake = FakeSendGrid(
        host=args.host, port=args.port, latency=args.latency, seed=args.seed, keep_bodies=args.keep_bodies
    )
    fake.fault_rate = args.fault_rate
    serve_until_terminated(fake)
    print(f"stats {json.dumps(fake.stats())}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
