"""The tutor under load: 50 learners ask at once, against the fake OpenAI server streaming at a realistic pace.

The site as compose.yaml runs it: gunicorn for pages (3 workers × 4 threads), and the tutor's processes at
the lowest CPU priority, each from compose's own command (`tests.compose_services`): the tutor's gunicorn
(`tutor`, which the proxy sends /tutor/ to; --one-pool to post the questions to the pages' gunicorn instead,
as without that rule), the stream server (`live`; --poll to leave it out, so the learners poll) and two
`celery worker` processes (`worker`). PostgreSQL on its own database (sem_bench_tutor, created and dropped
here) and Redis (BENCH_REDIS_URL, default db 12, flushed). Each learner posts a question as the page's script
does, then follows the answer as the script does: its stream from the stream server, or (--poll) its JSON
every 200 ms until the first words, then every 750 ms. Measured, per answer:
- time to first word on screen: from the ask to the first poll that returns text;
- the model's first token: when the fake sent it (the fake runs in this process, on the same clock);
- their difference, the delay the site adds (target ≤ 0.5 s at p95);
and the trivial page's (/robots.txt) p95 at 5 clients, idle and during the load (target within 1.2 ×), timed
from a process of its own so this process's GIL (the fake's fifty streams) is not counted as the site's; and,
in the same run, beside a busy loop per CPU at the tutor's priority: no I/O, no locks, the least any
background work can cost page serving on this machine. With --pin-pages, the pages' gunicorn and the client
timing them keep CPU 0 and everything else (the tutor's processes, PostgreSQL, Redis, the simulated browsers
and model) the other CPUs, as on a host where they do not share the page server's cores.

    python bench/bench_tutor.py [--learners 50] [--first-token 0.5] [--tokens-per-second 40] [--words 150]
                                [--poll] [--one-pool] [--pin-pages]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import (  # noqa: E402
    cpu_seconds,
    cpu_seconds_named,
    cpu_seconds_of_group,
    database_create,
    database_drop,
    django_environ,
    gunicorn_start,
    redis_flush,
)
from tests.compose_services import compose_command, compose_priority, service_start  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

DATABASE = "sem_bench_tutor"
# As static/js/semester.js polls an answer: often until its first words, then at reading pace.
POLL_FIRST_SECONDS = 0.2
POLL_SECONDS = 0.75
TRIVIAL_CLIENTS = 5
WARM_UP = 24  # learners asking first, at once: two per gunicorn thread, so each has its connections
ASKED = re.compile(r"learner (\d+) asks")
STREAM_URL = re.compile(r'data-stream-url="([^"]+)"')
ASK_PATH = re.compile(rb'action="([^"]+)" class="tutor-ask"')


class TimedFake(FakeOpenAI):
    """The fake, noting when it sends each streamed answer's first token (by the learner it answers)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_token_at: dict[int, float] = {}

    def _stream(
        self, body: Any, completion: Any, started: float, fault: str | None
    ) -> Iterator[bytes | None]:
        learner = ASKED.search(json.dumps(body["messages"][-1]))
        for number, event in enumerate(super()._stream(body, completion, started, fault)):
            if number == 1 and learner:  # the event after the role is the first word
                self.first_token_at[int(learner[1])] = time.monotonic()
            yield event


@dataclass
class Answer:
    asked_at: float = 0.0
    queued_at: float = 0.0  # the ask's response arrived
    first_word_at: float = 0.0
    ended_at: float = 0.0
    status: str = ""
    error: str = ""


@dataclass
class Trivial:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    sent: list[float] = field(
        default_factory=list
    )  # when each request was due (time.monotonic, all processes)

    def between(self, start: float, end: float) -> Trivial:
        pairs = [
            (at, latency) for at, latency in zip(self.sent, self.latencies, strict=True) if start <= at < end
        ]
        return Trivial([latency for _, latency in pairs], 0, [at for at, _ in pairs])

    def p(self, percent: float) -> float:
        ordered = sorted(self.latencies)
        return (
            ordered[min(len(ordered) - 1, int(percent / 100 * len(ordered)))] * 1000
            if ordered
            else float("nan")
        )


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(percent / 100 * len(ordered)))] if ordered else float("nan")


