"""What every benchmark sets up alike: the environment school.settings reads, a PostgreSQL database of its own
(created empty at the start and dropped at the end), gunicorn as compose.yaml runs it, and what processes use."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PG_SERVER = "postgres://postgres@127.0.0.1:5432"


def django_environ(database: str, redis_url: str, **extra: str) -> dict[str, str]:
    """school.settings' variables for a benchmark on ``database``; ``extra`` adds its own or overrides."""
    return {
        "DJANGO_SETTINGS_MODULE": "school.settings",
        "DATABASE_URL": f"{PG_SERVER}/{database}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-only-secret-key-that-is-long-enough-0123456789",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def mail_environ(sendgrid_url: str, public_key_b64: str) -> dict[str, str]:
    """Settings for email through a fake SendGrid at `sendgrid_url`, its event webhook signed with that key."""
    return {
        "SITE_URL": "https://semester.example",
        "ALLOWED_HOSTS": "testserver,localhost",
        "SENDGRID_API_KEY": "SG.bench",
        "SENDGRID_API_HOST": sendgrid_url,
        "SENDGRID_WEBHOOK_PUBLIC_KEY": public_key_b64,
        "DEFAULT_FROM_EMAIL": "Semester <courses@semester.example>",
    }


def gunicorn_start(
    port: int, env: dict[str, str], *, workers: int = 3, threads: int = 4, cpus: set[int] | None = None
) -> subprocess.Popen[bytes]:
    """gunicorn serving the site on `port` (compose.yaml's 3 workers × 4 threads unless told), in a session of
    its own (its process group is its pid), once it answers the trivial page; only on `cpus` if given."""
    pinned = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []
    command = [*pinned, sys.executable, "-m", "gunicorn", "school.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += [
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--backlog",
        "512",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/robots.txt")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def redis_flush(url: str) -> None:
    """Empty the benchmark's Redis database (the broker's queues, locks and counters a run leaves)."""
    import redis

    redis.Redis.from_url(url).flushdb()


def database_create(name: str) -> None:
    """An empty database ``name``; whatever an interrupted run left there goes first."""
    _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")


def database_drop(name: str) -> None:
    _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _postgres(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)  # type: ignore[arg-type]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def cpu_seconds_named(name: str) -> float:
    """CPU time of every process called `name` (e.g. "postgres": the server and each connection's backend)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        if text[text.index("(") + 1 : text.rindex(")")] == name:
            total += _stat_cpu_seconds(text)
    return total


def cpu_seconds_of_group(group: int) -> float:
    """CPU time of every process in process group `group` (a server started with start_new_session and the
    workers it forks)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text.rsplit(")", 1)[1].split()[2]) == group:
            total += _stat_cpu_seconds(text)
    return total


def _stat_cpu_seconds(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: a child started by fork and exec
    carries its parent's size at the fork in that figure."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
