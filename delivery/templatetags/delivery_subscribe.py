"""`{% subscribe_form_for subscribe_form as form %}`: the subscribe partial works on any page that includes it,
with a fresh form there, or with the bound form (and its errors) when the subscribe view re-renders it."""

from __future__ import annotations

from functools import cache
from typing import Any

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from courses.models import Course
from courses.selectors import course_is_emailable
from delivery.email.forms import SubscribeForm
from delivery.email.schedule import timezone_names

register = template.Library()


@register.simple_tag
def subscribe_form_for(form: SubscribeForm | None = None, user: Any = None) -> SubscribeForm:
    """The bound form if there is one, else a fresh one with a signed-in learner's address filled in."""
    if isinstance(form, SubscribeForm):
        return form
    email = user.email if getattr(user, "is_authenticated", False) else ""
    return SubscribeForm(initial={"email": email} if email else None)


@register.simple_tag
@cache
def timezone_options() -> SafeString:
    """The <option>s of the timezone field's searchable list, built once per process (about 600 names)."""
    return format_html_join("", '<option value="{}">', ((name,) for name in timezone_names()))


@register.filter
def emailable(course: Course) -> bool:
    """`{% if course|emailable %}`: whether the course may be received by email (the subscribe form shows)."""
    return course_is_emailable(course)
