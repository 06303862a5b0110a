"""What real Slack would refuse or do under load, and what people see then. End to end over HTTP."""

import datetime as dt

import pytest

import storage
from bot import blocks
from tests.support.harness import APPROVALS
from tests.support.stories import thread_texts

pytestmark = pytest.mark.e2e

LONG_GROUPS = [("G%d" % i) + "x" * 124 for i in range(4)]  # IAM allows 128 characters; 126 each is enough


def test_a_card_with_four_long_group_names_stays_inside_slacks_limits(bot, slack, aws):
    for group in LONG_GROUPS:
        aws.create_group(GroupName=group)
    response = bot.slash("U0ALICE", "create jane.doe " + " ".join(LONG_GROUPS))
    assert "Request #1 filed" in bot.said(response.response_url)
    [card] = [p for p in slack.of("chat.postMessage") if p.get("channel") == APPROVALS]
    [approve] = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == blocks.ACTION_APPROVE]
    confirm = approve["confirm"]["text"]["text"]
    assert len(confirm) <= 300 and confirm.endswith("more.") and "`jane.doe`" in confirm
    assert bot.store.get(1).card_ts == card.get("_ts", bot.store.get(1).card_ts)


def test_a_card_slack_refuses_cancels_the_request_and_says_why(bot, slack, aws):
    slack.fail["chat.postMessage"] = "invalid_blocks"
    response = bot.slash("U0ALICE", "create jane.doe Developers")
    said = bot.said(response.response_url)
    assert "Request #1 was cancelled" in said and "invalid_blocks" in said and "Invite the bot" not in said
    assert bot.store.get(1).state == storage.CANCELLED
    assert "could not be posted: invalid_blocks" in bot.store.events(1)[-1].detail
    # The owner is not blocked: the same request can be made again at once.
    del slack.fail["chat.postMessage"]
    again = bot.slash("U0ALICE", "create jane.doe Developers")
    assert "Request #2 filed" in bot.said(again.response_url)


def test_a_card_outside_the_bots_channels_says_to_invite_the_bot(bot, slack):
    slack.fail["chat.postMessage"] = "not_in_channel"
    response = bot.slash("U0ALICE", "create jane.doe Developers")
    said = bot.said(response.response_url)
    assert "invite the bot to that channel" in said and "cancelled" in said
    assert bot.store.get(1).state == storage.CANCELLED


def test_a_rate_limited_user_group_is_busy_not_a_refusal(bot, slack, aws):
    bot.slash("U0ALICE", "create jane.doe Developers")
    slack.fail["usergroups.users.list"] = "ratelimited"
    response = bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    said = bot.said(response.response_url)
    assert "Slack is busy" in said and "not one of the approvers" not in said
    assert bot.store.get(1).state == storage.PENDING
    assert not any(e.what.startswith("refused") for e in bot.store.events(1))
    del slack.fail["usergroups.users.list"]
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED


def test_a_rate_limited_user_group_does_not_hide_an_approver_another_group_names(make_bot, slack, aws, monkeypatch):
    """Without a rules file, exactly as the approver list always was: every user group is asked;
    one Slack cannot read now decides nothing when another says yes, and is busy only otherwise."""
    bot = make_bot(iam_bot_approvers="U0BOB,S0BUSY,S0ADMINS")  # carol is in S0ADMINS
    slack.usergroups["S0BUSY"] = ["U0BOB"]
    answer = slack._api_usergroups_users_list
    monkeypatch.setattr(slack, "_api_usergroups_users_list", lambda params: (
        {"ok": False, "error": "ratelimited"} if params.get("usergroup") == "S0BUSY" else answer(params)))
    bot.slash("U0ALICE", "create jane.doe Developers")
    dan = bot.click("U0DAN", blocks.ACTION_APPROVE, 1)  # in no group Slack could read: busy, not refused
    assert "Slack is busy" in bot.said(dan.response_url)
    carol = bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert "Slack is busy" not in bot.said(carol.response_url)
    assert bot.store.get(1).state == storage.PROVISIONED


def test_user_group_membership_is_kept_a_minute_at_most(make_bot, slack, aws):
    now = [dt.datetime.now(dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0])
    for _ in range(3):
        bot.slash("U0CAROL", "keys nobody.here")
    assert len(slack.of("usergroups.users.list")) == 1
    now[0] += dt.timedelta(seconds=61)
    bot.slash("U0CAROL", "keys nobody.here")
    assert len(slack.of("usergroups.users.list")) == 2


def test_late_clicks_on_an_expired_request_tell_the_thread_once(make_bot, slack, aws):
    now = [dt.datetime.now(dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_request_ttl="1h")
    bot.slash("U0ALICE", "create jane.doe Developers")
    now[0] += dt.timedelta(hours=2)
    for who, action in [("U0BOB", blocks.ACTION_APPROVE), ("U0CAROL", blocks.ACTION_APPROVE),
                        ("U0BOB", blocks.ACTION_DENY)]:
        response = bot.click(who, action, 1)
        assert "has expired" in bot.said(response.response_url)
    assert bot.store.get(1).state == storage.EXPIRED
    assert len([t for t in thread_texts(slack) if "expired" in t]) == 1
    assert len([u for u in slack.of("chat.update") if u.get("channel") == APPROVALS]) == 1
