"""Signed but malformed bodies: a clear 400 at the edge, never a 500, never a traceback.

Every body here carries a correct signature, as if Slack (or whoever holds the signing
secret) sent it; the edge must still refuse what the bot cannot read, before Bolt does.
"""

from __future__ import annotations

import copy
import json
import urllib.parse

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import blocks
from tests.support.fake_slack import TEAM, FakeSlack
from tests.support.harness import APPROVALS, Bot
from tests.support.harness import post_signed as signed

pytestmark = pytest.mark.e2e

FORM = "application/x-www-form-urlencoded"
LONG_ID = "U" + "A" * 99_999
NUL_ID = "U0AL\x00ICE"


@pytest.fixture(scope="module")
def edge_bot(tmp_path_factory, moto_url):
    """One bot for the whole table: a refused body changes nothing, so the cases cannot disturb each other."""
    slack = FakeSlack().start()
    bot = Bot(tmp_path_factory.mktemp("edge"), slack, moto_url)
    yield bot
    bot.stop()
    slack.stop()


def post_signed(bot, body: bytes, content_type: str = FORM) -> requests.Response:
    # The bases' response_url (port 9, quoted the same in a form and in a payload) aimed at the fake Slack.
    body = body.replace(b"127.0.0.1%3A9%2F", f"127.0.0.1%3A{bot.slack.port}%2F".encode())
    return signed(bot.url, body, timestamp=int(bot.clock().timestamp()), content_type=content_type)


def block_actions() -> dict:
    return {
        "type": "block_actions", "team": {"id": TEAM, "domain": "test"},
        "user": {"id": "U0BOB", "username": "bob", "team_id": TEAM},
        "api_app_id": "A0APP", "token": "legacy", "trigger_id": "1.2.3",
        "container": {"type": "message", "message_ts": "1700000001.000100", "channel_id": APPROVALS},
        "channel": {"id": APPROVALS, "name": "iam"}, "message": {"ts": "1700000001.000100", "text": ""},
        "response_url": "http://127.0.0.1:9/response/fuzz",
        "actions": [{"action_id": blocks.ACTION_APPROVE, "block_id": "b", "value": "1", "type": "button",
                     "action_ts": "1700000002.0"}],
    }


def view_submission() -> dict:
    return {
        "type": "view_submission", "team": {"id": TEAM, "domain": "test"},
        "user": {"id": "U0BOB", "username": "bob", "team_id": TEAM},
        "api_app_id": "A0APP", "token": "legacy", "trigger_id": "1.2.3",
        "view": {"id": "V0VIEW", "team_id": TEAM, "type": "modal", "callback_id": blocks.VIEW_DENY,
                 "private_metadata": "1",
                 "state": {"values": {blocks.BLOCK_DENY_REASON: {blocks.ACTION_DENY_REASON: {
                     "type": "plain_text_input", "value": "no"}}}}},
    }


def slash() -> dict:
    return {"token": "legacy", "team_id": TEAM, "team_domain": "test", "channel_id": "C0GENERAL",
            "channel_name": "general", "user_id": "U0ALICE", "user_name": "alice", "command": "/iam",
            "text": "help", "api_app_id": "A0APP", "response_url": "http://127.0.0.1:9/response/fuzz",
            "trigger_id": "1.2.3"}


def changed(base: dict, path: tuple, value) -> dict:
    """A copy of base with the value at path replaced (or removed, for `...`)."""
    data = copy.deepcopy(base)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


def as_payload(data: dict) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(data)}).encode()


def as_form(data: dict) -> bytes:
    return urllib.parse.urlencode(data).encode()