def main() -> None:
    args = parse_args()
    if args.pin_pages:  # this process's threads (the browsers, the model) and all it starts: not CPU 0
        os.sched_setaffinity(0, args.other_cpus)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    fake = TimedFake(moderation_latency=0.05, keep_bodies=False).start()
    fake.first_token_latency = args.first_token
    fake.tokens_per_second = args.tokens_per_second
    words = " ".join(f"word{n}" for n in range(args.words))
    fake.override(lambda body: words if body.get("stream") else None)
    env = {
        **os.environ,
        **django_environ(
            DATABASE,
            redis_url,
            OPENAI_API_KEY="bench",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_MODEL="fake-model",
            LLM_MAX_CONCURRENCY="64",
            LLM_TIMEOUT_SECONDS="60",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DEBUG="false",
        ),
    }
    port = 8900 + os.getpid() % 90
    # Where the proxy sends /tutor/: the tutor's own gunicorn, or (--one-pool) the pages' gunicorn.
    tutor_port = port if args.one_pool else port + 200
    if not args.poll:
        env["TUTOR_STREAM_URL"] = f"http://127.0.0.1:{port + 100}"
    os.environ.update(env)
    database_create(DATABASE)
    redis_flush(redis_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    processes: list[subprocess.Popen[bytes]] = []
    shared = shared_services_pinned(args.other_cpus) if args.pin_pages else {}
    try:
        lesson_path, sessions = seed(args.learners + WARM_UP)
        processes.append(gunicorn_start(port, env, cpus=args.page_cpus))
        processes += [worker_start(env, n) for n in range(2)]
        # Each was started in a session of its own: its process group is its pid.
        groups = {"gunicorn": [processes[0].pid], "celery workers": [p.pid for p in processes[1:]]}
        if not args.one_pool:
            quiet = {"stdout": subprocess.DEVNULL, "start_new_session": True}  # its access log
            processes.append(service_start("tutor", tutor_port, env, **quiet))
            groups["tutor's gunicorn"] = [processes[-1].pid]
        if not args.poll:
            processes.append(service_start("live", port + 100, env, start_new_session=True))
            groups["stream server"] = [processes[-1].pid]
        warm_up(port, tutor_port, lesson_path, sessions[args.learners :])
        del sessions[args.learners :]
        run(port, tutor_port, lesson_path, sessions, fake, args, groups)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        fake.stop()
        for task, cpus in shared.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(task, cpus)
        from django.db import connections

        connections.close_all()
        redis_flush(redis_url)
        database_drop(DATABASE)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--first-token", type=float, default=0.5, help="the model's time to first token (s)")
    parser.add_argument("--tokens-per-second", type=float, default=40.0, help="the model's pace afterwards")
    parser.add_argument("--words", type=int, default=150, help="tokens (words) per answer")
    parser.add_argument("--idle-seconds", type=float, default=6.0)
    parser.add_argument(
        "--trivial-rate", type=float, default=100.0,
        help="the trivial page's requests a second (0: back to back, which alone saturates the CPUs)",
    )  # fmt: skip
    parser.add_argument(
        "--one-pool", action="store_true",
        help="post the questions to the pages' gunicorn, as a site without the proxy's /tutor/ rule does",
    )  # fmt: skip
    parser.add_argument(
        "--pin-pages", action="store_true",
        help="the pages' gunicorn and its timing client on CPU 0; the rest, PostgreSQL and Redis included, elsewhere",
    )  # fmt: skip
    parser.add_argument(
        "--poll", action="store_true",
        help="no stream server: the learners poll gunicorn for their answers, as the page does without one",
    )  # fmt: skip
    parser.add_argument(
        "--load-nice", type=int, default=19,
        help="niceness of the simulated browsers and model (0: they compete with the site for its CPUs)",
    )  # fmt: skip
    args = parser.parse_args()
    everywhere = os.sched_getaffinity(0)
    args.page_cpus = {min(everywhere)} if args.pin_pages else None
    args.other_cpus = everywhere - (args.page_cpus or set())
    if args.pin_pages and not args.other_cpus:
        parser.error("--pin-pages needs two CPUs or more")
    return args


def shared_services_pinned(cpus: set[int]) -> dict[int, set[int]]:
    """Move every thread of the machine's PostgreSQL and Redis to `cpus` (new backends inherit it from the
    postmaster); returns each thread's CPUs before, for putting them back."""
    before = {}
    for name in ("postgres", "redis-server"):
        found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
        for pid in found:
            for task in map(int, os.listdir(f"/proc/{pid}/task")):
                with contextlib.suppress(OSError):
                    before[task] = os.sched_getaffinity(task)
                    os.sched_setaffinity(task, cpus)
    return before


def seed(learners: int) -> tuple[str, list[str]]:
    """A written course and `learners` signed-in learners; returns the first lesson's path and their sessions."""
    import django

    django.setup()
    from tests.factories import UserFactory, first_lesson, signed_in_session, written_course

    lesson = first_lesson(written_course(weeks=4, lessons_per_week=3, review_state="approved"))
    sessions = [signed_in_session(UserFactory(email=f"learner{n}@bench.test")) for n in range(learners)]
    return f"/courses/{lesson.course_id}/lessons/{lesson.id}/", sessions


def worker_start(env: dict[str, str], number: int) -> subprocess.Popen[bytes]:
    """One of compose.yaml's two "worker" replicas, its command as compose's (the later options win), with 32
    threads instead of 24 so that all fifty answers are written at once."""
    command = compose_command("worker")
    command += ["--concurrency", "32", "--loglevel", "WARNING", "--hostname", f"tutor{number}@%h"]
    command += ["--without-mingle", "--without-gossip"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL, start_new_session=True)


def request(
    port: int, method: str, path: str, *, cookie: str, body: str = "", **headers: str
) -> tuple[int, bytes, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body or None, headers={"Cookie": cookie, **headers})
        response = conn.getresponse()
        return response.status, response.read(), response
    finally:
        conn.close()


def learner(
    ports: tuple[int, int],
    lesson_path: str,
    session: str,
    number: int,
    answer: Answer,
    go: threading.Event,
    nice: int = 0,
) -> None:
    """Open the lesson (the pages' gunicorn), ask and follow the answer (the tutor's, `ports`' second)."""
    port, tutor_port = ports
    if nice:  # on Linux a thread's niceness is its own: this learner's browser, not the whole benchmark
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    try:
        cookie = f"sessionid={session}"
        status, page, response = request(port, "GET", lesson_path, cookie=cookie)
        csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        token = (response.getheader("Set-Cookie") or "").split("csrftoken=")[1].split(";")[0]
        ask = ASK_PATH.search(page)
        assert csrf, status
        assert ask, status
        ask_path = ask[1].decode()
        cookie += f"; csrftoken={token}"
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": csrf[1].decode(), "question": f"learner {number} asks: why?"}
        )
        go.wait()
        answer.asked_at = time.monotonic()
        status, body, _ = request(
            tutor_port, "POST", ask_path, cookie=cookie, body=form,
            **{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
               "Referer": f"http://127.0.0.1:{port}{lesson_path}"},
        )  # fmt: skip
        answer.queued_at = time.monotonic()
        asked = json.loads(body)
        stream = STREAM_URL.search(asked["html"])
        if stream:
            follow_stream(stream[1], answer)
            return
        live = asked["live_url"]
        start = 0
        while time.monotonic() - answer.asked_at < 120:
            status, body, _ = request(tutor_port, "GET", f"{live}?from={start}", cookie=cookie)
            state = json.loads(body)
            if state["text"] and not answer.first_word_at:
                answer.first_word_at = time.monotonic()
            start = state["next"]
            if state["ended"]:
                answer.ended_at, answer.status = time.monotonic(), state["ended"]["status"]
                return
            time.sleep(POLL_SECONDS if answer.first_word_at else POLL_FIRST_SECONDS)
    except Exception as error:
        answer.error = repr(error)


