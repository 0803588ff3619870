"""Signals other apps may listen to without `courses` importing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once per course, by the one caller whose update made it ready. Keyword argument: course_id (UUID).
course_ready = Signal()
