"""What the fake keeps of each request and each message it accepted, and how a Mail Send body with several
personalizations flattens into one message per recipient.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from typing import Literal

from tests.fakes.sendgrid_server.validation import ErrorDict, JsonDict

Fault = int | Literal["disconnect"]


def new_message_id() -> str:
    """A 22-character url-safe id shaped like SendGrid's X-Message-Id."""
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


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
