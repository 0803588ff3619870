"""The JSON API against its own OpenAPI document: schemathesis generates requests from the document and checks
every answer conforms (status codes, content types and bodies documented; no 5xx). Bounded: a few examples per
operation, so it runs in CI next to the hand-written tests."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from school.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


@pytest.mark.django_db(transaction=True)  # the WSGI handler closes the connection after each request
@schema.parametrize()
# Random examples each run, so every CI run explores a little further; bounded (8 per operation) so the test
# takes about a minute. The document says what the server refuses (e.g. surrogates in a topic), so any
# request it allows must be answered as documented.
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_openapi_document_says(case: schemathesis.Case) -> None:
    case.call_and_validate()
