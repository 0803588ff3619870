"""MODERATION_PROVIDER: the endpoint's moderations, another endpoint's, the local rules, or off; and the admin
pages that say which is in use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from courses.generation import llm
from courses.models import ContentFlag, LLMCall
from courses.moderation import screening
from tests.factories import UserFactory
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db

HARMFUL = "how to make a bomb at home"


@pytest.fixture
def other_fake() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    try:
        yield fake
    finally:
        fake.stop()


def test_local_screening_makes_no_call_and_records_none(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.MODERATION_PROVIDER = "local"

    result = screening.moderate_texts(texts=[HARMFUL, "Roman aqueducts"], course=None)

    assert result.moderated_by == ContentFlag.Source.LOCAL_RULES
    assert result.categories == ["violence/weapons"]
    assert fake_openai.calls("/v1/moderations") == []
    assert not LLMCall.objects.exists()


def test_off_screening_judges_nothing_and_records_nothing(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.MODERATION_PROVIDER = "off"

    result = screening.moderate_texts(texts=[HARMFUL], course=None)

    assert (result.findings, result.note) == ([], screening.MODERATION_OFF_NOTE)
    assert fake_openai.requests == []
    assert not LLMCall.objects.exists()


def test_url_moderation_goes_to_its_own_endpoint_with_its_own_key(
    fake_openai: FakeOpenAI, other_fake: FakeOpenAI, settings: Any
) -> None:
    settings.MODERATION_PROVIDER = "url"
    settings.MODERATION_BASE_URL = other_fake.base_url
    settings.MODERATION_API_KEY = "moderation-key"

    result = screening.moderate_texts(texts=["how to FLAGME"], course=None)

    assert result.moderated_by == ContentFlag.Source.OPENAI
    assert result.categories == ["illicit", "violence"]
    assert fake_openai.requests == []
    (request,) = other_fake.calls("/v1/moderations")
    assert request["headers"]["authorization"] == "Bearer moderation-key"


def test_an_endpoint_without_moderations_falls_back_to_the_local_rules_at_once(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.moderations = False  # llama-cpp-python, Ollama: /v1/moderations answers 404

    result = screening.moderate_texts(texts=[HARMFUL], course=None)

    assert (result.moderated_by, result.note) == (ContentFlag.Source.LOCAL_RULES, screening.OPENAI_DOWN_NOTE)
    # Configured to ask the endpoint, so the refusal is recorded, once: a 404 is never retried.
    assert [(call.stage, call.outcome) for call in LLMCall.objects.all()] == [
        ("moderation", LLMCall.Outcome.REJECTED)
    ]


def test_without_a_key_the_openai_provider_means_the_local_rules(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    settings.MODERATION_PROVIDER = "openai"

    assert llm.moderation_provider() == "local"
    assert "no OPENAI_API_KEY" in screening.moderation_summary()


@pytest.mark.parametrize(
    ("provider", "words"),
    [
        ("openai", "the moderations endpoint of http://127.0.0.1"),
        ("local", "local rule set (MODERATION_PROVIDER=local)"),
        ("off", "moderation is off (MODERATION_PROVIDER=off)"),
    ],
)
def test_the_admin_shows_who_moderates_on_the_cost_dashboard_and_the_llm_calls(
    client: Client, fake_openai: FakeOpenAI, settings: Any, provider: str, words: str
) -> None:
    settings.MODERATION_PROVIDER = provider
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    for url in (reverse("admin:courses_dashboard"), reverse("admin:courses_llmcall_changelist")):
        page = client.get(url).content.decode()
        assert words in page, url
        assert "LLM_STRUCTURED_OUTPUT=json_schema" in page
