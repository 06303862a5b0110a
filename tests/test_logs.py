"""No response URL and no Slack token reaches a log record, at any level, from any library."""

from __future__ import annotations

import io
import logging
import urllib.parse

import pytest

from bot.logs import quiet_chatty_loggers, redact
from tests.support.ports import free_port

TOKEN = "xoxb-1234-5678-CanaryTokenXyz"


@pytest.mark.parametrize("text, gone, kept", [
    ("retry POST https://hooks.slack.com/commands/T0TEAM/1234/AbCdSecret - HTTP 500",
     "AbCdSecret", "https://hooks.slack.com"),
    ("url: https://hooks.slack.com/actions/T0/99/Zz9Secret?x=1, body: {}", "Zz9Secret", "body: {}"),
    ("'http://127.0.0.1:4321/response/r1'", "/response/r1", "http://127.0.0.1:4321"),
    (f"Authorization: Bearer {TOKEN}", "CanaryTokenXyz", "Bearer xoxb-"),
    ("app token xapp-1-A0-123-abcdef and xoxe.xoxp-1-Secret9", "abcdef", "xapp-"),
    ("xoxe.xoxp-1-Secret9 rotated", "Secret9", "rotated"),
    ("POST https://slack.com/api/chat.postMessage?token=xoxb-1-Leak failed", "Leak", "/api/chat.postMessage"),
])
def test_redact_takes_out_urls_and_tokens(text, gone, kept):
    assert gone not in redact(text) and kept in redact(text)


def test_redact_leaves_ordinary_lines_alone():
    line = "request #12 approved by U0BOB; CreateUser for jane.doe took 0.2 s"
    assert redact(line) == line


@pytest.fixture
def debug_root(caplog):
    """LOG_LEVEL=DEBUG as `iam-bot serve` sets it up: a root handler, the root at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    quiet_chatty_loggers()
    yield stream
    root.removeHandler(handler)


def test_at_debug_no_response_url_or_token_reaches_any_log(make_bot, slack, caplog, debug_root):
    bot = make_bot()  # Bolt sets its own loggers up now, from the root's DEBUG
    dead = f"http://127.0.0.1:{free_port()}/response/canary-dead"
    planted = [dead, "canary-dead", "canary-500", "canary-429", "CanaryTokenXyz", "xoxb-test-token"]

    def slash(text: str, response_url: str):
        form = dict(urllib.parse.parse_qsl(bot.slash_body("U0ALICE", text)[0]))
        return bot.post(urllib.parse.urlencode(dict(form, response_url=response_url)))

    slack.response_status = 500
    assert slash("create jane.doe Developers", slack.response_url("canary-500")).status_code == 200
    bot.settle()
    slack.response_status = 429
    assert slash(f"create {TOKEN} Developers", slack.response_url("canary-429")).status_code == 200
    bot.settle()
    # Nobody listens there: slack_sdk retries the connection and logs that it does, at INFO.
    assert slash("create jane.doe Developers", dead).status_code == 200
    bot.settle()
    slack.response_status = 200

    assert any("retry" in r.getMessage() for r in caplog.records), "the SDK's retry path did not run"
    assert any(r.name.startswith("slack_sdk") for r in caplog.records)
    captured = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in caplog.records)
    printed = debug_root.getvalue()
    assert printed and captured
    for secret in planted:
        assert secret not in captured, secret
        assert secret not in printed, secret
    # Bolt's own logger stayed at INFO: its DEBUG lines print whole ack bodies.
    assert not [r for r in caplog.records if r.name.startswith("slack_bolt") and r.levelno < logging.INFO]
