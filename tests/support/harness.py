"""The bot under test: the real app behind a real HTTP server on 127.0.0.1, driven with
requests signed the way Slack signs them, against the fake Slack API and moto's server."""

from __future__ import annotations

import datetime as dt
import threading
import time
import urllib.parse
from concurrent.futures import Future, ThreadPoolExecutor

import boto3
import requests
from werkzeug.serving import make_server

from bot import blocks
from bot.app import Deps, create_app
from bot.work import settle
from bot.server import flask_app
from bot.shell import payloads
from bot.shell.awslike import make_aws_like, make_sts_like
from bot.shell.blockkit import ack_refusal
from commands.iam import RETRY_CONFIG, IamGateway
from commands.settings import load_settings
from storage import open_store

from .fake_slack import TEAM, FakeSlack

SIGNING_SECRET = "test-signing-secret-0123456789"
APPROVALS = "C0APPROVALS"
SLACK_WAITS = 3  # seconds Slack waits for an ack (or an event's answer) before it shows an error or resends
# Every IAM operation the bot's own client called during this test run (see test_policy.py).


def sign(body: str | bytes, timestamp: int | str, secret: str = SIGNING_SECRET) -> str:
    return payloads.signature(secret, body, timestamp)


def post_signed(url: str, body: str | bytes, *, timestamp=None, signature=None,
                content_type: str = payloads.FORM, timeout: float = 30) -> requests.Response:
    """Post to `url` (an `/slack/events`) signed as Slack signs; `signature` overrides the right one."""
    headers = payloads.signed_headers(SIGNING_SECRET, body, timestamp, content_type)
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    data = body if isinstance(body, bytes) else body.encode()
    return requests.post(url, data=data, headers=headers, timeout=timeout)


class RefusedAck(AssertionError):
    "The bot acked with a body Slack would refuse: the person would see an error, not the reply"


class TrackingExecutor(ThreadPoolExecutor):
    """A listener pool whose outstanding work the test can wait for."""

    def __init__(self):
        super().__init__(max_workers=64, thread_name_prefix="listener")
        self._futures: set[Future] = set()
        self._lock = threading.Lock()

    def submit(self, fn, *args, **kwargs):
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._futures.add(future)
        return future

    def wait_idle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
                self._futures = set(pending)
            if not pending:
                return
            time.sleep(0.01)
        raise AssertionError("listeners still running")


def iam_client(moto_url: str):
    """A client to moto's server that refuses what AWS refuses (see bot/shell/awslike.py)."""
    client = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing", config=RETRY_CONFIG)
    make_aws_like(client)
    return client


def _recorder(called: set[str]):
    def record(model, **_):
        called.add(model.name)
    return record


def _button(message, action_id: str) -> tuple[str, dict]:
    """(block_id, button) with this action id on the message as the bot sent it, or a stand-in for one."""
    for block in (message.blocks if message else []):
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("action_id") == action_id:
                return str(block.get("block_id", "")), element
    return "b", {"type": "button", "text": {"type": "plain_text", "text": "Button"}}


