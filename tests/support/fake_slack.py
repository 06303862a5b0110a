"""The fake Slack for tests: the shell's strict stand-in (bot/shell/slack.py) with a test workspace.

It answers the Web API methods iam-bot uses and refuses what Slack refuses; it takes
response_url posts at /response/<name>; `calls` records every call with Slack's answer.
"""

from __future__ import annotations

import time

from bot.shell.slack import Call, Message, Origin, SlackStandIn

__all__ = ["BOT_USER", "OTHER_TEAM", "TEAM", "TOKEN", "Call", "FakeSlack", "default_users", "user"]

TEAM = "T0TEAM"
OTHER_TEAM = "T0OTHER"
BOT_USER = "U0BOT"
TOKEN = "xoxb-test-token"
CHANNELS = {"C0APPROVALS": "iam-approvals", "C0GENERAL": "general"}


def user(uid, name, *, team=TEAM, email=None, is_bot=False, deleted=False, restricted=False):
    return {"id": uid, "name": name, "team_id": team, "is_bot": is_bot, "deleted": deleted,
            "is_restricted": restricted, "is_ultra_restricted": False,
            "profile": {"email": email, "real_name": name}}


def default_users() -> dict[str, dict]:
    people = [
        user("U0ALICE", "alice", email="alice@example.com"),
        user("U0BOB", "bob", email="bob@example.com"),
        user("U0CAROL", "carol", email="carol@example.com"),
        user("U0JANE", "jane", email="jane.doe@example.com"),
        user("U0DAN", "dan", email="dan@example.com"),
        user("U0ROBOT", "robot", is_bot=True),
        user("U0GUEST", "guest", restricted=True, email="guest@example.com"),
        user("U0GONE", "gone", deleted=True, email="gone@example.com"),
        user("U0FAR", "far", team=OTHER_TEAM, email="far@elsewhere.com"),
        user(BOT_USER, "iam-bot", is_bot=True),
    ]
    return {p["id"]: p for p in people}


class FakeSlack(SlackStandIn):
    def __init__(self, token: str = TOKEN, **kwargs):
        super().__init__(token=token, team_id=TEAM, team_domain="test", bot_user_id=BOT_USER, bot_id="B0BOT",
                         users=default_users(), channels=dict(CHANNELS), usergroups={"S0ADMINS": ["U0CAROL"]},
                         **kwargs)

    def response_url(self, name: str = "r1", *, user_id: str | None = None, channel: str | None = None,
                     message_ts: str | None = None) -> str:
        """A response_url named `name`; with who acted where, its ephemeral answers go to them."""
        message = self.message(channel, message_ts) if channel and message_ts else None
        return self.issue_response_url(Origin(user_id, channel, message), token=name)

    # -- what people see ---------------------------------------------------------------------

    def messages(self, channel: str) -> list[Message]:
        """The messages at the top level of a channel (or DM) that everyone in it sees, oldest first."""
        with self._lock:
            return [m for m in self._messages if m.channel == channel and not m.only and not m.thread_ts]

    def replies(self, channel: str, ts: str) -> list[Message]:
        """The messages in the thread of the message at `ts`, oldest first."""
        with self._lock:
            return [m for m in self._messages if m.channel == channel and m.thread_ts == ts and not m.only]

    # -- waiting for what happened -----------------------------------------------------------

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "a Slack call"):
        """Wait until predicate(calls) returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                calls = list(self.calls)
            found = predicate(calls)
            if found:
                return found
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; calls were: {[c.method for c in self.calls]}")

    def wait_method(self, method: str, count: int = 1, timeout: float = 10.0, where=None) -> list[dict]:
        def matching(calls):
            found = [c.params for c in calls
                     if c.method == method and c.error is None and (where is None or where(c.params))]
            return found if len(found) >= count else None
        return self.wait_for(matching, timeout, f"{count} x {method}")
