from __future__ import annotations

from django.urls import path

from courses import edit_views, report_views, views

app_name = "courses"

urlpatterns = [
    path("", views.home, name="home"),
    path("courses/", views.catalogue, name="catalogue"),
    path("courses/request/", views.request_course, name="request"),
    path("courses/<uuid:course_id>/writing/", views.writing, name="writing"),
    path("courses/<uuid:course_id>/retry/", views.retry, name="retry"),
    path("courses/<uuid:course_id>/retry/<str:kind>/<int:part_id>/", views.retry_part, name="retry_part"),
    path("c/<uuid:course_id>/", views.short_link, name="detail"),
    path("courses/<uuid:course_id>/course.md", views.export_markdown, name="export_markdown"),
    path("courses/<uuid:course_id>/course.pdf", views.export_pdf, name="export_pdf"),
    path("courses/<uuid:course_id>/course.pdf/status", views.export_pdf_status, name="export_pdf_status"),
    # Moderation: learners report a lesson from its page or from a signed link in an email.
    path(
        "courses/<uuid:course_id>/lessons/<int:lesson_id>/report/",
        report_views.lesson_report,
        name="lesson_report",
    ),
    path("report/<str:token>/", report_views.lesson_report_from_email, name="lesson_report_email"),
    # Moderation: requesters fix their own private course (edit a lesson, regenerate a part).
    path(
        "courses/<uuid:course_id>/lessons/<int:lesson_id>/edit/", edit_views.lesson_edit, name="lesson_edit"
    ),
    path(
        "courses/<uuid:course_id>/<str:kind>/<int:part_id>/regenerate/",
        edit_views.part_regenerate,
        name="part_regenerate",
    ),
    path("preview/", edit_views.markdown_preview, name="markdown_preview"),
]
