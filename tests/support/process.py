"""`iam-bot serve` as a real process, for crash and replica tests.

`Served` starts the command in its own process group, configured only by environment (the way
a platform runs it), waits for GET /healthz, sends it requests signed as Slack signs them, kills
it with SIGKILL (the whole group: master and workers) and starts it again on the same database.
Its output goes to a file in tmp_path; a failing test shows it.

Used as a pytest plugin (`pytest_plugins = ["tests.support.process"]`): the `serve` fixture
starts processes, `aws_proxy` puts the proxy of aws_proxy.py in front of moto's server.
(PYTEST_DONT_REWRITE: test modules import it before pytest loads it as a plugin.)
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.support.aws_proxy import AwsProxy
from tests.support.fake_slack import FakeSlack
from tests.support.harness import APPROVALS, SIGNING_SECRET, Bot
from tests.support.ports import free_port

START_SECONDS = 30
STOP_SECONDS = 10
LOG_TAIL = 12_000  # characters of a process's output shown with a failure

_served = pytest.StashKey[list]()


def serve_command() -> list[str]:
    """`iam-bot serve`, the Procfile's command, from this virtualenv."""
    return [str(Path(sys.executable).parent / "iam-bot"), "serve"]


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "a condition",
               every: float = 0.05):
    """Poll until predicate() is truthy; return it, or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


class Sender(Bot):
    """The harness's signing and payload helpers (slash_body, click, ...), aimed at one server.

    Its response URLs are named `<prefix><n>`, so senders for several servers never share one.
    Nothing is waited for: the tests watch the stand-in for Slack instead.
    """

    def __init__(self, url: str, slack: FakeSlack, prefix: str):
        self.url, self.slack, self.prefix = url, slack, prefix
        self._names = itertools.count(1)
        self.clock = lambda: dt.datetime.now(dt.timezone.utc)

    def _response_url(self, user_id=None, channel=None, message_ts=None) -> str:
        return self.slack.response_url(f"{self.prefix}{next(self._names)}", user_id=user_id, channel=channel,
                                       message_ts=message_ts)

    def settle(self, timeout: float = 0) -> None:
        pass  # the server is another process: there is nothing here to wait for


class Served:
    """One `iam-bot serve` (a master and its workers) on one port, restartable on the same database."""

    def __init__(self, name: str, tmp_path: Path, slack: FakeSlack, env: dict[str, str]):
        self.name = name
        self.tmp_path = tmp_path
        self.slack = slack
        self.port = int(env["PORT"])
        self.env = env
        self.base = f"http://127.0.0.1:{self.port}"
        self.sender = Sender(f"{self.base}/slack/events", slack, prefix=f"{name}-")
        self.log_path = tmp_path / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self._store = None

    @property
    def store(self):
        """The store this server uses, opened from the test (closed when the test ends)."""
        if self._store is None:
            from storage import open_store

            self._store = open_store(self.env["DATABASE_URL"], pool_size=2)
        return self._store

    # -- life ----------------------------------------------------------------------------

    def start(self) -> Served:
        self.starts += 1
        with open(self.log_path, "a") as log:
            log.write(f"----- start {self.starts} of {self.name} -----\n")
            log.flush()
            self.process = subprocess.Popen(serve_command(), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.tmp_path, start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"{self.name} did not answer /healthz within {START_SECONDS} s:\n{self.log()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole process group: no handler runs, nothing is flushed or given back."""
        if self.process is None:
            return
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_SECONDS)
        self._wait_group_gone()

    def restart(self) -> Served:
        self.kill()
        return self.start()

    def stop(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if not self.alive():
            self.kill()  # its workers may outlive a dead master
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def _wait_group_gone(self) -> None:
        wait_until(lambda: not self.pids(), STOP_SECONDS, f"the processes of {self.name} to end")

    def pids(self) -> set[int]:
        """Every live process in this server's group (the master and its workers)."""
        if self.process is None:
            return set()
        group = self.process.pid
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                found.add(int(entry))
        return found

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- what Slack sends ----------------------------------------------------------------

    def slash(self, user_id: str, text: str, **kwargs) -> requests.Response:
        """`/iam <text>` typed by `user_id`; the ack, with `.response_url` set."""
        return self.sender.slash(user_id, text, **kwargs)

    def click(self, user_id: str, action_id: str, **kwargs) -> requests.Response:
        """Press the button with this action id on a message (see Bot.action_body)."""
        return self.sender.click(user_id, action_id, **kwargs)


def base_env(slack: FakeSlack, aws_url: str, database_url: str, **more: str) -> dict[str, str]:
    """The environment of a server: this test's Slack, AWS and database, nothing of the caller's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "SLACK_", "IAM_BOT_", "DATABASE_URL", "WEB_CONCURRENCY", "PORT"))}
    env.update(
        SLACK_BOT_TOKEN=slack.token, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.api_url,
        IAM_BOT_APPROVALS_CHANNEL=APPROVALS, IAM_BOT_APPROVERS="U0BOB", IAM_BOT_EMAIL_DOMAIN="example.com",
        IAM_BOT_WORK_HOLD="3s", DATABASE_URL=database_url, AWS_ENDPOINT_URL_IAM=aws_url,
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
        WEB_CONCURRENCY="1", PORT=str(free_port()),
    )
    env.update(more)
    return env


# -- a request's life, as people see it --------------------------------------------------------

def dm_channel(user_id: str) -> str:
    """The DM channel the stand-in opens with a person."""
    return "D" + user_id[1:]


def newest_request(store, owner_id: str):
    found = store.for_owner(owner_id)
    return found[-1] if found else None


def file_request(served: Served, requester_id: str, text: str, owner_id: str):
    """`/iam <text>`, acked at once; the request once its approval card is posted."""
    ack = served.slash(requester_id, text)
    assert ack.status_code == 200 and "Checking your request" in ack.json()["text"], ack.text

    def carded():
        request = newest_request(served.store, owner_id)
        return request if request is not None and request.card_ts else None

    return wait_until(carded, what=f"the approval card of `/iam {text}`")


def approve(served: Served, request, approver_id: str = "U0BOB"):
    from bot import blocks

    ack = served.click(approver_id, blocks.ACTION_APPROVE, value=str(request.id), channel=APPROVALS,
                       message_ts=request.card_ts)
    assert ack.status_code == 200, ack.text
    return ack


def settled(store, request_id: int | None = None, timeout: float = 30.0) -> None:
    """Wait until no work is owed (for one request, or at all): every message the bot owes is sent."""
    wait_until(lambda: not store.jobs(request_id=request_id, done=False), timeout,
               "the work owed" + (f" for request #{request_id}" if request_id else "") + " to be done")


def dms(slack: FakeSlack, user_id: str):
    """The DMs the bot sent a person, oldest first."""
    return slack.messages(dm_channel(user_id))


def thread_lines(slack: FakeSlack, request) -> list[str]:
    """The lines in the thread of a request's approval card, oldest first."""
    return [m.text for m in slack.replies(APPROVALS, request.card_ts)]


def reveal_value(message) -> str | None:
    """The value of the Reveal button on a message, None if it has none."""
    from bot import blocks

    for block in message.blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == blocks.ACTION_REVEAL:
                return element["value"]
    return None


def press_reveal(served: Served, owner_id: str, message, value: str | None = None) -> requests.Response:
    """The owner presses the Reveal button of this DM; the ack, with `.response_url`.

    `value` is the button's value as the owner's screen shows it (the message may have been
    updated since); by default, as it is now.
    """
    from bot import blocks

    value = value or reveal_value(message)
    assert value, f"this DM has no Reveal button: {message.text}"
    return served.click(owner_id, blocks.ACTION_REVEAL, value=value, channel=message.channel,
                        message_ts=message.ts)


def answer(served: Served, ack: requests.Response, timeout: float = 20.0) -> str:
    """What the person who sent a command or pressed a button was told through its response_url."""
    return wait_until(lambda: served.sender.said(ack.response_url), timeout, "the answer to a click")


# -- fixtures and the report hook -------------------------------------------------------------

@pytest.fixture
def aws_proxy(moto_url, aws):
    """The proxy in front of this test's fresh moto account."""
    proxy = AwsProxy(moto_url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def serve(request, tmp_path, slack, aws_proxy):
    """Start `iam-bot serve`: serve(name, database_url=..., **environment) -> a started Served."""
    started: list[Served] = []
    request.node.stash[_served] = started

    def start(name: str = "serve", *, database_url: str | None = None, **env: str) -> Served:
        url = database_url or f"sqlite:///{tmp_path}/iam-bot.db"
        served = Served(name, tmp_path, slack, base_env(slack, aws_proxy.url, url, **env))
        started.append(served)
        return served.start()

    yield start
    # Held calls first, so that no worker is stuck on one while it is asked to stop.
    slack.abandon_holds()
    aws_proxy.abandon_holds()
    for served in started:
        served.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for served in item.stash.get(_served, []):
            text = served.log()
            if len(text) > LOG_TAIL:
                text = "…\n" + text[-LOG_TAIL:]
            report.sections.append((f"output of iam-bot serve ({served.name})", text))
    return report
