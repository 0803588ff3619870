"""The one module that talks to SendGrid, through the official `sendgrid` SDK (v3 Mail Send).

- `send_batch` sends one shared message to many recipients: at most 1,000 personalizations per request, each
  with its own substitutions, headers and custom_args (the ledger id, which SendGrid's events echo back).
- `EmailBackend` is Django's email API over the same client, for transactional mail (confirmations, sign-in).
- `webhook_problem` verifies a signed Event Webhook post with the SDK's `EventWebhook` helper.

Every request has a timeout (the SDK sets none). A 429 waits until `X-RateLimit-Reset`, a 5xx or a refused
connection backs off and retries; a 4xx fails the recipients it names. Without SENDGRID_API_KEY, `send_batch`
hands each recipient's message to Django's email backend (the console on a one-machine install).
"""

from __future__ import annotations

import binascii
import functools
import json
import logging
import random
import re
import time
import urllib.error
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.html import strip_tags
from python_http_client.exceptions import HTTPError

from school.retry import with_retries

if TYPE_CHECKING:  # the SDK itself is imported where it is used: see _client
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.eventwebhook import EventWebhook

logger = logging.getLogger(__name__)

MAX_PERSONALIZATIONS = 1000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SUBSTITUTIONS_BYTES = 10_000
MAX_RATE_LIMIT_WAIT_SECONDS = 60.0
# SendGrid sets these itself and refuses a request that tries to.
RESERVED_HEADERS = frozenset({"to", "from", "subject", "reply-to", "cc", "bcc", "content-type", "x-sg-id"})
_PERSONALIZATION_FIELD = re.compile(r"^personalizations\.(\d+)(\.|$)")

Status = Literal["accepted", "rejected", "deferred", "unknown"]


class SendGridError(Exception):
    """A transactional email SendGrid did not accept."""


@dataclass(frozen=True)
class Message:
    """What every recipient of a batch shares; `%placeholders%` in it are filled by each one's substitutions."""

    subject: str
    text: str
    html: str
    category: str = ""
    reply_to: str = (
        ""  # one address for the whole batch: SendGrid sets Reply-To per message, not per recipient
    )


@dataclass(frozen=True)
class Recipient:
    key: int  # the caller's id for this recipient (a ledger row)
    email: str
    substitutions: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    custom_args: dict[str, str] = field(default_factory=dict)
    # This recipient's own Reply-To, used where each message is sent alone (Django's backend); a SendGrid batch
    # uses the message's `reply_to` instead, and the recipient's token travels in the subject.
    reply_to: str = ""


@dataclass
class SendReport:
    """Each recipient's outcome, by key."""

    accepted: dict[int, str] = field(default_factory=dict)  # → SendGrid's X-Message-Id
    rejected: dict[int, str] = field(default_factory=dict)  # → why; permanent (a 4xx other than 429)
    deferred: dict[int, str] = field(default_factory=dict)  # → why; surely not sent, try again later
    unknown: dict[int, str] = field(default_factory=dict)  # → why; the request may have been accepted


@dataclass(frozen=True)
class _Outcome:
    status: Status
    message_id: str = ""
    reason: str = ""
    errors: tuple[dict[str, Any], ...] = ()


# ---------------------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------------------
def send_batch(*, message: Message, recipients: Sequence[Recipient]) -> SendReport:
    report = SendReport()
    if not settings.SENDGRID_API_KEY:
        _send_through_django(message, recipients, report)
        return report
    for start in range(0, len(recipients), MAX_PERSONALIZATIONS):
        _send_chunk(message, list(recipients[start : start + MAX_PERSONALIZATIONS]), report)
    return report


def _send_chunk(message: Message, chunk: list[Recipient], report: SendReport) -> None:
    """One request for the chunk; when SendGrid names bad personalizations, fail those and send the rest."""
    chunk = _without_oversized(chunk, report)
    while chunk:
        outcome = _post(_batch_body(message, chunk))
        if outcome.status != "rejected":
            outcomes = getattr(report, outcome.status)
            for recipient in chunk:
                outcomes[recipient.key] = outcome.message_id or outcome.reason
            return
        named = _named_personalizations(outcome.errors, len(chunk))
        if not named:
            report.rejected.update((recipient.key, outcome.reason) for recipient in chunk)
            return
        for index, reason in named.items():
            report.rejected[chunk[index].key] = reason
        chunk = [recipient for index, recipient in enumerate(chunk) if index not in named]


def _without_oversized(chunk: list[Recipient], report: SendReport) -> list[Recipient]:
    kept = []
    for recipient in chunk:
        if _map_bytes(recipient.custom_args) >= MAX_CUSTOM_ARGS_BYTES:
            report.rejected[recipient.key] = "custom_args over 10 KB"
        elif _map_bytes(recipient.substitutions) >= MAX_SUBSTITUTIONS_BYTES:
            report.rejected[recipient.key] = "substitutions over 10 KB"
        else:
            kept.append(recipient)
    return kept


