from __future__ import annotations

import pytest

from accounts.models import User
from accounts.services import user_get_or_create_for_email

pytestmark = pytest.mark.django_db


def test_an_address_seen_for_the_first_time_gets_an_account_without_a_usable_password() -> None:
    user = user_get_or_create_for_email(email="  New.Person@Example.COM ")
    assert user.email == "new.person@example.com"
    assert not user.has_usable_password()


def test_the_same_address_always_finds_the_same_account() -> None:
    first = user_get_or_create_for_email(email="same@example.com")
    assert user_get_or_create_for_email(email="SAME@example.com") == first
    assert User.objects.count() == 1
