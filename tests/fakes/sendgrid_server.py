"""A loopback fake of SendGrid's v3 Mail Send API, plus a signer for Event Webhook posts.

The real ``sendgrid`` SDK talks to it over HTTP; nothing in the SDK is patched::

    with FakeSendGrid() as fake:
        client = SendGridAPIClient(api_key="SG.test", host=fake.host_url)
        client.send(mail)
        assert fake.messages[0].to == "ada@example.com"

Run standalone for benchmarks (serves until killed, keeps no bodies)::

    python -m tests.fakes.sendgrid_server --port 8025 --latency 0.05

The server itself is stdlib only; ``WebhookSigner`` uses ``cryptography``, which is what the
installed SDK's ``EventWebhook`` verifies with (sendgrid >= 6.12 dropped ``starkbank-ecdsa``).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import math
import os
import random
import re
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

from tests.fakes._http import LoopbackFake, Reply, serve_until_terminated

MAIL_SEND_PATH = "/v3/mail/send"
STATS_PATH = "/__fake/stats"
RESET_PATH = "/__fake/reset"
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SUBSTITUTIONS_BYTES = 10_000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_PAYLOAD_BYTES = 30 * 1024 * 1024
MAX_SCHEDULE_AHEAD_SECONDS = 72 * 3600
RATE_LIMIT = 600
# SendGrid refuses to let callers override these; compared lower-cased.
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "content-type",
        "content-transfer-encoding",
        "to",
        "from",
        "subject",
        "reply-to",
        "cc",
        "bcc",
    }
)
# Pragmatic "looks like an address" check: local@domain.tld, no spaces or angle brackets.
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)

Fault = int | Literal["disconnect"]
ErrorDict = dict[str, str | None]
JsonDict = dict[str, Any]


def api_error(message: str, field: str | None = None) -> ErrorDict:
    """One entry of SendGrid's ``{"errors": [...]}`` list."""
    return {"message": message, "field": field, "help": None}


def new_message_id() -> str:
    """A 22-character url-safe id shaped like SendGrid's X-Message-Id."""
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class SentMessage:
    """One accepted ``to`` recipient of one personalization (slots keep 100k of these small).

    With ``keep_bodies=False`` only ``to``, ``subject``, ``custom_args`` and ``message_id`` are set.
    """

    to: str
    subject: str | None
    custom_args: dict[str, str]
    message_id: str
    personalization_index: int = 0
    to_name: str | None = None
    from_email: str | None = None
    contents: dict[str, str] | None = None  # mime type -> value, substitutions applied
    headers: dict[str, str] | None = None
    template_id: str | None = None
    dynamic_template_data: JsonDict | None = None
    send_at: int | None = None
    categories: list[str] | None = None

    @property
    def text(self) -> str | None:
        return (self.contents or {}).get("text/plain")

    @property
    def html(self) -> str | None:
        return (self.contents or {}).get("text/html")


@dataclass(slots=True)
class RecordedRequest:
    """Every request that reached the mail-send endpoint, accepted or not.

    ``status`` is None when the fake dropped the connection (``"disconnect"`` fault).
    ``body`` is the parsed JSON, or None when unparseable or when ``keep_bodies`` is off.
    """

    method: str
    path: str
    status: int | None
    headers: dict[str, str]
    body: JsonDict | None
    message_id: str | None = None
    errors: list[ErrorDict] = field(default_factory=list)
    fault: Fault | None = None
    received_at: float = 0.0


# --------------------------------------------------------------------------- validation


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _str_map_bytes(mapping: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in mapping.items())


def _check_address(value: Any, path: str, errors: list[ErrorDict]) -> str | None:
    """Validate an ``{"email": ..., "name": ...}`` object; returns the email when valid."""
    if not isinstance(value, dict):
        errors.append(api_error("Each email object must be a JSON object with an email parameter.", path))
        return None
    email = value.get("email")
    if not isinstance(email, str) or not EMAIL_RE.match(email):
        errors.append(api_error("Does not contain a valid address.", f"{path}.email"))
        return None
    if "name" in value and not isinstance(value["name"], str):
        errors.append(api_error("Invalid type. Expected: string.", f"{path}.name"))
    return email


