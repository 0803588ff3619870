from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory

from school.http import client_ip
from school.ratelimit import rate_limit_hit, rate_limit_key, rate_limit_release


def test_the_client_ip_is_the_socket_peer_when_no_proxy_is_trusted(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = None
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert client_ip(request) == "198.51.100.1"


def test_behind_our_proxy_the_client_ip_is_the_address_the_proxy_saw(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    forged_then_real = "10.0.0.1, 203.0.113.5"
    request = RequestFactory().get("/", REMOTE_ADDR="172.18.0.2", HTTP_X_FORWARDED_FOR=forged_then_real)
    assert client_ip(request) == "203.0.113.5"


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
