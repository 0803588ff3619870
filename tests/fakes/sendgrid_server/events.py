"""SendGrid Event Webhook posts for tests: event dicts shaped like SendGrid's, their JSON body, and a signer
that signs them the way SendGrid does (ECDSA over timestamp + body), for the app's verifier to check.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from collections.abc import Sequence

from tests.fakes.sendgrid_server.records import new_message_id
from tests.fakes.sendgrid_server.validation import JsonDict

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