ACTIONS = [
    ("actions empty", ("actions",), []), ("actions null", ("actions",), None), ("actions a string", ("actions",), "x"),
    ("action null", ("actions",), [None]), ("action a string", ("actions",), ["x"]), ("action empty", ("actions",), [{}]),
    ("action_id a number", ("actions", 0, "action_id"), 5), ("action_id huge", ("actions", 0, "action_id"), "x" * 10_000),
    ("value a number", ("actions", 0, "value"), 5), ("value a dict", ("actions", 0, "value"), {"a": 1}),
    ("value huge", ("actions", 0, "value"), "1" * 5_000), ("too many actions", ("actions",), [{"action_id": "a"}] * 26),
    ("user null", ("user",), None), ("user a string", ("user",), "U0BOB"), ("user empty", ("user",), {}),
    ("user id a number", ("user", "id"), 5), ("user id huge", ("user", "id"), LONG_ID),
    ("user id with NUL", ("user", "id"), NUL_ID), ("user id lower case", ("user", "id"), "u0bob"),
    ("user team_id a list", ("user", "team_id"), []), ("team a string", ("team",), TEAM), ("team a number", ("team",), 7),
    ("team id null", ("team",), {"id": None}), ("team id with newline", ("team", "id"), "T0TEAM\n"),
    ("no trigger_id", ("trigger_id",), ...), ("no response_url", ("response_url",), ...),
    ("response_url a number", ("response_url",), 5), ("response_url not http", ("response_url",), "javascript:alert(1)"),
    ("response_url huge", ("response_url",), "http://" + "a" * 5_000), ("type null", ("type",), None),
    ("type a number", ("type",), 5), ("type unknown", ("type",), "interactive_message"), ("no type", ("type",), ...),
    ("channel a number", ("channel",), 5), ("enterprise a number", ("enterprise",), 5),
    ("authorizations a number", ("authorizations",), 5), ("authorization a number", ("authorizations",), [5]),
    ("response_urls null", ("response_urls",), None), ("view null", ("view",), None),
    ("view callback_id a number", ("view",), {"callback_id": 5}), ("ext shared a string", ("is_ext_shared_channel",), "yes"),
    ("function token", ("bot_access_token",), 5), ("string with NUL", ("message", "text"), "a\x00b"),
    ("nested 70 deep", ("message", "blocks"), json.loads("[" * 70 + "]" * 70)),
]
VIEWS = [
    ("view null", ("view",), None), ("view a list", ("view",), []), ("no callback_id", ("view", "callback_id"), ...),
    ("private_metadata a number", ("view", "private_metadata"), 5), ("state null", ("view", "state"), None),
    ("values a list", ("view", "state", "values"), []), ("block a list", ("view", "state", "values"), {"b": []}),
    ("element a string", ("view", "state", "values"), {"b": {"a": "x"}}),
    ("installed team a number", ("view", "app_installed_team_id"), 5), ("user id huge", ("user", "id"), LONG_ID),
    ("type view_closed, view a string", ("view",), "x"),
]
SLASHES = [
    ("no user_id", ("user_id",), ...), ("user_id huge", ("user_id",), LONG_ID), ("user_id with NUL", ("user_id",), NUL_ID),
    ("team_id lower case", ("team_id",), "t0team"), ("text too long", ("text",), "x" * 4_001),
    ("no command", ("command",), ...), ("channel_id empty", ("channel_id",), ""), ("response_url empty", ("response_url",), ""),
    ("a user field", ("user",), "U0EVIL"), ("a team field", ("team",), "T0EVIL"), ("text with NUL", ("text",), "help\x00"),
]
BODIES = [
    ("payload not JSON", b"payload=%7Bbroken", FORM), ("payload a list", b"payload=%5B%5D", FORM),
    ("payload null", b"payload=null", FORM), ("payload a string", b'payload="x"', FORM),
    ("payload 100,000 deep", b"payload=" + b"[" * 100_000 + b"]" * 100_000, FORM),
    ("JSON 100,000 deep", b"{" + b'"a":{' * 50_000 + b"}" * 50_001, "application/json"),
    ("JSON said, form sent", as_form(slash()), "application/json"), ("empty", b"", FORM),
    ("not UTF-8", b"command=%2Fiam&text=\xff\xfe", FORM), ("raw NUL", b"command=/iam&text=a\x00", FORM),
    ("form repeats user_id", as_form(slash()) + b"&user_id=U0BOB", FORM), ("form not a form", b"a=b&c", FORM),
    ("payload too large", as_payload(changed(block_actions(), ("message", "text"), "x" * 300_000)), FORM),
    ("payload with escaped NUL", b"payload=" + urllib.parse.quote(
        json.dumps(changed(block_actions(), ("message", "text"), "a\x00b"))).encode(), FORM),
]

