"""The stream server as compose.yaml's "live" service runs it (uvicorn, `school.asgi`), on a port of the caller's,
for the browser tests and bench_tutor.py: the same command, so what they measure is what a deployment runs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stream_server_start(port: int, env: dict[str, str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start it and wait until it accepts connections (AssertionError if it stops or takes over 20 s)."""
    program, *arguments = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["live"]["command"]
    assert program == "uvicorn"
    where = {"0.0.0.0": "127.0.0.1", "8001": str(port)}
    command = [sys.executable, "-m", program, *(where.get(argument, argument) for argument in arguments)]
    server = subprocess.Popen(command, cwd=ROOT, env=env, **popen)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            assert server.poll() is None, "the stream server stopped"
            assert time.monotonic() < deadline, "the stream server did not start"
            time.sleep(0.1)
