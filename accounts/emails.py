"""One function per email the accounts app sends; each has subject.txt, body.txt and body.html templates."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def email_send(template_dir: str, *, to: str, context: dict[str, Any]) -> None:
    """Send the email whose subject.txt, body.txt and body.html are in `template_dir` (shared by the apps)."""
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


def magic_link(*, to: str, url: str, valid_minutes: int) -> None:
    email_send("accounts/emails/magic_link", to=to, context={"url": url, "valid_minutes": valid_minutes})
