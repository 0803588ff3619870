"""The loopback HTTP plumbing the fakes share: a threaded stdlib server that hands every request to the fake's
``handle(method, path, headers, raw) -> Reply`` and writes the reply back as JSON, a base class that gives
each fake ``start()``, ``stop()`` and ``with``, and the serve-until-killed loop of their command lines.
Stdlib only.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(slots=True)
class Reply:
    """What the handler writes back; ``status`` None closes the socket without answering, ``payload`` None
    sends an empty body. With ``stream`` the body is sent chunk by chunk as the iterator yields it (chunked
    transfer encoding, e.g. server-sent events); the iterator may sleep between chunks."""

    status: int | None
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # A body sent piece by piece (chunked transfer encoding) as the iterator yields it, e.g. server-sent events;
    # an item None drops the connection there, mid-body.
    stream: Iterator[bytes | None] | None = None


class LoopbackFake:
    """A fake API served on loopback by a daemon thread; subclasses set ``host`` and ``port`` and answer
    requests in ``handle`` (called on the server's threads)."""

    host: str
    port: int
    thread_name = "fake-http"
    poll_interval = 0.05  # how long stop() may wait for serve_forever to notice
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        raise NotImplementedError

    def refuse_length(self, length: int) -> Reply | None:
        """A reply to send instead of reading a body of ``length`` bytes (the socket then closes)."""
        return None

    def start(self) -> Self:
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(self.poll_interval,), name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_until_terminated(fake: LoopbackFake) -> None:
    """Serve until SIGTERM or Ctrl-C, after printing the address the starting process reads from stdout."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with fake:
        print(f"listening on http://{fake.host}:{fake.port}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # clients pool connections; every reply carries Content-Length
    # Headers and body go out in separate writes; without TCP_NODELAY each reply waits ~40 ms for a
    # delayed ACK that no real API adds.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; benchmarks would drown in it."""

    def _dispatch(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        refusal = fake.refuse_length(length)
        if refusal is not None:
            self.close_connection = True  # the body stays unread, so the socket cannot be reused
            reply = refusal
        else:
            raw = self.rfile.read(length) if length else b""
            reply = fake.handle(self.command, self.path, dict(self.headers.items()), raw)
        if reply.status is None:
            self._drop()
            return
        try:
            self._write(reply)
        except OSError:  # the client gave up (e.g. its timeout fired); nothing to tell it
            self.close_connection = True

    def _write(self, reply: Reply) -> None:
        assert reply.status is not None
        if reply.stream is not None:
            self._write_stream(reply)
            return
        data = json.dumps(reply.payload).encode() if reply.payload is not None else b""
        self.send_response(reply.status)
        if reply.payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _write_stream(self, reply: Reply) -> None:
        assert reply.status is not None
        assert reply.stream is not None
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        for piece in reply.stream:
            if piece is None:
                self._drop()
                return
            if not piece:
                continue  # an empty chunk would end the body
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False  # stop() must not wait for handler threads
    request_queue_size = 256  # benchmark clients open many connections at once

    def __init__(self, address: tuple[str, int], fake: LoopbackFake) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive sockets so they exit with the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
