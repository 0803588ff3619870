"""`manage.py llm_doctor`: what the configured LLM endpoint supports, found out in a few cheap calls.

1. List the models (stops here when the endpoint cannot be reached).
2. Ask for a tiny structured answer in each form (json_schema, json_object, tools).
3. Ask for a short count with each token-limit parameter capped low: honoured, or ignored?
4. Stream a short reply; call the moderation endpoint the settings name.
5. Time a plain reply for the pace (tokens per second), and size the timeouts from it.
Then recommend the settings that work, and keep the diagnosis in the cache for the admin to show.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from pydantic import Field

from courses.generation import llm
from courses.generation.prompts import MAX_TOKENS, Prompt
from courses.generation.schemas import Answer

CACHE_KEY = "llm_doctor:last"
PROBE_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Answer only with JSON."},
    {"role": "user", "content": "Name one planet of the solar system and how many moons it has."},
]
COUNT_MESSAGES = [{"role": "user", "content": "Count from 1 to 60 in words, separated by commas."}]
PACE_MESSAGES = [{"role": "user", "content": "Write a paragraph of about 100 words about rivers."}]
TOKEN_CAP = 8
STRUCTURED_MAX_TOKENS = 200
PACE_MAX_TOKENS = 160
# Under this pace (or slower than this for a tiny answer) the endpoint is a local model: LLM_PROFILE=slow.
SLOW_TOKENS_PER_SECOND = 50.0
SLOW_TINY_ANSWER_SECONDS = 10.0
CANNOT_REACH = "Course writing cannot work: the endpoint does not answer."
NO_FORM = "Course writing cannot work: the endpoint gave no usable structured answer in any form."
OFFLINE = "No OPENAI_API_KEY: the offline generator writes courses and nothing is sent anywhere."
T = TypeVar("T")


class ProbeAnswer(Answer):
    planet: Annotated[str, Field(min_length=1, max_length=200)]
    moons: Annotated[int, Field(ge=0, le=1000)]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Diagnosis:
    endpoint: str
    model: str
    checked_at: str
    checks: list[Check] = field(default_factory=list)
    recommended: dict[str, str] = field(default_factory=dict)
    can_write: bool = False
    verdict: str = ""

    def lines(self) -> list[str]:
        """The diagnosis as printed: one line per check, the verdict, then the settings to use."""
        out = [f"Semester LLM doctor: {self.endpoint}, model {self.model} ({self.checked_at})"]
        out += [f"  {'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}" for check in self.checks]
        out.append(self.verdict)
        if self.recommended:
            out.append("Settings to use (in .env or the environment):")
            out += [f"  {name}={value}" for name, value in self.recommended.items()]
        return out


def diagnose() -> Diagnosis:
    """Probe the configured endpoint and recommend settings. Never raises for the endpoint's faults."""
    found = Diagnosis(
        endpoint=settings.OPENAI_BASE_URL,
        model=settings.OPENAI_MODEL,
        checked_at=timezone.now().isoformat(timespec="seconds"),
    )
    if llm.is_offline():
        found.endpoint, found.model = "offline", llm.OFFLINE_MODEL
        found.can_write, found.verdict = True, OFFLINE
        return found
    if not _models(found):
        found.verdict = CANNOT_REACH
        return found
    # Each form that works, with how long its tiny answer took.
    forms = {
        form: seconds for form in llm.STRUCTURED_FORMS if (seconds := _structured(found, form)) is not None
    }
    parameters = [name for name in llm.TOKEN_LIMIT_PARAMETERS if _token_limit(found, name)]
    parameter = parameters[0] if parameters else settings.LLM_TOKEN_LIMIT_PARAMETER
    _streaming(found, parameter)
    provider = _moderation(found)
    pace = _pace(found, parameter)
    found.can_write = bool(forms)
    found.verdict = "Course writing can work." if forms else NO_FORM
    if forms:
        form = next(iter(forms))
        found.recommended = _recommend(form, parameter, provider, pace, forms[form])
    return found


def diagnosis_save(diagnosis: Diagnosis) -> None:
    cache.set(CACHE_KEY, asdict(diagnosis), timeout=None)


def diagnosis_last() -> Diagnosis | None:
    """The last diagnosis `llm_doctor` kept, for the admin; None when it never ran (or the cache was emptied)."""
    saved: dict[str, Any] | None = cache.get(CACHE_KEY)
    if not saved:
        return None
    checks = [Check(**check) for check in saved.pop("checks", [])]
    return Diagnosis(**saved, checks=checks)


def _probe(found: Diagnosis, name: str, call: Callable[[], T]) -> T | None:
    """Run one probe; a failure becomes a failed check with the server's own words."""
    try:
        return call()
    except llm.LLMError as error:
        words = " ".join(error.message.split())  # a server's traceback, on one line
        found.checks.append(Check(name, False, f"{error.outcome}: {words[:300]}"))
        return None


