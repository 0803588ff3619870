"""A learner's progress through courses, whether they study on the website or from weekly emails.

Progress points at lesson and quiz rows, whose ids never change when a moderator rewrites their text.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from courses.models import Course, Lesson, Quiz


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
