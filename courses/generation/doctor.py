"""`manage.py llm_doctor`: what the configured LLM endpoint supports, found out in a few cheap calls.

1. List the models (stops here when the endpoint cannot be reached).
2. Ask for a tiny structured answer in each form (json_schema, json_object, tools).
3. Ask for a short count with each token-limit parameter capped low: honoured, or ignored?
4. Without strict json_schema: time a short structured answer with string lengths in its schema and without,
   as a grammar for them can slow a server's sampling many times over (LLM_SCHEMA_LENGTH_LIMITS).
5. Stream a short reply; call the moderation endpoint the settings name.
6. Time a plain reply for the pace (tokens per second), and size the timeouts from it.
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

from courses.generation import llm, prompts
from courses.generation.prompts import Prompt
from courses.generation.schemas import Answer, Line, Title

CACHE_KEY = "llm_doctor:last"
PROBE_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Answer only with JSON."},
    {"role": "user", "content": "Name one planet of the solar system and how many moons it has."},
]
LENGTH_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Answer only with JSON."},
    {"role": "user", "content": "Name one river and tell one fact about it in a sentence."},
]
COUNT_MESSAGES = [{"role": "user", "content": "Count from 1 to 60 in words, separated by commas."}]
PACE_MESSAGES = [{"role": "user", "content": "Write a paragraph of about 100 words about rivers."}]
TOKEN_CAP = 8
STRUCTURED_MAX_TOKENS = 200
PACE_MAX_TOKENS = 160
# Under this pace (or slower than this for a tiny answer) the endpoint is a local model: LLM_PROFILE=slow.
SLOW_TOKENS_PER_SECOND = 50.0
SLOW_TINY_ANSWER_SECONDS = 10.0
# Length limits cost their grammar's time on every token of every answer: past this many times slower per
# token than without them, they are not worth it (every answer is validated against the lengths anyway).
LENGTH_LIMITS_SLOWER = 1.5
LENGTH_LIMITS_NOTICEABLE_SECONDS = 0.5  # below this much longer for the short answer, it is noise
CANNOT_REACH = "Course writing cannot work: the endpoint does not answer."
NO_FORM = "Course writing cannot work: the endpoint gave no usable structured answer in any form."
OFFLINE = "No OPENAI_API_KEY: the offline generator writes courses and nothing is sent anywhere."
T = TypeVar("T")


class ProbeAnswer(Answer):
    planet: Annotated[str, Field(min_length=1, max_length=200)]
    moons: Annotated[int, Field(ge=0, le=1000)]


class LengthProbeAnswer(Answer):
    """Fields sized like a course's (a title, a line), so their grammar weighs as a part's would."""

    river: Title
    fact: Line


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
    form = next(iter(forms), None)
    # Strict json_schema refuses string lengths; other forms may take them, if they do not cost too much.
    length_limits, structured_pace = False, None
    if form is not None and form != "json_schema":
        length_limits, structured_pace = _length_limits_pay(found, form, parameter)
    _streaming(found, parameter)
    provider = _moderation(found)
    pace = _pace(found, parameter)
    if pace and structured_pace:
        pace = min(pace, structured_pace)  # answers in a grammar may come slower than prose
    found.can_write = form is not None
    found.verdict = "Course writing can work." if form else NO_FORM
    if form:
        found.recommended = _recommend(form, parameter, length_limits, provider, pace, forms[form])
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


def _length_limits_pay(found: Diagnosis, form: str, parameter: str) -> tuple[bool, float | None]:
    """Whether to send string lengths in the schema: yes when an answer with them is about as fast per token
    as one without. Without them first, so any prompt processing the two share is charged to that one.
    Also the tokens per second of the structured answer so chosen (None when not counted)."""
    name = "schema length limits"
    prompt = Prompt(
        stage="probe", schema=LengthProbeAnswer, schema_name="river", messages=tuple(LENGTH_MESSAGES)
    )

    def answer(limits: bool) -> llm.Probe[LengthProbeAnswer]:
        return llm.probe_structured(
            prompt,
            form=form,
            token_parameter=parameter,
            max_tokens=STRUCTURED_MAX_TOKENS,
            length_limits=limits,
        )

    without = _probe(found, f"{name} (without them)", lambda: answer(False))
    limited = _probe(found, name, lambda: answer(True))
    if limited is None:
        return False, _tokens_per_second(without)  # the server could not answer with them: send none
    if without is None:
        found.checks.append(Check(name, True, f"needed: without them no usable answer came ({form})"))
        return True, _tokens_per_second(limited)
    slower = _per_token(limited) / _per_token(without)
    figures = f"{_pace_of(limited)} with them, {_pace_of(without)} without ({slower:.1f}x)"
    if slower > LENGTH_LIMITS_SLOWER and limited.seconds - without.seconds > LENGTH_LIMITS_NOTICEABLE_SECONDS:
        why = (
            "the server's grammar for them slows its sampling; answers are still checked against the lengths"
        )
        found.checks.append(Check(name, True, f"{figures}: not worth it ({why})"))
        return False, _tokens_per_second(without)
    found.checks.append(Check(name, True, f"{figures}: sent, so a grammar keeps fields within their lengths"))
    return True, _tokens_per_second(limited)


def _tokens_per_second(probe: llm.Probe[Any] | None) -> float | None:
    tokens = probe.usage.completion_tokens if probe else 0
    return tokens / probe.seconds if probe and tokens and probe.seconds > 0 else None


def _per_token(probe: llm.Probe[Any]) -> float:
    """Seconds per completion token, or for the whole answer when the server does not count them."""
    tokens = probe.usage.completion_tokens
    return max(probe.seconds, 1e-6) / (tokens or 1)


def _pace_of(probe: llm.Probe[Any]) -> str:
    tokens = probe.usage.completion_tokens
    if not tokens:
        return f"{probe.seconds:.2f} s"
    return f"{tokens / max(probe.seconds, 1e-6):.1f} tokens/s ({tokens} in {probe.seconds:.2f} s)"


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
    caps = prompts.MAX_TOKENS
    lesson = caps["lesson"] / 2 / pace
    # The shortest course, every answer at its cap, one at a time: what a requester may wait at worst.
    weeks = settings.COURSE_WEEKS_MIN
    course = (caps["outline"] + weeks * (4 * caps["lesson"] + caps["quiz"])) / pace
    detail = (
        f"{pace:.0f} tokens/s ({tokens} tokens in {probe.seconds:.2f} s): a lesson takes about {lesson:.0f} s; "
        f"a {weeks}-week course at most {course / 60:.0f} min at the token caps"
    )
    found.checks.append(Check("pace", True, detail))
    return pace


def _recommend(
    form: str, parameter: str, length_limits: bool, provider: str, pace: float | None, tiny: float
) -> dict[str, str]:
    recommended = {
        "LLM_STRUCTURED_OUTPUT": form,
        "LLM_TOKEN_LIMIT_PARAMETER": parameter,
        "LLM_SCHEMA_LENGTH_LIMITS": "true" if length_limits else "false",
        "MODERATION_PROVIDER": provider,
    }
    slow = (pace is not None and pace < SLOW_TOKENS_PER_SECOND) or tiny > SLOW_TINY_ANSWER_SECONDS
    recommended["LLM_PROFILE"] = "slow" if slow else "default"
    if pace:
        # The longest answer (an outline) at the measured pace, twice over, in whole minutes.
        needed = 2 * max(prompts.MAX_TOKENS.values()) / pace
        timeout = max(120, math.ceil(needed / 60) * 60)
        if slow or timeout > settings.LLM_TIMEOUT_SECONDS:
            recommended["LLM_TIMEOUT_SECONDS"] = str(timeout)
    return recommended
