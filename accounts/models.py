"""One identity per email address: the same learner on the website, in the API and in weekly emails."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models


def email_normalise(email: str) -> str:
    """Addresses are compared case-insensitively; we store them lower-cased and trimmed."""
    return email.strip().lower()


# Providers known to deliver "j.doe@", "jdoe@" and "J.Doe@" to one inbox; googlemail.com is gmail.com.
DOT_BLIND_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def email_inbox(email: str) -> str:
    """The inbox an address reaches, as far as we can tell, for counting emails sent to it (rate limits):
    lower-cased, without a "+tag" (most providers deliver "me+x@" to "me@"), and without dots where the
    provider ignores them. Never used to send: the address as given is kept for that."""
    local, _, domain = email_normalise(email).rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in DOT_BLIND_DOMAINS:
        local, domain = local.replace(".", ""), DOT_BLIND_DOMAINS[domain]
    return f"{local}@{domain}"


class EmailUserManager(UserManager["User"]):
    def _create_user_object(
        self, username: str | None, email: str | None, password: str | None, **extra: Any
    ) -> User:
        email = email_normalise(email or username or "")
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=email, **extra)
        user.password = ""
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        return user

    def create_user(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        user = self._create_user_object(None, email, password, **extra)
        user.save(using=self._db)
        return user

    def create_superuser(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra: Any
    ) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """A learner or an admin, known by email. Learners sign in by email link and have no password."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[EmailUserManager] = EmailUserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email


class ApiToken(models.Model):
    """A learner's key to the JSON API. Only a hash is stored: the token itself is shown once, at creation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the learner uses this token for.")
    # The first characters of the token, shown in the list so the learner can tell tokens apart.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token, hex.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
