"""Auto-approve and break-glass on `/iam add ... --for` (issues 19 and 20): approved by a rule at
filing, in at once, announced on a card with no Approve or Deny; break-glass's loud card, its
review by a second person and the reminders until then. End to end over signed HTTP, the strict
Slack stand-in and moto."""

import datetime as dt

import pytest

import storage
from bot import blocks
from bot.features.groups import ACTION_REVIEWED, ACTION_REVOKE_NOW
from tests.support.harness import APPROVALS
from tests.support.stories import card_text, dms_to_jane, thread_texts
from tests.support.grants import GROUP_RULES, T0, add, clocked_bot, extend, groups_of

pytestmark = pytest.mark.e2e

SECURITY = "C0GENERAL"

RULES = GROUP_RULES + """
[[group]]
name = "ReadOnly*"
max_duration = "30d"
auto_approve = { requesters = ["U0ALICE", "U0JANE"], max_duration = "8h", per_requester_per_day = 2 }

[break_glass]
requesters = ["U0JANE"]
groups = ["Admins"]
max_duration = "1h"
review_within = "24h"
"""


@pytest.fixture
def clocked(make_bot, aws, tmp_path):
    """A bot whose clock the test moves, with jane.doe made (request #1, Developers)."""
    return clocked_bot(make_bot, aws, tmp_path, RULES, ("Admins", "ReadOnly1", "ReadOnly2", "ReadOnly3"),
                       iam_bot_security_channel=SECURITY)


def security_copy(slack):
    """The security channel's copy of the break-glass card as it reads now (Slack's message, updates included)."""
    return str(slack.latest(SECURITY).blocks)


def card_of(bot, slack, request_id):
    return card_text(slack, bot.store.get(request_id))


def buttons_on(slack, request):
    """The action ids on the request's card as it reads now (its last update, else as posted)."""
    for payload in reversed(slack.of("chat.update") + slack.of("chat.postMessage")):
        if payload.get("channel") == APPROVALS and payload.get("ts") == request.card_ts:
            return actions_of(payload)
    posted = [p for p in slack.of("chat.postMessage") if p.get("channel") == APPROVALS and not p.get("thread_ts")]
    return actions_of(posted[-1])


