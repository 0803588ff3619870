from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client

from accounts.models import User
from tests.compose_services import free_port

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(url: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_the_embedded_default_site_starts_and_serves_its_home_page(tmp_path: Path) -> None:
    """No variable set: SQLite in a fresh folder, migrations, runserver, and the home page answers."""
    env = {"PATH": os.environ["PATH"], "SEMESTER_VAR_DIR": str(tmp_path), "HOME": str(tmp_path)}
    manage = [sys.executable, str(ROOT / "manage.py")]
    migrate = subprocess.run(
        [*manage, "migrate", "--noinput"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr
    port = free_port()
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        home = _wait_for(f"http://127.0.0.1:{port}/", seconds=30)
        health = _wait_for(f"http://127.0.0.1:{port}/healthz", seconds=5)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    assert "What are you curious about?" in home
    assert "offline" in home.lower()
    assert '"broker": "in-process"' in health
    assert (tmp_path / "semester.sqlite3").exists()


READ_PROGRESS = """
from accounts.models import User
from tests.compose_services import free_port
from courses.models import Course
from delivery.models import LessonCompletion
from delivery.learning.selectors import learner_course_outline
course = Course.objects.get()
user = User.objects.create(email="ada@example.org")
LessonCompletion.objects.create(user=user, course=course, lesson=course.lessons.first())
print(len(learner_course_outline(course=course, user=user).done))
"""


def test_the_embedded_default_site_writes_a_course_and_reads_a_learners_progress(tmp_path: Path) -> None:
    """On SQLite the hand-written SQL of the hot paths must bind as the ORM does (SQLite takes no UUID, and
    stores UUIDs and times as text): a course stayed "writing" forever, a learner's course page failed."""
    env = {"PATH": os.environ["PATH"], "SEMESTER_VAR_DIR": str(tmp_path), "HOME": str(tmp_path)}

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    written = manage("generate_course", "Beekeeping", "--weeks", "4", "--wait", "--poll", "0.05")
    read = manage("shell", "-v0", "-c", READ_PROGRESS)

    assert written.splitlines()[-1] == "ready"
    assert read.split() == ["1"]


@pytest.mark.django_db
def test_the_admin_loads_for_a_superuser(client: Client) -> None:
    admin = User.objects.create_superuser("admin@semester.test", "a-long-password")
    client.force_login(admin)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"Semester administration" in response.content


@pytest.mark.django_db
def test_the_admin_sends_anonymous_visitors_to_its_login_page(client: Client) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_createsuperuser_asks_only_for_an_email_and_a_password(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "SEMESTER_VAR_DIR": str(tmp_path),
        "DJANGO_SUPERUSER_PASSWORD": "a-long-password-9",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, cwd=ROOT, check=True, capture_output=True)
    created = subprocess.run(
        [*manage, "createsuperuser", "--noinput", "--email", "Admin@Semester.TEST"],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    check = "from accounts.models import User; u = User.objects.get(); print(u.email, u.is_superuser)"
    shown = subprocess.run(
        [*manage, "shell", "--no-imports", "-c", check], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert shown.stdout.split() == ["admin@semester.test", "True"]


@pytest.mark.django_db(transaction=True)
def test_the_compose_health_check_passes_when_allowed_hosts_lists_only_the_sites_domain(
    live_server: Any, settings: Any
) -> None:
    settings.ALLOWED_HOSTS = ["semester.example.org"]
    command = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["web"]["healthcheck"]["test"]
    assert command[:3] == ["CMD", "python", "-c"]
    code = command[3].replace("http://127.0.0.1:8000", live_server.url)
    env = {"PATH": os.environ["PATH"], "SITE_URL": "https://semester.example.org"}

    check = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)

    assert check.returncode == 0, check.stderr


@pytest.mark.django_db
def test_learners_are_created_without_a_usable_password() -> None:
    learner = User.objects.create_user("Learner@Example.COM")
    assert learner.email == "learner@example.com"
    assert not learner.has_usable_password()


def test_compose_file_defines_every_service_with_a_health_check() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) >= {"db", "redis", "web", "worker", "beat"}
    for name in ("db", "redis", "web"):
        assert "healthcheck" in services[name], name
    assert services["web"]["build"]["context"] == "."
    assert (ROOT / services["web"]["build"].get("dockerfile", "Dockerfile")).exists()
    environment = services["web"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert environment["REDIS_URL"].startswith("redis://")
