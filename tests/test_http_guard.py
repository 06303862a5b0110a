"""Only signed, fresh requests from our own workspace get through; the rest get 401."""

import datetime as dt
import json
import urllib.parse
import time

import pytest

import storage
from bot.signature import SlackSignature
from tests.support.fake_slack import OTHER_TEAM
from tests.support.harness import sign
from tests.support.socket_client import SocketClient

pytestmark = pytest.mark.e2e

# Slack's documented example (https://api.slack.com/authentication/verifying-requests-from-slack).
VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VECTOR_TIMESTAMP = 1531420618
VECTOR_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def at(seconds):
    return lambda: dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def vector_is_valid(signature: SlackSignature, body: str = VECTOR_BODY) -> bool:
    return signature.verify(str(VECTOR_TIMESTAMP), VECTOR_SIGNATURE, body.encode())


def test_slack_signing_vector_is_accepted_at_its_time():
    assert vector_is_valid(SlackSignature(VECTOR_SECRET, clock=at(VECTOR_TIMESTAMP)))


def test_slack_signing_vector_is_rejected_five_minutes_and_one_second_later():
    assert not vector_is_valid(SlackSignature(VECTOR_SECRET, clock=at(VECTOR_TIMESTAMP + 301)))
    assert not vector_is_valid(SlackSignature(VECTOR_SECRET, clock=at(VECTOR_TIMESTAMP - 301)))
    assert vector_is_valid(SlackSignature(VECTOR_SECRET, clock=at(VECTOR_TIMESTAMP + 300)))


def test_slack_signing_vector_fails_with_another_secret_or_body_or_no_secret():
    clock = at(VECTOR_TIMESTAMP)
    assert not vector_is_valid(SlackSignature("another-secret", clock=clock))
    assert not vector_is_valid(SlackSignature("", clock=clock))
    assert not vector_is_valid(SlackSignature(VECTOR_SECRET, clock=clock), VECTOR_BODY + "&x=1")
    assert "8f742231" not in repr(SlackSignature(VECTOR_SECRET))


def test_slack_signing_vector_through_the_app_clock(make_bot, caplog):
    """The edge uses the app's injected clock: the vector's signature is right, its team is not ours."""
    bot = make_bot(clock=at(VECTOR_TIMESTAMP), slack_signing_secret=VECTOR_SECRET)
    caplog.set_level("INFO")
    response = bot.post(VECTOR_BODY, timestamp=VECTOR_TIMESTAMP, signature=VECTOR_SIGNATURE)
    assert response.status_code == 401  # signed correctly, but workspace T1DC2JH3J is not ours
    assert "another workspace" in caplog.text and "signature" not in caplog.text


@pytest.mark.parametrize("change", ["bad_signature", "stale", "future", "malformed_ts", "no_headers",
                                    "negative_ts", "huge_ts", "other_secret", "tampered_body"])
def test_bad_signatures_get_401_and_change_nothing(bot, slack, change):
    body, _ = bot.slash_body("U0ALICE", "create jane.doe Developers")
    now = int(time.time())
    kwargs = {
        "bad_signature": dict(signature="v0=" + "0" * 64),
        "stale": dict(timestamp=now - 301, signature=sign(body, now - 301)),
        "future": dict(timestamp=now + 400, signature=sign(body, now + 400)),
        "malformed_ts": dict(timestamp="12abc", signature=sign(body, "12abc")),
        "no_headers": dict(timestamp="", signature=""),
        "negative_ts": dict(timestamp="-1", signature=sign(body, "-1")),
        "huge_ts": dict(timestamp="9" * 400, signature=sign(body, "9" * 400)),
        "other_secret": dict(signature=sign(body, now, secret="another-secret")),
    }.get(change, {})
    if change == "tampered_body":
        signature = sign(body, now)
        body = body.replace("jane.doe", "evil.user")
        kwargs = dict(timestamp=now, signature=signature)
    response = bot.post(body, **kwargs)
    assert response.status_code == 401
    bot.settle()
    assert bot.store.in_states(storage.LIVE_STATES) == []
    assert [c.method for c in slack.calls if c.method != "auth.test"] == []


def test_another_workspace_gets_401(bot, slack):
    response = bot.slash("U0ALICE", "create jane.doe Developers", team=OTHER_TEAM)
    assert response.status_code == 401
    body, _ = bot.action_body("U0BOB", "iam_approve", "1", team=OTHER_TEAM)
    assert bot.post(body).status_code == 401
    assert bot.store.in_states(storage.LIVE_STATES) == []


def test_healthz(bot):
    import requests
    response = requests.get(bot.url.replace("/slack/events", "/healthz"), timeout=5)
    assert response.status_code == 200 and response.json() == {"ok": True}


def test_garbage_bodies_never_500(bot):
    for body in ["", "payload=%7Bnot-json", "payload=" + "x" * 5000, "a=b&c", "payload=%5B%5D"]:
        response = bot.post(body)
        assert response.status_code in (200, 400, 401, 404), (body[:30], response.status_code)


def test_socket_mode_requests_need_no_signature_but_still_our_workspace(bot, slack):
    """Socket Mode delivers over an authenticated WebSocket: no signing headers, same app."""
    from slack_bolt.request import BoltRequest
    body, response_url = bot.slash_body("U0ALICE", "help")
    response = bot.app.dispatch(BoltRequest(body=body, mode="socket_mode"))
    assert response.status == 200 and "/iam create" in response.body
    other, _ = bot.slash_body("U0ALICE", "help", team=OTHER_TEAM)
    refused = bot.app.dispatch(BoltRequest(body=other, mode="socket_mode"))
    # Acknowledged with words (an unacknowledged Socket Mode request shows the person an error), and nothing done.
    assert refused.status == 200 and "only its own Slack workspace" in refused.body
    assert "/iam create" not in refused.body
    # Over HTTP the same body needs a signature: the edge checks it before Bolt sees the body.
    assert bot.post(body, signature="").status_code == 401


