"""Accounts: one identity per email address, email-link sign-in and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import emails
from accounts.models import ApiToken, User, email_inbox, email_normalise
from school.ratelimit import rate_limit_hit, rate_limit_key

MAGIC_LINK_SALT = "accounts.magic-link"
LINK_INVALID = "This sign-in link is not valid. Please ask for a new one."
LINK_EXPIRED = "This sign-in link has expired. Please ask for a new one."
LINK_USED = "This sign-in link has already been used. Please ask for a new one."
LINK_STAFF = "Admin accounts sign in with their password, on the admin sign-in page."
TOO_MANY_LINKS = "Too many sign-in links were asked for. Please wait an hour, then try again."
API_TOKEN_PREFIX = "sem_"


class MagicLinkError(ValueError):
    """A sign-in link that cannot be used; the message is safe to show."""


@dataclass(frozen=True)
class MagicLink:
    email: str
    next_url: str
    user: User | None  # None until the first sign-in creates the account


def user_get_or_create_for_email(*, email: str) -> User:
    """The learner behind an address, created on first sight (no password: they sign in by email link)."""
    email = email_normalise(email)
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user
    try:
        # create_user, not get_or_create: it marks the password unusable instead of leaving it blank.
        with transaction.atomic():
            return User.objects.create_user(email)
    except IntegrityError:  # the same address signed up in a concurrent request
        return User.objects.get(email=email)


def safe_next_url(next_url: str) -> str:
    """`next_url` if it is a path on this site, else the home page (no open redirects, and never a bare word
    such as "foo" that `redirect()` would take for a URL name)."""
    allowed = url_has_allowed_host_and_scheme(next_url, allowed_hosts=None, require_https=False)
    return next_url if next_url.startswith("/") and allowed else "/"


def _login_stamp(user: User | None) -> str:
    # Signing in moves last_login on, so a link carrying the old value can never be used twice.
    return user.last_login.isoformat() if user and user.last_login else ""


def magic_link_token_make(*, email: str, next_url: str = "") -> str:
    email = email_normalise(email)
    user = User.objects.filter(email=email).first()
    payload = {"e": email, "l": _login_stamp(user), "n": safe_next_url(next_url)}
    return signing.dumps(payload, salt=MAGIC_LINK_SALT, compress=True)


def magic_link_request(*, email: str, ip: str, next_url: str = "") -> None:
    """Email a sign-in link to `email`, unless this address or IP has asked too often (MagicLinkError)."""
    email = email_normalise(email)
    window = 3600
    over_email = rate_limit_hit(
        key=rate_limit_key("magic-email", email_inbox(email)),
        limit=settings.MAGIC_LINK_PER_EMAIL_PER_HOUR,
        window_seconds=window,
    )
    over_ip = rate_limit_hit(
        key=rate_limit_key("magic-ip", ip), limit=settings.MAGIC_LINK_PER_IP_PER_HOUR, window_seconds=window
    )
    if over_email or over_ip:
        raise MagicLinkError(TOO_MANY_LINKS)
    token = magic_link_token_make(email=email, next_url=next_url)
    url = settings.SITE_URL + reverse("accounts:magic_link", args=[token])
    emails.magic_link(to=email, url=url, valid_minutes=settings.MAGIC_LINK_MAX_AGE_SECONDS // 60)


def magic_link_check(*, token: str) -> MagicLink:
    """What a sign-in link stands for, if it can still be used; raises MagicLinkError otherwise."""
    try:
        payload = signing.loads(token, salt=MAGIC_LINK_SALT, max_age=settings.MAGIC_LINK_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise MagicLinkError(LINK_EXPIRED) from None
    except signing.BadSignature:
        raise MagicLinkError(LINK_INVALID) from None
    if not isinstance(payload, dict) or not {"e", "l", "n"} <= payload.keys():
        raise MagicLinkError(LINK_INVALID)
    user = User.objects.filter(email=payload["e"]).first()
    if user is not None and not user.is_active:
        raise MagicLinkError(LINK_INVALID)
    if user is not None and user.is_staff:
        raise MagicLinkError(LINK_STAFF)
    if _login_stamp(user) != payload["l"]:
        raise MagicLinkError(LINK_USED)
    return MagicLink(email=payload["e"], next_url=safe_next_url(payload["n"]), user=user)


def magic_link_redeem(*, token: str) -> MagicLink:
    """Use a sign-in link once: returns the link with its (possibly new) user; the caller logs them in.

    The cache claim makes two simultaneous clicks on one link sign in once; the login stamp makes the link
    useless afterwards, even once the claim has expired from the cache.
    """
    link = magic_link_check(token=token)
    digest = _token_hash(token)
    if not cache.add(f"magic-link-used:{digest}", 1, timeout=settings.MAGIC_LINK_MAX_AGE_SECONDS):
        raise MagicLinkError(LINK_USED)
    user = link.user or user_get_or_create_for_email(email=link.email)
    return MagicLink(email=link.email, next_url=link.next_url, user=user)


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new API token for the learner; the raw token is returned once and never stored."""
    raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip() or "API token", prefix=raw[:10], key_hash=_token_hash(raw)
    )
    return token, raw


def api_token_revoke(*, user: User, token_id: int) -> bool:
    deleted, _ = ApiToken.objects.filter(user=user, id=token_id).delete()
    return deleted > 0


def api_token_authenticate(*, raw: str) -> User | None:
    """The active learner holding this token, or None. Marks the token used (at most once a minute)."""
    token = ApiToken.objects.select_related("user").filter(key_hash=_token_hash(raw.strip())).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
    return token.user
