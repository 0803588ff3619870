from __future__ import annotations

from django.urls import path

from delivery.views import email_links, subscriptions, webhooks

app_name = "delivery"

urlpatterns = [
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
