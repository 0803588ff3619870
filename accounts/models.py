"""One identity per email address: the same learner on the website, in the API and in weekly emails."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models


def email_normalise(email: str) -> str:
    """Addresses are compared case-insensitively; we store them lower-cased and trimmed."""
    return email.strip().lower()


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
