"""The stream server: `uvicorn school.asgi:application` (compose.yaml's "live") serves the tutor's answer streams
(`courses.tutor.stream`) and nothing else. Pages, forms and the API are gunicorn's (`school.wsgi`): one stack
for them, so a request that reaches this port by mistake gets a 404 rather than a second copy of the site."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "school.settings")
django_application = get_asgi_application()

STREAMS_PREFIX = "/tutor/stream/"
NOT_HERE = b"Not found: this server only streams the tutor's answers."

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http" and not scope["path"].startswith(STREAMS_PREFIX):
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(NOT_HERE)).encode()),
        ]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": NOT_HERE})
        return
    await django_application(scope, receive, send)
