""" "Email me when it is ready": a visitor waiting for their course leaves an address and gets one email."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import email_normalise
from courses import emails
from courses.models import Course
from school.queue import enqueue_after_commit

# The states a course ends in: nothing more will be written without someone asking.
ENDED = (Course.Status.READY, Course.Status.INCOMPLETE, Course.Status.FAILED)
NOTIFY_NOT_NEEDED = "This course is already written: there is nothing to wait for."


def course_notify_request(*, course: Course, email: str) -> bool:
    """Keep the address to email once the course is written. False when the course has already ended, then
    nothing is kept (the page shows the course instead). A new address replaces the one given before."""
    if course.status in ENDED:
        return False
    course.notify_email = email_normalise(email)
    course.save(update_fields=["notify_email"])
    # The course may have ended between the check above and the save: the task sends then, at most once.
    enqueue_after_commit("courses.tasks.send_course_ready_email", str(course.id))
    return True


def course_ended_notify(*, course_id: UUID) -> bool:
    """Send the one email a waiting visitor asked for, if the course has ended (written or failed) and it was
    not sent yet. Claims the row with a conditional UPDATE, so two callers never send it twice."""
    claimed = (
        Course.objects.filter(id=course_id, status__in=ENDED, notified_at__isnull=True)
        .exclude(notify_email="")
        .update(notified_at=timezone.now())
    )
    if not claimed:
        return False
    course = Course.objects.get(id=course_id)
    ready = course.status == Course.Status.READY
    # An incomplete course is readable for what was written; its page lists what is missing.
    readable = course.status in (Course.Status.READY, Course.Status.INCOMPLETE)
    path = course.get_absolute_url() if readable else reverse("courses:writing", args=[course.id])
    title = course.title if ready and course.title else course.topic
    emails.course_ready(to=course.notify_email, title=title, url=settings.SITE_URL + path, ready=ready)
    return True
