"""A learner's progress through courses, whether they study on the website or from weekly emails.

Progress points at lesson and quiz rows, whose ids never change when a moderator rewrites their text.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from courses.models import Course, Lesson, Quiz, Week


class Source(models.TextChoices):
    WEB = "web", "Website"
    EMAIL = "email", "Email"
    API = "api", "API"


class Enrollment(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="enrollments")
    started_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("user", "course"), name="enrollment_unique")]
        indexes = [models.Index(fields=("user", "-last_activity_at"), name="enrollment_recent_idx")]

    def __str__(self) -> str:
        return f"{self.user} in {self.course}"


class LessonCompletion(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lesson_completions"
    )
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="completions")
    # Denormalised so one query finds a learner's progress across a whole course.
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lesson_completions")
    completed_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("user", "lesson"), name="lesson_completion_unique")]
        indexes = [models.Index(fields=("user", "course"), name="completion_user_course_idx")]

    def __str__(self) -> str:
        return f"{self.user} finished {self.lesson}"


class QuizAttempt(models.Model):
    """One attempt at a week's quiz: the answers given (question position → option index) and the score."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_attempts")
    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="attempts_made")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="quiz_attempts")
    answers = models.JSONField(default=dict)
    score = models.PositiveSmallIntegerField(default=0)
    total = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("user", "course"), name="attempt_user_course_idx")]

    def __str__(self) -> str:
        return f"{self.user}: {self.score}/{self.total}"


def _now() -> datetime.datetime:
    """timezone.now, for a default inside Subscription (whose `timezone` field hides the module there)."""
    return timezone.now()


# ---------------------------------------------------------------------------------------------------------
# Weekly email delivery: subscriptions, the delivery ledger, SendGrid's events and suppressed addresses.
# ---------------------------------------------------------------------------------------------------------
class Subscription(models.Model):
    """One address following one course by email, one week per message on the learner's own schedule."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for confirmation"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        FINISHED = "finished", "Every week sent"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        STOPPED = "stopped", "Stopped (bounce or complaint)"

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    email = models.EmailField(help_text="Lower-cased; the same address is the same learner everywhere.")
    # Set at confirmation: until the address is confirmed nobody owns the subscription.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="subscriptions",
    )
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="subscriptions")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, default=Weekday.MONDAY)
    send_time = models.TimeField(default=datetime.time(8, 0), help_text="Local time of day.")
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    send_first_now = models.BooleanField(
        default=False, help_text="Send week 1 as soon as the address is confirmed."
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    stop_reason = models.CharField(max_length=200, blank=True)
    next_week = models.PositiveSmallIntegerField(default=1, help_text="The week the next email carries.")
    # Only active subscriptions have one; the partial index below makes "who is due" cost what is due.
    next_send_at = models.DateTimeField(null=True, blank=True)
    catch_up_weeks = models.PositiveSmallIntegerField(
        default=0, help_text="Weeks missed while paused, sent together with the next one (chosen at resume)."
    )

    requester_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The latest confirmation link's age: a never-confirmed subscription is forgotten once it has expired.
    requested_at = models.DateTimeField(default=_now)  # `timezone` here is the field above
    confirmed_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    last_dispatched_at = models.DateTimeField(null=True, blank=True)
    link_generation = models.PositiveIntegerField(
        default=0,
        help_text='Signed into the manage and calendar links; raising it ("Replace my links") retires the old ones.',
    )

    class Meta:
        ordering = ("-created_at",)
        constraints = [models.UniqueConstraint(fields=("email", "course"), name="subscription_unique")]
        indexes = [
            models.Index(
                fields=("next_send_at",), condition=models.Q(status="active"), name="subscription_due_idx"
            ),
            models.Index(
                fields=("course", "next_send_at"),
                condition=models.Q(status="active"),
                name="subscription_course_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.course_id}"

    @property
    def is_live(self) -> bool:
        """Still following the course: may receive email now or after a resume."""
        return self.status in (self.Status.ACTIVE, self.Status.PAUSED)


class Delivery(models.Model):
    """The ledger: one row per subscription and week, so a week is sent at most once and never skipped.

    pending → sending (claimed by one worker, committed before the HTTP call) → sent / failed. A row left in
    "sending" by a dead worker is settled by SendGrid's events, which carry its id, before any re-send.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled (unsubscribed or suppressed before sending)"

    # No index of their own: the unique (subscription, week) and the (course, week) indexes lead with them,
    # and every index is paid for on each of the row's three writes.
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    # Denormalised so batches (one course-week each) and the health view need no join.
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    week_number = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    message_id = models.CharField(max_length=100, blank=True, help_text="SendGrid's X-Message-Id.")

    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=("subscription", "week_number"), name="delivery_once_per_week")
        ]
        indexes = [
            models.Index(
                fields=("course", "week_number", "id"),
                condition=models.Q(status="pending"),
                name="delivery_pending_idx",
            ),
            models.Index(
                fields=("claimed_at",), condition=models.Q(status="sending"), name="delivery_sending_idx"
            ),
            models.Index(fields=("course", "week_number"), name="delivery_course_week_idx"),
            models.Index(fields=("sent_at",), name="delivery_sent_idx"),
        ]

    def __str__(self) -> str:
        return f"Week {self.week_number} to subscription {self.subscription_id} ({self.status})"


class EmailEvent(models.Model):
    """One event from SendGrid's Event Webhook, kept once: SendGrid repeats events."""

    sg_event_id = models.CharField(max_length=100, unique=True)
    kind = models.CharField(
        max_length=32, help_text="processed, delivered, open, click, bounce, spamreport, …"
    )
    email = models.EmailField()
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    detail = models.JSONField(default=dict, blank=True, help_text="Reason, bounce type, URL clicked, …")

    class Meta:
        ordering = ("-occurred_at",)
        indexes = [models.Index(fields=("kind", "occurred_at"), name="email_event_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.email}"


class Suppression(models.Model):
    """An address we never email again, for any course: it bounced, complained or unsubscribed at SendGrid."""

    class Reason(models.TextChoices):
        BOUNCE = "bounce", "Hard bounce"
        SPAM_REPORT = "spamreport", "Spam report"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed at SendGrid"
        DROPPED = "dropped", "Dropped by SendGrid"
        MANUAL = "manual", "Added by an admin"

    email = models.EmailField(unique=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.email} ({self.get_reason_display()})"


class InboundEmail(models.Model):
    """One email received through SendGrid's Inbound Parse (a reply to a weekly email), kept once per
    Message-ID so the same email posted twice is answered once, and with what became of it."""

    class Outcome(models.TextChoices):
        ASKED = "asked", "Asked the tutor"
        REPLIED = "replied", "Answered by email"
        IGNORED = "ignored", "Ignored"
        REFUSED = "refused", "Refused (the learner is told why)"

    message_id = models.CharField(max_length=998, unique=True, help_text="Its Message-ID header.")
    sender = models.EmailField(max_length=254, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_emails"
    )
    week = models.ForeignKey(Week, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    tutor_message = models.ForeignKey(
        "courses.TutorMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=200, blank=True, help_text="Why it was ignored or refused.")
    references = models.TextField(blank=True, help_text="Its References header, continued by our reply.")
    received_at = models.DateTimeField(auto_now_add=True)
    replied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-received_at",)

    def __str__(self) -> str:
        return f"{self.sender}: {self.subject}"
