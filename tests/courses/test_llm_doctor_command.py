"""`manage.py llm_doctor`: probes the endpoint, prints what works and the settings to use, keeps its result."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from courses.generation import doctor, prompts
from courses.models import LLMCall
from tests.factories import UserFactory
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db


def run() -> list[str]:
    out = StringIO()
    call_command("llm_doctor", stdout=out)
    return out.getvalue().splitlines()


def check_lines(lines: list[str]) -> dict[str, str]:
    """'ok' or 'FAIL' for each check printed, by its name."""
    return {
        line.strip()[6:].split(":", 1)[0]: line.strip()[:4].strip()
        for line in lines
        if line.startswith(("  ok", "  FAIL"))
    }


def test_against_an_endpoint_that_supports_everything_it_keeps_openais_settings(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_TIMEOUT_SECONDS = 120.0  # the default: long enough at the fake's pace, so not recommended

    lines = run()

    assert check_lines(lines) == {
        "models list": "ok",
        "structured output json_schema": "ok",
        "structured output json_object": "ok",
        "structured output tools": "ok",
        "token limit max_completion_tokens": "ok",
        "token limit max_tokens": "ok",
        "streaming (not needed to write courses)": "ok",
        "moderation (openai)": "ok",
        "pace": "ok",
    }
    assert "Course writing can work." in lines
    settings_lines = lines[lines.index("Settings to use (in .env or the environment):") + 1 :]
    assert settings_lines == [
        "  LLM_STRUCTURED_OUTPUT=json_schema",
        "  LLM_TOKEN_LIMIT_PARAMETER=max_completion_tokens",
        "  LLM_SCHEMA_LENGTH_LIMITS=false",
        "  MODERATION_PROVIDER=openai",
        "  LLM_PROFILE=default",
    ]
    assert not LLMCall.objects.exists()  # probes are not course writing: nothing to account for


def test_against_a_server_like_llama_cpp_python_it_recommends_json_object_max_tokens_and_local_moderation(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.refuse_json_schema = True
    fake_openai.token_limit_parameters = frozenset({"max_tokens"})
    fake_openai.moderations = False

    lines = run()

    checks = check_lines(lines)
    assert checks["structured output json_schema"] == "FAIL"
    assert checks["token limit max_completion_tokens"] == "FAIL"
    assert checks["moderation (openai)"] == "FAIL"
    assert any(
        "structured output json_schema: rejected: HTTP 500" in line and "literal_error" in line
        for line in lines
    )
    assert "  LLM_STRUCTURED_OUTPUT=json_object" in lines
    assert "  LLM_TOKEN_LIMIT_PARAMETER=max_tokens" in lines
    assert "  LLM_SCHEMA_LENGTH_LIMITS=true" in lines
    assert "  MODERATION_PROVIDER=local" in lines


def answer_slower_with_length_limits(fake_openai: FakeOpenAI, settings: Any, *, slowdown: float) -> None:
    """A server on json_object whose grammar for maxLength makes its answers `slowdown` times slower."""
    settings.LLM_TIMEOUT_SECONDS = 30.0  # the tests' 0.5 s would cut the slow answer short
    fake_openai.refuse_json_schema = True
    fake_openai.time_to_first_token, fake_openai.tokens_per_second = 0.0, 50.0
    fake_openai.length_limits_slowdown = slowdown


def test_it_recommends_length_limits_off_when_their_grammar_makes_answers_much_slower(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    answer_slower_with_length_limits(fake_openai, settings, slowdown=4.0)

    lines = run()

    assert "  LLM_SCHEMA_LENGTH_LIMITS=false" in lines
    (line,) = [line for line in lines if "schema length limits:" in line]
    assert "not worth it (the server's grammar for them slows its sampling" in line
    timed = [
        call["json"] for call in fake_openai.calls() if "Name one river" in str(call["json"]["messages"])
    ]
    limits = ["maxLength" in str(body["response_format"]["schema"]) for body in timed]
    assert limits == [False, True]  # timed without them, then with


def test_it_recommends_length_limits_when_they_cost_little(fake_openai: FakeOpenAI, settings: Any) -> None:
    answer_slower_with_length_limits(fake_openai, settings, slowdown=1.1)

    lines = run()

    assert "  LLM_SCHEMA_LENGTH_LIMITS=true" in lines
    (line,) = [line for line in lines if "schema length limits:" in line]
    assert "x): sent" in line


def test_at_a_local_models_pace_it_sizes_the_timeout_from_the_token_caps_in_use(
    fake_openai: FakeOpenAI, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.LLM_TIMEOUT_SECONDS = 30.0
    fake_openai.refuse_json_schema = True
    fake_openai.time_to_first_token, fake_openai.tokens_per_second = 0.0, 20.0
    caps = {"outline": 2400, "week": 800, "lesson": 300, "quiz": 450, "judge": 600}
    monkeypatch.setattr(prompts, "MAX_TOKENS", caps)

    lines = run()

    assert "  LLM_PROFILE=slow" in lines
    # The outline's 2,400 tokens at about 20 tokens/s, twice over, in whole minutes.
    assert any(line in lines for line in ("  LLM_TIMEOUT_SECONDS=240", "  LLM_TIMEOUT_SECONDS=300"))
    (pace,) = [line for line in lines if line.strip().startswith("ok    pace:")]
    assert "a 4-week course at most" in pace


def test_when_the_endpoint_does_not_answer_it_says_so_and_fails(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_MAX_RETRIES = 0
    fake_openai.stop()

    with pytest.raises(CommandError, match=doctor.CANNOT_REACH):
        run()

    saved = doctor.diagnosis_last()
    assert saved is not None
    assert (saved.can_write, saved.verdict) == (False, doctor.CANNOT_REACH)
    assert saved.checks[0].name == "models list"
    assert saved.checks[0].detail.startswith("connection_error: connection failed")


def test_when_no_form_gives_a_usable_answer_it_fails(fake_openai: FakeOpenAI) -> None:
    fake_openai.fault_rate, fake_openai.fault_kinds = 1.0, ["not_json"]

    with pytest.raises(CommandError, match=doctor.NO_FORM):
        run()


def test_without_a_key_it_says_the_offline_generator_writes_courses(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""

    assert doctor.OFFLINE in run()


def test_the_admin_shows_its_last_result(client: Client, fake_openai: FakeOpenAI) -> None:
    fake_openai.refuse_json_schema = True
    run()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get(reverse("admin:courses_llmcall_changelist")).content.decode()

    assert "Last <code>manage.py llm_doctor</code>" in page
    assert "structured output json_schema" in page
    assert "<code>LLM_STRUCTURED_OUTPUT=json_object</code>" in page
