"""The weekly dispatcher: who is due, the delivery ledger, sending in batches, and what dead workers leave.

Exactly once per subscriber and week rests on three things:
- planning writes the ledger row (unique per subscription and week) in the same transaction that moves the
  subscription to its next week, over rows locked with SKIP LOCKED, so two dispatchers share the work;
- sending claims ledger rows (pending → sending, committed before the HTTP call) with SKIP LOCKED, so a task
  run twice or two workers on one course-week never hold the same row;
- a row left in "sending" (the worker died, or SendGrid's answer was lost) is re-sent only once SendGrid's
  events, which carry its id, have had time to say it went out (see `stuck_deliveries_reconcile`).
"""

from __future__ import annotations

from delivery.email.dispatch.planning import (
    Batches,
    DispatchResult,
    batches_enqueue,
    course_due_plan,
    dispatch_due,
    dispatch_fan_out,
    due_deliveries_plan,
)
from delivery.email.dispatch.reconcile import (
    UNKNOWN_OUTCOME,
    ReconcileResult,
    orphaned_batches,
    stuck_deliveries_reconcile,
)
from delivery.email.dispatch.sending import BatchResult, week_batch_send

__all__ = [
    "UNKNOWN_OUTCOME",
    "BatchResult",
    "Batches",
    "DispatchResult",
    "ReconcileResult",
    "batches_enqueue",
    "course_due_plan",
    "dispatch_due",
    "dispatch_fan_out",
    "due_deliveries_plan",
    "orphaned_batches",
    "stuck_deliveries_reconcile",
    "week_batch_send",
]
