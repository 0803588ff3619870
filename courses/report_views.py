"""Learners report a lesson that is wrong, offensive or broken: from the lesson page, or from a signed link
in a weekly email (no sign-in needed; the link says who sent it). GET shows the form, POST records it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from accounts.models import User
from courses import moderation
from courses.access import CourseWithheld, course_readable
from courses.models import Lesson, LessonReport
from courses.visibility import course_review_notice, course_visible_to
from school.http import client_ip
from school.ratelimit import rate_limit_hit, rate_limit_key

REPORT_LINK_SALT = "courses.report"
REPORT_LINK_MAX_AGE = 60 * 60 * 24 * 365  # weekly emails are read late; a year covers any course
REPORTS_PER_IP_PER_HOUR = 20
REPORT_LINK_INVALID = "This report link is not valid any more. Open the lesson on the website to report it."
REPORT_RATE_LIMITED = "You have sent many reports in a short time. Please try again in an hour."
REPORT_THANKS = "Thank you. A moderator will look at this lesson."
REPORT_REASON_MISSING = "Choose what is wrong with the lesson."


class ReportForm(forms.Form):
    reason = forms.ChoiceField(
        choices=LessonReport.Reason.choices,
        widget=forms.RadioSelect,
        label="What is wrong?",
        error_messages={"required": REPORT_REASON_MISSING},
    )
    quoted_text = forms.CharField(
        required=False,
        max_length=moderation.QUOTE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="The passage",
        help_text="Paste the sentence or paragraph you mean.",
    )
    comment = forms.CharField(
        required=False,
        max_length=moderation.COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Anything else?",
    )


def lesson_report_url(*, lesson: Lesson, user: User | None = None) -> str:
    """An absolute, signed link for emails: it opens the report form for this lesson as this learner."""
    token = signing.dumps(
        {"l": lesson.pk, "u": user.pk if user else None}, salt=REPORT_LINK_SALT, compress=True
    )
    return settings.SITE_URL.rstrip("/") + reverse("courses:lesson_report_email", args=[token])


def lesson_report(request: HttpRequest, course_id: str, lesson_id: int) -> HttpResponse:
    """The report form for a lesson read on the website; `?quote=` pre-fills the passage."""
    lesson = get_object_or_404(
        Lesson.objects.select_related("course", "week"), pk=lesson_id, course_id=course_id
    )
    course_readable(request, lesson.course)
    reporter = request.user if request.user.is_authenticated else None
    return _report(request, lesson, reporter, LessonReport.Source.WEB)


def lesson_report_from_email(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data: dict[str, Any] = signing.loads(token, salt=REPORT_LINK_SALT, max_age=REPORT_LINK_MAX_AGE)
    except signing.BadSignature:
        return render(request, "courses/report_done.html", {"message": REPORT_LINK_INVALID}, status=400)
    lesson = get_object_or_404(Lesson.objects.select_related("course", "week"), pk=int(data.get("l") or 0))
    user_id = data.get("u")
    reporter = User.objects.filter(pk=int(user_id), is_active=True).first() if user_id else None
    if not course_visible_to(lesson.course, reporter):  # withheld since the email was sent
        raise CourseWithheld(course_review_notice(lesson.course, reporter))
    return _report(request, lesson, reporter, LessonReport.Source.EMAIL)


def _report(request: HttpRequest, lesson: Lesson, reporter: User | None, source: str) -> HttpResponse:
    form = ReportForm(
        request.POST or None,
        initial={"quoted_text": request.GET.get("quote", "")[: moderation.QUOTE_MAX_CHARS]},
    )
    if request.method == "POST" and form.is_valid():
        if not _within_rate(request):
            return render(request, "courses/report_done.html", {"message": REPORT_RATE_LIMITED}, status=429)
        moderation.lesson_report(
            lesson=lesson,
            reporter=reporter,
            reporter_ip=client_ip(request),
            source=source,
            **form.cleaned_data,
        )
        return render(request, "courses/report_done.html", {"message": REPORT_THANKS, "lesson": lesson})
    return render(
        request, "courses/report_form.html", {"form": form, "lesson": lesson, "course": lesson.course}
    )


def _within_rate(request: HttpRequest) -> bool:
    """A few reports an hour per address keep the queue readable if someone scripts the form."""
    key = rate_limit_key("report", client_ip(request))
    return not rate_limit_hit(key=key, limit=REPORTS_PER_IP_PER_HOUR, window_seconds=60 * 60)
