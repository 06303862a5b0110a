"""`iam-bot serve`, the Procfile's command, as a real process: gunicorn, signed posts, fakes."""

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.support.harness import APPROVALS, SIGNING_SECRET, Bot, post_signed
from tests.support.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


def procfile_command() -> list[str]:
    line = (ROOT / "Procfile").read_text().strip()
    assert line.startswith("web: ")
    words = line[len("web: "):].split()
    return [str(Path(sys.executable).parent / words[0]), *words[1:]]


@contextlib.contextmanager
def serving(tmp_path, slack, moto_url, *, workers: int):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "IAM_BOT_"))}
    env.update(
        SLACK_BOT_TOKEN=slack.token, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.api_url,
        IAM_BOT_APPROVALS_CHANNEL=APPROVALS, IAM_BOT_APPROVERS="U0BOB", IAM_BOT_EMAIL_DOMAIN="example.com",
        DATABASE_URL=f"sqlite:///{tmp_path}/serve.db", PORT=str(port), AWS_ENDPOINT_URL_IAM=moto_url,
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
        WEB_CONCURRENCY=str(workers),  # worker processes, each building its own app after the fork
    )
    log = open(tmp_path / "serve.log", "w+")
    process = subprocess.Popen(procfile_command(), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:  # not listening yet, or no worker has booted to answer
            time.sleep(0.1)
    else:
        process.kill()
        log.seek(0)
        raise AssertionError("iam-bot serve did not start:\n" + log.read())
    try:
        yield base, tmp_path, log
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def served(tmp_path, slack, moto_url, aws):
    # Two workers open a fresh database together: the store migrates under BEGIN IMMEDIATE.
    with serving(tmp_path, slack, moto_url, workers=2) as running:
        yield running


class Client(Bot):
    """Only the signing and payload helpers of the harness, aimed at another server."""

    def __init__(self, url, slack):
        self.url, self.slack, self._n = url, slack, 0
        self.clock = lambda: __import__("datetime").datetime.now(__import__("datetime").timezone.utc)


def test_serve_files_a_request_over_http(served, slack):
    base, tmp_path, log = served
    client = Client(f"{base}/slack/events", slack)
    body, response_url = client.slash_body("U0ALICE", "create jane.doe Developers")
    response = client.post(body)
    assert response.status_code == 200 and "Checking your request" in response.json()["text"]
    slack.wait_method("chat.postMessage", where=lambda p: p.get("channel") == APPROVALS)
    slack.wait_for(lambda calls: "Request #1 filed" in client.said(response_url), what="the filed reply")
    # The row is in the SQLite file named by DATABASE_URL.
    import sqlite_utils
    rows = list(sqlite_utils.Database(tmp_path / "serve.db")["requests"].rows)
    assert [(r["user_name"], r["state"], r["owner_id"]) for r in rows] == [("jane.doe", "pending", "U0JANE")]


def test_serve_refuses_bad_signatures_and_other_workspaces(served, slack):
    base, _, log = served
    client = Client(f"{base}/slack/events", slack)
    body, _ = client.slash_body("U0ALICE", "create jane.doe Developers")
    assert client.post(body, signature="v0=bad").status_code == 401
    assert client.post(body, timestamp="not-a-number").status_code == 401
    other, _ = client.slash_body("U0ALICE", "create jane.doe Developers", team="T0OTHER")
    assert client.post(other).status_code == 401
    assert client.post("payload=%7Bbroken", timestamp=None).status_code in (400, 401)
    deep = "[" * 100_000 + "]" * 100_000
    assert client.post(deep, signature="v0=bad", content_type="application/json").status_code == 401
    assert client.post("payload=" + deep, signature="v0=bad").status_code == 401
    assert client.post(deep, content_type="application/json").status_code == 400  # signed, but no Slack payload
    log.seek(0)
    text = log.read()
    assert "/response/" not in text and slack.token not in text and SIGNING_SECRET not in text
    assert "Traceback" not in text and " 500 " not in text


def test_serve_says_which_variable_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "IAM_BOT_"))}
    env.update(IAM_BOT_APPROVALS_CHANNEL=APPROVALS, IAM_BOT_APPROVERS="U0BOB")
    done = subprocess.run(procfile_command(), env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "iam-bot: SLACK_BOT_TOKEN is required but not set"


class Tricklers:
    """Clients that open a request and send one more header line every second, never finishing."""

    def __init__(self, port: int, count: int):
        self.sockets = []
        for n in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.sockets.append(s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self):
        line = 0
        while not self._stop.wait(1.0) and line < 60:
            line += 1
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.sendall(f"X-Slow-{line}: still typing\r\n".encode())

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        for s in self.sockets:
            s.close()


def test_slow_clients_do_not_take_it_offline(served, slack):
    """Sixteen connections trickling headers hold no thread: Slack's requests and /healthz still get answers."""
    base, _, _ = served
    client = Client(f"{base}/slack/events", slack)
    tricklers = Tricklers(int(base.rsplit(":", 1)[1]), 16)
    try:
        time.sleep(1.2)  # one more header line each: with a thread per connection, all threads are now stuck
        # The timeouts bound the wait: Slack gives an app 3 s to ack.
        assert requests.get(f"{base}/healthz", timeout=3).json() == {"ok": True}
        body, _ = client.slash_body("U0ALICE", "help")
        response = post_signed(f"{base}/slack/events", body, timeout=3)
        assert response.status_code == 200 and "/iam create" in response.json()["text"]
        body, _ = client.slash_body("U0ALICE", "create jane.doe Developers")
        response = post_signed(f"{base}/slack/events", body, timeout=3)
        assert response.status_code == 200 and "Checking your request" in response.json()["text"]
    finally:
        tricklers.close()


def test_serve_keeps_its_database_private(tmp_path, slack, moto_url, aws):
    """The SQLite files it creates (the database, its rollback journal) are readable by its own user only."""
    with serving(tmp_path, slack, moto_url, workers=1):
        files = [p for p in tmp_path.iterdir() if p.name.startswith("serve.db")]
        assert "serve.db" in {p.name for p in files}
        assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o600)}
