from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.backends import AccountBackend
from accounts.models import User
from tests.factories import UserFactory, signed_in_session

pytestmark = pytest.mark.django_db


def signed_in_client(user: User, backend: str) -> Client:
    client = Client()
    client.cookies["sessionid"] = signed_in_session(user, backend)
    return client


def test_it_finds_an_active_learner_and_not_an_inactive_one() -> None:
    active, inactive = UserFactory(), UserFactory(is_active=False)
    assert AccountBackend().get_user(active.pk) == active
    assert AccountBackend().get_user(inactive.pk) is None
    assert AccountBackend().get_user(10**9) is None


@pytest.mark.parametrize(
    "backend", ["accounts.backends.AccountBackend", "django.contrib.auth.backends.ModelBackend"]
)
def test_a_session_keeps_its_learner_signed_in_whichever_backend_it_names(backend: str) -> None:
    """Sessions made before AccountBackend name ModelBackend: an upgrade must not sign them out."""
    user = UserFactory()
    response = signed_in_client(user, backend).get(reverse("delivery:my_learning"))
    assert response.status_code == 200
    assert response.wsgi_request.user == user


def test_a_password_change_signs_the_session_out() -> None:
    user = UserFactory()
    client = signed_in_client(user, "accounts.backends.AccountBackend")
    user.set_password("a-new-password-123")
    user.save()
    response = client.get(reverse("delivery:my_learning"))
    assert response.status_code == 302  # to the sign-in page: the session's hash no longer matches
