"""LOG_FORMAT=json: every log line one JSON object carrying the reference and request id where
known, secrets redacted like every record; text stays the default."""

import io
import json
import logging

import pytest

from bot import logs
from bot.logs import JsonLogFormatter, gunicorn_logconfig, install_redaction

pytest_plugins = ["tests.support.process"]

TOKEN = "xoxb-1234-5678-CanaryTokenXyz"


@pytest.fixture
def json_lines():
    install_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("iam_bot.test_json_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_a_line_is_json_with_the_reference_and_no_secret(json_lines):
    logger, lines = json_lines
    try:
        raise RuntimeError(f"Slack said no to {TOKEN} at https://hooks.slack.com/actions/T0/1/Secret9")
    except RuntimeError:
        logger.exception("work #%s (%s) failed (reference %s)", 7, "dm", "1a2b3c4d")
    logger.info("request #12 approved by U0BOB")
    logger.info("a line with its own", extra={"reference": "deadbeef", "request_id": 3})
    failed, approved, given = lines()
    assert list(failed)[:4] == ["time", "level", "logger", "message"]
    assert failed["level"] == "ERROR" and failed["logger"] == "iam_bot.test_json_logs"
    assert failed["message"] == "work #7 (dm) failed (reference 1a2b3c4d)" and failed["reference"] == "1a2b3c4d"
    assert failed["time"].endswith("+00:00") and "request_id" not in failed
    assert "RuntimeError" in failed["exc_info"]
    text = json.dumps([failed, approved, given])
    assert "CanaryTokenXyz" not in text and "Secret9" not in text
    assert approved["request_id"] == 12 and "reference" not in approved
    assert (given["reference"], given["request_id"]) == ("deadbeef", 3)


def test_text_stays_the_default(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert not logs.json_logs() and gunicorn_logconfig() is None
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert gunicorn_logconfig()["formatters"]["json"]["()"] is JsonLogFormatter


@pytest.mark.e2e
@pytest.mark.slow
def test_every_line_of_iam_bot_serve_is_json(serve):
    served = serve("bot", LOG_FORMAT="json")
    served.slash("U0ALICE", "create jane.doe Developers")
    served.stop()
    lines = [line for line in served.log().splitlines() if not line.startswith("----- start")]
    assert lines, "iam-bot serve logged nothing"
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record), line
    assert any(json.loads(line)["logger"] == "gunicorn.error" for line in lines)

