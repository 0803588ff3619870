"""The one way services hand work to Celery: by the task's name, once the current transaction commits.

Tasks import services, never the other way round, so a service names its task instead of importing it. The
name is looked up in Celery's registry when the transaction commits, so the one-machine install (tasks eager,
in-process) still runs it, which `send_task` would not; and a worker never picks up a job for rows that a
rolled-back transaction never wrote.

On the one-machine install (no broker: `settings.TASKS_IN_BACKGROUND`) the tasks run in-process but not in the
request that queued them: one background thread runs them in order, after the response has gone, so the
visitor sees the writing page or the PDF's progress instead of a page that hangs for seconds. At exit the
process first finishes what is queued (a management command's tasks are not lost).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Sequence
from typing import Any

from celery import Task, chain, group
from celery.exceptions import NotRegistered
from django.conf import settings
from django.db import close_old_connections, connections, transaction

from school.celery import app

logger = logging.getLogger(__name__)


def enqueue_after_commit(task_name: str, *args: Any) -> None:
    if settings.TASKS_IN_BACKGROUND:
        transaction.on_commit(lambda: _background.put([(task_name, args)]))
    else:
        transaction.on_commit(lambda: _task(task_name).delay(*args))


def enqueue_many_after_commit(jobs: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
    """Queue (task name, args) jobs as one group, in one batch of messages (one Redis pipeline) rather than one
    round trip each: a course's ~58 parts would otherwise start spread over a few hundred milliseconds."""
    if jobs and settings.TASKS_IN_BACKGROUND:
        transaction.on_commit(lambda: _background.put(list(jobs)))
    elif jobs:
        transaction.on_commit(lambda: _send_together(list(jobs)))


def enqueue_chain_after_commit(jobs: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
    """Queue (task name, args) jobs to run one after the other, each on its own task's queue, once the
    transaction commits; a job runs only if the one before it finished without raising."""
    if jobs and settings.TASKS_IN_BACKGROUND:
        transaction.on_commit(lambda: _background.put_chain(list(jobs)))
    elif jobs:
        transaction.on_commit(lambda: chain(*[_task(name).si(*args) for name, args in jobs]).delay())


Job = tuple[str, tuple[Any, ...]]


class _BackgroundRunner:
    """One thread running queued tasks eagerly, in order; started on first use. Each queued item is a chain:
    its jobs run one after the other, and a job runs only if the one before it succeeded."""

    def __init__(self) -> None:
        self._chains: queue.Queue[list[Job]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, jobs: list[Job]) -> None:
        """Queue independent jobs."""
        for job in jobs:
            self._put([job])

    def put_chain(self, jobs: list[Job]) -> None:
        self._put(jobs)

    def _put(self, chain_of_jobs: list[Job]) -> None:
        self._chains.put(chain_of_jobs)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="semester-tasks", daemon=True)
                self._thread.start()
                atexit.register(self.wait)

    def wait(self) -> None:
        """Block until every queued task has run (at exit, and in tests)."""
        self._chains.join()

    def _run(self) -> None:
        while True:
            jobs = self._chains.get()
            close_old_connections()
            try:
                for name, args in jobs:
                    if not self._run_one(name, args):
                        break
            finally:
                connections.close_all()
                self._chains.task_done()

    @staticmethod
    def _run_one(name: str, args: tuple[Any, ...]) -> bool:
        try:
            result = _task(name).delay(*args)  # eager: runs here, with the task's own retries
        except Exception:  # a task's failure must not stop the ones queued after it
            logger.exception("Background task %s failed", name)
            return False
        return not result.failed()


_background = _BackgroundRunner()


def background_tasks_wait() -> None:
    """Wait for the one-machine install's background tasks to finish (tests use it)."""
    _background.wait()


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
