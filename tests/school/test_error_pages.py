"""The site's own 404 and 500 pages: Django's defaults are bare, unstyled text with no way back."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error


@pytest.mark.django_db
def test_an_unknown_address_shows_the_sites_not_found_page_with_a_way_back(client: Client) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "<title>Page not found · Semester</title>" in page
    assert "<h1>Page not found</h1>" in page
    assert 'class="site-header"' in page
    assert 'href="/courses/"' in page


def test_a_server_error_shows_the_sites_error_page_without_needing_the_request() -> None:
    """Django renders 500.html with an empty context: the page must not depend on the request, the user or
    the context processors (the failure may be theirs)."""
    response = server_error(RequestFactory().get("/"))

    assert response.status_code == 500
    page = response.content.decode()
    assert "<h1>Something went wrong</h1>" in page
    assert 'class="site-header"' in page
