from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from school.health import service_states


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, states = service_states()
    return JsonResponse({"status": "ok" if healthy else "degraded", **states}, status=200 if healthy else 503)


ROBOTS_TXT = """User-agent: *
Disallow: /accounts/
Disallow: /api/
Disallow: /learning/
"""


@require_GET
def robots_txt(request: HttpRequest) -> HttpResponse:
    """Crawlers may read public pages; sign-in links, the API and learners' pages are none of their business."""
    return HttpResponse(ROBOTS_TXT, content_type="text/plain")
