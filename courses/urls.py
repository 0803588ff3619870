from __future__ import annotations

from django.urls import path

from courses import report_views, views

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
]
