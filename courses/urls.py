from __future__ import annotations

from django.urls import path

from courses import views

app_name = "courses"

urlpatterns = [
    path("", views.home, name="home"),
    path("courses/<uuid:course_id>/", views.detail, name="detail"),
]