def _map_bytes(mapping: dict[str, str]) -> int:
    return sum(len(key.encode()) + len(value.encode()) for key, value in mapping.items())


def _named_personalizations(errors: Sequence[dict[str, Any]], count: int) -> dict[int, str]:
    """Personalizations a 400 blames, with the message; {} when any error is about the request as a whole."""
    named: dict[int, str] = {}
    for error in errors:
        match = _PERSONALIZATION_FIELD.match(str(error.get("field") or ""))
        if not match or int(match[1]) >= count:
            return {}
        named.setdefault(int(match[1]), str(error.get("message") or "rejected"))
    return named


def _batch_body(message: Message, recipients: Sequence[Recipient]) -> dict[str, Any]:
    body = _message_body(message.subject, message.text, message.html)
    body["personalizations"] = [_personalization(recipient) for recipient in recipients]
    if message.category:
        body["categories"] = [message.category]
    if message.reply_to:
        body["reply_to"] = {"email": message.reply_to}
    return body


def _personalization(recipient: Recipient) -> dict[str, Any]:
    personalization: dict[str, Any] = {"to": [{"email": recipient.email}]}
    if recipient.substitutions:
        personalization["substitutions"] = recipient.substitutions
    if recipient.headers:
        personalization["headers"] = recipient.headers
    if recipient.custom_args:
        personalization["custom_args"] = recipient.custom_args
    return personalization


def _message_body(subject: str, text: str, html: str | None, from_email: str = "") -> dict[str, Any]:
    name, address = parseaddr(from_email or settings.DEFAULT_FROM_EMAIL)
    sender = {"email": address, "name": name} if name else {"email": address}
    content = [{"type": "text/plain", "value": text or " "}]
    if html:
        content.append({"type": "text/html", "value": html})
    return {"from": sender, "subject": subject, "content": content}


# ---------------------------------------------------------------------------------------------------------
# One request, with timeout and retries
# ---------------------------------------------------------------------------------------------------------
def _client() -> SendGridAPIClient:
    # Imported here, not at the top: the SDK and the cryptography it brings cost 10 MB in every process that
    # imports this module (web, and the PDF worker through the tasks), most of which never send.
    from sendgrid import SendGridAPIClient

    return SendGridAPIClient(api_key=settings.SENDGRID_API_KEY, host=settings.SENDGRID_API_HOST)


class _Unavailable(Exception):
    """An attempt SendGrid cannot have accepted (a 429, a 5xx, a refused connection): worth another try."""

    retryable = True

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _post(body: dict[str, Any]) -> _Outcome:
    """POST /v3/mail/send until it is accepted, refused for good, or the retries run out."""
    try:
        return with_retries(
            lambda: _post_once(body),
            attempts=settings.SENDGRID_MAX_RETRIES + 1,
            delay=_retry_delay,
            what="SendGrid",
        )
    except _Unavailable as error:
        return _Outcome("deferred", reason=error.reason)


def _post_once(body: dict[str, Any]) -> _Outcome:
    try:
        response = _client().client.mail.send.post(
            request_body=body, timeout=settings.SENDGRID_TIMEOUT_SECONDS
        )
    except HTTPError as error:
        reason = f"{error.status_code} {_error_text(error)}"
        if error.status_code == 429:
            raise _Unavailable(reason, retry_after=_rate_limit_wait(error)) from error
        if error.status_code >= 500:
            raise _Unavailable(reason) from error
        return _Outcome("rejected", reason=reason, errors=tuple(_errors(error)))
    except urllib.error.URLError as error:
        # Raised while connecting or writing the request: SendGrid cannot have accepted it.
        raise _Unavailable(f"connection failed: {error.reason}") from error
    except OSError as error:
        # Raised while waiting for the answer (timeout, dropped connection): it may have gone out.
        return _Outcome("unknown", reason=f"no answer from SendGrid: {error!r}")
    return _Outcome("accepted", message_id=response.headers.get("X-Message-Id", "") or "")


def _retry_delay(attempt: int, retry_after: float | None) -> float:
    """After attempt `attempt` (1, 2, ...): the rate limit's reset if told, else backoff with jitter."""
    return retry_after if retry_after is not None else _backoff(attempt - 1)


def _backoff(attempt: int) -> float:
    base: float = settings.SENDGRID_RETRY_BACKOFF_SECONDS * 2**attempt
    return base * random.uniform(0.8, 1.2)  # jitter: workers that failed together retry apart


