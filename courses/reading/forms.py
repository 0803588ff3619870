"""The course request form, shared by the website and the API so both reject bad input the same way."""

from __future__ import annotations

import unicodedata
from typing import Any

from django import forms
from django.conf import settings

from courses.selectors import COURSE_LENGTHS, COURSE_SORTS

TOPIC_EMPTY = "Please tell us what you are curious about."
TOPIC_TOO_LONG = f"Please keep the topic under {settings.COURSE_TOPIC_MAX_LENGTH} characters."
TOPIC_CONTROL_CHARACTERS = "The topic contains invisible control characters. Please type it again."
LANGUAGE_UNKNOWN = "Please choose one of the languages in the list."
WEEKS_OUT_OF_RANGE = (
    f"A course lasts from {settings.COURSE_WEEKS_MIN} to {settings.COURSE_WEEKS_MAX} weeks. Please pick a "
    "length in that range."
)
WEEKS_NOT_A_NUMBER = "Please give the length as a number of weeks."
SEARCH_TOO_LONG = "Please keep the search under 200 characters."

# Characters that change how text displays without being visible: bidirectional overrides and isolates.
INVISIBLE_FORMATTING = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def topic_has_control_characters(topic: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" or ch in INVISIBLE_FORMATTING for ch in topic)


def week_choices() -> list[tuple[int, str]]:
    return [(n, f"{n} weeks") for n in range(settings.COURSE_WEEKS_MIN, settings.COURSE_WEEKS_MAX + 1)]


class CourseRequestForm(forms.Form):
    topic = forms.CharField(
        label="What are you curious about?",
        # Not max_length: the length is checked after control characters, so each gets its own message.
        strip=False,
        error_messages={"required": TOPIC_EMPTY, "null_characters_not_allowed": TOPIC_CONTROL_CHARACTERS},
        widget=forms.TextInput(
            attrs={
                "placeholder": "e.g. the history of jazz, sourdough baking, linear algebra",
                "autocomplete": "off",
                "maxlength": settings.COURSE_TOPIC_MAX_LENGTH,
            }
        ),
    )
    language = forms.ChoiceField(
        label="Language",
        choices=settings.COURSE_LANGUAGES,
        initial="en",
        required=False,
        error_messages={"invalid_choice": LANGUAGE_UNKNOWN},
    )
    weeks = forms.IntegerField(
        label="Length",
        min_value=settings.COURSE_WEEKS_MIN,
        max_value=settings.COURSE_WEEKS_MAX,
        initial=settings.COURSE_WEEKS_DEFAULT,
        required=False,
        error_messages={
            "invalid": WEEKS_NOT_A_NUMBER,
            "min_value": WEEKS_OUT_OF_RANGE,
            "max_value": WEEKS_OUT_OF_RANGE,
        },
        widget=forms.Select(choices=week_choices()),
    )
    # Set by "Write me a fresh one" when a course on the same topic already exists.
    fresh = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Set by "Write a new course anyway" when courses on a nearly equal topic were offered first.
    anyway = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Ticked on the website's form: its outline comes first, to shape before the weeks are written.
    review_outline = forms.BooleanField(
        label="Show me the outline first, to change it before the weeks are written",
        required=False,
        initial=True,
    )
    drop_unconfirmed = forms.BooleanField(
        label="If I do not confirm the outline within a day, drop it (otherwise it is written as it is)",
        required=False,
    )

    def clean_topic(self) -> str:
        raw = self.cleaned_data["topic"]
        if topic_has_control_characters(raw):
            raise forms.ValidationError(TOPIC_CONTROL_CHARACTERS, code="control")
        topic = " ".join(raw.split())
        if not topic:
            raise forms.ValidationError(TOPIC_EMPTY, code="required")
        if len(topic) > settings.COURSE_TOPIC_MAX_LENGTH:
            raise forms.ValidationError(TOPIC_TOO_LONG, code="max_length")
        return topic

    def clean_language(self) -> str:
        return self.cleaned_data.get("language") or "en"

    def clean_weeks(self) -> int:
        weeks = self.cleaned_data.get("weeks")
        return settings.COURSE_WEEKS_DEFAULT if weeks is None else int(weeks)

    def api_errors(self) -> list[dict[str, Any]]:
        """The errors as the API reports them: one entry per field, naming it."""
        return [{"field": name, "message": str(errors[0])} for name, errors in self.errors.items() if errors]


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Search the courses",
        required=False,
        max_length=200,
        error_messages={"max_length": SEARCH_TOO_LONG},
        widget=forms.SearchInput(attrs={"placeholder": "Search courses"}),
    )
    language = forms.ChoiceField(
        label="Language", required=False, choices=[("", "Any language"), *settings.COURSE_LANGUAGES]
    )
    length = forms.ChoiceField(
        label="Length",
        required=False,
        choices=[("", "Any length"), *((key, label) for key, (label, _, _) in COURSE_LENGTHS.items())],
    )
    sort = forms.ChoiceField(label="Sort by", required=False, choices=list(COURSE_SORTS.items()))

    def filters(self) -> dict[str, str]:
        """language, length and sort as chosen ("" for any); valid or not, the search goes on without them."""
        data = self.cleaned_data if self.is_valid() else {}
        return {name: data.get(name) or "" for name in ("language", "length", "sort")}


class NotifyForm(forms.Form):
    """ "Email me when it is ready", on the page of a course being written."""

    email = forms.EmailField(
        label="Email me when it is ready",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.com"}),
    )


OUTLINE_FIELD_MAX_LENGTH = 5000  # far above the schema's limits: those report the problem, in its words


def outline_from_post(data: Any, draft: dict[str, Any]) -> dict[str, Any]:
    """The outline the editor's form posted: the texts it shows (titles, overviews, lesson titles and
    summaries), with what it does not show (its objectives) taken from the week it came from in `draft`
    (`w{N}-source`, its position there). Over-long fields are cut, so a pasted novel cannot fill the page."""

    def text(name: str) -> str:
        return str(data.get(name, ""))[:OUTLINE_FIELD_MAX_LENGTH]

    drafted = [week for week in draft.get("weeks") or [] if isinstance(week, dict)]
    outline: dict[str, Any] = {key: text(key) for key in ("title", "description", "audience")}
    outline["weeks"] = []
    for n in range(1, _count(data.get("weeks")) + 1):
        source = _count(data.get(f"w{n}-source"))
        before = drafted[source - 1] if 1 <= source <= len(drafted) else {}
        lessons = [
            {"title": text(f"w{n}-l{m}-title"), "summary": text(f"w{n}-l{m}-summary")}
            for m in range(1, _count(data.get(f"w{n}-lessons")) + 1)
        ]
        outline["weeks"].append(
            {
                "title": text(f"w{n}-title"),
                "overview": text(f"w{n}-overview"),
                "objectives": before.get("objectives")
                or [f"Explain {lesson['title']}." for lesson in lessons],
                "lessons": lessons,
            }
        )
    return outline


def _count(raw: Any) -> int:
    """A small count from the form (at most 50): anything else is 0."""
    value = str(raw or "")
    return min(int(value), 50) if value.isdigit() else 0
