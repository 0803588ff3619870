from __future__ import annotations

from functools import partial

import pytest
from django.test import Client
from django.urls import reverse

from courses.models import Course, Week
from courses.reading.forms import SEARCH_TOO_LONG
from courses.selectors import _course_search_simple, course_catalogue, course_search
from courses.visibility import public_courses
from tests.factories import written_course

pytestmark = pytest.mark.django_db


def public(title: str, description: str = "A friendly course.", weeks: int = 2, **fields: object) -> Course:
    return written_course(
        weeks=weeks,
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


def test_the_simple_search_used_on_sqlite_finds_any_word_and_ranks_courses_holding_more_first() -> None:
    roads = public("Roman roads", description="Engineering of the empire.")
    cooking = public("Roman cooking")
    public("Knots for sailors")
    simple = partial(_course_search_simple, public_courses(), limit=10)
    assert simple(words=["roman", "roads"]) == [roads, cooking]
    assert simple(words=["roads"]) == [roads]
    assert simple(words=["cook"]) == [cooking]  # part of a word


def test_a_search_finds_courses_holding_only_some_of_its_words_or_the_start_of_one() -> None:
    sourdough = public("Sourdough baking")
    public("Knots for sailors")
    assert course_search(query="baking bread") == [sourdough]
    assert course_search(query="sourd") == [sourdough]


def test_a_search_with_a_typo_still_finds_the_course() -> None:
    sourdough = public("Sourdough baking")
    assert course_search(query="sourdogh") == [sourdough]


def test_search_results_filter_by_language_and_length_and_sort() -> None:
    short_en = public("Jazz in a month", weeks=4)
    long_en = public("Jazz history in depth", weeks=13)
    french = public("Le jazz", language="fr", weeks=4)
    assert course_search(query="jazz", language="fr") == [french]
    assert set(course_search(query="jazz", length="short")) == {short_en, french}
    assert course_search(query="jazz", length="long") == [long_en]
    assert course_search(query="jazz", language="en", sort="title") == [long_en, short_en]
    assert course_catalogue(length="long", sort="newest").get() == long_en


def test_the_catalogue_filters_and_keeps_the_filters_in_its_form(client: Client) -> None:
    public("Birdsong identification", weeks=4)
    public("Tidal physics", weeks=13)
    html = client.get(reverse("courses:catalogue"), {"length": "long"}).content.decode()
    assert "Tidal physics" in html
    assert "Birdsong identification" not in html
    assert '<option value="long" selected>' in html


def test_ask_for_one_keeps_the_query(client: Client) -> None:
    html = client.get(reverse("courses:catalogue"), {"q": "zymurgy basics"}).content.decode()
    assert f"{reverse('courses:home')}?topic=zymurgy%20basics" in html
    home = client.get(reverse("courses:home"), {"topic": "zymurgy basics"}).content.decode()
    assert 'value="zymurgy basics"' in home


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