def _check_recipient_list(
    items: Any, path: str, rejected: frozenset[str], seen: set[str], errors: list[ErrorDict]
) -> int:
    """Validate a to/cc/bcc array; returns how many recipients it holds."""
    if not isinstance(items, list):
        errors.append(api_error("Invalid type. Expected: array.", path))
        return 0
    for i, item in enumerate(items):
        email = _check_address(item, f"{path}.{i}", errors)
        if email is None:
            continue
        key = email.lower()
        if key in rejected:
            errors.append(api_error(f"The email address {email} was rejected.", f"{path}.{i}.email"))
        if key in seen:
            errors.append(_duplicate_error(email, path))
        seen.add(key)
    return len(items)


def _duplicate_error(email: str, path: str) -> ErrorDict:
    message = (
        "Each email address in the personalization block should be unique between to, cc, and bcc. "
        f"We found the first duplicate instance of [{email}] in the {path} field."
    )
    return api_error(message, path.rsplit(".", 1)[0])  # SendGrid names the personalization


def _check_headers(value: Any, path: str, errors: list[ErrorDict]) -> None:
    if value is None:
        return
    if not _is_str_map(value):
        errors.append(api_error("Invalid type. Headers must be an object of string keys and values.", path))
        return
    for name in value:
        if name.lower() in RESERVED_HEADERS:
            errors.append(api_error(f"The header {name} is reserved and cannot be set.", f"{path}.{name}"))


def _check_custom_args(value: Any, top_level: dict[str, str], path: str, errors: list[ErrorDict]) -> None:
    """custom_args are string->string; a personalization's plus the top level's stay <= 10,000 bytes."""
    if value is None:
        return
    if not _is_str_map(value):
        errors.append(api_error("Invalid type. custom_args values must be strings.", path))
        return
    merged = {**top_level, **value}
    if _str_map_bytes(merged) > MAX_CUSTOM_ARGS_BYTES:
        message = (
            "The custom_args for a given personalization plus the custom_args for the message "
            f"can not exceed {MAX_CUSTOM_ARGS_BYTES} bytes."
        )
        errors.append(api_error(message, path))


def _check_substitutions(value: Any, path: str, errors: list[ErrorDict]) -> None:
    if value is None:
        return
    if not _is_str_map(value):
        errors.append(api_error("Invalid type. Substitution values must be strings.", path))
    elif _str_map_bytes(value) > MAX_SUBSTITUTIONS_BYTES:
        message = f"The total size of substitutions may not exceed {MAX_SUBSTITUTIONS_BYTES} bytes per personalization."
        errors.append(api_error(message, path))


def _check_send_at(value: Any, path: str, errors: list[ErrorDict]) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append(api_error("Invalid type. Expected: integer (unix timestamp).", path))
    elif value > time.time() + MAX_SCHEDULE_AHEAD_SECONDS:
        errors.append(api_error("Scheduled sends may be at most 72 hours in the future.", path))


def _check_personalization(
    pers: Any, index: int, top_custom_args: dict[str, str], rejected: frozenset[str], errors: list[ErrorDict]
) -> int:
    """Validate one personalization; returns its recipient count (to + cc + bcc)."""
    path = f"personalizations.{index}"
    if not isinstance(pers, dict):
        errors.append(api_error("Each personalization must be a JSON object.", path))
        return 0
    to = pers.get("to")
    if not isinstance(to, list) or not to:
        message = (
            "The to array is required for all personalization objects, and must have at least one "
            "email object with a valid email address."
        )
        errors.append(api_error(message, f"{path}.to"))
    seen: set[str] = set()
    count = 0
    for kind in ("to", "cc", "bcc"):
        if pers.get(kind) is not None:
            count += _check_recipient_list(pers[kind], f"{path}.{kind}", rejected, seen, errors)
    if "from" in pers:
        _check_address(pers["from"], f"{path}.from", errors)
    if "subject" in pers and not isinstance(pers["subject"], str):
        errors.append(api_error("Invalid type. Expected: string.", f"{path}.subject"))
    _check_headers(pers.get("headers"), f"{path}.headers", errors)
    _check_substitutions(pers.get("substitutions"), f"{path}.substitutions", errors)
    _check_custom_args(pers.get("custom_args"), top_custom_args, f"{path}.custom_args", errors)
    _check_send_at(pers.get("send_at"), f"{path}.send_at", errors)
    if "dynamic_template_data" in pers and not isinstance(pers["dynamic_template_data"], dict):
        errors.append(api_error("Invalid type. Expected: object.", f"{path}.dynamic_template_data"))
    return count


