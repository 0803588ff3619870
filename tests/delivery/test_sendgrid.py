"""delivery/sendgrid.py against the fake SendGrid, through the real SDK."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives, send_mail

from delivery.email import sendgrid
from delivery.email.sendgrid import Message, Recipient, SendGridError, send_batch
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fresh_python import fresh_python_prints

MESSAGE = Message(
    subject="Course · Week 1",
    text="Hi, manage: %manage%",
    html="<p><a href='%manage%'>manage</a></p>",
    category="weekly-lesson",
)


def recipients(count: int, **fields: Any) -> list[Recipient]:
    return [
        Recipient(
            key=n,
            email=f"reader{n}@example.com",
            substitutions={"%manage%": f"https://semester.test/m/{n}/"},
            headers={"List-Unsubscribe": f"<https://semester.test/u/{n}/>"},
            custom_args={"delivery_id": str(n)},
            **fields,
        )
        for n in range(1, count + 1)
    ]


def test_a_batch_is_one_request_with_each_recipients_own_substitutions_headers_and_ledger_id(
    sendgrid: FakeSendGrid,
) -> None:
    report = send_batch(message=MESSAGE, recipients=recipients(3))

    assert len(sendgrid.requests) == 1
    assert set(report.accepted) == {1, 2, 3}
    assert set(report.accepted.values()) == {sendgrid.requests[0].message_id}
    third = next(m for m in sendgrid.messages if m.to == "reader3@example.com")
    assert third.text == "Hi, manage: https://semester.test/m/3/"
    assert "https://semester.test/m/3/" in (third.html or "")
    assert third.headers == {"List-Unsubscribe": "<https://semester.test/u/3/>"}
    assert third.custom_args == {"delivery_id": "3"}
    assert third.from_email == "semester@semester.test"
    assert third.categories == ["weekly-lesson"]


def test_more_than_1000_recipients_go_in_requests_of_at_most_1000(sendgrid: FakeSendGrid) -> None:
    report = send_batch(message=MESSAGE, recipients=recipients(2001))

    assert [len(r.body["personalizations"]) for r in sendgrid.requests if r.body] == [1000, 1000, 1]
    assert len(report.accepted) == 2001


def test_a_429_waits_until_the_rate_limit_resets_then_sends(sendgrid: FakeSendGrid) -> None:
    sendgrid.reset_after = 1.0
    sendgrid.fail_next(429)
    started = time.monotonic()

    report = send_batch(message=MESSAGE, recipients=recipients(2))

    assert [r.status for r in sendgrid.requests] == [429, 202]
    reset = int(sendgrid.requests[0].received_at + 1.0) + 1  # the fake rounds X-RateLimit-Reset up
    assert sendgrid.requests[1].received_at >= reset - 0.05
    assert time.monotonic() - started < 3.5
    assert set(report.accepted) == {1, 2}


def test_server_errors_are_retried_with_backoff(sendgrid: FakeSendGrid, settings: Any) -> None:
    settings.SENDGRID_RETRY_BACKOFF_SECONDS = 0.1
    sendgrid.fail_next(500)
    sendgrid.fail_next(503)

    report = send_batch(message=MESSAGE, recipients=recipients(2))

    statuses = [(r.status, r.received_at) for r in sendgrid.requests]
    assert [status for status, _ in statuses] == [500, 503, 202]
    assert statuses[1][1] - statuses[0][1] >= 0.08  # ~0.1 s, then ~0.2 s
    assert statuses[2][1] - statuses[1][1] >= 0.16
    assert set(report.accepted) == {1, 2}


def test_recipients_are_deferred_when_sendgrid_stays_unavailable(
    sendgrid: FakeSendGrid, settings: Any
) -> None:
    settings.SENDGRID_MAX_RETRIES = 2
    sendgrid.fail_next(503, times=3)

    report = send_batch(message=MESSAGE, recipients=recipients(2))

    assert len(sendgrid.requests) == 3
    assert report.accepted == {}
    assert report.deferred == {1: "503 service unavailable", 2: "503 service unavailable"}


def test_a_4xx_fails_the_recipients_with_sendgrids_reason_and_is_not_retried(sendgrid: FakeSendGrid) -> None:
    sendgrid.fail_next(400)

    report = send_batch(message=MESSAGE, recipients=recipients(2))

    assert len(sendgrid.requests) == 1
    assert report.rejected == {1: "400 Bad Request (injected fault)", 2: "400 Bad Request (injected fault)"}


def test_an_address_sendgrid_rejects_fails_alone_and_the_others_are_sent(sendgrid: FakeSendGrid) -> None:
    sendgrid.reject_addresses = {"reader2@example.com"}

    report = send_batch(message=MESSAGE, recipients=recipients(3))

    assert set(report.accepted) == {1, 3}
    assert report.rejected == {2: "The email address reader2@example.com was rejected."}
    assert [r.status for r in sendgrid.requests] == [400, 202]
    assert sorted(m.to for m in sendgrid.messages) == ["reader1@example.com", "reader3@example.com"]


def test_every_request_has_a_timeout_and_a_lost_answer_is_reported_as_unknown(
    sendgrid: FakeSendGrid, settings: Any
) -> None:
    settings.SENDGRID_TIMEOUT_SECONDS = 0.3
    sendgrid.latency = 2.0
    started = time.monotonic()

    report = send_batch(message=MESSAGE, recipients=recipients(2))

    assert time.monotonic() - started < 1.5
    assert set(report.unknown) == {1, 2}  # SendGrid may have accepted it: never retried blindly
    assert "no answer from SendGrid" in report.unknown[1]


def test_a_dropped_connection_is_reported_as_unknown_not_retried(sendgrid: FakeSendGrid) -> None:
    sendgrid.fail_next("disconnect")

    report = send_batch(message=MESSAGE, recipients=recipients(1))

    assert set(report.unknown) == {1}
    assert len(sendgrid.requests) == 1


def test_a_refused_connection_is_retried_because_nothing_was_sent(settings: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: connections are refused
    settings.SENDGRID_API_KEY = "SG.test"
    settings.SENDGRID_API_HOST = f"http://127.0.0.1:{port}"
    settings.SENDGRID_RETRY_BACKOFF_SECONDS = 0.01
    settings.SENDGRID_MAX_RETRIES = 2

    report = send_batch(message=MESSAGE, recipients=recipients(1))

    assert set(report.deferred) == {1}
    assert "connection failed" in report.deferred[1]


def test_custom_args_over_10_kb_are_refused_before_sending(sendgrid: FakeSendGrid) -> None:
    big = Recipient(key=9, email="big@example.com", custom_args={"delivery_id": "9", "pad": "x" * 10_000})

    report = send_batch(message=MESSAGE, recipients=[*recipients(1), big])

    assert report.rejected == {9: "custom_args over 10 KB"}
    assert [m.to for m in sendgrid.messages] == ["reader1@example.com"]


def test_without_a_key_each_recipient_gets_their_own_django_email(settings: Any) -> None:
    settings.SENDGRID_API_KEY = ""

    report = send_batch(message=MESSAGE, recipients=recipients(2))

    assert set(report.accepted) == {1, 2}
    assert [m.to for m in mail.outbox] == [["reader1@example.com"], ["reader2@example.com"]]
    second = mail.outbox[1]
    assert isinstance(second, EmailMultiAlternatives)
    assert second.body == "Hi, manage: https://semester.test/m/2/"
    assert second.alternatives[0][0] == "<p><a href='https://semester.test/m/2/'>manage</a></p>"
    assert second.extra_headers == {"List-Unsubscribe": "<https://semester.test/u/2/>"}


def test_substitution_replaces_each_key_once_and_never_inside_a_value() -> None:
    text = "%a% and %ab% and %a%"

    assert sendgrid.substitute(text, {"%a%": "%ab%", "%ab%": "B"}) == "%ab% and B and %ab%"


def test_the_email_backend_sends_django_mail_through_sendgrid(sendgrid: FakeSendGrid, settings: Any) -> None:
    settings.EMAIL_BACKEND = "delivery.email.sendgrid.EmailBackend"
    message = EmailMultiAlternatives(
        "Your sign-in link", "Open https://semester.test/s/abc", to=["Ada <ada@example.com>"],
        headers={"X-Entity-Ref-ID": "42"},
    )  # fmt: skip
    message.attach_alternative("<p>Open <a href='https://semester.test/s/abc'>this</a></p>", "text/html")

    assert message.send() == 1

    sent = sendgrid.messages[0]
    assert (sent.to, sent.subject, sent.from_email) == (
        "ada@example.com",
        "Your sign-in link",
        "semester@semester.test",
    )
    assert sent.text == "Open https://semester.test/s/abc"
    assert sent.html == "<p>Open <a href='https://semester.test/s/abc'>this</a></p>"
    assert sent.headers == {"X-Entity-Ref-ID": "42"}


def test_the_email_backend_raises_when_sendgrid_refuses_unless_told_to_be_silent(
    sendgrid: FakeSendGrid, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "delivery.email.sendgrid.EmailBackend"
    sendgrid.fail_next(401)

    with pytest.raises(SendGridError, match="401"):
        send_mail("Hello", "Body", None, ["ada@example.com"])
    sendgrid.fail_next(401)
    assert send_mail("Hello", "Body", None, ["ada@example.com"], fail_silently=True) == 0


def test_a_process_that_never_sends_does_not_load_the_sendgrid_sdk() -> None:
    """10 MB (the SDK and the cryptography it brings) in every web and PDF worker process, which import this
    module through the tasks and the webhooks without sending; it loads when a message is first sent instead."""
    code = (
        "import sys, django; django.setup(); from school.celery import app; app.loader.import_default_modules(); "
        "from delivery.email import sendgrid, webhooks; print(sorted(m for m in sys.modules if m.startswith('sendgrid')))"
    )
    assert fresh_python_prints(code) == "[]"
