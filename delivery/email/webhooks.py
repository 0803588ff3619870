"""SendGrid's Event Webhook: signed posts of delivery events (https://docs.sendgrid.com/for-developers/tracking-events/getting-started-event-webhook-security-features)."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from delivery.email import sendgrid
from delivery.email.events import events_record
from delivery.email.inbound import InboundMalformed, inbound_receive, inbound_secret_ok
from school.http import client_ip
from school.ratelimit import rate_limit_hit, rate_limit_key

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


INBOUND_REFUSED = "Unknown inbound address."
INBOUND_TOO_MANY = "Too many inbound emails; try again in a minute."


@csrf_exempt  # authenticated by the secret in its URL (SendGrid's Inbound Parse signs nothing)
@require_POST
def inbound_parse(request: HttpRequest, secret: str) -> HttpResponse:
    """A reply to a weekly email, posted by SendGrid's Inbound Parse as multipart form fields. Any 2xx tells
    SendGrid it was taken (ignored emails too, so it does not post them again); 4xx store nothing."""
    if not inbound_secret_ok(secret):
        return JsonResponse({"error": INBOUND_REFUSED}, status=403)
    key = rate_limit_key("inbound-parse", client_ip(request))
    if rate_limit_hit(key=key, limit=settings.SENDGRID_INBOUND_PER_MINUTE, window_seconds=60):
        return JsonResponse({"error": INBOUND_TOO_MANY}, status=429)
    try:
        inbound = inbound_receive(fields=request.POST)
    except InboundMalformed as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({"outcome": inbound.outcome, "reason": inbound.reason})