def _check_personalizations(body: JsonDict, rejected: frozenset[str], errors: list[ErrorDict]) -> None:
    items = body.get("personalizations")
    if not isinstance(items, list) or not items:
        message = "The personalizations field is required and must have at least one personalization."
        errors.append(api_error(message, "personalizations"))
        return
    if len(items) > MAX_PERSONALIZATIONS:
        message = (
            f"The personalization block is limited to {MAX_PERSONALIZATIONS} personalizations per API "
            f"request. You have provided {len(items)} personalizations. Please consider splitting this "
            "into multiple requests and resending your request."
        )
        errors.append(api_error(message, "personalizations"))
        return
    top_args = body.get("custom_args")
    top_args = top_args if _is_str_map(top_args) else {}
    total = sum(_check_personalization(p, i, top_args, rejected, errors) for i, p in enumerate(items))
    if total > MAX_RECIPIENTS:
        message = f"There is a limit of {MAX_RECIPIENTS} total recipients (to + cc + bcc) per request."
        errors.append(api_error(message, "personalizations"))


def _check_from(body: JsonDict, errors: list[ErrorDict]) -> None:
    sender = body.get("from")
    if not isinstance(sender, dict) or "email" not in sender:
        message = (
            "The from object must be provided for every email send. It is an object that requires "
            'the email parameter, but may also contain a name parameter.  e.g. {"email" : '
            '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.'
        )
        errors.append(api_error(message, "from.email"))
        return
    _check_address(sender, "from", errors)


def _check_subject(body: JsonDict, errors: list[ErrorDict]) -> None:
    subject = body.get("subject")
    if subject is not None and not isinstance(subject, str):
        errors.append(api_error("Invalid type. Expected: string.", "subject"))
        return
    if subject or body.get("template_id"):
        return
    items = body.get("personalizations") or []
    if all(isinstance(p, dict) and p.get("subject") for p in items):
        return
    message = (
        "The subject is required. You can get around this requirement if you use a template with a "
        "subject defined or if every personalization has a subject defined."
    )
    errors.append(api_error(message, "subject"))


def _check_content_block(block: Any, path: str, errors: list[ErrorDict]) -> None:
    if not isinstance(block, dict):
        errors.append(api_error("Each content block must be an object with type and value.", path))
        return
    mime = block.get("type")
    if not isinstance(mime, str) or not mime or any(c in mime for c in ";\r\n"):
        errors.append(
            api_error("The content type must be a string at least one character in length.", f"{path}.type")
        )
    value = block.get("value")
    if not isinstance(value, str) or not value:
        errors.append(
            api_error("The content value must be a string at least one character in length.", f"{path}.value")
        )


def _check_content(body: JsonDict, errors: list[ErrorDict]) -> None:
    content = body.get("content")
    if content is None and body.get("template_id"):
        return
    if not isinstance(content, list) or not content:
        message = (
            "Unless a valid template_id is provided, the content parameter is required. There must be at "
            "least one defined content block. We typically suggest both text/plain and text/html blocks "
            "are included, but only one block is required."
        )
        errors.append(api_error(message, "content"))
        return
    for i, block in enumerate(content):
        _check_content_block(block, f"content.{i}", errors)
    types = [block.get("type") for block in content if isinstance(block, dict)]
    if "text/plain" in types[1:]:
        message = (
            "If present, text/plain content must be first, followed by text/html and then any other content."
        )
        errors.append(api_error(message, "content.0.type"))


