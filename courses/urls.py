from __future__ import annotations

from django.urls import path

from courses import edit_views, report_views, views

app_name = "courses"

urlpatterns = [
    path("", views.home, name="home"),
    path("courses/<uuid:course_id>/", views.detail, name="detail"),
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
