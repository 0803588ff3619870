"""python manage.py send_due_lessons [--now 2025-03-10T08:00:00+01:00]

Runs the dispatcher of the every-minute beat entry by hand: plans the weeks due at --now (default: the
current time) and queues their batches (sent in-process on a one-machine install, by the mail workers
otherwise). Safe to run next to the beat schedule: both share the work through row locks.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from delivery.email.dispatch import dispatch_due

NOW_INVALID = "--now must be an ISO-8601 date and time with its offset, e.g. 2025-03-10T08:00:00+01:00"


def parse_now(value: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(NOW_INVALID) from None
    if timezone.is_naive(moment):
        raise CommandError(NOW_INVALID)
    return moment


class Command(BaseCommand):
    help = "Send every subscriber the week that is due (the dispatcher the beat schedule runs each minute)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", type=parse_now, help="The clock to plan by (ISO-8601 with offset).")

    def handle(self, *args: Any, **options: Any) -> None:
        result = dispatch_due(now=options["now"] or timezone.now())
        if result.paused:
            self.stderr.write(
                "Sending is paused: the spam-complaint rate is over DELIVERY_COMPLAINT_PAUSE_RATE."
            )
            return
        self.stdout.write(
            f"{result.planned} week(s) planned for {result.subscriptions} subscription(s) "
            f"in {len(result.batches)} course-week batch(es); {result.held} held, {result.finished} finished."
        )
