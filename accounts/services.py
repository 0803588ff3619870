from __future__ import annotations

from accounts.models import User, email_normalise


def user_get_or_create_for_email(*, email: str) -> User:
    """The learner behind an address, created on first sight (no password: they sign in by email link)."""
    user, _ = User.objects.get_or_create(email=email_normalise(email))
    return user