def _models(found: Diagnosis) -> bool:
    probe = _probe(found, "models list", llm.probe_models)
    if probe is None:
        return False
    names = probe.value
    listed = settings.OPENAI_MODEL in names
    note = "" if listed or not names else f"; OPENAI_MODEL={settings.OPENAI_MODEL} is not among them"
    shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
    found.checks.append(Check("models list", True, f"{len(names)} model(s) ({shown}){note}"))
    return True


def _structured(found: Diagnosis, form: str) -> float | None:
    """Seconds a tiny answer in `form` took, or None when the form does not work."""
    name = f"structured output {form}"
    prompt = Prompt(stage="probe", schema=ProbeAnswer, schema_name="planet", messages=tuple(PROBE_MESSAGES))
    probe = _probe(
        found,
        name,
        lambda: llm.probe_structured(
            prompt,
            form=form,
            token_parameter=settings.LLM_TOKEN_LIMIT_PARAMETER,
            max_tokens=STRUCTURED_MAX_TOKENS,
        ),
    )
    if probe is not None:
        answer = probe.value
        detail = f"{answer.planet}, {answer.moons} moons, in {probe.seconds:.2f} s"
        found.checks.append(Check(name, True, detail))
        return probe.seconds
    return None


def _token_limit(found: Diagnosis, parameter: str) -> bool:
    name = f"token limit {parameter}"
    probe = _probe(
        found,
        name,
        lambda: llm.probe_text(messages=COUNT_MESSAGES, token_parameter=parameter, max_tokens=TOKEN_CAP),
    )
    if probe is None:
        return False
    tokens = probe.usage.completion_tokens or len(probe.value.split())
    honoured = tokens <= TOKEN_CAP + 2
    verdict = "honoured" if honoured else "ignored"
    found.checks.append(Check(name, honoured, f"{verdict}: asked for {TOKEN_CAP} tokens, got {tokens}"))
    return honoured


def _streaming(found: Diagnosis, parameter: str) -> None:
    probe = _probe(
        found,
        "streaming",
        lambda: llm.probe_stream(messages=COUNT_MESSAGES, token_parameter=parameter, max_tokens=40),
    )
    if probe is not None:
        streams = probe.value > 1
        detail = f"{probe.value} chunks, the first after {probe.seconds:.2f} s"
        found.checks.append(Check("streaming (not needed to write courses)", streams, detail))


def _moderation(found: Diagnosis) -> str:
    """The moderation provider to use: the configured one if it answers, else the local rules."""
    provider = llm.moderation_provider()
    name = f"moderation ({provider})"
    if provider in ("local", "off"):
        found.checks.append(Check(name, True, "no endpoint to call: MODERATION_PROVIDER=" + provider))
        return provider
    probe = _probe(found, name, lambda: llm.probe_moderation(inputs=["Roman aqueducts"]))
    if probe is None:
        return "local"
    found.checks.append(Check(name, True, f"answered in {probe.seconds:.2f} s"))
    return provider


def _pace(found: Diagnosis, parameter: str) -> float | None:
    """Tokens per second of a plain reply, or None when the server does not count them."""
    probe = _probe(
        found,
        "pace",
        lambda: llm.probe_text(messages=PACE_MESSAGES, token_parameter=parameter, max_tokens=PACE_MAX_TOKENS),
    )
    if probe is None:
        return None
    tokens = probe.usage.completion_tokens
    if not tokens or probe.seconds <= 0:
        found.checks.append(Check("pace", True, f"a reply in {probe.seconds:.2f} s (no token count given)"))
        return None
    pace = tokens / probe.seconds
    lesson = MAX_TOKENS["lesson"] / 2 / pace
    detail = (
        f"{pace:.0f} tokens/s ({tokens} tokens in {probe.seconds:.2f} s): a lesson takes about {lesson:.0f} s"
    )
    found.checks.append(Check("pace", True, detail))
    return pace


def _recommend(form: str, parameter: str, provider: str, pace: float | None, tiny: float) -> dict[str, str]:
    recommended = {
        "LLM_STRUCTURED_OUTPUT": form,
        "LLM_TOKEN_LIMIT_PARAMETER": parameter,
        # A server that turns the schema into a grammar keeps fields within their lengths; strict mode refuses them.
        "LLM_SCHEMA_LENGTH_LIMITS": "false" if form == "json_schema" else "true",
        "MODERATION_PROVIDER": provider,
    }
    slow = (pace is not None and pace < SLOW_TOKENS_PER_SECOND) or tiny > SLOW_TINY_ANSWER_SECONDS
    recommended["LLM_PROFILE"] = "slow" if slow else "default"
    if pace:
        # The longest answer (an outline) at the measured pace, twice over, in whole minutes.
        needed = 2 * max(MAX_TOKENS.values()) / pace
        timeout = max(120, math.ceil(needed / 60) * 60)
        if slow or timeout > settings.LLM_TIMEOUT_SECONDS:
            recommended["LLM_TIMEOUT_SECONDS"] = str(timeout)
    return recommended