def refusals(caplog):
    return [r for r in caplog.records if r.name == "bot.server"]


@pytest.mark.parametrize("body, content_type", [
    ('payload={"type":"block_actions","actions":[]}', "application/x-www-form-urlencoded"),
    ("payload=" + urllib.parse.quote(json.dumps({"type": "block_actions", "actions": []})),
     "application/x-www-form-urlencoded"),
    ("[" * 100_000 + "]" * 100_000, "application/json"),
    ("payload=" + "[" * 100_000 + "]" * 100_000, "application/x-www-form-urlencoded"),
    ('{"type": "view_submission", "view": 7}', "application/json"),
])
@pytest.mark.parametrize("signature", ["", "v0=" + "0" * 64])
def test_unsigned_hostile_bodies_get_401_and_one_short_line(bot, slack, caplog, body, content_type, signature):
    """Bolt never sees them: the signature is checked on the raw bytes first."""
    caplog.set_level("DEBUG")
    response = bot.post(body, signature=signature, content_type=content_type)
    assert response.status_code == 401 and response.text == "invalid request"
    bot.settle()
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]
    lines = refusals(caplog)
    assert len(lines) == 1 and len(lines[0].getMessage()) < 100 and lines[0].levelname == "INFO"
    assert [c.method for c in slack.calls if c.method != "auth.test"] == []


def test_slacks_ssl_check_gets_an_empty_200_and_changes_nothing(bot, slack):
    """Slack checks the certificate with an unsigned `ssl_check=1` post now and then."""
    response = bot.post("ssl_check=1&token=legacy-verification-token", signature="")
    assert response.status_code == 200 and response.text == ""
    # Only that exact shape: a slash command claiming ssl_check is still a slash command.
    body, _ = bot.slash_body("U0ALICE", "create jane.doe Developers")
    assert bot.post(body + "&ssl_check=1", signature="").status_code == 401
    bot.settle()
    assert bot.store.in_states(storage.LIVE_STATES) == [] and bot.store.events() == []
    assert [c.method for c in slack.calls if c.method != "auth.test"] == []


def test_healthz_says_what_is_wrong_with_503(bot):
    from bot.server import flask_app
    web = flask_app(bot.app, health=lambda: "the database is read-only").test_client()
    response = web.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"ok": False, "reason": "the database is read-only"}

    def broken():
        raise OSError("disk gone")
    response = flask_app(bot.app, health=broken).test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json()["ok"] is False
    assert flask_app(bot.app).test_client().get("/healthz").get_json() == {"ok": True}


def test_serve_asks_the_store_for_its_health():
    from bot.cli import store_health

    class Broken:
        def check(self):
            raise storage.StoreError("the database file is not writable")

    class Older:  # a Store without check(): nothing to ask
        pass

    class Healthy:
        def check(self):
            return None

    assert store_health(Broken()) == "the database file is not writable"
    assert store_health(Older()) is None and store_health(Healthy()) is None


@pytest.mark.parametrize("kind, payload", [
    ("slash_commands", {"command": "/iam", "text": ["not", "text"], "user_id": "U0ALICE", "team_id": "T0TEAM"}),
    ("slash_commands", {"command": "/iam", "text": "help", "user_id": "U0" + "A" * 100_000, "team_id": "T0TEAM"}),
    ("interactive", {"type": "block_actions", "actions": "not a list", "user": {"id": "U0BOB"}}),
    ("interactive", {"type": "view_submission", "view": {"state": []}, "user": {"id": "U0BOB"}}),
    ("interactive", {"type": "no_such_type"}),
])
def test_socket_mode_acknowledges_malformed_requests_and_does_nothing(bot, kind, payload):
    """Unacknowledged, Slack would show the person a dispatch error; acked, nothing is done."""
    from slack_sdk.socket_mode.request import SocketModeRequest
    from bot.socket_mode import CheckedSocketModeHandler

    handler = CheckedSocketModeHandler.__new__(CheckedSocketModeHandler)
    handler.app = bot.app
    client = SocketClient()
    handler.handle(client, SocketModeRequest(type=kind, envelope_id="E1", payload=payload))
    [ack] = client.sent
    assert ack["envelope_id"] == "E1"
    if kind == "slash_commands":
        assert "could not read that request" in ack["payload"]["text"]
    assert bot.store.events() == [] and bot.slack.calls == [c for c in bot.slack.calls if c.method == "auth.test"]


def test_socket_mode_acknowledges_a_request_from_another_workspace_with_words(bot):
    from slack_sdk.socket_mode.request import SocketModeRequest
    from bot.socket_mode import CheckedSocketModeHandler

    handler = CheckedSocketModeHandler.__new__(CheckedSocketModeHandler)
    handler.app = bot.app
    client = SocketClient()
    payload = {"command": "/iam", "text": "help", "user_id": "U0FAR", "team_id": OTHER_TEAM,
               "channel_id": "C0GENERAL", "response_url": "http://127.0.0.1:9/response/x", "trigger_id": "1.2.3",
               "api_app_id": "A0APP", "user_name": "far", "team_domain": "other", "channel_name": "general",
               "token": "legacy"}
    handler.handle(client, SocketModeRequest(type="slash_commands", envelope_id="E2", payload=payload))
    [ack] = client.sent
    assert "only its own Slack workspace" in ack["payload"]["text"]
