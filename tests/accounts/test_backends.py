from __future__ import annotations

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import Client
from django.urls import reverse

from accounts.backends import AccountBackend
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def signed_in_client(user: object, backend: str) -> Client:
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)  # type: ignore[attr-defined]
    session["_auth_user_backend"] = backend
    session["_auth_user_hash"] = user.get_session_auth_hash()  # type: ignore[attr-defined]
    session.create()
    client = Client()
    client.cookies["sessionid"] = str(session.session_key)
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
