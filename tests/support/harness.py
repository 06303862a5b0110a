"""The bot under test: the real app behind a real HTTP server on 127.0.0.1, driven with
requests signed the way Slack signs them, against the fake Slack API and moto's server."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from concurrent.futures import Future, ThreadPoolExecutor

import boto3
import requests
from werkzeug.serving import make_server

from bot import blocks
from bot.app import Deps, create_app
from bot.server import flask_app
from commands.iam import RETRY_CONFIG, IamGateway
from commands.settings import load_settings
from storage import Store

from .fake_slack import TEAM, FakeSlack

SIGNING_SECRET = "test-signing-secret-0123456789"
APPROVALS = "C0APPROVALS"
# Every IAM operation the bot's own client called during this test run (see test_policy.py).
CALLED_OPERATIONS: set[str] = set()


def sign(body: str, timestamp: int | str, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


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
    from bot.shell.awslike import make_aws_like

    client = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing", config=RETRY_CONFIG)
    make_aws_like(client)
    return client


def _record_operation(model, **_):
    CALLED_OPERATIONS.add(model.name)


class Bot:
    def __init__(self, tmp_path, slack: FakeSlack, moto_url: str, *, clock=None, passwords=None,
                 iam_client_override=None, **overrides):
        values = dict(
            slack_bot_token="xoxb-test-token", slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.api_url, iam_bot_approvals_channel=APPROVALS,
            iam_bot_approvers="U0BOB,U0FAR,U0ROBOT,U0GUEST,U0GONE,U0ALICE,U0JANE,S0ADMINS",
            iam_bot_email_domain="example.com", iam_bot_user_path="/people/",
            database_url=f"sqlite:///{tmp_path}/iam-bot.db",
        )
        values.update(overrides)
        self.settings = load_settings(**values)
        self.slack = slack
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.store = Store(self.settings.database_path)
        self.client = iam_client_override or iam_client(moto_url)
        self.client.meta.events.register("before-call.iam", _record_operation)
        self.executor = TrackingExecutor()
        deps = Deps(store=self.store, iam=IamGateway(self.client), listener_executor=self.executor)
        if clock:
            deps.clock = clock
        if passwords:
            deps.passwords = passwords
        built = create_app(self.settings, deps)
        self.app, self.services = built.app, built.services
        self.web = make_server("127.0.0.1", 0, flask_app(self.app), threaded=True)
        self.url = f"http://127.0.0.1:{self.web.server_port}/slack/events"
        self._thread = threading.Thread(target=self.web.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.http = requests.Session()
        self._n = 0

    def stop(self) -> None:
        self.executor.wait_idle()
        self.web.shutdown()
        self.executor.shutdown()
        self.store.close()

    def settle(self) -> None:
        self.executor.wait_idle()

    # -- what Slack sends -------------------------------------------------------------

    def post(self, body: str, *, timestamp=None, signature=None, content_type="application/x-www-form-urlencoded"):
        timestamp = str(int(self.clock().timestamp())) if timestamp is None else str(timestamp)
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
                   "X-Slack-Signature": signature if signature is not None else sign(body, timestamp)}
        return requests.post(self.url, data=body.encode(), headers=headers, timeout=30)

    def _response_url(self) -> str:
        self._n += 1
        return self.slack.response_url(f"r{self._n}")

    def slash_body(self, user_id: str, text: str, team: str = TEAM) -> tuple[str, str]:
        response_url = self._response_url()
        return urllib.parse.urlencode({
            "token": "legacy", "team_id": team, "team_domain": "test", "channel_id": "C0GENERAL",
            "channel_name": "general", "user_id": user_id, "user_name": user_id.lower(), "command": "/iam",
            "text": text, "api_app_id": "A0APP", "response_url": response_url,
            "trigger_id": f"1.2.{self._n}",
        }), response_url

    def slash(self, user_id: str, text: str, team: str = TEAM, settle: bool = True):
        body, response_url = self.slash_body(user_id, text, team)
        response = self.post(body)
        if settle:
            self.settle()
        response.response_url = response_url
        return response

    def action_body(self, user_id: str, action_id: str, value: str, *, channel: str = APPROVALS,
                    message_ts: str = "1700000001.000100", team: str = TEAM, user_team: str | None = None):
        response_url = self._response_url()
        payload = {
            "type": "block_actions", "team": {"id": team, "domain": "test"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": user_team or team},
            "api_app_id": "A0APP", "token": "legacy", "trigger_id": f"1.2.{self._n}",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "channel": {"id": channel, "name": "iam"}, "message": {"ts": message_ts, "text": ""},
            "response_url": response_url,
            "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button",
                         "action_ts": str(time.time())}],
        }
        return urllib.parse.urlencode({"payload": json.dumps(payload)}), response_url

    def click(self, user_id: str, action_id: str, value, *, settle: bool = True, **kwargs):
        body, response_url = self.action_body(user_id, action_id, str(value), **kwargs)
        response = self.post(body)
        if settle:
            self.settle()
        response.response_url = response_url
        return response

    def submit_deny(self, user_id: str, request_id, reason: str, team: str = TEAM, settle: bool = True):
        payload = {
            "type": "view_submission", "team": {"id": team, "domain": "test"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": team},
            "api_app_id": "A0APP", "token": "legacy", "trigger_id": "1.2.3",
            "view": {"id": "V0VIEW", "team_id": team, "type": "modal", "callback_id": blocks.VIEW_DENY,
                     "private_metadata": str(request_id),
                     "state": {"values": {blocks.BLOCK_DENY_REASON: {blocks.ACTION_DENY_REASON: {
                         "type": "plain_text_input", "value": reason}}}}},
        }
        response = self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}))
        if settle:
            self.settle()
        return response

    # -- what people saw --------------------------------------------------------------

    def responses(self, response_url: str) -> list[dict]:
        path = urllib.parse.urlparse(response_url).path
        return [p for p in self.slack.of("response_url") if p.get("_url") == path]

    def said(self, response_url: str) -> str:
        return "\n".join(p.get("text", "") for p in self.responses(response_url))
