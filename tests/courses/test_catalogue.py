from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from courses.models import Course, Week
from courses.reading.forms import SEARCH_TOO_LONG
from courses.selectors import _course_search_simple, course_search
from tests.factories import written_course

pytestmark = pytest.mark.django_db


def public(title: str, description: str = "A friendly course.", **fields: object) -> Course:
    return written_course(
        weeks=2,
        lessons_per_week=1,
        title=title,
        description=description,
        review_state=Course.Review.APPROVED,
        **fields,
    )


def test_search_finds_public_courses_by_title_description_and_week_titles() -> None:
    by_title = public("Container gardening")
    by_description = public("Growing food", description="Balcony vegetables for small flats.")
    by_week = public("Kitchen science")
    Week.objects.filter(course=by_week, number=2).update(title="Fermentation and pickles")
    public("Knots for sailors")
    assert course_search(query="gardens") == [by_title]  # stemmed: gardens ~ gardening
    assert course_search(query="vegetables") == [by_description]
    assert course_search(query="pickles") == [by_week]
    assert course_search(query="") == []


def test_title_matches_rank_above_description_matches() -> None:
    in_description = public("Cooking at home", description="Includes a chapter on bread.")
    in_title = public("Bread from scratch")
    assert course_search(query="bread") == [in_title, in_description]


def test_private_and_unfinished_courses_are_never_found() -> None:
    written_course(weeks=1, title="Private astronomy")  # awaiting review
    written_course(weeks=1, title="Rejected astronomy", review_state=Course.Review.REJECTED)
    written_course(
        weeks=1, title="Unready astronomy", review_state=Course.Review.APPROVED, status=Course.Status.WRITING
    )
    assert course_search(query="astronomy") == []


def test_the_simple_search_used_on_sqlite_needs_every_word_somewhere() -> None:
    course = public("Roman roads", description="Engineering of the empire.")
    public("Roman cooking")
    assert _course_search_simple(query="roman engineering", limit=10) == [course]
    assert _course_search_simple(query="ROADS", limit=10) == [course]


def test_the_catalogue_lists_public_courses_and_searches(client: Client) -> None:
    public("Birdsong identification")
    public("Tidal physics")
    html = client.get(reverse("courses:catalogue")).content.decode()
    assert "Birdsong identification" in html
    assert "Tidal physics" in html
    html = client.get(reverse("courses:catalogue"), {"q": "birdsong"}).content.decode()
    assert "Birdsong identification" in html
    assert "Tidal physics" not in html
    assert "1 course found" in html


def test_a_search_with_no_result_offers_to_ask_for_the_course(client: Client) -> None:
    html = client.get(reverse("courses:catalogue"), {"q": "zymurgy"}).content.decode()
    assert "No course matches" in html


def test_an_over_long_search_is_refused_clearly(client: Client) -> None:
    response = client.get(reverse("courses:catalogue"), {"q": "x" * 201})
    assert response.status_code == 400
    assert SEARCH_TOO_LONG in response.content.decode()


def test_search_survives_punctuation_and_operators(client: Client) -> None:
    public("C++ for beginners")
    for query in ['"unclosed', "a & b | !c", "-", "((("]:
        assert client.get(reverse("courses:catalogue"), {"q": query}).status_code == 200
