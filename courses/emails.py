"""One function per email the courses app sends; each has subject.txt, body.txt and body.html templates."""

from __future__ import annotations

from accounts.emails import email_send


def course_ready(*, to: str, title: str, url: str, ready: bool) -> None:
    """The course asked for is written (`ready`), or could not be: the one email a waiting visitor asked for."""
    email_send("courses/emails/course_ready", to=to, context={"title": title, "url": url, "ready": ready})
