from __future__ import annotations

import logging
import re

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.forms import EMAIL_INVALID, EMAIL_REQUIRED
from accounts.models import User, email_inbox
from accounts.services import (
    LINK_EXPIRED,
    LINK_INVALID,
    LINK_STAFF,
    LINK_USED,
    TOO_MANY_LINKS,
    magic_link_token_make,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def link_path(message: mail.EmailMessage) -> str:
    match = re.search(r"https://semester\.test(/accounts/sign-in/\S+/)", str(message.body))
    assert match, message.body
    return match.group(1)


def ask_for_link(client: Client, email: str, next_url: str = "", **extra: str) -> str:
    response = client.post(reverse("accounts:sign_in"), {"email": email, "next": next_url}, **extra)
    assert response.status_code == 200, response.content.decode()
    return link_path(mail.outbox[-1])


def test_asking_for_a_link_emails_it_in_text_and_html(client: Client) -> None:
    response = client.post(reverse("accounts:sign_in"), {"email": "Ada@Example.com"})
    assert "Check your email" in response.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.subject == "Your Semester sign-in link"
    assert isinstance(message, mail.EmailMultiAlternatives)
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert link_path(message) in str(html)


def test_a_link_signs_in_a_new_learner_on_post_and_creates_their_account(client: Client) -> None:
    path = ask_for_link(client, "new@example.com")
    assert not User.objects.filter(email="new@example.com").exists()
    page = client.get(path)
    assert page.status_code == 200
    assert "new@example.com" in page.content.decode()
    assert "_auth_user_id" not in client.session  # opening the link alone (a mail scanner) signs nobody in
    response = client.post(path)
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email="new@example.com")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert not user.has_usable_password()


def test_a_subscriber_signs_in_as_the_same_identity(client: Client) -> None:
    subscriber = UserFactory(email="reader@example.com")
    path = ask_for_link(client, "READER@example.com")
    client.post(path)
    assert client.session["_auth_user_id"] == str(subscriber.pk)
    assert User.objects.count() == 1


def test_a_link_takes_the_learner_back_where_they_were(client: Client) -> None:
    path = ask_for_link(client, "back@example.com", next_url="/courses/some-page/")
    assert client.post(path)["Location"] == "/courses/some-page/"


def test_a_link_never_redirects_off_site(client: Client) -> None:
    path = ask_for_link(client, "evil@example.com", next_url="https://evil.example/")
    assert client.post(path)["Location"] == "/"


@pytest.mark.parametrize("next_url", ["foo", "accounts:sign_in", "?x=1", "learning"])
def test_a_next_that_is_not_a_path_leads_home_and_signs_the_learner_in(client: Client, next_url: str) -> None:
    response = client.get(reverse("accounts:sign_in") + f"?next={next_url}")
    assert response.status_code == 200
    path = ask_for_link(client, "word@example.com", next_url=next_url)

    assert client.post(path)["Location"] == "/"
    assert "_auth_user_id" in client.session
    assert client.get(reverse("accounts:sign_in") + f"?next={next_url}")["Location"] == "/"


def test_a_link_works_only_once(client: Client) -> None:
    path = ask_for_link(client, "once@example.com")
    client.post(path)
    other = Client()
    response = other.post(path)
    assert response.status_code == 400
    assert LINK_USED in response.content.decode()
    assert "_auth_user_id" not in other.session


def test_a_link_still_fails_after_its_claim_left_the_cache(client: Client) -> None:
    path = ask_for_link(client, "stamp@example.com")
    client.post(path)
    from django.core.cache import cache

    cache.clear()
    response = Client().get(path)
    assert LINK_USED in response.content.decode()


def test_a_link_expires(client: Client) -> None:
    with time_machine.travel("2030-01-01 12:00:00+00:00", tick=False):
        path = ask_for_link(client, "late@example.com")
    later = f"2030-01-01 12:{settings.MAGIC_LINK_MAX_AGE_SECONDS // 60 + 1:02d}:00+00:00"
    with time_machine.travel(later, tick=False):
        response = client.post(path)
    assert response.status_code == 400
    assert LINK_EXPIRED in response.content.decode()


def test_a_tampered_link_is_refused(client: Client) -> None:
    token = magic_link_token_make(email="someone@example.com")
    response = client.get(reverse("accounts:magic_link", args=[token[:-2] + "xx"]))
    assert response.status_code == 400
    assert LINK_INVALID in response.content.decode()


def test_staff_must_use_their_password(client: Client) -> None:
    UserFactory(email="admin@example.com", is_staff=True)
    path = ask_for_link(client, "admin@example.com")
    response = client.post(path)
    assert LINK_STAFF in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_deactivated_account_cannot_sign_in(client: Client) -> None:
    UserFactory(email="gone@example.com", is_active=False)
    path = ask_for_link(client, "gone@example.com")
    assert client.post(path).status_code == 400


