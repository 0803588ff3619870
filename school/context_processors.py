from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    """What every page needs to know about this installation."""
    return {
        "site_url": settings.SITE_URL,
        "llm_offline": not settings.OPENAI_API_KEY,
    }
