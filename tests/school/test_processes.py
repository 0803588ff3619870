"""compose.yaml's processes, run as compose runs them: the tutor's requests are served by a gunicorn of their
own at the lowest CPU priority, so a burst of questions does not queue in front of page requests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from django.urls import URLResolver, get_resolver

from courses.models import TutorMessage
from courses.tutor import views as tutor_views
from tests.compose_services import compose_priority, compose_service, free_port, service_start
from tests.factories import UserFactory, first_lesson, signed_in_session, written_course

LOWEST = ["chrt", "--idle", "0"]  # Linux's SCHED_IDLE: the CPU only when nothing else wants it


def test_every_tutor_address_starts_with_tutor_so_one_proxy_rule_sends_it_to_the_tutors_processes() -> None:
    def patterns(resolver: URLResolver, prefix: str = "") -> list[tuple[str, object]]:
        found = []
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                found += patterns(entry, prefix + str(entry.pattern))
            else:
                found.append((prefix + str(entry.pattern), entry.callback))
        return found

    tutor = [route for route, view in patterns(get_resolver()) if view.__module__ == tutor_views.__name__]
    assert len(tutor) >= 4  # ask, poll, stream, report
    assert all(route.startswith("tutor/") for route in tutor), tutor


def test_the_tutors_processes_run_at_the_lowest_cpu_priority_and_a_small_share_of_the_host() -> None:
    for name in ("tutor", "live", "worker"):
        assert compose_priority(name) == LOWEST, name
        assert compose_service(name)["cpu_shares"] < 1024, name  # docker's default, which web keeps
    assert "cpu_shares" not in compose_service("web")


@pytest.mark.django_db(transaction=True)
def test_the_tutors_own_gunicorn_takes_a_question_and_runs_at_the_lowest_priority(tmp_path: Path) -> None:
    lesson = first_lesson(written_course(weeks=2, lessons_per_week=2))
    cookie = f"sessionid={signed_in_session(UserFactory(email='ada@example.com'))}"
    database = connection.settings_dict
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "school.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "SECRET_KEY": os.environ["SECRET_KEY"],  # the session's signature
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "false",
        # No REDIS_URL, no OPENAI_API_KEY: the answer (the lesson's excerpts) is written in the same process.
    }
    port = free_port()
    server = service_start(
        "tutor", port, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        site = f"http://127.0.0.1:{port}"
        page = urllib.request.urlopen(
            urllib.request.Request(f"{site}{lesson.get_absolute_url()}", headers={"Cookie": cookie}),
            timeout=30,
        )
        html = page.read().decode()
        csrf_cookie = re.search(r"csrftoken=([^;]+)", page.headers["Set-Cookie"])
        csrf_field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        ask = re.search(r'action="([^"]+)" class="tutor-ask"', html)
        assert csrf_cookie
        assert csrf_field
        assert ask
        assert ask[1].startswith("/tutor/")
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": csrf_field[1], "question": "Why does it matter?"}
        )
        headers = {"Cookie": f"{cookie}; csrftoken={csrf_cookie[1]}", "Accept": "application/json"}
        answer = urllib.request.urlopen(
            urllib.request.Request(f"{site}{ask[1]}", data=form.encode(), headers=headers), timeout=30
        )
        assert answer.status == 200
        # After a request was served, so gunicorn has forked its worker (it listens before that).
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert os.sched_getscheduler(server.pid) == os.SCHED_IDLE  # chrt became gunicorn: the same pid
        assert children
        assert all(os.sched_getscheduler(int(child)) == os.SCHED_IDLE for child in children)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)

    message = TutorMessage.objects.get()
    assert message.question == "Why does it matter?"
    assert message.conversation.lesson_id == lesson.id
    assert message.status == TutorMessage.Status.DONE
    assert message.kind == TutorMessage.Kind.EXCERPTS