@pytest.mark.parametrize(("email", "message"), [("", EMAIL_REQUIRED), ("not-an-address", EMAIL_INVALID)])
def test_a_bad_address_is_refused_with_a_clear_message(client: Client, email: str, message: str) -> None:
    response = client.post(reverse("accounts:sign_in"), {"email": email})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not mail.outbox


def test_links_are_rate_limited_per_address(client: Client) -> None:
    for _ in range(settings.MAGIC_LINK_PER_EMAIL_PER_HOUR):
        ask_for_link(client, "busy@example.com")
    response = client.post(reverse("accounts:sign_in"), {"email": "busy@example.com"})
    assert response.status_code == 400
    assert TOO_MANY_LINKS in response.content.decode()
    assert len(mail.outbox) == settings.MAGIC_LINK_PER_EMAIL_PER_HOUR


def test_the_limit_per_address_counts_plus_tags_and_case_as_one_inbox(client: Client) -> None:
    for n in range(settings.MAGIC_LINK_PER_EMAIL_PER_HOUR):
        ask_for_link(client, f"victim+{n}@example.com", REMOTE_ADDR=f"203.0.113.{n}")
    response = client.post(
        reverse("accounts:sign_in"), {"email": "VICTIM+more@example.com"}, REMOTE_ADDR="198.51.100.7"
    )
    assert TOO_MANY_LINKS in response.content.decode()
    assert len(mail.outbox) == settings.MAGIC_LINK_PER_EMAIL_PER_HOUR


@pytest.mark.parametrize(
    ("address", "inbox"),
    [
        ("J.Doe+news@GoogleMail.com", "jdoe@gmail.com"),
        ("j.doe@gmail.com", "jdoe@gmail.com"),
        ("j.doe+x@example.org", "j.doe@example.org"),  # dots matter elsewhere
        ("+only@example.org", "+only@example.org"),
    ],
)
def test_an_address_is_counted_against_the_inbox_it_reaches(address: str, inbox: str) -> None:
    assert email_inbox(address) == inbox


def test_links_are_rate_limited_per_ip_address(client: Client) -> None:
    for n in range(settings.MAGIC_LINK_PER_IP_PER_HOUR):
        ask_for_link(client, f"person{n}@example.com", REMOTE_ADDR="203.0.113.9")
    response = client.post(
        reverse("accounts:sign_in"), {"email": "one-more@example.com"}, REMOTE_ADDR="203.0.113.9"
    )
    assert TOO_MANY_LINKS in response.content.decode()
    ask_for_link(client, "one-more@example.com", REMOTE_ADDR="203.0.113.10")


def test_the_sign_in_page_keeps_the_return_address(client: Client) -> None:
    html = client.get(reverse("accounts:sign_in") + "?next=/learning/").content.decode()
    assert 'name="next" value="/learning/"' in html


def test_signing_out_needs_a_post_and_ends_the_session(client: Client) -> None:
    client.force_login(UserFactory())
    client.post(reverse("accounts:sign_out"))
    assert "_auth_user_id" not in client.session


def test_admins_keep_the_password_login(client: Client) -> None:
    User.objects.create_superuser("root@example.com", "a-long-password-9")
    response = client.post(
        reverse("admin:login"),
        {"username": "root@example.com", "password": "a-long-password-9", "next": "/admin/"},
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_admin_login_locks_an_address_out_after_too_many_wrong_passwords(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    User.objects.create_superuser("root@example.com", "a-long-password-9")
    login = reverse("admin:login")
    with caplog.at_level(logging.WARNING, logger="axes"):
        statuses = [
            client.post(login, {"username": "root@example.com", "password": f"guess-{attempt}"}).status_code
            for attempt in range(settings.AXES_FAILURE_LIMIT)
        ]
        locked = client.post(login, {"username": "root@example.com", "password": "a-long-password-9"})

    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # the form again, then locked

    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.get().failures_since_start >= settings.AXES_FAILURE_LIMIT
    assert any("locking out" in record.getMessage().lower() for record in caplog.records)
    other_address = Client(REMOTE_ADDR="203.0.113.77")
    other = other_address.post(login, {"username": "root@example.com", "password": "a-long-password-9"})
    assert other.status_code == 302


def test_learners_magic_link_sign_in_is_not_counted_as_password_attempts(client: Client) -> None:
    for n in range(settings.AXES_FAILURE_LIMIT + 1):
        client.post(reverse("accounts:sign_in"), {"email": f"not-an-email-{n}"})
    path = ask_for_link(client, "learner@example.com")
    client.post(path)
    assert "_auth_user_id" in client.session
    assert not AccessAttempt.objects.exists()
