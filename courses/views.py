from __future__ import annotations

from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from courses import selectors
from courses.models import Course


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "courses/home.html")


def detail(request: HttpRequest, course_id: UUID) -> HttpResponse:
    """A course's progress and outline, plainly (the website's full course page replaces this)."""
    try:
        course = selectors.course_with_outline(course_id=course_id)
    except Course.DoesNotExist:
        raise Http404("No such course") from None
    progress = selectors.course_progress(course=course)
    return render(request, "courses/detail.html", {"course": course, "progress": progress})