class Bot:
    def __init__(self, tmp_path, slack: FakeSlack, moto_url: str, *, clock=None, passwords=None,
                 iam_client_override=None, **overrides):
        values = dict(
            slack_bot_token=slack.token, slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.api_url, iam_bot_approvals_channel=APPROVALS,
            iam_bot_approvers="U0BOB,U0FAR,U0ROBOT,U0GUEST,U0GONE,U0ALICE,U0JANE,S0ADMINS",
            iam_bot_email_domain="example.com", iam_bot_user_path="/people/",
            database_url=f"sqlite:///{tmp_path}/iam-bot.db",
        )
        values.update(overrides)
        self.settings = load_settings(environment=False, **values)
        self.slack = slack
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.store = open_store(self.settings.database_url)
        self.client = iam_client_override or iam_client(moto_url)
        self.called: set[str] = set()  # the IAM operations this bot called; its policy must allow them
        self.client.meta.events.register("before-call.iam", _recorder(self.called))
        self.executor = TrackingExecutor()
        self.sts = boto3.client("sts", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                                aws_secret_access_key="testing")
        make_sts_like(self.sts)  # AssumeRole refused where AWS would refuse it ([[account]]s)
        deps = Deps(store=self.store, iam=IamGateway(self.client, self.sts), listener_executor=self.executor,
                    account_clients=self._account_clients(moto_url))
        if clock:
            deps.clock = clock
        if passwords:
            deps.passwords = passwords
        built = create_app(self.settings, deps)
        self.app, self.services, self.built = built.app, built.services, built
        self.services.runner.start()
        self.web = make_server("127.0.0.1", 0, flask_app(self.app), threaded=True)
        self.url = f"http://127.0.0.1:{self.web.server_port}/slack/events"
        self._thread = threading.Thread(target=self.web.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.http = requests.Session()
        self._n = 0

    def _account_clients(self, moto_url: str):
        """Clients on an assumed role's credentials, to moto's server, AWS-like; their IAM calls
        are checked against the policy too."""
        building = threading.Lock()

        def clients(credentials):
            keys = {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
                    "aws_session_token": credentials["SessionToken"]}
            with building:
                iam = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1", config=RETRY_CONFIG, **keys)
                sts = boto3.client("sts", endpoint_url=moto_url, region_name="us-east-1", **keys)
            make_aws_like(iam)
            iam.meta.events.register("before-call.iam", _recorder(self.called))
            return iam, sts
        return clients

    def stop(self) -> None:
        self.settle()
        self.services.runner.stop()
        self.web.shutdown()
        self.executor.shutdown()
        self.store.close()

    def run_duty(self, name: str) -> None:
        """Run one background duty once, as the process holding the duties lease would."""
        [duty] = [d for d in self.built.duties if d.name == name]
        duty.run()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the listeners and the durable work they started are all done."""
        if not settle(self.services.runner, self._listeners_idle, timeout):
            raise AssertionError(f"work still owed: {self.services.workflow.owed()}")

    def _listeners_idle(self, timeout: float) -> bool:
        try:
            self.executor.wait_idle(timeout)
        except AssertionError:
            return False
        return True

    # -- what Slack sends -------------------------------------------------------------

    def post(self, body: str, *, timestamp=None, signature=None, content_type="application/x-www-form-urlencoded",
             timeout: float = 30):
        """Post as Slack does; an ack Slack would refuse fails the test (Slack would show an error).
        `timeout=SLACK_WAITS` gives up where Slack does."""
        timestamp = int(self.clock().timestamp()) if timestamp is None else timestamp
        response = post_signed(self.url, body, timestamp=timestamp, signature=signature, content_type=content_type,
                               timeout=timeout)
        if response.status_code == 200 and "json" in response.headers.get("Content-Type", ""):
            refusal = ack_refusal(response.text)
            if refusal:
                raise RefusedAck(f"Slack would refuse this ack: {refusal}")
        return response

    def _response_url(self, user_id: str | None = None, channel: str | None = None,
                      message_ts: str | None = None) -> str:
        self._n += 1
        return self.slack.response_url(f"r{self._n}", user_id=user_id, channel=channel, message_ts=message_ts)

    def slash_body(self, user_id: str, text: str, team: str = TEAM) -> tuple[str, str]:
        response_url = self._response_url(user_id, "C0GENERAL")
        return payloads.slash_command(
            command="/iam", text=text, user_id=user_id, user_name=user_id.lower(), team_id=team, team_domain="test",
            channel_id="C0GENERAL", channel_name="general", response_url=response_url,
            trigger_id=self.slack.trigger(user_id),
        ), response_url

    def slash(self, user_id: str, text: str, team: str = TEAM, settle: bool = True, timeout: float = 30):
        body, response_url = self.slash_body(user_id, text, team)
        response = self.post(body, timeout=timeout)
        if settle:
            self.settle()
        response.response_url = response_url
        return response

    def action_body(self, user_id: str, action_id: str, value: str, *, channel: str = APPROVALS,
                    message_ts: str | None = None, team: str = TEAM, user_team: str | None = None):
        """A click on a button with this action id and value, on the newest message in `channel`
        (or the one at `message_ts`), as Slack sends it."""
        message = self.slack.message(channel, message_ts) if message_ts else self.slack.latest(channel)
        message_ts = message.ts if message else (message_ts or "1700000001.000100")
        response_url = self._response_url(user_id, channel, message_ts)
        block_id, element = _button(message, action_id)
        button = dict(element, action_id=action_id, value=element.get("value", "") if value is None else value)
        return payloads.block_actions(
            user_id=user_id, user_name=user_id.lower(), team_id=team, user_team_id=user_team or team,
            team_domain="test", channel_id=channel, channel_name="iam", message_ts=message_ts,
            message_text=message.text if message else "", message_blocks=message.blocks if message else [],
            button=button, block_id=block_id, response_url=response_url, trigger_id=self.slack.trigger(user_id),
        ), response_url

    def click(self, user_id: str, action_id: str, value=None, *, settle: bool = True, timeout: float = 30, **kwargs):
        """Press a button; with no value, the one the bot put on the button."""
        body, response_url = self.action_body(user_id, action_id, None if value is None else str(value), **kwargs)
        response = self.post(body, timeout=timeout)
        if settle:
            self.settle()
        response.response_url = response_url
        return response

    def clicks_at_once(self, clickers: list[str], action_id: str, value: str, **kwargs) -> list[int]:
        """One press of the same button by each of `clickers` (a name again for a press again), all
        arriving together; their HTTP statuses, once the work they set off is done."""
        bodies = [self.action_body(who, action_id, value, **kwargs)[0] for who in clickers]
        statuses = together([lambda body=body: self.post(body).status_code for body in bodies])
        self.settle()
        return statuses

    def submit_deny(self, user_id: str, request_id, reason: str, team: str = TEAM, settle: bool = True):
        view = {"type": "modal", "callback_id": blocks.VIEW_DENY, "private_metadata": str(request_id),
                "title": {"type": "plain_text", "text": "Deny request"}}
        body = payloads.view_submission(
            user_id=user_id, user_name=user_id.lower(), team_id=team, team_domain="test", view=view,
            view_id="V0VIEW", trigger_id=self.slack.trigger(user_id),
            values={blocks.BLOCK_DENY_REASON: {blocks.ACTION_DENY_REASON: payloads.text_input(reason)}},
        )
        response = self.post(body)
        if settle:
            self.settle()
        return response

    # -- what people saw --------------------------------------------------------------

    def responses(self, response_url: str) -> list[dict]:
        path = urllib.parse.urlparse(response_url).path
        return [p for p in self.slack.of("response_url") if p.get("_url") == path]

    def said(self, response_url: str) -> str:
        return "\n".join(p.get("text", "") for p in self.responses(response_url))


def together(calls: list) -> list:
    """Run each call on a thread of its own, all released at once; their results, in order."""
    start = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def all_at_once(bots: list, duty: str, times: int) -> None:
    """Run a duty `times` times at once, spread over the bots (processes on one database, as
    replicas would be), then wait for the work it owed."""
    together([lambda bot=bots[i % len(bots)]: bot.run_duty(duty) for i in range(times)])
    for bot in bots:
        bot.settle()
