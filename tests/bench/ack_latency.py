"""How long `iam-bot serve` takes to ack `/iam create`, next to a bare Bolt app on the same server.

Slack gives an app 3 seconds to acknowledge a slash command. This script measures the ack of
the real production entry point (`iam-bot serve`, as the Procfile starts it: gunicorn with uvicorn workers,
1 worker, 8 threads) against a baseline Bolt app whose `/noop` command does nothing but `ack()`,
served by the very same gunicorn + Flask + SlackRequestHandler stack. Both talk to a fake Slack
Web API; iam-bot also to moto's IAM server. Everything stays on 127.0.0.1.

Run it from the project root (about 15 seconds):

    .venv/bin/python -m tests.bench.ack_latency
    .venv/bin/python -m tests.bench.ack_latency --slack-delay-ms 150 --requests 60
    .venv/bin/python -m tests.bench.ack_latency --burst 40 --slack-delay-ms 80 --aws-delay-ms 120

The second form makes every fake Slack Web API call take 150 ms, closer to the real Slack. The
third (about a minute) sends bursts of 40 simultaneous commands (seven a side, `--rounds`) with
Slack answering in 80 ms and AWS in 120 ms, and prints each side's slowest and median ack and
their ratios: an ack must never wait behind the work of earlier commands. It compares iam-bot
with two bare Bolt apps: one as Bolt comes (its HTTP thread polls every 10 ms for the ack) and
one in iam-bot's own mode (`process_before_response`: the answer goes back when the listener
returns). The first ratio is the issue's; the second is what iam-bot's own ack path costs (the
parse, the durable write of the command, the reply). A burst's requests are sent together over
connections opened beforehand, from one thread, and its answers read as they come (see
`run_burst`); each burst starts when the previous one's server has gone quiet.

Reading the table (without --burst): the baseline's HTTP thread polls for the listener's ack
every 10 ms (Bolt's default mode), so it has a floor of about 10 ms; iam-bot answers when its
listener returns. 20 clients sending back to back is a saturation test: the acks then wait for
the work earlier requests left behind, and the CPU lines say how much of that machine time is
iam-bot's and how much the fakes'.

It is a script, not a test: nothing here asserts on timings.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from bot.shell.payloads import signature
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "bench-signing-secret-0123456789"
BOT_TOKEN = "xoxb-bench"
METRICS_TOKEN = "bench-metrics-token-0123456789"
APPROVALS = "C0APPROVALS"
GROUP = "Developers"
CONCURRENCIES = (1, 20)
REQUESTS_PER_RUN = 200
WARMUP_REQUESTS = 20
# Both servers get the same gunicorn shape; these are iam-bot's defaults, set explicitly so a
# WEB_CONCURRENCY in the caller's environment cannot skew one side.
SERVER_SHAPE = {"WEB_CONCURRENCY": "1", "IAM_BOT_THREADS": "8"}


# -- the baseline server (runs in its own process: `--serve-noop`) --------------------------

def serve_noop() -> None:
    """A Bolt app with one `/noop` command that only acks, on iam-bot's own server stack.
    With BENCH_ACK_IN_REQUEST_THREAD=1 it runs as iam-bot does, with `process_before_response`."""
    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.cli import settled
    from bot.server import Gunicorn, flask_app

    class LoopbackGunicorn(Gunicorn):
        # Same config as `iam-bot serve`, but the baseline has no reason to listen beyond loopback.
        def load_config(self):
            super().load_config()
            self.cfg.set("bind", f"127.0.0.1:{self._port}")

    def build():
        client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"], timeout=10)
        app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"], token_verification_enabled=False,
                  process_before_response=os.environ.get("BENCH_ACK_IN_REQUEST_THREAD") == "1")

        @app.command("/noop")
        def noop(ack):
            ack()

        web = flask_app(app)
        settled()  # as `iam-bot serve` does after building its app: nothing favours one side
        return web

    LoopbackGunicorn(build, int(os.environ["PORT"])).run()


# -- the load generator (runs in a child process, see Load) ----------------------------------

def sign(body: str, timestamp: str) -> str:
    return signature(SIGNING_SECRET, body, timestamp)


def slash_body(command: str, text: str, response_url: str, n: int) -> str:
    return urllib.parse.urlencode({
        "token": "legacy", "team_id": "T0TEAM", "team_domain": "test", "channel_id": "C0GENERAL",
        "channel_name": "general", "user_id": "U0ALICE", "user_name": "alice", "command": command,
        "text": text, "api_app_id": "A0APP", "response_url": response_url, "trigger_id": f"1.2.{n}",
    })


def run_load(url: str, jobs: list[tuple[str, str, str]], concurrency: int) -> list[tuple[float, int, str]]:
    """Post each (command, text, response_url) once, from `concurrency` threads each with its
    own Session; return (milliseconds, status, ack text) per request, in job order."""
    import requests

    results: list[tuple[float, int, str] | None] = [None] * len(jobs)
    next_job = iter(range(len(jobs)))
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    i = next(next_job, None)
                if i is None:
                    return
                command, text, response_url = jobs[i]
                # Body and signature are built before the clock starts: only the server is timed.
                body = slash_body(command, text, response_url, i)
                timestamp = str(int(time.time()))
                headers = {"Content-Type": "application/x-www-form-urlencoded",
                           "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": sign(body, timestamp)}
                started = time.perf_counter()
                try:
                    response = session.post(url, data=body.encode(), headers=headers, timeout=30)
                    status, answer = response.status_code, response.text
                except requests.RequestException as error:
                    status, answer = 0, type(error).__name__
                results[i] = ((time.perf_counter() - started) * 1000, status, answer)

    threads = [threading.Thread(target=client, name=f"client-{n}") for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def run_burst(url: str, jobs: list[tuple[str, str, str]]) -> list[tuple[float, int, str]]:
    """Send every job at once, as a burst from Slack arrives; (milliseconds, status, ack text) each.

    The client must cost microseconds, not the milliseconds 40 threads of `requests` sharing one
    interpreter cost (their queueing for the GIL showed up as server latency on both sides): each
    request is built and its connection opened before the clock starts, all are sent from one
    thread, and the answers are read as they come in (a selector). A request's clock starts when
    it is sent and stops when its whole answer is in.
    """
    import selectors

    parsed = urllib.parse.urlparse(url)
    host, port = parsed.hostname, parsed.port
    wire = []
    for i, (command, text, response_url) in enumerate(jobs):
        body = slash_body(command, text, response_url, i).encode()
        timestamp = str(int(time.time()))
        head = (f"POST {parsed.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
                f"X-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: {sign(body.decode(), timestamp)}\r\n"
                "Connection: close\r\n\r\n")
        wire.append(head.encode() + body)
    connections = []
    for _ in jobs:
        connection = socket.create_connection((host, port), timeout=30)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connections.append(connection)
    selector = selectors.DefaultSelector()
    started = [0.0] * len(jobs)
    received = [bytearray() for _ in jobs]
    results: list[tuple[float, int, str] | None] = [None] * len(jobs)
    for i, connection in enumerate(connections):
        started[i] = time.perf_counter()
        connection.sendall(wire[i])
        connection.setblocking(False)
        selector.register(connection, selectors.EVENT_READ, i)
    left, deadline = len(jobs), time.monotonic() + 30
    while left and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            i, connection = key.data, key.fileobj
            try:
                chunk = connection.recv(65536)
            except BlockingIOError:  # woken with nothing to read after all
                continue
            except OSError:  # reset by the server: whatever came is all there is
                chunk = b""
            received[i] += chunk
            answer = _whole_answer(bytes(received[i]), closed=not chunk)
            if answer is not None:
                results[i] = ((time.perf_counter() - started[i]) * 1000, *answer)
                selector.unregister(connection)
                connection.close()
                left -= 1
    for i, connection in enumerate(connections):
        if results[i] is None:
            results[i] = (30_000.0, 0, "no answer")
            connection.close()
    selector.close()
    return results


def _whole_answer(data: bytes, closed: bool) -> tuple[int, str] | None:
    """(status, body) once an HTTP/1.1 answer is all in, else None."""
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return (0, "cut short") if closed else None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "content-length" in fields:  # both servers send one (Flask sets it on every answer here)
        if len(body) < int(fields["content-length"]):
            return (0, "cut short") if closed else None
        return status, body[:int(fields["content-length"])].decode("utf-8", "replace")
    # Without a length (Connection: close was asked for) the answer ends when the server closes.
    return (status, body.decode("utf-8", "replace")) if closed else None


class Load:
    """The clients live in a separate process. moto and the fake Slack run in this one and are
    busy serving iam-bot's post-ack work; sharing their GIL would add their time to the
    measured latencies (and only to iam-bot's, since the baseline calls neither)."""

    def __init__(self):
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))

    def run(self, url: str, jobs: list[tuple[str, str, str]], concurrency: int) -> list[tuple[float, int, str]]:
        return self._pool.submit(run_load, url, jobs, concurrency).result()

    def burst(self, url: str, jobs: list[tuple[str, str, str]]) -> list[tuple[float, int, str]]:
        return self._pool.submit(run_burst, url, jobs).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# -- servers -----------------------------------------------------------------------------------