def actions_of(payload):
    return [e["action_id"] for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_auto_approve_within_its_limits_is_in_at_once(clocked, aws, slack):
    bot, at = clocked
    said = add(bot, "jane.doe ReadOnly1 --for 4h --reason look at the logs", "U0ALICE")
    assert "approved by the rule `group ReadOnly* auto_approve`" in said
    request = bot.store.get(2)
    assert request.state == storage.PROVISIONED and "ReadOnly1" in groups_of(aws)
    approved = [e for e in bot.store.events(2) if e.what == "approved"]
    assert approved and approved[0].detail == "group ReadOnly* auto_approve" and approved[0].actor_id is None
    assert buttons_on(slack, request) == [ACTION_REVOKE_NOW]
    assert "Approved by the rule" in card_of(bot, slack, 2)
    status = bot.slash("U0BOB", "status jane.doe")
    assert "the bot approved (group ReadOnly* auto_approve)" in str(bot.responses(status.response_url))
    assert any("now in these groups" in p.get("text", "") for p in dms_to_jane(slack))
    [grant] = bot.store.grants_of(2)
    assert grant.ends_at == T0 + dt.timedelta(hours=4)
    # Revoke now: an approver ends it; anyone else is refused.
    bot.click("U0JANE", ACTION_REVOKE_NOW, 2)
    assert "ReadOnly1" in groups_of(aws)
    bot.click("U0BOB", ACTION_REVOKE_NOW, 2)
    assert "ReadOnly1" not in groups_of(aws)
    [ended] = bot.store.grants_of(2)
    assert ended.end_reason == "revoked" and not ended.live
    assert ACTION_REVOKE_NOW not in buttons_on(slack, bot.store.get(2))
    assert any("revoked it" in t for t in thread_texts(slack))


def test_auto_approve_beyond_its_limits_waits_for_approvers(clocked, aws, slack):
    bot, at = clocked
    said = add(bot, "jane.doe ReadOnly1 --for 9h --reason longer", "U0ALICE")
    assert "waiting for approval" in said and bot.store.get(2).state == storage.PENDING
    assert "ReadOnly1" not in groups_of(aws)
    assert blocks.ACTION_APPROVE in buttons_on(slack, bot.store.get(2))
    # Someone not listed, or for good: approvers decide.
    assert "waiting for approval" in add(bot, "jane.doe ReadOnly2 --for 1h --reason x", "U0BOB")
    assert "waiting for approval" in add(bot, "jane.doe ReadOnly3 --reason x", "U0ALICE")
    assert {bot.store.get(i).state for i in (3, 4)} == {storage.PENDING}


def test_auto_approve_daily_cap(clocked, aws, slack):
    bot, at = clocked
    assert "approved by the rule" in add(bot, "jane.doe ReadOnly1 --for 1h --reason a", "U0ALICE")
    assert "approved by the rule" in add(bot, "jane.doe ReadOnly2 --for 1h --reason b", "U0ALICE")
    said = add(bot, "jane.doe ReadOnly3 --for 1h --reason c", "U0ALICE")
    assert "waiting for approval" in said and bot.store.get(4).state == storage.PENDING
    bot.click("U0BOB", blocks.ACTION_APPROVE, 4)
    at(dt.timedelta(hours=2))  # every grant ended
    assert not {"ReadOnly1", "ReadOnly2", "ReadOnly3"} & groups_of(aws)
    at(dt.timedelta(hours=23, minutes=59))
    assert "waiting for approval" in add(bot, "jane.doe ReadOnly1 --for 1h --reason d", "U0ALICE")
    at(dt.timedelta(days=1, minutes=1))  # a day after the first: one of the two is free again
    assert "approved by the rule" in add(bot, "jane.doe ReadOnly2 --for 1h --reason e", "U0ALICE")


def test_extend_is_auto_approved_within_the_rules_limits_and_daily_cap(clocked, aws, slack):
    bot, at = clocked
    assert "approved by the rule" in add(bot, "jane.doe ReadOnly1 --for 1h --reason look at the logs", "U0ALICE")
    [grant] = bot.store.grants_of(2)
    extend(bot, slack, "U0JANE", grant.id, "2h")  # jane may self-approve ReadOnly*, within 8h
    extension = bot.store.get(3)
    assert extension.kind == storage.GROUP_EXTEND and extension.state == storage.PROVISIONED
    assert [e.detail for e in bot.store.events(3) if e.what == "approved"] == ["group ReadOnly* auto_approve"]
    assert bot.store.grant(grant.id).ends_at == T0 + dt.timedelta(hours=3)
    assert "Approved by the rule" in card_of(bot, slack, 3) and buttons_on(slack, extension) == []
    assert any("approved by the rule" in t for t in (p.get("text", "") for p in dms_to_jane(slack)))
    # Beyond the rule's 8h (the group allows 30d): approvers decide.
    extend(bot, slack, "U0JANE", grant.id, "9h")
    assert bot.store.get(4).state == storage.PENDING and blocks.ACTION_APPROVE in buttons_on(slack, bot.store.get(4))
    bot.click("U0BOB", blocks.ACTION_DENY, 4)
    bot.submit_deny("U0BOB", 4, "too long")
    assert bot.store.grant(grant.id).ends_at == T0 + dt.timedelta(hours=3)
    # The daily cap (2) counts jane's auto-approved extensions: the second passes, the third waits.
    extend(bot, slack, "U0JANE", grant.id, "1h")
    assert bot.store.get(5).state == storage.PROVISIONED
    extend(bot, slack, "U0JANE", grant.id, "1h")
    assert bot.store.get(6).state == storage.PENDING
    assert bot.store.grant(grant.id).ends_at == T0 + dt.timedelta(hours=4)


def test_break_glass_in_at_once_loud_card_reviewed_by_a_second_person(clocked, aws, slack):
    bot, at = clocked
    said = add(bot, "jane.doe Admins --for 1h --break-glass --reason incident 42", "U0JANE")
    assert "You broke glass" in said and "review" in said
    request = bot.store.get(2)
    assert request.state == storage.PROVISIONED and "Admins" in groups_of(aws)
    assert [e.detail for e in bot.store.events(2) if e.what == "approved"] == ["break_glass"]
    card = card_of(bot, slack, 2)
    assert "BREAK-GLASS" in card and "<@U0JANE>" in card and "incident 42" in card and "Admins" in card
    assert buttons_on(slack, request) == [ACTION_REVIEWED, ACTION_REVOKE_NOW]
    assert any("BREAK-GLASS" in str(p.get("blocks")) for p in slack.of("chat.postMessage")
               if p.get("channel") == SECURITY)
    # The requester's own Reviewed is refused; a second person's counts, once.
    bot.click("U0JANE", ACTION_REVIEWED, 2)
    assert not bot.store.get(2).details.get("reviewed_by")
    bot.click("U0BOB", ACTION_REVIEWED, 2)
    assert bot.store.get(2).details["reviewed_by"] == "U0BOB"
    assert buttons_on(slack, bot.store.get(2)) == [ACTION_REVOKE_NOW]
    assert "Reviewed by <@U0BOB>" in card_of(bot, slack, 2)
    assert "Reviewed by <@U0BOB>" in security_copy(slack)  # the security channel's copy says so too
    assert Due_review(bot, 2) is None
    at(dt.timedelta(hours=25))  # reviewed: no reminder
    assert not any("not reviewed yet" in t for t in thread_texts(slack))
    assert "Admins" not in groups_of(aws)


def Due_review(bot, request_id):
    return bot.store.due_at(request_id).get("glass_review")


def test_break_glass_revoke_now_and_reminders_until_reviewed(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --break-glass --reason incident 43", "U0JANE")
    assert "Admins" in groups_of(aws)
    at(dt.timedelta(hours=23))
    assert not any("not reviewed yet" in t for t in thread_texts(slack))
    at(dt.timedelta(hours=24, minutes=1))
    assert sum("not reviewed yet" in t for t in thread_texts(slack)) == 1
    at(dt.timedelta(hours=24, minutes=30))
    assert sum("not reviewed yet" in t for t in thread_texts(slack)) == 1
    at(dt.timedelta(hours=25, minutes=2))
    assert sum("not reviewed yet" in t for t in thread_texts(slack)) == 2
    bot.click("U0CAROL", ACTION_REVIEWED, 2)
    at(dt.timedelta(hours=30))
    assert sum("not reviewed yet" in t for t in thread_texts(slack)) == 2


def test_break_glass_revoke_now_ends_the_grant(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --break-glass --reason incident 44", "U0JANE")
    at(dt.timedelta(minutes=10))
    bot.click("U0CAROL", ACTION_REVOKE_NOW, 2)
    assert "Admins" not in groups_of(aws)
    request = bot.store.get(2)
    assert request.details["revoked_by"] == "U0CAROL" and request.details["reviewed_by"] == "U0CAROL"
    assert buttons_on(slack, request) == []
    assert "Revoked by <@U0CAROL>" in security_copy(slack) and "Revoke now" not in security_copy(slack)
    assert any("membership of `Admins` ended" in p.get("text", "") and "revoked" in p.get("text", "")
               for p in dms_to_jane(slack))


@pytest.mark.parametrize("user, text, says", [
    ("U0ALICE", "jane.doe Admins --for 1h --break-glass --reason x", "not among the people"),
    ("U0JANE", "jane.doe Admins --for 2h --break-glass --reason x", "at most 1h"),
    ("U0JANE", "jane.doe ReadOnly1 --for 1h --break-glass --reason x", "does not cover `ReadOnly1`"),
])
def test_break_glass_refused(clocked, aws, user, text, says):
    bot, at = clocked
    said = add(bot, text, user)
    assert says in said and "You cannot break glass" in said
    assert "Admins" not in groups_of(aws) and "ReadOnly1" not in groups_of(aws)
    assert bot.store.in_states([storage.PENDING, storage.APPROVED, storage.PROVISIONED])[-1].id == 1
