from __future__ import annotations

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from accounts.forms import TOKEN_NAME_REQUIRED
from accounts.models import ApiToken
from accounts.services import api_token_authenticate, api_token_create
from accounts.views import TOKEN_REVOKED
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(client: Client) -> None:
    learner = UserFactory()
    client.force_login(learner)
    response = client.post(reverse("accounts:api_tokens"), {"name": "notes app"})
    raw = response.context["created"]
    assert raw.startswith("sem_")
    assert raw in response.content.decode()
    token = ApiToken.objects.get(user=learner)
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (token.name, token.key_hash)
    assert raw not in client.get(reverse("accounts:api_tokens")).content.decode()


def test_a_token_needs_a_name(client: Client) -> None:
    client.force_login(UserFactory())
    response = client.post(reverse("accounts:api_tokens"), {"name": ""})
    assert response.status_code == 400
    assert TOKEN_NAME_REQUIRED in response.content.decode()


def test_a_token_authenticates_its_learner_until_revoked(client: Client) -> None:
    learner = UserFactory()
    token, raw = api_token_create(user=learner, name="cli")
    assert api_token_authenticate(raw=raw) == learner
    token.refresh_from_db()
    assert token.last_used_at is not None
    client.force_login(learner)
    response = client.post(reverse("accounts:api_token_revoke", args=[token.id]), follow=True)
    assert TOKEN_REVOKED in response.content.decode()
    assert api_token_authenticate(raw=raw) is None


def test_a_learner_cannot_revoke_someone_elses_token(client: Client) -> None:
    token, raw = api_token_create(user=UserFactory(), name="theirs")
    client.force_login(UserFactory())
    client.post(reverse("accounts:api_token_revoke", args=[token.id]))
    assert api_token_authenticate(raw=raw) is not None


def test_the_token_page_needs_a_signed_in_learner(client: Client) -> None:
    response = client.get(reverse("accounts:api_tokens"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign_in"))


def test_a_deactivated_learners_token_stops_working() -> None:
    learner = UserFactory()
    _, raw = api_token_create(user=learner, name="x")
    learner.is_active = False
    learner.save(update_fields=["is_active"])
    assert api_token_authenticate(raw=raw) is None
