"""A loopback fake of the OpenAI API (chat completions, moderations, models) for tests and benchmarks.

The real ``openai`` SDK talks to it over HTTP; nothing in the SDK is patched::

    with FakeOpenAI() as fake:
        client = OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        fake.fail_next("429")
        ...
        assert fake.calls()[0]["fault"] == "429"

Chat answers are generated from the request's ``response_format`` JSON schema, so the fake knows
nothing about the app's pydantic models. Generation is deterministic per request body (and ``seed``).

Run standalone for benchmarks (serves until killed, keeps no bodies; SIGTERM prints stats to stderr)::

    python -m tests.fakes.openai_server --port 8765 --latency 0.5 --fault-rate 0.2

A standalone server is inspected with ``GET /__fake/stats`` and cleared with ``POST /__fake/reset``.
Stdlib only.
"""

from tests.fakes.openai_server.protocol import last_user_text, response_schema
from tests.fakes.openai_server.schema import generate_instance, reply_for
from tests.fakes.openai_server.server import FAULT_KINDS, FakeOpenAI, main

__all__ = [
    "FAULT_KINDS",
    "FakeOpenAI",
    "generate_instance",
    "last_user_text",
    "main",
    "reply_for",
    "response_schema",
]
