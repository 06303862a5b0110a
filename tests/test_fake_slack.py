"""The fake Slack refuses what Slack refuses, so a payload that passes here would pass in Slack.

Each test talks to the stand-in over HTTP with slack_sdk's WebClient, as the bot does.
"""

from __future__ import annotations

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.shell.blockkit import ack_refusal
from tests.support.fake_slack import FakeSlack

APPROVALS = "C0APPROVALS"


@pytest.fixture
def client(slack):
    return WebClient(token=slack.token, base_url=slack.api_url)


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(SlackApiError) as raised:
        call(*args, **kwargs)
    return raised.value.response["error"]


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def approve_button(confirm_text: str) -> dict:
    return {"type": "button", "action_id": "iam_approve", "value": "1", "style": "primary",
            "text": {"type": "plain_text", "text": "Approve"},
            "confirm": {"title": {"type": "plain_text", "text": "Approve this request?"},
                        "text": {"type": "mrkdwn", "text": confirm_text},
                        "confirm": {"type": "plain_text", "text": "Approve"},
                        "deny": {"type": "plain_text", "text": "Cancel"}}}


def card(confirm_text: str = "The bot will create the IAM user `jane.doe` in `Developers`.") -> list[dict]:
    return [
        section(":key: *New IAM user requested* by <@U0ALICE>"),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*User name*\n`jane.doe`"},
                                       {"type": "mrkdwn", "text": "*Owner*\n<@U0JANE>"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Checks passed"}]},
        {"type": "actions", "block_id": "decide_1", "elements": [
            approve_button(confirm_text),
            {"type": "button", "action_id": "iam_deny", "value": "1", "style": "danger",
             "text": {"type": "plain_text", "text": "Deny"}}]},
    ]


def deny_modal(title: str = "Deny request") -> dict:
    return {"type": "modal", "callback_id": "iam_deny_reason", "private_metadata": "1",
            "title": {"type": "plain_text", "text": title}, "submit": {"type": "plain_text", "text": "Deny"},
            "blocks": [{"type": "input", "block_id": "deny_reason",
                        "label": {"type": "plain_text", "text": "Reason"},
                        "element": {"type": "plain_text_input", "action_id": "reason"}}]}


def test_a_well_formed_card_is_posted_and_can_be_updated_in_its_channel(slack, client):
    posted = client.chat_postMessage(channel=APPROVALS, text="Request #1 for jane.doe", blocks=card())
    assert slack.latest(APPROVALS).blocks == card()
    client.chat_update(channel=posted["channel"], ts=posted["ts"], text="Request #1: approved",
                       blocks=[section("Approved by <@U0BOB>")])
    assert slack.latest(APPROVALS).blocks == [section("Approved by <@U0BOB>")]
    assert slack.refusals() == []


def test_a_method_slack_does_not_have_is_unknown(slack, client):
    assert refused(client.api_call, "chat.postMesage", json={"channel": APPROVALS, "text": "hi"}) == "unknown_method"
    assert slack.latest(APPROVALS) is None


def test_a_method_slack_has_but_the_fake_does_not_is_said_so(client):
    assert refused(client.api_call, "conversations.history", params={"channel": APPROVALS}) == "not_implemented_in_fake"


def test_a_wrong_token_is_refused(slack):
    other = WebClient(token="xoxb-someone-else", base_url=slack.api_url)
    assert refused(other.auth_test) == "invalid_auth"


def test_a_missing_required_argument_is_refused(slack, client):
    assert refused(client.api_call, "chat.postMessage", json={"text": "where to?"}) == "invalid_arguments"
    assert refused(client.api_call, "chat.update", json={"channel": APPROVALS, "text": "which one?"}) \
        == "invalid_arguments"
    assert refused(client.api_call, "chat.postMessage", json={"channel": APPROVALS}) == "no_text"
    assert slack.latest(APPROVALS) is None


def test_chat_update_needs_the_conversation_id_not_a_user_id(slack, client):
    dm = client.conversations_open(users="U0JANE")["channel"]["id"]
    posted = client.chat_postMessage(channel="U0JANE", text="Your IAM user is ready")
    assert posted["channel"] == dm
    assert refused(client.chat_update, channel="U0JANE", ts=posted["ts"], text="revealed") == "channel_not_found"
    assert refused(client.chat_update, channel=dm, ts="1700000000.999999", text="revealed") == "message_not_found"
    assert slack.message(dm, posted["ts"]).text == "Your IAM user is ready"


def test_a_button_whose_confirm_text_is_over_300_characters_is_refused(slack, client):
    assert refused(client.chat_postMessage, channel=APPROVALS, text="card", blocks=card("x" * 301)) \
        == "invalid_blocks"
    assert slack.latest(APPROVALS) is None
    client.chat_postMessage(channel=APPROVALS, text="card", blocks=card("x" * 300))
    assert slack.latest(APPROVALS) is not None


def test_a_section_over_3000_characters_is_refused(slack, client):
    assert refused(client.chat_postMessage, channel=APPROVALS, text="t", blocks=[section("y" * 3001)]) \
        == "invalid_blocks"
    assert slack.latest(APPROVALS) is None


def test_more_than_50_blocks_are_refused(slack, client):
    assert refused(client.chat_postMessage, channel=APPROVALS, text="t", blocks=[section("b")] * 51) \
        == "invalid_blocks"
    client.chat_postMessage(channel=APPROVALS, text="t", blocks=[section("b")] * 50)
    assert len(slack.latest(APPROVALS).blocks) == 50


def test_text_over_40000_characters_is_refused(slack, client):
    assert refused(client.chat_postMessage, channel=APPROVALS, text="z" * 40_001) == "msg_too_long"


def test_an_unknown_block_type_is_refused(client):
    assert refused(client.chat_postMessage, channel=APPROVALS, text="t", blocks=[{"type": "banner"}]) \
        == "invalid_blocks"


def test_a_malformed_view_is_refused_and_no_modal_opens(slack, client):
    for view in (deny_modal(title="Deny this request for good"),  # titles hold 24 characters
                 dict(deny_modal(), submit=None),  # inputs need a submit button
                 dict(deny_modal(), blocks=[section("y" * 3001)]),
                 {"type": "modal", "blocks": [section("no title")]}):
        trigger = slack.trigger("U0BOB")
        assert refused(client.views_open, trigger_id=trigger, view=view) == "invalid_arguments"
    assert slack.of("views.open") == []


def test_a_modal_opens_once_per_fresh_trigger_id():
    now = [1000.0]
    slack = FakeSlack(clock=lambda: now[0]).start()
    try:
        client = WebClient(token=slack.token, base_url=slack.api_url)
        trigger = slack.trigger("U0BOB")
        opened = client.views_open(trigger_id=trigger, view=deny_modal())
        assert opened["view"]["id"].startswith("V") and opened["view"]["private_metadata"] == "1"
        assert refused(client.views_open, trigger_id=trigger, view=deny_modal()) == "exchanged_trigger_id"
        stale = slack.trigger("U0BOB")
        now[0] += 3.5  # Slack's trigger ids live 3 seconds
        assert refused(client.views_open, trigger_id=stale, view=deny_modal()) == "expired_trigger_id"
        assert refused(client.views_open, trigger_id="1.2.3", view=deny_modal()) == "invalid_trigger_id"
        assert len(slack.of("views.open")) == 1
    finally:
        slack.stop()


def test_rate_limiting_on_demand_answers_429_with_retry_after(slack):
    slack.rate_limit("usergroups.users.list", times=2, retry_after=1)
    url = slack.api_url + "usergroups.users.list"
    headers = {"Authorization": f"Bearer {slack.token}"}
    for _ in range(2):
        response = requests.post(url, data={"usergroup": "S0ADMINS"}, headers=headers, timeout=5)
        assert response.status_code == 429 and response.headers["Retry-After"] == "1"
        assert response.json() == {"ok": False, "error": "ratelimited"}
    response = requests.post(url, data={"usergroup": "S0ADMINS"}, headers=headers, timeout=5)
    assert response.status_code == 200 and response.json()["users"] == ["U0CAROL"]


def test_a_response_url_post_with_invalid_blocks_gets_400_and_nobody_sees_it(slack):
    url = slack.response_url("r1", user_id="U0JANE", channel="C0GENERAL")
    response = requests.post(url, json={"response_type": "ephemeral", "text": "t", "blocks": [section("y" * 3001)]},
                             timeout=5)
    assert response.status_code == 400 and response.text == "invalid_blocks"
    [attempt] = slack.refusals()
    assert attempt.method == "response_url" and attempt.params["_url"] == "/response/r1"
    assert slack.of("response_url") == []
    response = requests.post(url, json={"response_type": "ephemeral", "text": "Request #1 filed"}, timeout=5)
    assert response.status_code == 200
    assert [p["text"] for p in slack.of("response_url")] == ["Request #1 filed"]


def test_an_ack_body_is_judged_like_a_message_or_a_view():
    assert ack_refusal("") is None and ack_refusal('{"response_action": "errors", "errors": {"b": "why"}}') is None
    assert ack_refusal({"response_type": "ephemeral", "text": "Checking…", "blocks": [section("ok")]}) is None
    assert ack_refusal({"text": "t", "blocks": [section("b")] * 51}).error == "invalid_blocks"
    assert ack_refusal({"response_action": "update", "view": {"type": "modal"}}).error == "invalid_arguments"


# -- the App Home: views.publish and chat.getPermalink -------------------------------------------

def home(blocks: list) -> dict:
    return {"type": "home", "callback_id": "iam_home", "blocks": blocks}


def test_a_home_is_published_to_a_person_and_replaces_the_last_one(slack, client):
    first = client.views_publish(user_id="U0JANE", view=home([section("one")]))
    client.views_publish(user_id="U0JANE", view=home([section("two")]))
    assert slack.home("U0JANE").blocks == [section("two")]
    assert refused(client.views_publish, user_id="U0JANE", view=home([section("x")]),
                   hash=first["view"]["hash"]) == "hash_conflict"  # stale: another publish came between


def test_views_publish_is_refused_as_slack_refuses_it(slack, client):
    assert refused(client.api_call, "views.publish", json={"view": home([section("x")])}) == "invalid_arguments"
    assert refused(client.views_publish, user_id="U0NOBODY", view=home([section("x")])) == "user_not_found"
    assert refused(client.views_publish, user_id="U0JANE",
                   view={"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": [section("x")]}
                   ) == "invalid_arguments"
    assert refused(client.views_publish, user_id="U0JANE", view=home([section("x")] * 101)) == "invalid_arguments"
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    assert refused(client.views_publish, user_id="U0JANE", view=home([too_long])) == "invalid_arguments"
    assert client.views_publish(user_id="U0JANE", view=home([section("x")] * 100))["ok"]
    assert slack.home("U0BOB") is None


def test_a_permalink_names_a_message_slack_has(slack, client):
    posted = client.chat_postMessage(channel=APPROVALS, text="card", blocks=[section("card")])
    link = client.chat_getPermalink(channel=APPROVALS, message_ts=posted["ts"])["permalink"]
    assert link == f"https://test.slack.com/archives/{APPROVALS}/p{posted['ts'].replace('.', '')}"
    assert refused(client.chat_getPermalink, channel=APPROVALS, message_ts="1.000001") == "message_not_found"
    assert refused(client.chat_getPermalink, channel="C0NOWHERE", message_ts=posted["ts"]) == "channel_not_found"
    assert refused(client.api_call, "chat.getPermalink", params={"channel": APPROVALS}) == "invalid_arguments"
