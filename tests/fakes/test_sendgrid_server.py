"""The SendGrid fake, exercised through the real sendgrid SDK over loopback HTTP (no Django needed)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from python_http_client.exceptions import (
    BadRequestsError,
    HTTPError,
    InternalServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)
from sendgrid import SendGridAPIClient
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.mail import (
    Content,
    CustomArg,
    Header,
    Mail,
    Personalization,
    Substitution,
    To,
)

from tests.fakes.sendgrid_server import (
    FakeSendGrid,
    WebhookSigner,
    event,
    webhook_body,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


@pytest.fixture
def client(fake: FakeSendGrid) -> SendGridAPIClient:
    return SendGridAPIClient(api_key="SG.test", host=fake.host_url)


def simple_mail(to: str = "ada@example.com") -> Mail:
    return Mail(
        from_email="course@semester.test",
        to_emails=to,
        subject="Week 1",
        plain_text_content="Hello",
        html_content="<p>Hello</p>",
    )


def raw_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
        "from": {"email": "course@semester.test"},
        "subject": "Week 1",
        "content": [{"type": "text/plain", "value": "Hello"}],
    }
    body.update(overrides)
    return body


def post_raw(client: SendGridAPIClient, body: dict[str, Any]) -> Any:
    return client.client.mail.send.post(request_body=body)


def errors_of(excinfo: pytest.ExceptionInfo[HTTPError]) -> list[dict[str, Any]]:
    return excinfo.value.to_dict["errors"]


def fields_of(excinfo: pytest.ExceptionInfo[HTTPError]) -> list[str | None]:
    return [error["field"] for error in errors_of(excinfo)]


# --------------------------------------------------------------------------- happy path


def test_it_accepts_a_valid_mail_send_and_returns_202(fake: FakeSendGrid, client: SendGridAPIClient) -> None:
    mail = Mail(from_email="course@semester.test", subject="Week 1 for -name-")
    mail.add_content(Content("text/plain", "Hi -name-, week -week- is here."))
    mail.add_content(Content("text/html", "<p>Hi -name-</p>"))
    personalization = Personalization()
    personalization.add_to(To("ada@example.com", "Ada"))
    personalization.add_substitution(Substitution("-name-", "Ada"))
    personalization.add_substitution(Substitution("-week-", "1"))
    personalization.add_custom_arg(CustomArg("delivery_id", "42"))
    personalization.add_header(Header("X-Course", "c-7"))
    mail.add_personalization(personalization)
    mail.add_custom_arg(CustomArg("env", "test"))
    mail.add_header(Header("List-Unsubscribe", "<https://semester.test/u>"))

    response = client.send(mail)

    assert response.status_code == 202
    assert response.body == b""
    message_id = response.headers["X-Message-Id"]
    assert len(message_id) == 22
    (message,) = fake.messages
    assert message.to == "ada@example.com"
    assert message.to_name == "Ada"
    assert message.subject == "Week 1 for Ada"
    assert message.text == "Hi Ada, week 1 is here."
    assert message.html == "<p>Hi Ada</p>"
    assert message.custom_args == {"env": "test", "delivery_id": "42"}
    assert message.headers == {"List-Unsubscribe": "<https://semester.test/u>", "X-Course": "c-7"}
    assert message.message_id == message_id
    assert fake.requests[0].status == 202
    assert fake.requests[0].body is not None


def test_it_flattens_one_message_per_to_recipient_with_each_personalizations_values(
    fake: FakeSendGrid, client: SendGridAPIClient
) -> None:
    body = raw_body(
        subject="Hello {{first}}",
        personalizations=[
            {
                "to": [{"email": "a@example.com"}, {"email": "b@example.com"}],
                "substitutions": {"{{first}}": "team"},
            },
            {
                "to": [{"email": "c@example.com"}],
                "subject": "Just for {{first}}",
                "substitutions": {"{{first}}": "C"},
            },
        ],
        content=[{"type": "text/plain", "value": "Dear {{first}}"}],
    )

    assert post_raw(client, body).status_code == 202

    summary = [(m.to, m.subject, m.text, m.personalization_index) for m in fake.messages]
    assert summary == [
        ("a@example.com", "Hello team", "Dear team", 0),
        ("b@example.com", "Hello team", "Dear team", 0),
        ("c@example.com", "Just for C", "Dear C", 1),
    ]


def test_it_accepts_a_template_send_without_subject_or_content(
    fake: FakeSendGrid, client: SendGridAPIClient
) -> None:
    body = raw_body(
        template_id="d-123",
        personalizations=[{"to": [{"email": "ada@example.com"}], "dynamic_template_data": {"week": 3}}],
    )
    del body["subject"], body["content"]

    assert post_raw(client, body).status_code == 202
    assert fake.messages[0].dynamic_template_data == {"week": 3}
    assert fake.messages[0].template_id == "d-123"


# --------------------------------------------------------------------------- validation


def test_it_rejects_a_mail_without_a_sender(client: SendGridAPIClient) -> None:
    mail = Mail(to_emails="ada@example.com", subject="Week 1", plain_text_content="Hello")

    with pytest.raises(BadRequestsError) as excinfo:
        client.send(mail)

    assert excinfo.value.status_code == 400
    assert fields_of(excinfo) == ["from.email"]
    assert errors_of(excinfo)[0]["help"] is None


def test_it_rejects_more_than_1000_personalizations(client: SendGridAPIClient) -> None:
    personalizations = [{"to": [{"email": f"user{i}@example.com"}]} for i in range(1001)]

    with pytest.raises(BadRequestsError) as excinfo:
        post_raw(client, raw_body(personalizations=personalizations))

    assert fields_of(excinfo) == ["personalizations"]
    assert "1001 personalizations" in errors_of(excinfo)[0]["message"]


def test_it_rejects_more_than_1000_recipients_across_to_cc_and_bcc(client: SendGridAPIClient) -> None:
    personalizations = [
        {"to": [{"email": f"to{i}@example.com"}], "cc": [{"email": f"cc{i}@example.com"}]} for i in range(501)
    ]

    with pytest.raises(BadRequestsError) as excinfo:
        post_raw(client, raw_body(personalizations=personalizations))

    assert fields_of(excinfo) == ["personalizations"]
    assert "1000 total recipients" in errors_of(excinfo)[0]["message"]


def test_it_rejects_an_invalid_recipient_address(client: SendGridAPIClient) -> None:
    with pytest.raises(BadRequestsError) as excinfo:
        client.send(simple_mail(to="ada@example"))

    assert fields_of(excinfo) == ["personalizations.0.to.0.email"]
    assert errors_of(excinfo)[0]["message"] == "Does not contain a valid address."


def test_it_rejects_a_personalization_without_to(client: SendGridAPIClient) -> None:
    with pytest.raises(BadRequestsError) as excinfo:
        post_raw(client, raw_body(personalizations=[{"cc": [{"email": "ada@example.com"}]}]))

    assert fields_of(excinfo) == ["personalizations.0.to"]


def test_it_rejects_duplicate_addresses_within_a_personalization(client: SendGridAPIClient) -> None:
    pers = {"to": [{"email": "ada@example.com"}], "bcc": [{"email": "ADA@example.com"}]}

    with pytest.raises(BadRequestsError) as excinfo:
        post_raw(client, raw_body(personalizations=[pers]))

    assert fields_of(excinfo) == ["personalizations.0"]


def test_it_rejects_custom_args_over_10_kb_combined_with_the_top_level(client: SendGridAPIClient) -> None:
    mail = simple_mail()
    mail.add_custom_arg(CustomArg("top", "x" * 6_000))
    mail.add_custom_arg(CustomArg("mine", "y" * 6_000, p=0))

    with pytest.raises(BadRequestsError) as excinfo:
        client.send(mail)

    assert fields_of(excinfo) == ["personalizations.0.custom_args"]
    assert "10000 bytes" in errors_of(excinfo)[0]["message"]


def test_it_rejects_non_string_custom_args(client: SendGridAPIClient) -> None:
    with pytest.raises(BadRequestsError) as excinfo:
        post_raw(client, raw_body(custom_args={"delivery_id": 42}))

    assert fields_of(excinfo) == ["custom_args"]


def test_it_rejects_a_mail_without_content(client: SendGridAPIClient) -> None:
    mail = Mail(from_email="course@semester.test", to_emails="ada@example.com", subject="Week 1")

    with pytest.raises(BadRequestsError) as excinfo:
        client.send(mail)

    assert fields_of(excinfo) == ["content"]


def test_it_rejects_empty_content_values_and_plain_text_after_html(client: SendGridAPIClient) -> None:
    content = [{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": ""}]

    with pytest.raises(BadRequestsError) as excinfo:
        post_raw(client, raw_body(content=content))

    assert fields_of(excinfo) == ["content.1.value", "content.0.type"]


def test_it_requires_a_subject_unless_every_personalization_has_one(
    fake: FakeSendGrid, client: SendGridAPIClient
) -> None:
    pers = [{"to": [{"email": "a@example.com"}], "subject": "A"}, {"to": [{"email": "b@example.com"}]}]
    body = raw_body(personalizations=pers)
    del body["subject"]
    with pytest.raises(BadRequestsError) as excinfo:
        post_raw(client, body)
    assert fields_of(excinfo) == ["subject"]

    pers[1]["subject"] = "B"
    assert post_raw(client, body).status_code == 202
    assert [m.subject for m in fake.messages] == ["A", "B"]


def test_it_rejects_reserved_and_non_string_headers(client: SendGridAPIClient) -> None:
    pers = [{"to": [{"email": "ada@example.com"}], "headers": {"X-Retry": 3}}]

    with pytest.raises(BadRequestsError) as excinfo:
        post_raw(
            client, raw_body(headers={"Content-Type": "text/plain", "x-sg-id": "1"}, personalizations=pers)
        )

    assert fields_of(excinfo) == ["personalizations.0.headers", "headers.Content-Type", "headers.x-sg-id"]


def test_it_limits_categories_to_ten_of_at_most_255_characters(client: SendGridAPIClient) -> None:
    with pytest.raises(BadRequestsError) as too_many:
        post_raw(client, raw_body(categories=[f"c{i}" for i in range(11)]))
    with pytest.raises(BadRequestsError) as too_long:
        post_raw(client, raw_body(categories=["ok", "x" * 256]))

    assert fields_of(too_many) == ["categories"]
    assert fields_of(too_long) == ["categories.1"]


def test_it_accepts_reply_to_asm_and_settings_objects(client: SendGridAPIClient) -> None:
    body = raw_body(
        reply_to={"email": "help@semester.test"},
        categories=["weekly"],
        asm={"group_id": 7},
        mail_settings={"sandbox_mode": {"enable": False}},
        tracking_settings={"click_tracking": {"enable": False}},
    )

    assert post_raw(client, body).status_code == 202


def test_it_answers_400_for_a_body_that_is_not_json(fake: FakeSendGrid) -> None:
    request = urllib.request.Request(
        f"{fake.host_url}/v3/mail/send",
        data=b"{nope",
        method="POST",
        headers={"Authorization": "Bearer SG.test"},
    )

    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=5)

    assert excinfo.value.code == 400
    assert json.loads(excinfo.value.read())["errors"][0]["message"] == "Bad Request"


# --------------------------------------------------------------------------- auth and faults


def test_it_answers_401_without_a_bearer_key(fake: FakeSendGrid) -> None:
    request = urllib.request.Request(
        f"{fake.host_url}/v3/mail/send", data=json.dumps(raw_body()).encode(), method="POST"
    )

    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=5)

    assert excinfo.value.code == 401
    assert json.loads(excinfo.value.read()) == {
        "errors": [{"message": "authorization required", "field": None, "help": None}]
    }
    assert fake.messages == []


def test_it_answers_401_for_an_unknown_key_when_keys_are_configured(fake: FakeSendGrid) -> None:
    fake.api_keys = {"SG.good"}
    good = SendGridAPIClient(api_key="SG.good", host=fake.host_url)
    bad = SendGridAPIClient(api_key="SG.bad", host=fake.host_url)

    assert good.send(simple_mail()).status_code == 202
    with pytest.raises(UnauthorizedError):
        bad.send(simple_mail())


def test_it_answers_429_with_rate_limit_headers_then_recovers(
    fake: FakeSendGrid, client: SendGridAPIClient
) -> None:
    fake.reset_after = 5
    fake.fail_next(429)

    with pytest.raises(TooManyRequestsError) as excinfo:
        client.send(simple_mail())

    headers = excinfo.value.headers
    assert headers["X-RateLimit-Remaining"] == "0"
    assert int(headers["X-RateLimit-Limit"]) > 0
    assert time.time() + 4 <= int(headers["X-RateLimit-Reset"]) <= time.time() + 6
    assert errors_of(excinfo) == [{"message": "too many requests", "field": None, "help": None}]
    assert client.send(simple_mail()).status_code == 202
    assert [r.status for r in fake.requests] == [429, 202]
    assert len(fake.messages) == 1


def test_it_answers_injected_server_errors_the_requested_number_of_times(
    fake: FakeSendGrid, client: SendGridAPIClient
) -> None:
    fake.fail_next(500, times=2)
    fake.fail_next(503)

    for expected in (InternalServerError, InternalServerError, ServiceUnavailableError):
        with pytest.raises(expected) as excinfo:
            client.send(simple_mail())
        assert errors_of(excinfo)[0]["message"]
    assert client.send(simple_mail()).status_code == 202


def test_it_answers_injected_400_and_401_in_sendgrids_error_shape(
    client: SendGridAPIClient, fake: FakeSendGrid
) -> None:
    fake.fail_next(400)
    fake.fail_next(401)

    with pytest.raises(BadRequestsError) as bad_request:
        client.send(simple_mail())
    with pytest.raises(UnauthorizedError):
        client.send(simple_mail())

    assert set(errors_of(bad_request)[0]) == {"message", "field", "help"}


def test_it_can_drop_the_connection_without_answering(fake: FakeSendGrid, client: SendGridAPIClient) -> None:
    fake.fail_next("disconnect")

    # urllib surfaces a dropped socket as URLError or RemoteDisconnected; both are OSError.
    with pytest.raises(OSError, match=r"(?i)closed|disconnect|reset|refused|aborted"):
        client.send(simple_mail())

    assert fake.requests[0].status is None
    assert fake.requests[0].fault == "disconnect"
    assert client.send(simple_mail()).status_code == 202


def test_random_faults_follow_the_rate_and_are_reproducible_by_seed() -> None:
    def statuses(seed: int) -> list[int | None]:
        with FakeSendGrid(seed=seed) as server:
            server.fault_rate = 0.5
            server.fault_statuses = [503]
            sdk = SendGridAPIClient(api_key="SG.test", host=server.host_url)
            for _ in range(20):
                with contextlib.suppress(ServiceUnavailableError):
                    sdk.send(simple_mail())
            return [r.status for r in server.requests]

    first = statuses(seed=3)
    assert first == statuses(seed=3)
    assert 3 <= first.count(503) <= 17
    assert set(first) == {202, 503}


def test_reject_addresses_make_one_recipient_a_permanent_400(
    fake: FakeSendGrid, client: SendGridAPIClient
) -> None:
    fake.reject_addresses = {"Bounce@Example.com"}
    pers = [{"to": [{"email": "ok@example.com"}]}, {"to": [{"email": "bounce@example.com"}]}]

    with pytest.raises(BadRequestsError) as excinfo:
        post_raw(client, raw_body(personalizations=pers))

    assert fields_of(excinfo) == ["personalizations.1.to.0.email"]
    assert "bounce@example.com" in errors_of(excinfo)[0]["message"]
    assert fake.messages == []


def test_latency_delays_each_request_and_can_change_at_runtime(
    fake: FakeSendGrid, client: SendGridAPIClient
) -> None:
    fake.latency = 0.3
    started = time.perf_counter()
    client.send(simple_mail())
    slow = time.perf_counter() - started

    fake.latency = 0.0
    started = time.perf_counter()
    client.send(simple_mail())
    fast = time.perf_counter() - started

    assert slow >= 0.3
    assert fast < 0.2


def test_it_serves_concurrent_requests_and_records_the_peak_in_flight(
    fake: FakeSendGrid, client: SendGridAPIClient
) -> None:
    fake.latency = 0.2
    threads = [
        threading.Thread(target=client.send, args=(simple_mail(f"u{i}@example.com"),)) for i in range(8)
    ]

    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert time.perf_counter() - started < 1.2  # would be 1.6 s if served one at a time
    assert fake.max_in_flight >= 4
    assert len(fake.messages) == 8


def test_reset_forgets_traffic_and_pending_faults_but_keeps_knobs(
    fake: FakeSendGrid, client: SendGridAPIClient
) -> None:
    fake.latency = 0.01
    client.send(simple_mail())
    fake.fail_next(500)

    fake.reset()

    assert fake.messages == []
    assert fake.requests == []
    assert client.send(simple_mail()).status_code == 202
    assert fake.latency == 0.01


def test_compact_recording_keeps_only_recipient_subject_and_custom_args() -> None:
    personalizations = [
        {"to": [{"email": f"user{i}@example.com"}], "custom_args": {"delivery_id": str(i)}}
        for i in range(1000)
    ]
    with FakeSendGrid(keep_bodies=False) as server:
        sdk = SendGridAPIClient(api_key="SG.test", host=server.host_url)
        started = time.perf_counter()
        post_raw(sdk, raw_body(personalizations=personalizations, custom_args={"batch": "b1"}))
        elapsed = time.perf_counter() - started
        messages = server.messages

    assert elapsed < 1.0
    assert len(messages) == 1000
    assert messages[999].to == "user999@example.com"
    assert messages[999].custom_args == {"batch": "b1", "delivery_id": "999"}
    assert messages[999].subject == "Week 1"
    assert messages[999].contents is None
    assert server.requests[0].body is None


def test_unknown_paths_answer_404(fake: FakeSendGrid, client: SendGridAPIClient) -> None:
    with pytest.raises(HTTPError) as excinfo:
        client.client.templates.get()

    assert excinfo.value.status_code == 404


def test_the_command_line_server_prints_its_url_and_serves_until_killed() -> None:
    command = [sys.executable, "-m", "tests.fakes.sendgrid_server", "--port", "0", "--latency", "0.01"]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        sdk = SendGridAPIClient(api_key="SG.test", host=line.removeprefix("listening on "))
        assert sdk.send(simple_mail()).status_code == 202
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert '"messages": 1' in stderr


# --------------------------------------------------------------------------- event webhook


def test_the_sdk_event_webhook_verifies_a_signed_post_and_rejects_a_tampered_one() -> None:
    signer = WebhookSigner()
    body = webhook_body([event("delivered", email="ada@example.com", delivery_id="42")])
    headers = signer.headers(body)
    signature = headers["X-Twilio-Email-Event-Webhook-Signature"]
    timestamp = headers["X-Twilio-Email-Event-Webhook-Timestamp"]
    verifier = EventWebhook()
    public_key = verifier.convert_public_key_to_ecdsa(signer.public_key_b64)

    assert verifier.verify_signature(body.decode(), signature, timestamp, public_key) is True
    tampered = body.replace(b"delivered", b"bounce")
    assert verifier.verify_signature(tampered.decode(), signature, timestamp, public_key) is False
    assert verifier.verify_signature(body.decode(), signature, str(int(timestamp) + 1), public_key) is False
    other_key = EventWebhook(WebhookSigner().public_key_b64)
    assert other_key.verify_signature(body.decode(), signature, timestamp) is False


def test_the_signer_uses_the_given_timestamp() -> None:
    signer = WebhookSigner()

    headers = signer.headers(b"[]\r\n", timestamp="1700000000")

    assert headers["X-Twilio-Email-Event-Webhook-Timestamp"] == "1700000000"
    assert EventWebhook(signer.public_key_b64).verify_signature(
        "[]\r\n", headers["X-Twilio-Email-Event-Webhook-Signature"], "1700000000"
    )


def test_events_look_like_sendgrids_with_custom_args_at_the_top_level() -> None:
    delivered = event(
        "delivered", email="ada@example.com", timestamp=1700000000, sg_event_id="ev1", delivery_id="42"
    )
    blocked = event("blocked", email="ada@example.com")
    bounce = event("bounce", email="ada@example.com", sg_message_id="abc.filter-1")

    assert delivered["event"] == "delivered"
    assert delivered["timestamp"] == 1700000000
    assert delivered["sg_event_id"] == "ev1"
    assert delivered["delivery_id"] == "42"
    assert delivered["smtp-id"].startswith("<")
    assert (blocked["event"], blocked["type"]) == ("bounce", "blocked")
    assert (bounce["type"], bounce["sg_message_id"]) == ("bounce", "abc.filter-1")
    assert (
        event("open", email="a@example.com")["sg_event_id"]
        != event("open", email="a@example.com")["sg_event_id"]
    )
    with pytest.raises(ValueError, match="unknown"):
        event("exploded", email="ada@example.com")