def _check_categories(body: JsonDict, errors: list[ErrorDict]) -> None:
    categories = body.get("categories")
    if categories is None:
        return
    if not isinstance(categories, list) or len(categories) > MAX_CATEGORIES:
        errors.append(
            api_error(
                f"The categories parameter may not have more than {MAX_CATEGORIES} items.", "categories"
            )
        )
        return
    for i, name in enumerate(categories):
        if not isinstance(name, str) or not name or len(name) > MAX_CATEGORY_LENGTH:
            message = f"A category must be a string of 1 to {MAX_CATEGORY_LENGTH} characters."
            errors.append(api_error(message, f"categories.{i}"))


def _check_extras(body: JsonDict, errors: list[ErrorDict]) -> None:
    """Optional top-level objects that only need the right shape."""
    if body.get("reply_to") is not None:
        _check_address(body["reply_to"], "reply_to", errors)
    for i, item in enumerate(body.get("reply_to_list") or []):
        _check_address(item, f"reply_to_list.{i}", errors)
    asm = body.get("asm")
    if asm is not None and (not isinstance(asm, dict) or not isinstance(asm.get("group_id"), int)):
        errors.append(api_error("The asm object requires an integer group_id.", "asm.group_id"))
    for name in ("mail_settings", "tracking_settings"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            errors.append(api_error("Invalid type. Expected: object.", name))
    if body.get("template_id") is not None and not isinstance(body["template_id"], str):
        errors.append(api_error("Invalid type. Expected: string.", "template_id"))
    if body.get("custom_args") is not None and not _is_str_map(body["custom_args"]):
        errors.append(api_error("Invalid type. custom_args values must be strings.", "custom_args"))
    _check_headers(body.get("headers"), "headers", errors)
    _check_send_at(body.get("send_at"), "send_at", errors)


def validate_mail_send(body: Any, rejected: frozenset[str] = frozenset()) -> list[ErrorDict]:
    """All of SendGrid's documented 400s we model, in SendGrid's error shape; [] means valid."""
    if not isinstance(body, dict):
        return [api_error("Bad Request")]
    errors: list[ErrorDict] = []
    _check_from(body, errors)
    _check_personalizations(body, rejected, errors)
    _check_subject(body, errors)
    _check_content(body, errors)
    _check_categories(body, errors)
    _check_extras(body, errors)
    return errors


# --------------------------------------------------------------------------- flattening


def substitute(text: str | None, substitutions: dict[str, str]) -> str | None:
    """Replace every key literally, in one pass so a value is never re-substituted."""
    keys = [k for k in substitutions if k]
    if not text or not keys:
        return text
    pattern = re.compile("|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)))
    return pattern.sub(lambda match: substitutions[match.group(0)], text)


def _full_message(
    body: JsonDict, pers: JsonDict, index: int, recipient: JsonDict, base: SentMessage
) -> SentMessage:
    subs = pers.get("substitutions") or {}
    contents = {block["type"]: substitute(block["value"], subs) or "" for block in body.get("content") or []}
    base.personalization_index = index
    base.to_name = recipient.get("name")
    base.from_email = (pers.get("from") or body["from"])["email"]
    base.contents = contents
    base.headers = {**(body.get("headers") or {}), **(pers.get("headers") or {})}
    base.template_id = body.get("template_id")
    base.dynamic_template_data = pers.get("dynamic_template_data")
    base.send_at = pers.get("send_at", body.get("send_at"))
    base.categories = body.get("categories")
    return base


def flatten_messages(body: JsonDict, message_id: str, keep_bodies: bool) -> list[SentMessage]:
    """One SentMessage per ``to`` recipient of every personalization."""
    top_subject = body.get("subject")
    top_args = body.get("custom_args") or {}
    out: list[SentMessage] = []
    for index, pers in enumerate(body["personalizations"]):
        subs = pers.get("substitutions") or {}
        subject = substitute(pers.get("subject") or top_subject, subs)
        # Share one dict across the personalization's recipients; copy only when merging.
        args = (
            {**top_args, **pers["custom_args"]}
            if top_args and "custom_args" in pers
            else pers.get("custom_args") or top_args
        )
        for recipient in pers["to"]:
            message = SentMessage(
                to=recipient["email"], subject=subject, custom_args=args, message_id=message_id
            )
            out.append(_full_message(body, pers, index, recipient, message) if keep_bodies else message)
    return out


# --------------------------------------------------------------------------- the fake


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


# --------------------------------------------------------------------------- event webhook


_USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"

# Fields SendGrid adds per event type; values are plausible, not meaningful.
_KIND_FIELDS: dict[str, JsonDict] = {
    "processed": {},
    "delivered": {"response": "250 2.0.0 OK", "ip": "168.245.1.1", "tls": 1},
    "deferred": {"response": "451 4.7.1 Try again later", "attempt": "2", "ip": "168.245.1.1"},
    "open": {"useragent": _USER_AGENT, "ip": "203.0.113.7", "sg_machine_open": False},
    "click": {
        "useragent": _USER_AGENT,
        "ip": "203.0.113.7",
        "url": "https://example.com/",
        "url_offset": {"index": 0, "type": "html"},
    },
    "bounce": {
        "type": "bounce",
        "status": "5.1.1",
        "reason": "550 5.1.1 The email account does not exist.",
        "bounce_classification": "Invalid Address",
    },
    "blocked": {
        "type": "blocked",
        "status": "5.7.1",
        "reason": "550 5.7.1 Blocked by policy.",
        "bounce_classification": "Reputation",
    },
    "dropped": {"reason": "Bounced Address", "status": "5.0.0"},
    "spamreport": {},
    "unsubscribe": {},
    "group_unsubscribe": {"asm_group_id": 1, "useragent": _USER_AGENT, "ip": "203.0.113.7"},
}
EVENT_KINDS = frozenset(_KIND_FIELDS)


def event(
    kind: str,
    *,
    email: str,
    sg_event_id: str | None = None,
    timestamp: int | None = None,
    sg_message_id: str | None = None,
    **custom_args: str,
) -> JsonDict:
    """A SendGrid Event Webhook event. ``kind="blocked"`` yields a bounce event with type "blocked".

    ``sg_message_id`` defaults to a fresh X-Message-Id plus the filter suffix SendGrid appends;
    custom_args land at the top level, as SendGrid delivers them.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown SendGrid event kind {kind!r}")
    message_id = sg_message_id or f"{new_message_id()}.recvd-5c9f4c8d7-abcde-1-6560F1A2-1.0"
    payload: JsonDict = {
        "email": email,
        "event": "bounce" if kind == "blocked" else kind,
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "sg_event_id": sg_event_id or base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode(),
        "sg_message_id": message_id,
        "smtp-id": f"<{message_id.split('.', 1)[0]}@ismtpd0001p1iad2.sendgrid.net>",
    }
    payload.update(copy.deepcopy(_KIND_FIELDS[kind]))
    payload.update(custom_args)
    return payload


def webhook_body(events: Sequence[JsonDict]) -> bytes:
    """Serialize events as SendGrid posts them: compact JSON array plus CRLF (sign these exact bytes)."""
    return json.dumps(list(events), separators=(",", ":")).encode() + b"\r\n"


class WebhookSigner:
    """Signs webhook bodies like SendGrid's Signed Event Webhook: ECDSA P-256/SHA-256 over timestamp + body."""

    SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
    TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

    def __init__(self) -> None:
        # Imported here so the server half of this module stays stdlib-only.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self._private_key = ec.generate_private_key(ec.SECP256R1())
        der = self._private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # What SendGrid's settings page shows and EventWebhook.convert_public_key_to_ecdsa takes.
        self.public_key_b64: str = base64.b64encode(der).decode("ascii")

    def sign(self, body: bytes, timestamp: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        signature = self._private_key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode("ascii")  # DER-encoded (r, s), as SendGrid sends

    def headers(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        stamp = str(int(time.time())) if timestamp is None else timestamp
        return {self.SIGNATURE_HEADER: self.sign(body, stamp), self.TIMESTAMP_HEADER: stamp}


# --------------------------------------------------------------------------- CLI


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
