from __future__ import annotations

from django.urls import path

from courses.moderation import views as moderation_views
from courses.reading import views as reading_views
from courses.tutor import views as tutor_views

app_name = "courses"

urlpatterns = [
    path("", reading_views.home, name="home"),
    path("courses/", reading_views.catalogue, name="catalogue"),
    path("courses/request/", reading_views.request_course, name="request"),
    path("courses/<uuid:course_id>/writing/", reading_views.writing, name="writing"),
    path("courses/<uuid:course_id>/writing/notify/", reading_views.writing_notify, name="writing_notify"),
    path("courses/<uuid:course_id>/retry/", reading_views.retry, name="retry"),
    path("courses/<uuid:course_id>/outline/", reading_views.outline_change, name="outline_change"),
    path("courses/<uuid:course_id>/outline/again/", reading_views.outline_again, name="outline_again"),
    path("courses/<uuid:course_id>/outline/write/", reading_views.outline_write, name="outline_write"),
    path(
        "courses/<uuid:course_id>/retry/<str:kind>/<int:part_id>/",
        reading_views.retry_part,
        name="retry_part",
    ),
    path("c/<uuid:course_id>/", reading_views.short_link, name="detail"),
    path("courses/<uuid:course_id>/course.md", reading_views.export_markdown, name="export_markdown"),
    path("courses/<uuid:course_id>/course.pdf", reading_views.export_pdf, name="export_pdf"),
    path(
        "courses/<uuid:course_id>/course.pdf/status",
        reading_views.export_pdf_status,
        name="export_pdf_status",
    ),
    # Moderation: learners report a lesson from its page.
    path(
        "courses/<uuid:course_id>/lessons/<int:lesson_id>/report/",
        moderation_views.lesson_report,
        name="lesson_report",
    ),
    # Moderation: requesters fix their own private course (edit a lesson, regenerate a part).
    path(
        "courses/<uuid:course_id>/lessons/<int:lesson_id>/edit/",
        moderation_views.lesson_edit,
        name="lesson_edit",
    ),
    path(
        "courses/<uuid:course_id>/<str:kind>/<int:part_id>/regenerate/",
        moderation_views.part_regenerate,
        name="part_regenerate",
    ),
    path("preview/", moderation_views.markdown_preview, name="markdown_preview"),
    # The tutor: ask about a lesson, follow the answer as it is written, report an answer. All under /tutor/, so
    # a proxy sends them to processes of their own, away from page serving (compose.yaml's "tutor" and "live").
    path("tutor/courses/<uuid:course_id>/lessons/<int:lesson_id>/ask/", tutor_views.ask, name="tutor_ask"),
    path("tutor/live/<str:token>/", tutor_views.live_answer, name="tutor_live"),
    path("tutor/stream/<str:token>/", tutor_views.live_stream, name="tutor_stream"),
    path("tutor/answers/<int:message_id>/report/", tutor_views.report, name="tutor_report"),
]
