"""compose.yaml's services run here as a deployment runs them, for the tests and bench/: the same command
(program, workers, threads, CPU priority), its Python program from this interpreter, listening on 127.0.0.1 at
a port of the caller's instead of the container's 0.0.0.0, so what they measure is what a deployment runs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYTHON_PROGRAMS = {"gunicorn", "uvicorn", "celery"}


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick), for a server a test or benchmark starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def compose_service(name: str) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    return dict(services[name])


def compose_command(name: str, port: int | None = None) -> list[str]:
    """The service's command, ready to run here; with `port`, listening on 127.0.0.1:`port`."""
    service = compose_service(name)
    moved: dict[str, str] = {}
    if port is not None:
        # "127.0.0.1:8001:8001": the port the process listens on in its container is the last one.
        inside = str(service["ports"][0]).rsplit(":", 1)[1]
        moved = {"0.0.0.0": "127.0.0.1", inside: str(port), f"0.0.0.0:{inside}": f"127.0.0.1:{port}"}
    command: list[str] = []
    for argument in service["command"]:
        if argument in PYTHON_PROGRAMS:
            command += [sys.executable, "-m", argument]
        else:
            command.append(moved.get(argument, argument))
    return command


def compose_priority(name: str) -> list[str]:
    """What the service's command runs its program under, such as its CPU priority (["chrt", "--idle", "0"])."""
    command = compose_service(name)["command"]
    program = next(n for n, argument in enumerate(command) if argument in PYTHON_PROGRAMS)
    return list(command[:program])


def service_start(name: str, port: int, env: dict[str, str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start the service on `port` and wait until it accepts connections (AssertionError if it stops or takes
    over 20 s)."""
    server = subprocess.Popen(compose_command(name, port), cwd=ROOT, env=env, **popen)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            assert server.poll() is None, f"compose's {name} stopped"
            assert time.monotonic() < deadline, f"compose's {name} did not start"
            time.sleep(0.1)