def _rate_limit_wait(error: HTTPError) -> float:
    headers = error.headers or {}
    try:
        reset = float(headers.get("X-RateLimit-Reset"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _backoff(0)
    return min(max(reset - time.time(), 0.0) + random.uniform(0.0, 0.25), MAX_RATE_LIMIT_WAIT_SECONDS)


def _errors(error: HTTPError) -> list[dict[str, Any]]:
    try:
        errors = json.loads(error.body or b"{}").get("errors") or []
    except (ValueError, AttributeError):
        return []
    return [item for item in errors if isinstance(item, dict)]


def _error_text(error: HTTPError) -> str:
    messages = [str(item.get("message")) for item in _errors(error) if item.get("message")]
    return "; ".join(messages)[:500] or "error"


# ---------------------------------------------------------------------------------------------------------
# Without SendGrid: the same batch, one message per recipient, through Django's email backend
# ---------------------------------------------------------------------------------------------------------
def substitute(text: str, substitutions: dict[str, str]) -> str:
    """Fill placeholders as SendGrid does: each key replaced literally, in one pass."""
    keys = sorted((key for key in substitutions if key), key=len, reverse=True)
    if not keys:
        return text
    pattern = re.compile("|".join(re.escape(key) for key in keys))
    return pattern.sub(lambda match: substitutions[match[0]], text)


def _send_through_django(message: Message, recipients: Sequence[Recipient], report: SendReport) -> None:
    with get_connection() as connection:
        for recipient in recipients:
            email = EmailMultiAlternatives(
                substitute(message.subject, recipient.substitutions),
                substitute(message.text, recipient.substitutions),
                to=[recipient.email],
                headers=recipient.headers,
                reply_to=[address] if (address := recipient.reply_to or message.reply_to) else None,
                connection=connection,
            )
            email.attach_alternative(substitute(message.html, recipient.substitutions), "text/html")
            try:
                email.send()
            except OSError as error:  # SMTP down: nothing went out for this recipient
                report.deferred[recipient.key] = f"email backend failed: {error}"
            else:
                report.accepted[recipient.key] = ""


# ---------------------------------------------------------------------------------------------------------
# Django's email API over SendGrid
# ---------------------------------------------------------------------------------------------------------
class EmailBackend(BaseEmailBackend):
    """Sends Django `EmailMessage`s through SendGrid's v3 API (settings.EMAIL_BACKEND with a key set)."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            outcome = _post(_django_body(message))
            if outcome.status == "accepted":
                sent += 1
            elif not self.fail_silently:
                raise SendGridError(f"SendGrid did not accept the email: {outcome.reason}")
        return sent


def _django_body(message: EmailMessage) -> dict[str, Any]:
    if message.attachments:
        raise SendGridError("Attachments are not supported by Semester's SendGrid backend.")
    html = next((body for body, mime in getattr(message, "alternatives", []) if mime == "text/html"), None)
    text = str(message.body)
    if message.content_subtype == "html":
        html, text = text, strip_tags(text)
    body = _message_body(str(message.subject), text, html and str(html), from_email=message.from_email)
    personalization: dict[str, Any] = {"to": [{"email": parseaddr(to)[1]} for to in message.to]}
    for kind, addresses in (("cc", message.cc), ("bcc", message.bcc)):
        if addresses:
            personalization[kind] = [{"email": parseaddr(address)[1]} for address in addresses]
    body["personalizations"] = [personalization]
    headers = {k: str(v) for k, v in message.extra_headers.items() if k.lower() not in RESERVED_HEADERS}
    if headers:
        body["headers"] = headers
    if message.reply_to:
        body["reply_to"] = {"email": parseaddr(message.reply_to[0])[1]}
    return body


# ---------------------------------------------------------------------------------------------------------
# The signed Event Webhook
# ---------------------------------------------------------------------------------------------------------
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
WEBHOOK_NOT_CONFIGURED = "The event webhook's verification key is not configured."
WEBHOOK_UNSIGNED = "The post is not signed."
WEBHOOK_STALE = "The post's timestamp is too old (or in the future): a replay?"
WEBHOOK_FORGED = "The signature does not match the body."


@functools.cache
def _webhook_verifier(public_key: str) -> EventWebhook:
    from sendgrid.helpers.eventwebhook import EventWebhook  # as in _client: loaded by the first post

    return EventWebhook(public_key)


def webhook_problem(
    *, body: bytes, signature: str | None, timestamp: str | None, now: float | None = None
) -> str | None:
    """Why a webhook post must be refused, or None when SendGrid signed exactly these bytes recently.

    The signature covers the timestamp followed by the raw body, so the body is checked before any parsing.
    """
    if not settings.SENDGRID_WEBHOOK_PUBLIC_KEY:
        return WEBHOOK_NOT_CONFIGURED
    if not signature or not timestamp:
        return WEBHOOK_UNSIGNED
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        return WEBHOOK_UNSIGNED
    if abs(age) > settings.SENDGRID_WEBHOOK_MAX_AGE_SECONDS:
        return WEBHOOK_STALE
    try:
        verifier = _webhook_verifier(settings.SENDGRID_WEBHOOK_PUBLIC_KEY)
    except ValueError:
        logger.error("SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid public key")
        return WEBHOOK_NOT_CONFIGURED
    try:
        valid = verifier.verify_signature(body.decode("utf-8"), signature, timestamp)
    except (ValueError, TypeError, binascii.Error):  # not UTF-8, not base64, or not a DER signature
        valid = False
    return None if valid else WEBHOOK_FORGED
