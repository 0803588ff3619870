"""SendGrid's Event Webhook: signed posts of delivery events (https://docs.sendgrid.com/for-developers/tracking-events/getting-started-event-webhook-security-features)."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from delivery.email import sendgrid
from delivery.email.events import events_record

logger = logging.getLogger(__name__)

NOT_A_LIST = "The body must be a JSON array of events."


@csrf_exempt  # authenticated by SendGrid's signature, not by a session
@require_POST
def sendgrid_events(request: HttpRequest) -> HttpResponse:
    problem = sendgrid.webhook_problem(
        body=request.body,
        signature=request.headers.get(sendgrid.SIGNATURE_HEADER),
        timestamp=request.headers.get(sendgrid.TIMESTAMP_HEADER),
    )
    if problem:
        logger.warning("Refused a SendGrid webhook post: %s", problem)
        return JsonResponse({"error": problem}, status=403)
    try:
        events = json.loads(request.body)
    except ValueError:  # includes bytes that are not UTF-8
        return JsonResponse({"error": NOT_A_LIST}, status=400)
    if not isinstance(events, list):
        return JsonResponse({"error": NOT_A_LIST}, status=400)
    result = events_record(events=events)
    return JsonResponse(
        {"received": result.received, "recorded": result.recorded, "duplicates": result.duplicates}
    )