CASES = ([(f"block_actions: {name}", as_payload(changed(block_actions(), path, value)), FORM)
          for name, path, value in ACTIONS]
         + [(f"view_submission: {name}", as_payload(changed(view_submission(), path, value)), FORM)
            for name, path, value in VIEWS]
         + [(f"slash: {name}", as_form(changed(slash(), path, value)), FORM) for name, path, value in SLASHES]
         + BODIES)


def no_traceback(caplog, since: int = 0) -> bool:
    records = caplog.records[since:]
    return not any(r.exc_info or "Traceback" in r.getMessage() for r in records) and "Traceback" not in caplog.text


def test_the_table_is_long_enough():
    assert len(CASES) >= 40 and len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("name, body, content_type", CASES, ids=[name for name, _, _ in CASES])
def test_signed_malformed_bodies_get_400_with_one_short_line(edge_bot, caplog, name, body, content_type):
    bot, slack = edge_bot, edge_bot.slack
    calls = len(slack.calls)
    caplog.set_level("DEBUG")
    response = post_signed(bot, body, content_type)
    assert response.status_code == 400 and response.text == "malformed request"
    bot.settle()
    assert no_traceback(caplog)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.server"]
    assert len(lines) == 1 and len(lines[0]) < 100
    assert "U0EVIL" not in caplog.text and "AAAAAAAAAA" not in caplog.text and "fuzz" not in caplog.text
    assert slack.calls[calls:] == [] and bot.store.events() == []


def test_well_shaped_bodies_still_get_through(bot, slack):
    """The table's bases, unchanged, are what Slack sends: the edge lets them through to the bot."""
    assert post_signed(bot, as_form(slash())).json()["text"].startswith("*Usage*")
    assert post_signed(bot, as_payload(block_actions())).status_code == 200
    assert post_signed(bot, as_payload(view_submission())).status_code == 200
    bot.settle()


@pytest.mark.parametrize("bad_id", [LONG_ID, NUL_ID])
def test_hostile_ids_never_land_in_the_events(bot, slack, bad_id):
    """`/iam keys` by someone Slack cannot name is refused *and recorded*; a hostile id is neither."""
    keys = changed(slash(), ("text",), "keys jane.doe")
    post_signed(bot, as_form(changed(keys, ("user_id",), "U0DAN")))  # a refusal that is recorded
    bot.settle()
    assert [e.what for e in bot.store.events()] == ["refused:keys"]
    for body in (as_form(changed(keys, ("user_id",), bad_id)),
                 as_payload(changed(block_actions(), ("user", "id"), bad_id)),
                 as_payload(changed(view_submission(), ("user", "id"), bad_id))):
        assert post_signed(bot, body).status_code == 400
    bot.settle()
    events = bot.store.events()
    assert len(events) == 1 and all(bad_id not in str(e) and "\x00" not in str(e) for e in events)


# -- Hypothesis: any value anywhere in a real payload ---------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
    | st.sampled_from(["", "U0BOB", TEAM, "1", "x" * 3_000, "a\x00b"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def paths(tree, prefix=()):
    found = [prefix] if prefix else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += paths(value, prefix + (index,))
    return found


BASES = {"block_actions": block_actions(), "view_submission": view_submission(), "slash": slash()}


@st.composite
def mutated(draw):
    kind = draw(st.sampled_from(sorted(BASES)))
    base = BASES[kind]
    data = base
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(data)))
        value = draw(st.just(...) | json_values) if kind != "slash" else draw(st.just(...) | st.text(max_size=50))
        data = changed(data, path, value)
    return kind, data


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_any_signed_mutation_of_a_real_payload_is_never_a_500(edge_bot, caplog, case):
    bot = edge_bot
    kind, data = case
    caplog.set_level("INFO")
    since = len(caplog.records)
    body = as_form(data) if kind == "slash" else as_payload(data)
    response = post_signed(bot, body)
    assert response.status_code < 500, (kind, response.status_code)
    bot.settle()
    assert no_traceback(caplog, since)
