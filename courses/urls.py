from __future__ import annotations

from django.urls import path

from courses import views

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
]
