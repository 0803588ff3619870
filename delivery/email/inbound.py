"""Replies to the weekly email, received through SendGrid's Inbound Parse and answered by the tutor by email.

SendGrid posts each email as multipart form fields (`headers`, `text`, `html`, `from`, `to`, `subject`,
`envelope`, attachments as files: https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/setting-up-the-inbound-parse-webhook).
An email whose sender's domain failed both SPF and DKIM (SendGrid's `SPF` and `dkim` fields) is taken as
forged: logged, not stored, not answered. Any other email is taken once per Message-ID, then, in this order:
1. ignored if a machine sent it (Auto-Submitted, Precedence, mailing-list headers, bounce reports, daemons),
   so no loop of automatic replies can start;
2. matched to a subscription and week by the signed ask token it carries back (in the address it was sent
   to, its subject or the quoted email), and ignored unless it comes from that subscription's address, which
   still follows the course and is not suppressed: a forged or guessed reply gets nothing;
3. stripped of its quoted history and signature (mail-parser-reply; attachments are never read), and asked
   of the tutor about that week as the subscription's learner, whose conversation then shows on the site;
4. answered by email in the same thread (In-Reply-To, References) once the answer is written.
A learner's question that is refused (allowance used, spend cap reached, screened out, nothing left once the
quote and signature are stripped) gets a short reply in the thread saying why, at most one a day per learner,
so a flood of emails cannot make us send a flood. Emails ignored in steps 1 and 2 never get one: a reply
there could start a loop or answer a stranger.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import HeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import strip_tags
from mailparser_reply import EmailReplyParser

from accounts.services import user_get_or_create_for_email
from courses.models import TutorMessage, Week
from courses.tutor.asking import TutorError, tutor_ask
from delivery.email import emails, tokens
from delivery.models import InboundEmail, Subscription, Suppression
from school.queue import enqueue_after_commit
from school.ratelimit import rate_limit_key

logger = logging.getLogger(__name__)

REPLY_TASK = "delivery.tasks.send_tutor_reply"
REFUSAL_TASK = "delivery.tasks.send_tutor_refusal"
NOTHING_ASKED = "empty body once the quote and signature are stripped"
NOTHING_ASKED_TELL = (
    "We found no question in your email, only the email you replied to or a signature. "
    "Write your question above the quoted text and send it again."
)
REFUSAL_NOT_TOLD = " (not told: one refusal email a day)"
DKIM_RESULT = re.compile(r"@?([a-z0-9-]+(?:\.[a-z0-9-]+)+)\s*:\s*([a-z]+)", re.I)
MALFORMED = "An Inbound Parse post needs its `headers` and `from` fields, and `envelope` (if given) as JSON."
ROBOT_SENDER = re.compile(r"^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)(?:[+@]|$)", re.I)
MACHINE_PRECEDENCE = {"bulk", "list", "junk", "auto_reply"}
LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post", "Mailing-List")
AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Reply")
REPLYING_STATUSES = {Subscription.Status.ACTIVE, Subscription.Status.PAUSED, Subscription.Status.FINISHED}
Outcome = InboundEmail.Outcome


class InboundMalformed(ValueError):
    """A post that is not an email as Inbound Parse sends one: refused with a 400, nothing stored."""


@dataclass(frozen=True)
class Inbound:
    message_id: str
    sender: str
    subject: str
    headers: EmailMessage
    recipients: list[str]
    text: str
    spf: str  # SendGrid's SPF verdict on the sending server: pass, fail, softfail, neutral, none...
    dkim: str  # SendGrid's DKIM verdicts, e.g. "{@example.com : pass, @mailer.example : fail}"


def inbound_parse(fields: Mapping[str, str]) -> Inbound:
    raw_headers, raw_from = fields.get("headers", ""), fields.get("from", "")
    if not raw_headers.strip() or not raw_from.strip():
        raise InboundMalformed(MALFORMED)
    envelope: dict[str, object] = {}
    if fields.get("envelope"):
        try:
            envelope = json.loads(fields["envelope"])
        except ValueError:
            raise InboundMalformed(MALFORMED) from None
        if not isinstance(envelope, dict):
            raise InboundMalformed(MALFORMED)
    headers = HeaderParser(policy=default_policy).parsestr(raw_headers)
    assert isinstance(headers, EmailMessage)
    text = fields.get("text", "") or strip_tags(fields.get("html", ""))
    envelope_to = envelope.get("to")
    recipients = [address for _, address in getaddresses([fields.get("to", ""), str(headers.get("To", ""))])]
    if isinstance(envelope_to, list):
        recipients += [str(address) for address in envelope_to]
    message_id = str(headers.get("Message-ID", "")).strip()
    if not message_id:  # rare; the same post twice still hashes alike
        message_id = "<sha256-" + hashlib.sha256((raw_headers + text).encode()).hexdigest() + "@inbound>"
    return Inbound(
        message_id=message_id[:998],
        sender=parseaddr(raw_from)[1].strip().lower(),
        subject=" ".join(fields.get("subject", "").split())[:998],
        headers=headers,
        recipients=recipients,
        text=text,
        spf=fields.get("SPF", ""),
        dkim=fields.get("dkim", ""),
    )


def forgery_reason(email: Inbound) -> str:
    """Why `email` is taken as forged, or "": its From domain failed SPF and has no passing DKIM signature
    (a softfail or a missing verdict is not proof enough to drop a learner's question)."""
    if email.spf.strip().lower() != "fail":
        return ""
    domain = email.sender.rpartition("@")[2]
    for signer, result in DKIM_RESULT.findall(email.dkim):
        signer = signer.lower()
        aligned = signer == domain or domain.endswith("." + signer) or signer.endswith("." + domain)
        if aligned and result.lower() == "pass":
            return ""
    return f"forged: SPF failed for {domain} and no DKIM signature of {domain} passed"


def machine_reason(email: Inbound) -> str:
    """Why `email` was sent by a machine (so must not be answered), or "" for a person's email."""
    headers = email.headers
    if str(headers.get("Auto-Submitted", "no")).strip().lower() != "no":
        return "automatic reply (Auto-Submitted)"
    if str(headers.get("Precedence", "")).strip().lower() in MACHINE_PRECEDENCE:
        return "bulk, list or automatic mail (Precedence)"
    if any(headers.get(name) for name in LIST_HEADERS):
        return "mailing-list traffic"
    if any(headers.get(name) for name in AUTOREPLY_HEADERS):
        return "automatic reply"
    if "report" in str(headers.get("Content-Type", "")).lower() or ROBOT_SENDER.match(email.sender):
        return "bounce or delivery report"
    return ""


def reply_body(text: str) -> str:
    """The new text of a reply: no quoted history, no signature."""
    parsed = EmailReplyParser(languages=["en", "de", "fr", "es", "it", "nl", "pl", "sv"]).read(text)
    latest = parsed.replies[0].body if parsed.replies else ""
    # A reply that is all quote (nothing written above it) comes back as the quote itself.
    return "\n".join(line for line in latest.splitlines() if not line.lstrip().startswith(">")).strip()


def inbound_receive(*, fields: Mapping[str, str]) -> InboundEmail:
    """Record an inbound email once and, when a learner asks about their week, queue the tutor's answer and
    the reply that mails it. Raises InboundMalformed (nothing stored)."""
    email = inbound_parse(fields)
    forged = forgery_reason(email)
    if forged:  # stored nowhere: a forger learns nothing and fills no table
        logger.warning("Dropped inbound email %s from %s: %s", email.message_id, email.sender, forged)
        return InboundEmail(
            message_id=email.message_id, sender=email.sender, outcome=Outcome.IGNORED, reason=forged
        )
    existing = InboundEmail.objects.filter(message_id=email.message_id).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _take(email)
    except IntegrityError:  # the same email, posted twice at once: the other post took it
        return InboundEmail.objects.get(message_id=email.message_id)


def _take(email: Inbound) -> InboundEmail:
    inbound = InboundEmail(message_id=email.message_id, sender=email.sender, subject=email.subject)
    inbound.references = " ".join(str(email.headers.get("References", "")).split())[:4000]
    reason, subscription, week = _match(email)
    inbound.subscription, inbound.week = subscription, week
    question = reply_body(email.text) if not reason else ""
    if not reason and not email.text.strip():
        reason = "empty body"  # nothing at all, as machines send: not told
    if reason:
        inbound.outcome, inbound.reason = Outcome.IGNORED, reason
        inbound.save()
        logger.info("Ignored inbound email %s: %s", email.message_id, reason)
        return inbound
    assert subscription is not None
    assert week is not None
    if not question:
        return _refuse(inbound, NOTHING_ASKED)
    inbound.outcome = Outcome.ASKED
    inbound.save()
    user = subscription.user or user_get_or_create_for_email(email=subscription.email)
    try:
        message = tutor_ask(
            user=user,
            week=week,
            lesson=None,
            question=question,
            source=TutorMessage.Source.EMAIL,
            then=[(REPLY_TASK, (inbound.id,))],
        )
    except TutorError as error:
        return _refuse(inbound, str(error))
    inbound.tutor_message = message
    inbound.save(update_fields=["tutor_message"])
    return inbound


def _refuse(inbound: InboundEmail, reason: str) -> InboundEmail:
    """A learner's question that gets no answer: kept as refused, and the learner told why by email."""
    inbound.outcome, inbound.reason = Outcome.REFUSED, reason[:200]
    inbound.save()
    enqueue_after_commit(REFUSAL_TASK, inbound.id)
    return inbound


def _match(email: Inbound) -> tuple[str, Subscription | None, Week | None]:
    """(why it gets nothing, or "", the subscription and week its token names)."""
    machine = machine_reason(email)
    if machine:
        return machine, None, None
    ask = next(
        (
            found
            for text in [*email.recipients, email.subject, email.text]
            if (found := tokens.ask_token_find(text))
        ),
        None,
    )
    if ask is None:
        return "no genuine reference to a week", None, None
    subscription = Subscription.objects.filter(pk=ask.subscription_id).first()
    week = Week.objects.filter(pk=ask.week_id).select_related("course").first()
    if subscription is None or week is None or week.course_id != subscription.course_id:
        return "the reference names no subscription", None, None
    if email.sender != subscription.email.lower():
        return "sent from another address than the subscription's", subscription, week
    if subscription.status not in REPLYING_STATUSES:
        return f"the subscription is {subscription.get_status_display().lower()}", subscription, week
    if Suppression.objects.filter(email__iexact=email.sender).exists():
        return "the address is suppressed", subscription, week
    return "", subscription, week


def inbound_reply_send(*, inbound_id: int) -> bool:
    """Mail the tutor's answer to an inbound question, in its thread; once (a claimed row is not sent again).
    An answer the tutor refused (screened out, spend cap) is mailed as a refusal. False when nothing is sent."""
    claimed = InboundEmail.objects.filter(
        pk=inbound_id, outcome=Outcome.ASKED, replied_at__isnull=True, tutor_message__isnull=False
    ).update(replied_at=timezone.now(), outcome=Outcome.REPLIED)
    if not claimed:
        return False
    inbound = _claimed(inbound_id)
    assert inbound.subscription is not None
    assert inbound.tutor_message is not None
    assert inbound.week is not None
    try:
        if inbound.tutor_message.status == TutorMessage.Status.REFUSED:
            inbound.outcome, inbound.reason = Outcome.REFUSED, inbound.tutor_message.answer[:200]
            inbound.save(update_fields=["outcome", "reason"])
            return _refusal_mail(inbound, why=inbound.tutor_message.answer)
        emails.send_tutor_reply(
            to=inbound.subscription.email,
            subject=inbound.subject,
            message=inbound.tutor_message,
            week=inbound.week,
            in_reply_to=inbound.message_id,
            references=f"{inbound.references} {inbound.message_id}".strip(),
            reply_to=_reply_address(inbound),
        )
    except Exception:
        InboundEmail.objects.filter(pk=inbound_id).update(replied_at=None, outcome=Outcome.ASKED)
        raise
    return True


def inbound_refusal_send(*, inbound_id: int) -> bool:
    """Tell a learner, in the thread, why their emailed question gets no answer; once per email, and at most
    one such email a day per learner. False when nothing is sent."""
    claimed = InboundEmail.objects.filter(
        pk=inbound_id, outcome=Outcome.REFUSED, replied_at__isnull=True, subscription__isnull=False
    ).update(replied_at=timezone.now())
    if not claimed:
        return False
    inbound = _claimed(inbound_id)
    why = NOTHING_ASKED_TELL if inbound.reason == NOTHING_ASKED else inbound.reason
    try:
        return _refusal_mail(inbound, why=why)
    except Exception:
        InboundEmail.objects.filter(pk=inbound_id).update(replied_at=None)
        raise


def _claimed(inbound_id: int) -> InboundEmail:
    return InboundEmail.objects.select_related("subscription", "tutor_message", "week__course").get(
        pk=inbound_id
    )


def _refusal_mail(inbound: InboundEmail, *, why: str) -> bool:
    assert inbound.subscription is not None
    assert inbound.week is not None
    if not _first_refusal_today(inbound):
        inbound.outcome, inbound.replied_at = Outcome.IGNORED, None
        inbound.reason = inbound.reason[: 200 - len(REFUSAL_NOT_TOLD)] + REFUSAL_NOT_TOLD
        inbound.save(update_fields=["outcome", "replied_at", "reason"])
        logger.info("Not telling %s why again today (inbound email %s)", inbound.sender, inbound.pk)
        return False
    emails.send_tutor_refusal(
        to=inbound.subscription.email,
        subject=inbound.subject,
        why=why,
        week=inbound.week,
        in_reply_to=inbound.message_id,
        references=f"{inbound.references} {inbound.message_id}".strip(),
        reply_to=_reply_address(inbound),
    )
    return True


def _first_refusal_today(inbound: InboundEmail) -> bool:
    """True for the one inbound email a learner is told about today (again for it, on a retry)."""
    assert inbound.subscription is not None
    day = timezone.localdate().isoformat()
    key = rate_limit_key("tutor-refusal-email", inbound.subscription.email.lower(), day)
    # add() is atomic on Redis: of a flood of refusals at once, exactly one is told.
    return cache.add(key, inbound.pk, timeout=2 * 86400) or cache.get(key) == inbound.pk


def _reply_address(inbound: InboundEmail) -> str:
    assert inbound.subscription_id is not None
    assert inbound.week_id is not None
    token = tokens.ask_token(subscription_id=inbound.subscription_id, week_id=inbound.week_id)
    return emails.ask_address(token)


def inbound_secret_ok(secret: str) -> bool:
    expected = settings.SENDGRID_INBOUND_SECRET
    return bool(expected) and hmac.compare_digest(secret.encode(), expected.encode())
