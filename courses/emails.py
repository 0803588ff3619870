"""One function per email the courses app sends; each has subject.txt, body.txt and body.html templates."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def _send(template_dir: str, *, to: str, context: dict[str, Any]) -> None:
    context = {"site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"{template_dir}/subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template_dir}/body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(render_to_string(f"{template_dir}/body.html", context), "text/html")
    message.send()


def course_ready(*, to: str, title: str, url: str, ready: bool) -> None:
    """The course asked for is written (`ready`), or could not be: the one email a waiting visitor asked for."""
    _send("courses/emails/course_ready", to=to, context={"title": title, "url": url, "ready": ready})
