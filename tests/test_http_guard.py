"""Only signed, fresh requests from our own workspace get through; the rest get 401."""

import time

import pytest
from slack_sdk.signature import SignatureVerifier

import storage
from bot.app import verify_slack_request
from tests.support.fake_slack import OTHER_TEAM
from tests.support.harness import sign

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


class FixedClock:
    def __init__(self, at):
        self.at = at

    def now(self):
        return self.at


def vector_headers():
    return {"x-slack-request-timestamp": [str(VECTOR_TIMESTAMP)], "x-slack-signature": [VECTOR_SIGNATURE]}


def test_slack_signing_vector_is_accepted_at_its_time():
    verifier = SignatureVerifier(VECTOR_SECRET, clock=FixedClock(VECTOR_TIMESTAMP))
    assert verify_slack_request(verifier, vector_headers(), VECTOR_BODY)


def test_slack_signing_vector_is_rejected_five_minutes_and_one_second_later():
    verifier = SignatureVerifier(VECTOR_SECRET, clock=FixedClock(VECTOR_TIMESTAMP + 301))
    assert not verify_slack_request(verifier, vector_headers(), VECTOR_BODY)
    exactly_five = SignatureVerifier(VECTOR_SECRET, clock=FixedClock(VECTOR_TIMESTAMP + 300))
    assert verify_slack_request(exactly_five, vector_headers(), VECTOR_BODY)


def test_slack_signing_vector_through_the_app_clock(make_bot):
    """The app's own guard uses the injected clock: the vector's signature is right, its team is not ours."""
    import datetime as dt
    at = dt.datetime.fromtimestamp(VECTOR_TIMESTAMP, dt.timezone.utc)
    bot = make_bot(clock=lambda: at, slack_signing_secret=VECTOR_SECRET)
    response = bot.post(VECTOR_BODY, timestamp=VECTOR_TIMESTAMP, signature=VECTOR_SIGNATURE)
    assert response.status_code == 401  # signed correctly, but workspace T1DC2JH3J is not ours


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
    http_unsigned = bot.app.dispatch(BoltRequest(body=body, headers={}))
    assert http_unsigned.status == 401
