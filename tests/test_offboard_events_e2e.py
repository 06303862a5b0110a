"""When Slack says a person left (`user_change` with `deleted: true`), end to end over HTTP: one
removal and one card per leaving, however many events arrive, on however many replicas."""

from __future__ import annotations

import json

import pytest

import storage
from bot import blocks
from tests.support.harness import APPROVALS, together
from tests.support.process import wait_until
from tests.support.stories import JANE, OWNER_DM, card_text, gone, leaves, seed_jane, send, user_change

pytestmark = pytest.mark.e2e


def test_jane_leaves_her_user_is_filed_for_removal_and_what_she_had_open_is_void(bot, slack, aws):
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)  # jane has a live Reveal button in her DM
    bot.slash("U0JANE", "reset-password jane.doe")  # and a pending request of her own (#2)
    bot.slash("U0ALICE", "create dan Developers <@U0DAN>")  # and half of a two-approver decision (#3)
    pending = bot.store.get(3)
    bot.store.transition(3, from_states=[storage.PENDING], to_state=storage.PENDING, actor_id="U0JANE",
                         what="approved_once", now=pending.created_at,
                         details={**pending.details, "approvals": [{"user_id": "U0JANE", "at": "2024-01-01"}]})
    leaves(slack, "U0JANE")
    assert send(bot, user_change("Ev01")).status_code == 200
    assert send(bot, user_change("Ev01")).status_code == 200  # Slack retries a delivery
    [removal] = [r for r in bot.store.for_user_name(JANE) if r.kind == "remove"]
    assert (removal.requester_id, removal.owner_id, removal.state) == ("iam-bot", "U0JANE", storage.PENDING)
    card = card_text(slack, removal)
    assert "iam-bot, because Slack says the owner left" in card and "Developers" in card
    assert bot.store.get(1).state == storage.REVEAL_EXPIRED  # her Reveal button is dead
    dm = [p for p in slack.of("chat.update") if p.get("channel") == OWNER_DM][-1]
    assert all(e.get("action_id") != blocks.ACTION_REVEAL for b in dm["blocks"] for e in b.get("elements", []))
    assert bot.store.get(2).state == storage.CANCELLED
    assert bot.store.get(3).state == storage.PENDING and bot.store.get(3).details["approvals"] == []
    # A second person approves the removal the bot filed.
    bot.click("U0BOB", blocks.ACTION_APPROVE, removal.id, message_ts=removal.card_ts)
    assert gone(lambda: aws.get_user(UserName=JANE))
    assert bot.store.get(removal.id).state == storage.PROVISIONED


def test_with_disable_the_users_are_disabled_at_once_and_the_card_says_so(make_bot, slack, aws):
    bot = make_bot(iam_bot_on_slack_deactivation="disable")
    seed_jane(aws)
    leaves(slack, "U0JANE")
    send(bot, user_change("Ev02"))
    assert gone(lambda: aws.get_login_profile(UserName=JANE))
    assert {k["Status"] for k in aws.list_access_keys(UserName=JANE)["AccessKeyMetadata"]} == {"Inactive"}
    assert aws.get_user(UserName=JANE)["User"]["UserName"] == JANE  # removing it still needs a second person
    [removal] = bot.store.in_states([storage.PENDING])
    assert "Disabled at once" in card_text(slack, removal) and removal.details["disabled_at"]


def test_a_leaver_back_in_slack_cannot_activate_the_keys_disabled_at_once(make_bot, slack, aws):
    bot = make_bot(iam_bot_on_slack_deactivation="disable", iam_bot_approvers="U0BOB,S0ADMINS")
    first, _ = seed_jane(aws)["keys"]
    leaves(slack, "U0JANE")
    send(bot, user_change("Ev03"))
    slack.users["U0JANE"]["deleted"] = False  # her Slack account is restored; the removal is still pending
    said = bot.said(bot.slash("U0JANE", f"activate-key jane.doe {first}").response_url)
    assert "was deactivated when `jane.doe` was disabled" in said and "ask an approver" in said
    assert {k["Status"] for k in aws.list_access_keys(UserName=JANE)["AccessKeyMetadata"]} == {"Inactive"}


def test_another_persons_owner_tag_keeps_a_user_out_of_a_leavers_removal(bot, slack, aws):
    aws.create_user(UserName=JANE, Path="/people/", Tags=[{"Key": "iam-bot:owner-slack-id", "Value": "U0DAN"}])
    leaves(slack, "U0JANE")
    send(bot, user_change("Ev03"))
    assert bot.store.in_states(storage.LIVE_STATES) == []


def test_a_wrong_signature_a_person_without_users_and_an_active_person_change_nothing(bot, slack, aws):
    seed_jane(aws)
    leaves(slack, "U0JANE")
    assert send(bot, user_change("Ev04"), signature="v0=" + "0" * 64).status_code == 401
    leaves(slack, "U0DAN")
    send(bot, user_change("Ev05", "U0DAN", email="dan@example.com"))
    slack.users["U0JANE"]["deleted"] = False  # reactivated since: Slack's own word counts
    send(bot, user_change("Ev06"))
    assert bot.store.in_states(storage.LIVE_STATES) == [] and bot.store.jobs(kind="command") == []
    assert [p for p in slack.of("chat.postMessage") if p.get("channel") == APPROVALS] == []
    assert aws.get_login_profile(UserName=JANE)


