from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from school.health import service_states


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, states = service_states()
    return JsonResponse({"status": "ok" if healthy else "degraded", **states}, status=200 if healthy else 503)
