"""`{% subscribe_form_for subscribe_form as form %}`: the subscribe partial works on any page that includes it,
with a fresh form there, or with the bound form (and its errors) when the subscribe view re-renders it."""

from __future__ import annotations

from django import template

from courses.models import Course
from courses.selectors import course_is_emailable
from delivery.email.forms import SubscribeForm

register = template.Library()


@register.simple_tag
def subscribe_form_for(form: SubscribeForm | None = None) -> SubscribeForm:
    return form if isinstance(form, SubscribeForm) else SubscribeForm()


@register.filter
def emailable(course: Course) -> bool:
    """`{% if course|emailable %}`: whether the course may be received by email (the subscribe form shows)."""
    return course_is_emailable(course)
