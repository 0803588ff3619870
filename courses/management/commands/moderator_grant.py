"""Make someone a moderator: `manage.py moderator_grant ada@example.org`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.services import user_get_or_create_for_email
from courses.moderation.review import MODERATORS_GROUP, moderator_grant


class Command(BaseCommand):
    help = 'Give an account (created if needed) staff access and the "moderators" group.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")

    def handle(self, *args: Any, **options: Any) -> None:
        user = user_get_or_create_for_email(email=options["email"])
        moderator_grant(user=user)
        self.stdout.write(f"{user.email} is now a moderator (staff, in the {MODERATORS_GROUP!r} group).")
        if not user.password or not user.has_usable_password():  # learners have none: they use email links
            self.stdout.write(f"Set their admin password with: manage.py changepassword {user.email}")