@dataclass
class Served:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path


def clean_env(**extra: str) -> dict[str, str]:
    # Nothing from the caller's AWS, Slack or bot configuration may leak in (real credentials,
    # a real Slack URL): the only endpoints are the fakes on 127.0.0.1.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "SLACK_", "IAM_BOT_")) and k not in ("DATABASE_URL", "PORT", "WEB_CONCURRENCY")}
    env.update(SERVER_SHAPE, **extra)
    return env


def start_server(name: str, command: list[str], env: dict[str, str], cwd: Path, log_path: Path,
                 port: int) -> Served:
    import requests

    with open(log_path, "w") as log:
        # A session of its own: Ctrl-C reaches only this script, which then stops the server itself.
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    served = Served(name, f"{base}/slack/events", process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return served
        time.sleep(0.1)
    stop_server(served)
    raise RuntimeError(f"{name} did not answer /healthz; its output:\n{log_path.read_text()[-3000:]}")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process and its children (gunicorn's arbiter and worker), from
    Linux's /proc; None where there is no /proc. It tells iam-bot's own cost from the fakes'."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    stats = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = entry.read_text().rsplit(")", 1)[1].split()
            # After the command name: state, ppid, ..., utime (11th), stime (12th).
            stats[int(entry.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    if pid not in stats:
        return None
    return sum(used for p, (ppid, used) in stats.items() if p == pid or ppid == pid) / ticks


def stop_server(served: Served) -> None:
    if served.process.poll() is None:
        served.process.terminate()
        try:
            served.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()


def delaying_proxy(target: str, delay: float):
    """An HTTP proxy on 127.0.0.1 that answers each request `delay` seconds late (AWS's latency)."""
    import http.client
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    host, port = urllib.parse.urlparse(target).netloc.split(":")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay)
            upstream = http.client.HTTPConnection(host, int(port), timeout=30)
            upstream.request("POST", self.path, body, {k: v for k, v in self.headers.items() if k.lower() != "host"})
            answer = upstream.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            upstream.close()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@contextlib.contextmanager
def fakes(slack_delay: float = 0, aws_delay: float = 0) -> Iterator[tuple[object, str]]:
    """The fake Slack Web API and moto's IAM, both on 127.0.0.1, with the group to ask for."""
    import boto3
    from moto.server import ThreadedMotoServer

    from tests.support.fake_slack import FakeSlack

    # moto's server logs every request through werkzeug at INFO; a thousand lines would bury the table.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    slack = FakeSlack(token=BOT_TOKEN)
    if slack_delay:
        # Each fake request has a thread of its own (ThreadingHTTPServer), so delays overlap as with
        # the real Slack; response_url posts are not Web API calls and stay undelayed.
        answer = slack._answer

        def slow_answer(method, params):
            time.sleep(slack_delay)
            return answer(method, params)

        slack._answer = slow_answer
    slack.start()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_group(GroupName=GROUP)
        if aws_delay:
            proxy, moto_url = delaying_proxy(moto_url, aws_delay)
        yield slack, moto_url
    finally:
        moto.stop()
        slack.stop()


# -- the benchmark ---------------------------------------------------------------------------

@dataclass
class Run:
    latencies: list[float]
    statuses: list[int]
    acks: list[str]
    response_urls: list[str]
    filed: int = 0  # response_urls that got iam-bot's "Request #N filed" reply
    answered: int = 0  # response_urls that got any reply at all
    server_cpu_ms: float | None = None  # per request, in the server's processes
    fakes_cpu_ms: float | None = None  # per request, in this process: moto and the fake Slack
    ack_cpu_ms: float | None = None  # per request, in the server's processes, until the last ack

    def percentile(self, p: int) -> float:
        # Nearest-rank-ish on 200 samples: p99 is about the second slowest request.
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]


class Bench:
    def __init__(self, slack, load: Load):
        self.slack = slack
        self.load = load
        self._n = 0

    def iam_jobs(self, count: int) -> list[tuple[str, str, str]]:
        """`/iam create bench.uN Developers`, each for a new person: the bot allows one IAM user
        per human and resolves the owner from bench.uN@example.com, so every request is valid."""
        from tests.support.fake_slack import user

        jobs = []
        for _ in range(count):
            self._n += 1
            n = self._n
            uid = f"U0BENCH{n}"
            self.slack.users[uid] = user(uid, f"bench{n}", email=f"bench.u{n}@example.com")
            jobs.append(("/iam", f"create bench.u{n} {GROUP}", self.slack.response_url(f"bench-{n}")))
        return jobs

    def noop_jobs(self, count: int) -> list[tuple[str, str, str]]:
        jobs = []
        for _ in range(count):
            self._n += 1
            jobs.append(("/noop", "", self.slack.response_url(f"noop-{self._n}")))
        return jobs

    def run(self, served: Served, jobs, concurrency: int, settle=None, burst: bool = False) -> Run:
        """Send the jobs (all at once with `burst`, see run_burst); `settle(run)` then waits for the
        work the acks left behind, so the CPU counted is the whole of each request, not only its ack."""
        server_before, fakes_before = cpu_seconds(served.process.pid), time.process_time()
        if burst:
            results = self.load.burst(served.url, jobs)
        else:
            results = self.load.run(served.url, jobs, concurrency)
        run = Run([r[0] for r in results], [r[1] for r in results], [r[2] for r in results], [j[2] for j in jobs])
        acked = cpu_seconds(served.process.pid)
        if server_before is not None and acked is not None:
            run.ack_cpu_ms = (acked - server_before) * 1000 / len(jobs)
        if settle:
            settle(run)
        server_after, fakes_after = cpu_seconds(served.process.pid), time.process_time()
        if server_before is not None and server_after is not None:
            run.server_cpu_ms = (server_after - server_before) * 1000 / len(jobs)
        run.fakes_cpu_ms = (fakes_after - fakes_before) * 1000 / len(jobs)
        return run

    @staticmethod
    def quiet(served: Served, still_ms: float = 5, window: float = 0.25, timeout: float = 30) -> None:
        """Wait until the server's processes use under `still_ms` of CPU in `window` seconds: the
        work a burst left behind is done, and cannot slow the next burst (of either side)."""
        deadline = time.monotonic() + timeout
        before = cpu_seconds(served.process.pid)
        while before is not None and time.monotonic() < deadline:
            time.sleep(window)
            after = cpu_seconds(served.process.pid)
            if after is None or (after - before) * 1000 < still_ms:
                return
            before = after

    def replies(self, run: Run, timeout: float = 30) -> None:
        """Count the run's filed and answered response_urls, waiting up to `timeout` for all to answer."""
        paths = {urllib.parse.urlparse(u).path for u in run.response_urls}
        deadline = time.monotonic() + timeout
        while True:
            texts = {}
            for params in self.slack.of("response_url"):
                if params.get("_url") in paths:
                    texts.setdefault(params["_url"], []).append(params.get("text", ""))
            filed = sum(1 for said in texts.values() if any(" filed: " in t for t in said))
            if len(texts) == len(paths) or time.monotonic() > deadline:
                run.filed, run.answered = filed, len(texts)
                return
            time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-noop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=REQUESTS_PER_RUN, help="requests per configuration")
    parser.add_argument("--slack-delay-ms", type=float, default=0,
                        help="make every fake Slack Web API call take this long (the local fake answers in ~1 ms)")
    parser.add_argument("--aws-delay-ms", type=float, default=0, help="make every IAM call take this long")
    parser.add_argument("--burst", type=int, default=0,
                        help="instead of the table: bursts of this many simultaneous commands, slowest ack of each")
    parser.add_argument("--rounds", type=int, default=7, help="with --burst: how many bursts a side")
    args = parser.parse_args()
    if args.serve_noop:
        serve_noop()
        return 0

    servers: list[Served] = []
    load = Load()
    try:
        with fakes(args.slack_delay_ms / 1000, args.aws_delay_ms / 1000) as (slack, moto_url), tempfile.TemporaryDirectory(prefix="iam-bot-bench-") as tmp:
            tmp_path = Path(tmp)
            common = dict(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.api_url)
            iam_port, noop_port = free_port(), free_port()
            iam_bot = start_server(
                "iam-bot serve", [str(Path(sys.executable).parent / "iam-bot"), "serve"],
                clean_env(**common, IAM_BOT_APPROVALS_CHANNEL=APPROVALS, IAM_BOT_APPROVERS="U0BOB",
                          IAM_BOT_EMAIL_DOMAIN="example.com", DATABASE_URL=f"sqlite:///{tmp_path}/bench.db",
                          PORT=str(iam_port), AWS_ENDPOINT_URL_IAM=moto_url, AWS_ACCESS_KEY_ID="testing",
                          AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                          # Metrics on, as in production: every ack is counted into the multiprocess files.
                          IAM_BOT_METRICS_TOKEN=METRICS_TOKEN),
                cwd=tmp_path, log_path=tmp_path / "iam-bot.log", port=iam_port)
            servers.append(iam_bot)
            noop = start_server(
                "baseline", [sys.executable, "-m", "tests.bench.ack_latency", "--serve-noop"],
                clean_env(**common, PORT=str(noop_port)), cwd=ROOT, log_path=tmp_path / "noop.log", port=noop_port)
            servers.append(noop)
            same_mode = None
            if args.burst:
                same_port = free_port()
                same_mode = start_server(
                    "baseline, process_before_response", [sys.executable, "-m", "tests.bench.ack_latency", "--serve-noop"],
                    clean_env(**common, PORT=str(same_port), BENCH_ACK_IN_REQUEST_THREAD="1"), cwd=ROOT,
                    log_path=tmp_path / "noop-pbr.log", port=same_port)
                servers.append(same_mode)

            bench = Bench(slack, load)
            # Warm-up: imports, first auth.test, connection pools, SQLite, moto; not measured.
            bench.run(iam_bot, bench.iam_jobs(WARMUP_REQUESTS), 4, settle=bench.replies)
            bench.run(noop, bench.noop_jobs(WARMUP_REQUESTS), 4)

            if args.burst:
                bursts(bench, iam_bot, noop, same_mode, args)
                return 0
            rows = []
            for concurrency in CONCURRENCIES:
                # Baseline first, then iam-bot, then let iam-bot's post-ack work drain, so that
                # neither run shares the machine with work left over from the other.
                base = bench.run(noop, bench.noop_jobs(args.requests), concurrency)
                mine = bench.run(iam_bot, bench.iam_jobs(args.requests), concurrency, settle=bench.replies)
                rows.append((concurrency, mine, base))
            report(rows, args.requests, args.slack_delay_ms)
            log_text = iam_bot.log_path.read_text()
            errors = [line for line in log_text.splitlines() if "ERROR" in line or "Traceback" in line]
            if errors:
                print(f"\niam-bot logged {len(errors)} error line(s); first: {errors[0][:200]}")
            for served in servers:
                stop_server(served)
            servers.clear()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for served in servers:
            stop_server(served)
        load.close()
    return 0


def bursts(bench: "Bench", iam_bot: "Served", noop: "Served", same_mode: "Served", args) -> None:
    """Bursts of simultaneous commands, the servers taking turns (the order rotates); each burst
    starts on a quiet machine: the work the last one left is done and its server's CPU is still.

    The issue's comparison is with a bare Bolt app as Bolt comes (its HTTP thread polls every
    10 ms for the listener's ack). iam-bot runs Bolt with `process_before_response` (the ack
    goes back when the listener returns), so it is also compared with a bare Bolt app in that
    mode: that ratio is what iam-bot's own ack path costs (parse, the durable write, the reply).
    """
    sides = {"iam-bot": (iam_bot, bench.iam_jobs), "bare Bolt": (noop, bench.noop_jobs),
             "same mode": (same_mode, bench.noop_jobs)}

    def burst(name: str) -> Run:
        served, jobs = sides[name]
        run = bench.run(served, jobs(args.burst), args.burst, settle=bench.replies if name == "iam-bot" else None,
                        burst=True)
        bench.quiet(served)
        return run

    print(f"\n{args.rounds} bursts of {args.burst} simultaneous signed slash commands a side; fake Slack "
          f"+{args.slack_delay_ms:g} ms, IAM +{args.aws_delay_ms:g} ms a call; after one unmeasured burst each.")
    print("Slowest ack and median (p50) in ms; 'bare Bolt' as Bolt comes, 'same mode' with process_before_response.\n")
    print(f"{'burst':>5} | {'iam-bot':>7} {'p50':>5} | {'bare Bolt':>9} {'p50':>5} | {'ratio':>5} {'p50':>5} | "
          f"{'same mode':>9} {'p50':>5} | {'ratio':>5}")
    print("-" * 84)
    names = list(sides)
    for name in names:
        burst(name)  # warm-up: the first burst of a process grows its thread pools
    runs: list[dict[str, Run]] = []
    for n in range(1, args.rounds + 1):
        order = names[n % 3:] + names[:n % 3]
        done = {name: burst(name) for name in order}
        runs.append(done)
        mine, base, same = done["iam-bot"], done["bare Bolt"], done["same mode"]
        m, b, s = max(mine.latencies), max(base.latencies), max(same.latencies)
        m50, b50, s50 = (statistics.median(r.latencies) for r in (mine, base, same))
        print(f"{n:>5} | {m:>7.1f} {m50:>5.1f} | {b:>9.1f} {b50:>5.1f} | {m / b:>4.2f}x {m50 / b50:>4.2f}x | "
              f"{s:>9.1f} {s50:>5.1f} | {m / s:>4.2f}x")
    total = args.rounds * args.burst
    acked = sum(1 for r in runs for st, a in zip(r["iam-bot"].statuses, r["iam-bot"].acks)
                if st == 200 and "Checking your request" in a)
    filed = sum(r["iam-bot"].filed for r in runs)
    print(f"\niam-bot: {acked}/{total} acked 200 'Checking your request', {filed}/{total} got the 'filed' reply")
    worst = {name: max(max(r[name].latencies) for r in runs) for name in names}
    print(f"slowest ack of all: iam-bot {worst['iam-bot']:.1f} ms, bare Bolt {worst['bare Bolt']:.1f} ms "
          f"({worst['iam-bot'] / worst['bare Bolt']:.2f}x), same mode {worst['same mode']:.1f} ms "
          f"({worst['iam-bot'] / worst['same mode']:.2f}x)")
    for other in ("bare Bolt", "same mode"):
        ratios = sorted(max(r["iam-bot"].latencies) / max(r[other].latencies) for r in runs)
        print(f"slowest-ack ratio to {other}, per burst: median {statistics.median(ratios):.2f}x, "
              f"from {ratios[0]:.2f}x to {ratios[-1]:.2f}x")
    cpu = {name: statistics.median(r[name].ack_cpu_ms for r in runs if r[name].ack_cpu_ms is not None)
           for name in names if all(r[name].ack_cpu_ms is not None for r in runs)}
    if cpu:
        print("server CPU per request until the last ack (median over bursts): "
              + ", ".join(f"{name} {value:.1f} ms" for name, value in cpu.items()))


def report(rows, count: int, slack_delay_ms: float) -> None:
    delay = f", fake Slack answering in +{slack_delay_ms:g} ms" if slack_delay_ms else ""
    print(f"\nack latency, {count} signed slash commands per row (ms; gunicorn + uvicorn worker, 1 worker, 8 threads{delay})\n")
    print(f"{'clients':>7} | {'iam-bot p50':>11} {'p99':>8} | {'baseline p50':>12} {'p99':>8} | "
          f"{'ratio p50':>9} {'p99':>6}")
    print("-" * 78)
    for concurrency, mine, base in rows:
        m50, m99, b50, b99 = mine.percentile(50), mine.percentile(99), base.percentile(50), base.percentile(99)
        print(f"{concurrency:>7} | {m50:>11.1f} {m99:>8.1f} | {b50:>12.1f} {b99:>8.1f} | "
              f"{m50 / b50:>8.1f}x {m99 / b99:>5.1f}x")
    print()
    for concurrency, mine, base in rows:
        ok = sum(1 for s, a in zip(mine.statuses, mine.acks) if s == 200 and "Checking your request" in a)
        base_ok = sum(1 for s in base.statuses if s == 200)
        print(f"{concurrency:>2} clients: iam-bot {ok}/{count} acked 200 'Checking your request', "
              f"{mine.filed}/{count} got the 'filed' reply ({mine.answered} answered at all); "
              f"baseline {base_ok}/{count} acked 200")
    print(f"\nCPU per request (ms), ack and all the work after it; {os.cpu_count()} CPUs shared by everything:")
    for concurrency, mine, base in rows:
        print(f"{concurrency:>2} clients: iam-bot server {_ms(mine.server_cpu_ms)}, baseline server "
              f"{_ms(base.server_cpu_ms)}, fakes serving iam-bot (moto + fake Slack) {_ms(mine.fakes_cpu_ms)}")


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
