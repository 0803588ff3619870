"""Signed tokens for the links in emails (django.core.signing, keyed by SECRET_KEY).

Each token names what it allows, and its salt keeps one kind from being replayed as another:
- confirmation of a new subscription (expires),
- managing a subscription (schedule, pause, unsubscribe) and reading its calendar feed: two scopes with
  their own salts, so a calendar address given to a calendar app cannot open the manage page. Neither
  expires (old emails keep working), and both carry the subscription's link generation, which the learner
  raises to retire every link made before ("Replace my links"),
- one answer to one quiz question, and "this week is done" (never expire: learners open old emails).
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

_CONFIRM = "delivery.confirm"
_MANAGE = "delivery.manage"
_CALENDAR = "delivery.calendar"
# Before the scopes, one token ("<subscription id>" under this salt) served manage, unsubscribe and calendar.
# Emails already sent carry it, so it still unsubscribes and reads the calendar until the learner replaces
# their links; it no longer opens the manage page, where a leaked calendar address could do the most.
_LEGACY_SUBSCRIPTION = "delivery.subscription"
_ANSWER = "delivery.quiz-answer"
_WEEK_DONE = "delivery.week-done"
_ASK = "delivery.ask"
# A reply's reference to the week it asks about: "<subscription>.<week>.<16 lower-case base32 characters of
# MAC>", short enough for a subject line, and of characters that survive in an address's local part (which
# some mail systems lower-case).
ASK_TOKEN = re.compile(r"\b(\d{1,12})\.(\d{1,12})\.([a-z2-7]{16})\b")


@functools.lru_cache(maxsize=16)
def _mac(salt: str, secret: str) -> hmac.HMAC:
    # As django.core.signing.Signer(salt=salt) keys it: salted_hmac(salt + "signer", value, SECRET_KEY).
    return hmac.new(hashlib.sha256((salt + "signer" + secret).encode()).digest(), digestmod=hashlib.sha256)


def signer(salt: str) -> Callable[[str], str]:
    """`signing.Signer(salt=salt).sign`, token for token (and verified by it), several times faster: the
    HMAC key is derived once, not on every call. A weekly batch signs about twenty links per recipient."""
    keyed = _mac(salt, settings.SECRET_KEY)

    def sign(value: str) -> str:
        mac = keyed.copy()
        mac.update(value.encode())
        return f"{value}:{base64.urlsafe_b64encode(mac.digest()).rstrip(b'=').decode()}"

    return sign


def _sign(salt: str, value: str) -> str:
    return signer(salt)(value)


class BadToken(ValueError):
    """A link that was not made by us, was altered, or has expired."""


class OutdatedToken(BadToken):
    """One of our links, from before the links of its kind changed: the page says where the new one is."""


@dataclass(frozen=True)
class Answer:
    subscription_id: int
    quiz_id: int
    question: int
    choice: int


@dataclass(frozen=True)
class WeekDone:
    subscription_id: int
    week_id: int


def confirm_token(*, subscription_id: int, email: str) -> str:
    # The address is part of the token, so a link stays tied to the address it was sent to.
    return signing.dumps({"s": subscription_id, "e": email}, salt=_CONFIRM, compress=True)


def confirm_token_read(token: str) -> tuple[int, str]:
    try:
        data = signing.loads(token, salt=_CONFIRM, max_age=settings.DELIVERY_CONFIRM_MAX_AGE_SECONDS)
        return int(data["s"]), str(data["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadToken from None


class Scope(enum.Enum):
    MANAGE = "manage"  # the manage page and everything on it
    UNSUBSCRIBE = "unsubscribe"  # the manage token, as the unsubscribe link and header carry it
    CALENDAR = "calendar"  # read-only: the calendar feed


@dataclass(frozen=True)
class SubscriptionLink:
    subscription_id: int
    generation: int


def manage_token(*, subscription_id: int, generation: int) -> str:
    return _sign(_MANAGE, f"{subscription_id}.{generation}")


def calendar_token(*, subscription_id: int, generation: int) -> str:
    return _sign(_CALENDAR, f"{subscription_id}.{generation}")


def subscription_token_read(token: str, *, scope: Scope) -> SubscriptionLink:
    """The subscription and link generation a manage, unsubscribe or calendar token names, if it was made
    for that scope. The caller compares the generation with the subscription's own."""
    salt = _CALENDAR if scope is Scope.CALENDAR else _MANAGE
    try:
        parts = _unsign(salt, token).split(".")
    except BadToken:
        legacy = _unsign(_LEGACY_SUBSCRIPTION, token)
        if scope is Scope.MANAGE or "." in legacy:
            raise OutdatedToken from None
        parts = [legacy, "0"]
    if len(parts) != 2:
        raise BadToken
    return SubscriptionLink(int(parts[0]), int(parts[1]))


def answer_token(*, subscription_id: int, quiz_id: int, question: int, choice: int) -> str:
    return _sign(_ANSWER, f"{subscription_id}.{quiz_id}.{question}.{choice}")


def answer_signer() -> Callable[[str], str]:
    """For many answer tokens at once: sign f"{subscription_id}.{quiz_id}.{question}.{choice}"."""
    return signer(_ANSWER)


def answer_token_read(token: str) -> Answer:
    parts = _unsign(_ANSWER, token).split(".")
    if len(parts) != 4:
        raise BadToken
    return Answer(*(int(part) for part in parts))


def week_done_token(*, subscription_id: int, week_id: int) -> str:
    return _sign(_WEEK_DONE, f"{subscription_id}.{week_id}")


def week_done_token_read(token: str) -> WeekDone:
    parts = _unsign(_WEEK_DONE, token).split(".")
    if len(parts) != 2:
        raise BadToken
    return WeekDone(*(int(part) for part in parts))


@dataclass(frozen=True)
class Ask:
    subscription_id: int
    week_id: int


def ask_token(*, subscription_id: int, week_id: int) -> str:
    value = f"{subscription_id}.{week_id}"
    return f"{value}.{_ask_mac(value)}"


def ask_token_find(text: str) -> Ask | None:
    """The first genuine ask token in `text` (an address, a subject, a body), or None. Forged or guessed
    tokens are skipped, never trusted."""
    for match in ASK_TOKEN.finditer(text.lower()):
        value = f"{match[1]}.{match[2]}"
        if hmac.compare_digest(_ask_mac(value), match[3]):
            return Ask(int(match[1]), int(match[2]))
    return None


def _ask_mac(value: str) -> str:
    mac = _mac(_ASK, settings.SECRET_KEY).copy()
    mac.update(value.encode())
    return base64.b32encode(mac.digest()).decode()[:16].lower()


def _unsign(salt: str, token: str) -> str:
    try:
        value = signing.Signer(salt=salt).unsign(token)
    except signing.BadSignature:
        raise BadToken from None
    if not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in value.split(".")):
        raise BadToken
    return value
