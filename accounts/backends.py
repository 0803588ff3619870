"""How a signed-in learner is found on each request."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from accounts.models import User
from school.db import row_by_pk


class AccountBackend(ModelBackend):
    """Django's ModelBackend, reading the session's user with a query compiled once (`school.db.row_by_pk`):
    every signed-in page asks for it, and building the ORM's query was most of that read's cost."""

    def get_user(self, user_id: Any) -> User | None:
        user = row_by_pk(User, user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
