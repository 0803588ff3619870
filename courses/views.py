"""The courses side of the website: home, catalogue and search, asking for a course, watching it being
written, and exports. The learner's course, lesson and quiz pages live in `delivery` (they show progress)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from courses.access import course_visible
from courses.exports import (
    course_markdown,
    course_pdf_open,
    course_pdf_request,
    course_pdf_state,
    export_filename,
)
from courses.forms import CourseRequestForm, SearchForm
from courses.models import Course
from courses.selectors import (
    course_catalogue_queryset,
    course_featured,
    course_for_export,
    course_get,
    course_recent,
    course_search,
)

CATALOGUE_PAGE_SIZE = 24


def _visible_course(request: HttpRequest, course_id: object) -> Course:
    course = course_get(course_id=course_id)
    if course is None or not course_visible(request, course):
        raise Http404("No such course")
    return course


def _ready_course(request: HttpRequest, course_id: object) -> Course:
    course = _visible_course(request, course_id)
    if not course.is_ready:
        raise Http404("This course is still being written")
    return course


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "form": CourseRequestForm(),
        "search_form": SearchForm(),
        "featured": course_featured(limit=6),
        "recent": course_recent(limit=9),
    }
    return render(request, "courses/home.html", context)


@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    """Every public course, or those matching the search (?q=)."""
    form = SearchForm(request.GET or None)
    query = form.cleaned_data["q"].strip() if form.is_valid() else ""
    context: dict[str, object] = {"search_form": form, "query": query}
    if query:
        context["results"] = course_search(query=query)
    else:
        paginator = Paginator(
            course_catalogue_queryset().order_by("-featured", "-ready_at"), CATALOGUE_PAGE_SIZE
        )
        context["page"] = paginator.get_page(request.GET.get("page"))
    return render(request, "courses/catalogue.html", context, status=400 if form.errors else 200)


@require_GET
def short_link(request: HttpRequest, course_id: object) -> HttpResponse:
    """A short, stable link to a course (for emails and sharing), whatever page suits its state."""
    return redirect(_visible_course(request, course_id))


@require_GET
def export_markdown(request: HttpRequest, course_id: object) -> HttpResponse:
    course = _ready_course(request, course_id)
    full = course_for_export(course_id=course.id)
    assert full is not None
    response = HttpResponse(course_markdown(course=full), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(course, "md")}"'
    return response


@require_http_methods(["GET", "POST"])
def export_pdf(request: HttpRequest, course_id: object) -> HttpResponse:
    """The course's PDF once it is made; until then, a page that waits for it (POST: try a failed one again)."""
    course = _ready_course(request, course_id)
    state = course_pdf_request(course=course, retry_failed=request.method == "POST")
    if request.method == "POST":
        return redirect("courses:export_pdf", course.id)
    if not state.is_ready:
        return render(request, "courses/pdf_preparing.html", {"course": course, "state": state}, status=202)
    return FileResponse(
        course_pdf_open(course=course),
        as_attachment=True,
        filename=export_filename(course, "pdf"),
        content_type="application/pdf",
    )


@require_GET
def export_pdf_status(request: HttpRequest, course_id: object) -> JsonResponse:
    """The PDF's state for the waiting page's poller."""
    course = _ready_course(request, course_id)
    state = course_pdf_state(course=course)
    return JsonResponse(
        {"state": state.state, "stage": state.stage, "started_at": state.started_at, "error": state.error},
        headers={"Cache-Control": "no-store"},
    )
