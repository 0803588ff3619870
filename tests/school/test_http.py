from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from django.conf import settings as settings_module
from django.test import Client, RequestFactory

from school.http import client_ip
from school.ratelimit import rate_limit_hit, rate_limit_key, rate_limit_release
from tests.factories import written_course


def test_the_client_ip_is_the_socket_peer_when_no_proxy_is_trusted(settings: Any) -> None:
    settings.TRUSTED_PROXY_HOPS = 0
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert client_ip(request) == "198.51.100.1"


def test_behind_our_proxy_the_client_ip_is_the_address_the_proxy_saw(settings: Any) -> None:
    settings.TRUSTED_PROXY_HOPS = 1
    forged_then_real = "10.0.0.1, 203.0.113.5"
    request = RequestFactory().get("/", REMOTE_ADDR="172.18.0.2", HTTP_X_FORWARDED_FOR=forged_then_real)
    assert client_ip(request) == "203.0.113.5"


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (
            2,
            "10.0.0.1, 203.0.113.5, 172.18.0.9",
            "203.0.113.5",
        ),  # CDN then our proxy: the CDN saw the visitor
        (2, "203.0.113.5", "172.18.0.2"),  # fewer entries than proxies: not through them all
        (0, "10.0.0.1", "172.18.0.2"),
        (1, "", "172.18.0.2"),
    ],
)
def test_the_client_ip_is_the_entry_as_many_hops_from_the_right_as_proxies_are_trusted(
    settings: Any, hops: int, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXY_HOPS = hops
    request = RequestFactory().get("/", REMOTE_ADDR="172.18.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_compose_publishes_gunicorn_on_the_loopback_only() -> None:
    compose = yaml.safe_load((settings_module.BASE_DIR / "compose.yaml").read_text())
    ports = compose["services"]["web"].get("ports", [])
    assert all(str(port).startswith("127.0.0.1:") for port in ports), ports


def test_a_rate_limit_counts_hits_in_its_window_and_can_give_one_back() -> None:
    key = rate_limit_key("test", "someone")
    assert [rate_limit_hit(key=key, limit=2, window_seconds=60) for _ in range(3)] == [False, False, True]
    rate_limit_release(key=key)
    rate_limit_release(key=key)
    assert rate_limit_hit(key=key, limit=2, window_seconds=60) is False


def test_rate_limit_keys_do_not_hold_addresses_in_clear() -> None:
    assert "someone@example.com" not in rate_limit_key("magic", "someone@example.com")


@pytest.mark.django_db
def test_robots_txt_keeps_crawlers_out_of_private_pages(client: Client) -> None:
    response = client.get("/robots.txt")
    assert response["Content-Type"] == "text/plain"
    assert "Disallow: /accounts/" in response.content.decode()


@pytest.mark.django_db
def test_pages_carry_a_nonce_based_content_security_policy_and_the_inline_script_its_nonce(
    client: Client,
) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    response = client.get(f"/courses/{course.id}/")

    policy = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce, policy
    assert "script-src 'self' 'nonce-" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    html = response.content.decode()
    scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert scripts, "the subscribe form's timezone script"
    assert all(f'nonce="{nonce.group(1)}"' in attributes for attributes in scripts)


def test_an_https_site_redirects_plain_http_and_sends_hsts(client: Client, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/robots.txt")["Location"] == "https://testserver/robots.txt"
    assert client.get("/healthz").status_code != 301
    secure = client.get("/robots.txt", secure=True)
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
