from __future__ import annotations

from django.urls import path

from delivery.views import learning

app_name = "delivery"

urlpatterns = [
    path("courses/<uuid:course_id>/", learning.course_page, name="course"),
    path("courses/<uuid:course_id>/lessons/<int:lesson_id>/", learning.lesson_page, name="lesson"),
    # A lesson by its place in the course (week 3, lesson 2): for links written by hand or in emails.
    path(
        "courses/<uuid:course_id>/weeks/<int:week_number>/lessons/<int:number>/",
        learning.lesson_at,
        name="lesson_at",
    ),
    path("courses/<uuid:course_id>/lessons/<int:lesson_id>/done/", learning.lesson_done, name="lesson_done"),
    path("courses/<uuid:course_id>/weeks/<int:week_number>/quiz/", learning.quiz_page, name="quiz"),
    path("learning/", learning.my_learning, name="my_learning"),
]
