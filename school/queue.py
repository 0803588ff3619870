"""The one way services hand work to Celery: by the task's name, once the current transaction commits.

Tasks import services, never the other way round, so a service names its task instead of importing it. The
name is looked up in Celery's registry when the transaction commits, so the one-machine install (tasks eager,
in-process) still runs it at once, which `send_task` would not; and a worker never picks up a job for rows that
a rolled-back transaction never wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from celery import Task, chain, group
from celery.exceptions import NotRegistered
from django.db import transaction

from school.celery import app


def enqueue_after_commit(task_name: str, *args: Any) -> None:
    transaction.on_commit(lambda: _task(task_name).delay(*args))


def enqueue_many_after_commit(jobs: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
    """Queue (task name, args) jobs as one group, in one batch of messages (one Redis pipeline) rather than one
    round trip each: a course's ~58 parts would otherwise start spread over a few hundred milliseconds."""
    if jobs:
        transaction.on_commit(lambda: _send_together(list(jobs)))


def enqueue_chain_after_commit(jobs: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
    """Queue (task name, args) jobs to run one after the other, each on its own task's queue, once the
    transaction commits; a job runs only if the one before it finished without raising."""
    if jobs:
        transaction.on_commit(lambda: chain(*[_task(name).si(*args) for name, args in jobs]).delay())


def _send_together(jobs: list[tuple[str, tuple[Any, ...]]]) -> None:
    with app.producer_or_acquire() as producer, producer.batch():
        group(_task(name).si(*args) for name, args in jobs).apply_async(producer=producer)


def _task(name: str) -> Task[Any, Any]:
    try:
        return app.tasks[name]
    except NotRegistered:  # workers discover the task modules as they start; other processes do it here
        # One thread imports them; the others wait for it, instead of finding a module imported halfway.
        with _importing:
            app.loader.import_default_modules()
        return app.tasks[name]


_importing = threading.Lock()