def test_slack_checking_the_events_url_gets_its_challenge_back(bot):
    body = json.dumps({"token": "unused", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    response = bot.post(body, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def iam_calls(bot) -> list[str]:
    """Every IAM operation the bot calls from now on, in order (retries of one call count once)."""
    called: list[str] = []
    bot.client.meta.events.register("before-call.iam", lambda model, **_: called.append(model.name))
    return called


def approval_cards(slack) -> list:
    """The messages in the approvals channel: one card per request."""
    return slack.messages(APPROVALS)


def test_a_burst_of_profile_changes_files_one_removal_with_one_card(bot, slack, aws):
    seed_jane(aws)
    leaves(slack, "U0JANE")
    called = iam_calls(bot)
    # Slack sends one user_change per profile change: a hundred distinct events, all at once.
    acks = together([lambda i=i: bot.post(user_change(f"EvBurst{i:03}"), content_type="application/json")
                     for i in range(100)])
    assert {ack.status_code for ack in acks} == {200}
    bot.settle()
    [removal] = [r for r in bot.store.for_user_name(JANE) if r.kind == "remove"]
    assert [e.what for e in bot.store.events(removal.id)].count("filed") == 1
    assert [card.ts for card in approval_cards(slack)] == [removal.card_ts]
    # The bot asked Slack and AWS about jane once, not once per event.
    assert len(slack.of("users.info")) == 1
    assert called.count("GetUser") == 1, called
    # The one card's Approve works (no "replaced by a newer card").
    bot.click("U0BOB", blocks.ACTION_APPROVE, removal.id, message_ts=removal.card_ts)
    assert gone(lambda: aws.get_user(UserName=JANE))


def test_a_person_reactivated_and_deactivated_again_is_handled_anew(bot, slack, aws):
    seed_jane(aws)
    leaves(slack, "U0JANE")
    send(bot, user_change("EvAway1"))
    [removal] = [r for r in bot.store.for_user_name(JANE) if r.kind == "remove"]
    send(bot, user_change("EvAway2"))  # her removal is open: nothing new is asked of Slack
    assert len(slack.of("users.info")) == 1
    # jane is back, asks for a new password, and leaves again while her removal still waits.
    slack.users["U0JANE"]["deleted"] = False
    send(bot, user_change("EvBack", deleted=False))
    bot.slash("U0JANE", "reset-password jane.doe")
    [asked] = [r for r in bot.store.for_user_name(JANE) if r.kind == "reset_password"]
    assert asked.state == storage.PENDING
    leaves(slack, "U0JANE")
    send(bot, user_change("EvAway3"))
    assert bot.store.get(asked.id).state == storage.CANCELLED  # what she opened meanwhile is void
    assert [r.id for r in bot.store.for_user_name(JANE) if r.kind == "remove"] == [removal.id]
    assert [card.ts for card in approval_cards(slack)] == [removal.card_ts, asked.card_ts]


def test_a_burst_spread_over_two_replicas_on_postgres_posts_one_card(make_bot, slack, aws, postgres_url):
    replicas = [make_bot(database_url=postgres_url) for _ in range(2)]
    seed_jane(aws)
    leaves(slack, "U0JANE")
    called = [iam_calls(replica) for replica in replicas]
    acks = together([lambda i=i: replicas[i % 2].post(user_change(f"EvSpread{i:03}"), content_type="application/json")
                     for i in range(100)])
    assert {ack.status_code for ack in acks} == {200}
    for replica in replicas:
        replica.settle()
    store = replicas[0].store
    [removal] = [r for r in store.for_user_name(JANE) if r.kind == "remove"]
    assert [card.ts for card in approval_cards(slack)] == [store.get(removal.id).card_ts]
    assert len(slack.of("users.info")) == 1
    assert sum(calls.count("GetUser") for calls in called) == 1, called


def test_a_leaving_handled_anew_while_the_first_card_is_on_its_way_posts_no_second_card(bot, slack, aws):
    seed_jane(aws)
    leaves(slack, "U0JANE")
    posting = slack.hold("chat.postMessage", where=lambda p: p.get("channel") == APPROVALS)
    bot.post(user_change("EvAway1"), content_type="application/json")
    posting.wait_reached()  # the removal is filed; its card is on its way to Slack
    # jane is reactivated and deactivated again meanwhile: her leaving is handled anew.
    slack.users["U0JANE"]["deleted"] = False
    bot.post(user_change("EvBack", deleted=False), content_type="application/json")
    leaves(slack, "U0JANE")
    bot.post(user_change("EvAway2"), content_type="application/json")
    wait_until(lambda: bot.store.jobs(kind="leaver", done=True), what="the second leaving to be handled")
    posting.release()
    bot.settle()
    [removal] = [r for r in bot.store.for_user_name(JANE) if r.kind == "remove"]
    assert [card.ts for card in approval_cards(slack)] == [removal.card_ts]
    bot.click("U0BOB", blocks.ACTION_APPROVE, removal.id, message_ts=removal.card_ts)
    assert gone(lambda: aws.get_user(UserName=JANE))