def follow_stream(url: str, answer: Answer) -> None:
    """Read the answer's server-sent events as the page's EventSource does, until it has ended."""
    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
    try:
        conn.request("GET", f"{where.path}?from=0", headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        while line := response.readline():
            if not line.startswith(b"data: "):
                continue
            state = json.loads(line[6:])
            if state["text"] and not answer.first_word_at:
                answer.first_word_at = time.monotonic()
            if state["ended"]:
                answer.ended_at, answer.status = time.monotonic(), state["ended"]["status"]
                return
        answer.error = "the stream closed before the answer ended"
    finally:
        conn.close()


def warm_up(port: int, tutor_port: int, lesson_path: str, sessions: list[str]) -> None:
    """A few whole questions and answers first, at once, so both workers are up and every gunicorn process has
    made its imports and connections (a one-time cost per process, not the tutor's)."""
    go, answers = threading.Event(), [Answer() for _ in sessions]
    go.set()
    threads = [
        threading.Thread(
            target=learner, args=((port, tutor_port), lesson_path, session, 10_000 + n, answers[n], go)
        )
        for n, session in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(answer.status != "done" for answer in answers):
        raise SystemExit(f"a warm-up question was not answered: {answers}")


def hammer_trivial(port: int, stop: threading.Event, rate: float) -> Trivial:
    """TRIVIAL_CLIENTS clients asking for the trivial page, `rate` requests a second in all, each on its own
    schedule; a latency counts from when its request was due, so a late start is counted too. With rate 0 they
    ask back to back, which on its own keeps the server's CPUs busy."""
    result, lock = Trivial(), threading.Lock()
    interval = TRIVIAL_CLIENTS / rate if rate else 0.0

    def client(offset: float) -> None:
        due = time.perf_counter() + offset
        while not stop.is_set():
            if interval:
                time.sleep(max(0.0, due - time.perf_counter()))
            started = due if interval else time.perf_counter()
            try:
                status, _, _ = request(port, "GET", "/robots.txt", cookie="")
            except OSError:
                status = 0
            with lock:
                if status == 200:
                    latency = time.perf_counter() - started
                    result.latencies.append(latency)
                    result.sent.append(time.monotonic() - latency)
                else:
                    result.errors += 1
            due += interval

    threads = [
        threading.Thread(target=client, args=(n * interval / TRIVIAL_CLIENTS,))
        for n in range(TRIVIAL_CLIENTS)
    ]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()
    return result


def hammer_elsewhere(
    port: int, stop: threading.Event, ready: threading.Event, rate: float, cpus: set[int] | None = None
) -> Trivial:
    """`hammer_trivial` in a process of its own, so its clients' timings do not include waiting on this
    process's GIL behind the fake's fifty streams and the learners' threads; `ready` is set once it sends."""
    context = multiprocessing.get_context("spawn")
    child_stop, child_ready, out = context.Event(), context.Event(), context.Queue()
    process = context.Process(target=_hammer_process, args=(port, child_stop, child_ready, out, rate, cpus))
    process.start()
    child_ready.wait(30)
    ready.set()
    stop.wait()
    child_stop.set()
    latencies, errors, sent = out.get(timeout=60)
    process.join(30)
    return Trivial(latencies, errors, sent)


def _hammer_process(port: int, stop: Any, ready: Any, out: Any, rate: float, cpus: set[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    request(port, "GET", "/robots.txt", cookie="")
    ready.set()
    local_stop = threading.Event()
    threading.Thread(target=lambda: (stop.wait(), local_stop.set()), daemon=True).start()
    result = hammer_trivial(port, local_stop, rate)
    out.put((result.latencies, result.errors, result.sent))


def beside_busy_loops(port: int, args: argparse.Namespace) -> Trivial:
    """The trivial page while a busy loop per CPU runs at the tutor's priority (compose's): work that takes no
    lock, no I/O and no connection, so what it costs page serving is the least any background work can."""
    loop = [*compose_priority("tutor"), sys.executable, "-c", "while True: pass"]
    loops = [subprocess.Popen(loop) for _ in range(os.cpu_count() or 1)]
    try:
        stop, ready = threading.Event(), threading.Event()
        threading.Thread(target=lambda: (ready.wait(), time.sleep(args.idle_seconds), stop.set())).start()
        return hammer_elsewhere(port, stop, ready, args.trivial_rate, args.page_cpus)
    finally:
        for process in loops:
            process.kill()
            process.wait()


def cpu_now(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each of the site's parts and of this process (the simulated browsers and model)."""
    used = {name: sum(cpu_seconds_of_group(group) for group in members) for name, members in groups.items()}
    used["PostgreSQL"] = cpu_seconds_named("postgres")
    used["Redis"] = cpu_seconds_named("redis-server")
    used["browsers and model (this process)"] = cpu_seconds(os.getpid())
    return used


def run(
    port: int,
    tutor_port: int,
    lesson_path: str,
    sessions: list[str],
    fake: TimedFake,
    args: argparse.Namespace,
    groups: dict[str, list[int]],
) -> None:
    idle_stop, ready = threading.Event(), threading.Event()
    load_average_before = os.getloadavg()[0]
    threading.Thread(target=lambda: (ready.wait(), time.sleep(args.idle_seconds), idle_stop.set())).start()
    idle = hammer_elsewhere(port, idle_stop, ready, args.trivial_rate, args.page_cpus)
    floor = beside_busy_loops(port, args)

    answers = [Answer() for _ in sessions]
    go = threading.Event()
    # The learners' browsers and the model run elsewhere in a deployment; here they share the server's CPUs, so
    # they run at --load-nice (the fake's threads inherit its accepting thread's niceness).
    accepting = fake._thread
    if args.load_nice and accepting is not None and accepting.native_id is not None:
        os.setpriority(os.PRIO_PROCESS, accepting.native_id, args.load_nice)
    threads = [
        threading.Thread(
            target=learner,
            args=((port, tutor_port), lesson_path, session, n, answers[n], go, args.load_nice),
        )
        for n, session in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2)  # every learner has its page and token
    load_stop, ready = threading.Event(), threading.Event()
    loaded: list[Trivial] = []
    hammer = threading.Thread(
        target=lambda: loaded.append(
            hammer_elsewhere(port, load_stop, ready, args.trivial_rate, args.page_cpus)
        )
    )
    hammer.start()
    ready.wait()
    cpu_before = cpu_now(groups)
    go.set()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    cpu_after = cpu_now(groups)
    load_stop.set()
    hammer.join()
    wall = time.monotonic() - started

    done = [(n, a) for n, a in enumerate(answers) if a.first_word_at and n in fake.first_token_at]
    screen = [a.first_word_at - a.asked_at for _, a in done]
    model = [fake.first_token_at[n] - a.asked_at for n, a in done]
    added = [a.first_word_at - fake.first_token_at[n] for n, a in done]
    whole = [a.ended_at - a.asked_at for _, a in done if a.ended_at]
    posting = [a.queued_at - a.asked_at for _, a in done]
    statuses: dict[str, int] = {}
    for answer in answers:
        outcome = answer.status or answer.error[:60] or "unfinished"
        statuses[outcome] = statuses.get(outcome, 0) + 1
    load = loaded[0]
    print(
        f"{len(sessions)} learners asking at once; model: first token after {args.first_token} s, then "
        f"{args.tokens_per_second:g} tokens/s, {args.words} tokens per answer; {os.cpu_count()} CPUs, "
        f"load average {load_average_before:.1f} before, {os.getloadavg()[0]:.1f} after; all answered within {wall:.1f} s; outcomes {statuses}; "
        + ("polled from gunicorn" if args.poll else "pushed by the stream server")
    )
    print(
        f"first word on screen (from the ask): p50 {percentile(screen, 50):.2f} s   p95 {percentile(screen, 95):.2f} s"
    )
    print(
        f"the ask's own request (stored, queued): p50 {percentile(posting, 50):.2f} s   "
        f"p95 {percentile(posting, 95):.2f} s"
    )
    print(
        f"model's first token (from the ask):  p50 {percentile(model, 50):.2f} s   p95 {percentile(model, 95):.2f} s"
    )
    print(
        f"on screen after the model's first token: p50 {percentile(added, 50):.2f} s   p95 "
        f"{percentile(added, 95):.2f} s   (target ≤ 0.5 s at p95)"
    )
    print(
        f"whole answer on screen (from the ask): p50 {percentile(whole, 50):.2f} s   p95 {percentile(whole, 95):.2f} s"
    )
    spent = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
    print(
        f"CPU seconds during the load ({wall:.1f} s on {os.cpu_count()} CPUs): "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in spent.items())
        + f"; the browsers and model at nice {args.load_nice}"
    )
    ratio = load.p(95) / idle.p(95) if idle.latencies else float("nan")
    print(
        f"trivial page p95 ({TRIVIAL_CLIENTS} clients, {args.trivial_rate:g} requests/s in all, 0 = back to back): idle {idle.p(95):.1f} ms ({len(idle.latencies)} requests), "
        f"during the load {load.p(95):.1f} ms ({len(load.latencies)} requests, {load.errors} errors): "
        f"{ratio:.2f} × idle   (target ≤ 1.2 ×); "
        + (
            "questions posted to the pages' gunicorn"
            if args.one_pool
            else "questions posted to the tutor's gunicorn"
        )
        + (f"; pages on CPU {min(args.page_cpus)}, the rest on the others" if args.pin_pages else "")
    )
    print(
        f"  the machine's floor: beside {os.cpu_count()} busy loops at the tutor's priority "
        + ("(on the others) " if args.pin_pages else "")
        + f"({' '.join(compose_priority('tutor'))}), p95 {floor.p(95):.1f} ms, {floor.p(95) / idle.p(95):.2f} × idle"
    )
    asked_by = max(answer.queued_at for _, answer in done)
    posting_phase, answering_phase = load.between(started, asked_by), load.between(asked_by, started + wall)
    print(
        f"  of which while the {len(sessions)} questions were being posted ({asked_by - started:.1f} s): "
        f"p95 {posting_phase.p(95):.1f} ms ({len(posting_phase.latencies)} requests); while the answers "
        f"streamed: p95 {answering_phase.p(95):.1f} ms ({len(answering_phase.latencies)} requests), "
        f"{answering_phase.p(95) / idle.p(95):.2f} × idle"
    )


if __name__ == "__main__":
    main()
