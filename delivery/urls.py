from __future__ import annotations

from django.urls import path

from delivery.email import link_views, webhooks
from delivery.email import views as subscription_views
from delivery.learning import views as learning_views

app_name = "delivery"

urlpatterns = [
    path("courses/<uuid:course_id>/", learning_views.course_page, name="course"),
    path("courses/<uuid:course_id>/lessons/<int:lesson_id>/", learning_views.lesson_page, name="lesson"),
    # A lesson by its place in the course (week 3, lesson 2): for links written by hand or in emails.
    path(
        "courses/<uuid:course_id>/weeks/<int:week_number>/lessons/<int:number>/",
        learning_views.lesson_at,
        name="lesson_at",
    ),
    path(
        "courses/<uuid:course_id>/lessons/<int:lesson_id>/done/",
        learning_views.lesson_done,
        name="lesson_done",
    ),
    path("courses/<uuid:course_id>/weeks/<int:week_number>/quiz/", learning_views.quiz_page, name="quiz"),
    path("learning/", learning_views.my_learning, name="my_learning"),
    # Weekly email delivery: subscribing, the links in emails, and SendGrid's events.
    path("courses/<uuid:course_id>/subscribe/", subscription_views.subscribe, name="subscribe"),
    path(
        "courses/<uuid:course_id>/subscribe/sent/", subscription_views.subscribe_sent, name="subscribe_sent"
    ),
    path("subscriptions/confirm/<str:token>/", subscription_views.confirm, name="confirm"),
    path("subscriptions/<str:token>/", subscription_views.manage, name="manage"),
    path("subscriptions/<str:token>/schedule/", subscription_views.manage_schedule, name="manage_schedule"),
    path("subscriptions/<str:token>/pause/", subscription_views.manage_pause, name="manage_pause"),
    path("subscriptions/<str:token>/resume/", subscription_views.manage_resume, name="manage_resume"),
    path("subscriptions/<str:token>/send-now/", subscription_views.manage_send_now, name="manage_send_now"),
    path(
        "subscriptions/<str:token>/replace-links/",
        subscription_views.manage_replace_links,
        name="manage_replace_links",
    ),
    path("subscriptions/<str:token>/calendar.ics", subscription_views.calendar, name="calendar"),
    path("unsubscribe/<str:token>/", subscription_views.unsubscribe, name="unsubscribe"),
    path("email/answer/<str:token>/", link_views.quiz_answer, name="quiz_answer"),
    path("email/done/<str:token>/", link_views.week_done, name="week_done"),
    path("webhooks/sendgrid", webhooks.sendgrid_events, name="sendgrid_webhook"),
    path("webhooks/inbound/<str:secret>", webhooks.inbound_parse, name="inbound_parse"),
]
