"""Template filters that ask `courses.visibility` about a course, so templates hold no rule of their own."""

from __future__ import annotations

from django import template

from courses import visibility
from courses.models import Course

register = template.Library()


@register.filter
def is_public(course: Course) -> bool:
    return visibility.course_is_public(course)


@register.filter
def is_held(course: Course) -> bool:
    return visibility.course_is_held(course)


@register.filter
def shown_title(course: Course) -> str:
    return visibility.course_shown_title(course)
