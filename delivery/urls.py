from __future__ import annotations

from django.urls import path

from delivery.views import email_links, learning, subscriptions, webhooks

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
    # Weekly email delivery: subscribing, the links in emails, and SendGrid's events.
    path("courses/<uuid:course_id>/subscribe/", subscriptions.subscribe, name="subscribe"),
    path("courses/<uuid:course_id>/subscribe/sent/", subscriptions.subscribe_sent, name="subscribe_sent"),
    path("subscriptions/confirm/<str:token>/", subscriptions.confirm, name="confirm"),
    path("subscriptions/<str:token>/", subscriptions.manage, name="manage"),
    path("subscriptions/<str:token>/schedule/", subscriptions.manage_schedule, name="manage_schedule"),
    path("subscriptions/<str:token>/pause/", subscriptions.manage_pause, name="manage_pause"),
    path("subscriptions/<str:token>/resume/", subscriptions.manage_resume, name="manage_resume"),
    path("subscriptions/<str:token>/send-now/", subscriptions.manage_send_now, name="manage_send_now"),
    path("subscriptions/<str:token>/calendar.ics", subscriptions.calendar, name="calendar"),
    path("unsubscribe/<str:token>/", subscriptions.unsubscribe, name="unsubscribe"),
    path("email/answer/<str:token>/", email_links.quiz_answer, name="quiz_answer"),
    path("email/done/<str:token>/", email_links.week_done, name="week_done"),
    path("webhooks/sendgrid", webhooks.sendgrid_events, name="sendgrid_webhook"),
]
