"""What every admin page shares: Django's base_site.html with our additions."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import moderator

pytestmark = pytest.mark.django_db

ICON = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'


def test_admin_pages_name_the_sites_icon_so_browsers_do_not_ask_for_a_missing_favicon_ico(
    client: Client,
) -> None:
    login_page = client.get(reverse("admin:login")).content.decode()
    assert ICON in login_page
    assert "<title>Log in | Semester admin</title>" in login_page  # Django's own base_site.html still applies

    client.force_login(moderator())
    for url in [reverse("admin:index"), reverse("admin:courses_course_changelist")]:
        page = client.get(url).content.decode()
        assert ICON in page, url
        assert "Semester administration" in page, url


def test_admin_pages_leave_out_the_app_sidebar_to_make_room_for_the_lists(client: Client) -> None:
    client.force_login(moderator())

    for url in [reverse("admin:index"), reverse("admin:courses_auditentry_changelist")]:
        page = client.get(url).content.decode()
        assert 'id="nav-sidebar"' not in page, url
        assert reverse("admin:index") in page, url  # "Home" in the breadcrumbs, or the index itself
