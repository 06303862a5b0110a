"""Access keys from chat, end to end over HTTP: asked with a reason, approved by a second person,
created at the owner's first Reveal click, rotated, deactivated, activated and deleted."""

import datetime as dt
import logging
from pathlib import Path

import boto3
import pytest

import storage
from bot import blocks
from bot.features import keys as key_feature
from tests.support.faults import count_calls
from tests.support.stories import KEY_REASON as REASON
from tests.support.stories import OWNER_DM, ask_and_approve, keys_of, provision_jane, reveal, shown_key

pytestmark = pytest.mark.e2e


def tags_of(aws, user="jane.doe"):
    return {t["Key"]: t["Value"] for t in aws.list_user_tags(UserName=user)["Tags"]}


def use_key(moto_url, key_id, secret):
    """The owner uses the key once: moto records its last use, as AWS would."""
    boto3.client("sts", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id=key_id,
                 aws_secret_access_key=secret).get_caller_identity()


def test_a_key_is_asked_with_a_reason_approved_and_created_at_the_first_reveal(bot, slack, aws):
    provision_jane(bot)
    creates = count_calls(bot.client, "CreateAccessKey")
    value = ask_and_approve(bot, slack)
    card = [p for p in slack.of("chat.postMessage") if p.get("channel") == "C0APPROVALS" and "Access key" in str(p)][0]
    text = str(card["blocks"])
    assert "CI for the billing repo (ticket #42)" in text and "<@U0JANE>" in text and "<@U0ALICE>" in text
    assert "OIDC federation" in text and "Identity Center" in text and "none" in text
    assert creates == [] and keys_of(aws) == {}  # approved, still no key: it is made at the click
    said = reveal(bot, slack, value)
    key_id, secret = shown_key(said)
    assert "aws configure --profile" in said and "visible only to you" in said
    assert keys_of(aws) == {key_id: "Active"} and creates == ["CreateAccessKey"]
    assert tags_of(aws)[key_id] == "CI for the billing repo ticket 42"  # what IAM allows in a tag value
    assert bot.store.get(2).details["reason"] == REASON and bot.store.get(2).state == storage.REVEALED
    again = reveal(bot, slack, value)
    assert "already revealed" in again and secret not in again and creates == ["CreateAccessKey"]
    threads = [p["text"] for p in slack.of("chat.postMessage") if p.get("thread_ts")]
    assert any("revealed the new access key" in t and key_id in t for t in threads)


def test_refused_at_once_without_reason_unknown_user_third_key_or_no_owner(bot, slack, aws):
    aws.create_user(UserName="ci.bot", Path="/people/", Tags=[{"Key": "iam-bot:owner-slack-id", "Value": "U0DAN"}])
    aws.create_access_key(UserName="ci.bot")
    aws.create_access_key(UserName="ci.bot")
    third = bot.said(bot.slash("U0ALICE", "create-key ci.bot --reason more").response_url)
    assert "already has two access keys" in third
    nobody = bot.said(bot.slash("U0ALICE", "create-key no.such --reason x").response_url)
    assert "There is no IAM user named `no.such`" in nobody
    aws.create_user(UserName="orphan.user", Path="/people/")
    unowned = bot.said(bot.slash("U0ALICE", "create-key orphan.user --reason x").response_url)
    assert "Nobody can be named as the owner" in unowned
    aws.create_user(UserName="outside", Path="/", Tags=[{"Key": "iam-bot:owner-slack-id", "Value": "U0DAN"}])
    outside = bot.said(bot.slash("U0ALICE", "create-key outside --reason x").response_url)
    assert "outside `/people/`, the only IAM path the bot may change" in outside
    assert bot.store.in_states(storage.LIVE_STATES) == []


def test_a_third_key_refused_to_a_stranger_names_no_key(make_bot, aws):
    """Someone who may not list pat.fox's keys learns no key id from asking for a third one."""
    bot = make_bot(iam_bot_approvers="U0BOB,S0ADMINS")  # alice is nobody special here
    aws.create_user(UserName="pat.fox", Path="/people/", Tags=[{"Key": "iam-bot:owner-slack-id", "Value": "U0JANE"}])
    keys = [aws.create_access_key(UserName="pat.fox")["AccessKey"]["AccessKeyId"] for _ in range(2)]
    listed = bot.said(bot.slash("U0ALICE", "keys pat.fox").response_url)
    assert "Only approvers, and the owner of `pat.fox`, can list its access keys." == listed
    stranger = bot.said(bot.slash("U0ALICE", "create-key pat.fox --reason x").response_url)
    assert "`pat.fox` already has two access keys, AWS's limit" in stranger
    assert "its owner or an approver" in stranger
    assert "AKIA" not in stranger and not any(k in stranger for k in keys)
    # Its owner and an approver, who may see the keys, are told which they are.
    for who in ("U0JANE", "U0BOB"):
        told = bot.said(bot.slash(who, "create-key pat.fox --reason x").response_url)
        assert all(k in told for k in keys) and "/iam delete-key pat.fox" in told
    assert bot.store.in_states(storage.LIVE_STATES) == []


def test_a_missing_reason_is_answered_in_the_ack(bot):
    response = bot.slash("U0ALICE", "create-key jane.doe")
    assert "Say why `jane.doe` needs a long-term access key" in response.json()["text"]


def test_only_the_owner_reveals_and_nothing_is_created_for_anyone_else(bot, slack, aws):
    provision_jane(bot)
    value = ask_and_approve(bot, slack)
    for who in ("U0BOB", "U0ALICE", "U0DAN"):
        assert reveal(bot, slack, value, who=who) == "Only <@U0JANE> can reveal this access key."
    assert keys_of(aws) == {} and bot.store.get(2).state == storage.PROVISIONED


def test_twenty_concurrent_reveals_create_one_key(bot, slack, aws):
    provision_jane(bot)
    value = ask_and_approve(bot, slack)
    creates = count_calls(bot.client, "CreateAccessKey")
    bot.clicks_at_once(["U0JANE"] * 20, blocks.ACTION_REVEAL, value, channel=OWNER_DM)
    shown = [p for p in slack.of("response_url") if "Secret access key" in p.get("text", "")]
    assert len(shown) == 1 and creates == ["CreateAccessKey"] and len(keys_of(aws)) == 1
    assert len([p for p in slack.of("response_url") if "already revealed" in p.get("text", "")]) == 19


def test_the_canary_secret_access_key_is_only_in_the_one_ephemeral_reveal(make_bot, slack, aws, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    bot = make_bot()  # after the log level is set, as at start-up
    provision_jane(bot)
    value = ask_and_approve(bot, slack)
    said = reveal(bot, slack, value)
    reveal(bot, slack, value)
    bot.settle()
    key_id, secret = shown_key(said)
    carrying = [(c.method, c.params) for c in slack.calls if secret in str(c.params)]
    assert len(carrying) == 1 and carrying[0][0] == "response_url"
    assert carrying[0][1]["response_type"] == "ephemeral"
    files = [p for p in Path(tmp_path).iterdir() if p.name.startswith("iam-bot.db")]
    assert files and all(secret.encode() not in p.read_bytes() for p in files)
    logged = "\n".join(r.getMessage() + str(r.args) + (r.exc_text or "") for r in caplog.records)
    assert secret not in logged
    assert all(secret not in str(e) for e in bot.store.events())
    assert any(e.what == "key_created" and e.detail == key_id for e in bot.store.events(2))


def test_an_expired_never_revealed_key_request_creates_nothing(make_bot, slack, aws):
    now = [dt.datetime.now(dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_reveal_ttl="1h")
    provision_jane(bot)
    value = ask_and_approve(bot, slack)
    now[0] += dt.timedelta(hours=2)
    said = reveal(bot, slack, value)
    assert "has expired; no key was created" in said and keys_of(aws) == {}


def issue_key(bot, slack, aws):
    provision_jane(bot)
    key_id, secret = shown_key(reveal(bot, slack, ask_and_approve(bot, slack)))
    return key_id, secret


def typed(bot, user, text):
    return bot.said(bot.slash(user, text).response_url)


def test_key_actions_refuse_clearly_and_change_nothing(bot, slack, aws):
    key_id, _ = issue_key(bot, slack, aws)
    aws.create_user(UserName="sam", Path="/people/")
    sams = aws.create_access_key(UserName="sam")["AccessKey"]["AccessKeyId"]
    assert "has no access key `AKIAAAAAAAAAAAAAAAAA`" in typed(bot, "U0BOB", "deactivate-key jane.doe AKIAAAAAAAAAAAAAAAAA")
    assert "has no access key" in typed(bot, "U0BOB", f"delete-key jane.doe {sams}")
    assert "Deactivate it first" in typed(bot, "U0JANE", f"delete-key jane.doe {key_id}")
    assert "Only approvers, and the owner of `jane.doe`, can rotate" in typed(bot, "U0DAN", f"rotate-key jane.doe {key_id}")
    assert "is not an access-key id" in bot.slash("U0BOB", "delete-key jane.doe AKIA123").json()["text"]
    assert keys_of(aws) == {key_id: "Active"} and keys_of(aws, "sam") == {sams: "Active"}
    refusals = [e.what for e in bot.store.events() if e.what.startswith("refused:")]
    assert "refused:rotate_key" in refusals


def test_deactivate_activate_and_delete_with_the_buttons_and_a_line_in_the_thread(bot, slack, aws):
    key_id, _ = issue_key(bot, slack, aws)
    listing = bot.responses(bot.slash("U0JANE", "keys JANE.DOE").response_url)[-1]
    rows = [b for b in listing["blocks"] if b["type"] == "actions"]
    assert [e["text"]["text"] for e in rows[0]["elements"]] == ["Rotate", "Deactivate", "Delete"]
    assert all("confirm" in e for e in rows[0]["elements"])
    value = rows[0]["elements"][1]["value"]
    said = bot.said(bot.click("U0JANE", key_feature.ACTION_KEY_DEACTIVATE, value, channel="C0GENERAL").response_url)
    assert "is now inactive" in said and keys_of(aws) == {key_id: "Inactive"}
    said = bot.said(bot.click("U0JANE", key_feature.ACTION_KEY_ACTIVATE, value, channel="C0GENERAL").response_url)
    assert "active again" in said and keys_of(aws) == {key_id: "Active"}
    typed(bot, "U0BOB", f"deactivate-key jane.doe {key_id}")
    # Jane is an approver in this workspace's settings too; Dan is neither.
    assert "Only approvers" in typed(bot, "U0DAN", f"activate-key jane.doe {key_id}")
    said = bot.said(bot.click("U0BOB", key_feature.ACTION_KEY_DELETE, value, channel="C0GENERAL").response_url)
    assert "is deleted" in said and keys_of(aws) == {} and key_id not in tags_of(aws)
    thread = [p["text"] for p in slack.of("chat.postMessage") if p.get("thread_ts") and key_id in p.get("text", "")]
    assert any("deactivated" in t for t in thread) and any("deleted" in t for t in thread)
    events = [(e.actor_id, e.what) for e in bot.store.events(2) if e.what.startswith("key_")]
    assert ("U0JANE", "key_deactivated") in events and ("U0BOB", "key_deleted") in events


def test_a_key_an_approver_deactivated_only_an_approver_activates(make_bot, slack, aws):
    bot = make_bot(iam_bot_approvers="U0BOB,S0ADMINS")
    key_id, _ = issue_key(bot, slack, aws)
    typed(bot, "U0BOB", f"deactivate-key jane.doe {key_id}")
    assert "only an approver can activate it" in typed(bot, "U0JANE", f"activate-key jane.doe {key_id}")
    assert keys_of(aws) == {key_id: "Inactive"}
    typed(bot, "U0JANE", f"activate-key jane.doe {key_id}")
    assert keys_of(aws) == {key_id: "Inactive"}
    assert "active again" in typed(bot, "U0CAROL", f"activate-key jane.doe {key_id}")
    typed(bot, "U0JANE", f"deactivate-key jane.doe {key_id}")
    assert "active again" in typed(bot, "U0JANE", f"activate-key jane.doe {key_id}")


def test_an_owner_cannot_rotate_back_a_key_an_approver_deactivated(make_bot, slack, aws):
    bot = make_bot(iam_bot_approvers="U0BOB,S0ADMINS")
    key_id, _ = issue_key(bot, slack, aws)
    typed(bot, "U0BOB", f"deactivate-key jane.doe {key_id}")
    said = typed(bot, "U0JANE", f"rotate-key jane.doe {key_id}")
    assert "An approver deactivated" in said and "ask an approver" in said
    assert [r.id for r in bot.store.for_user_name("jane.doe") if r.kind == "access_key"] == [2]
    assert keys_of(aws) == {key_id: "Inactive"}
    assert "refused:rotate_key" in [e.what for e in bot.store.events() if e.actor_id == "U0JANE"]
    # An approver may rotate it: the owner reveals the new key.
    assert "Rotation of" in typed(bot, "U0CAROL", f"rotate-key jane.doe {key_id}")
    new, _ = shown_key(reveal(bot, slack))
    assert keys_of(aws) == {key_id: "Inactive", new: "Active"}


def rotate(bot, slack, aws, now, who="U0BOB"):
    old, _ = issue_key(bot, slack, aws)
    said = typed(bot, who, f"rotate-key jane.doe {old}")
    assert "Rotation of" in said and "request #3" in said
    assert bot.store.get(3).state == storage.PROVISIONED and bot.store.get(3).details["replaces"] == old
    new, secret = shown_key(reveal(bot, slack))
    assert keys_of(aws) == {old: "Active", new: "Active"}
    return old, new, secret


def owner_dms(slack):
    return [p["text"] for p in slack.of("chat.postMessage") if p.get("channel") == OWNER_DM]


def test_rotation_deactivates_the_old_key_at_first_use_then_deletes_it_a_grace_later(make_bot, slack, aws, moto_url):
    now = [dt.datetime.now(dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_rotation_grace="7d")
    old, new, secret = rotate(bot, slack, aws, now)
    bot.run_duty("rotations")
    bot.settle()
    assert keys_of(aws)[old] == "Active"  # the new key is not in use yet
    use_key(moto_url, new, secret)
    bot.run_duty("rotations")
    bot.settle()
    assert keys_of(aws) == {old: "Inactive", new: "Active"}
    assert any("now inactive" in t and old in t for t in owner_dms(slack))
    now[0] += dt.timedelta(days=6)
    bot.run_duty("rotations")
    assert old in keys_of(aws)
    now[0] += dt.timedelta(days=1, minutes=1)
    bot.run_duty("rotations")
    bot.settle()
    assert keys_of(aws) == {new: "Active"} and old not in tags_of(aws)
    assert any("rotation is complete" in t for t in owner_dms(slack))
    assert [e.what for e in bot.store.events(3) if e.what.startswith("rotation_")] == [
        "rotation_deactivated", "rotation_deleted"]


def test_rotation_deactivates_after_the_grace_when_the_new_key_is_never_used(make_bot, slack, aws):
    now = [dt.datetime.now(dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_rotation_grace="7d")
    old, new, _ = rotate(bot, slack, aws, now, who="U0JANE")
    now[0] += dt.timedelta(days=7, minutes=1)
    bot.run_duty("rotations")
    bot.settle()
    assert keys_of(aws) == {old: "Inactive", new: "Active"}


def test_a_re_activated_old_key_is_left_alone(make_bot, slack, aws):
    now = [dt.datetime.now(dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_rotation_grace="1d")
    old, new, _ = rotate(bot, slack, aws, now)
    now[0] += dt.timedelta(days=1, minutes=1)
    bot.run_duty("rotations")
    typed(bot, "U0JANE", f"activate-key jane.doe {old}")
    now[0] += dt.timedelta(days=1, minutes=1)
    bot.run_duty("rotations")
    bot.settle()
    assert keys_of(aws) == {old: "Active", new: "Active"}
    assert any("left it" in t and "alone" in t for t in owner_dms(slack))


def test_a_new_key_never_revealed_leaves_the_old_one_alone(make_bot, slack, aws):
    now = [dt.datetime.now(dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_rotation_grace="1d")
    old, _ = issue_key(bot, slack, aws)
    typed(bot, "U0BOB", f"rotate-key jane.doe {old}")
    now[0] += dt.timedelta(days=30)
    bot.run_duty("rotations")
    assert keys_of(aws) == {old: "Active"}


def test_rotation_with_two_keys_names_the_inactive_one_or_says_to_deactivate(bot, slack, aws):
    key_id, _ = issue_key(bot, slack, aws)
    other = aws.create_access_key(UserName="jane.doe")["AccessKey"]["AccessKeyId"]
    said = typed(bot, "U0BOB", f"rotate-key jane.doe {key_id}")
    assert "Deactivate the one you no longer need first" in said
    aws.update_access_key(UserName="jane.doe", AccessKeyId=other, Status="Inactive")
    said = typed(bot, "U0BOB", f"rotate-key jane.doe {key_id}")
    assert f"/iam delete-key jane.doe {other}" in said
    assert len(keys_of(aws)) == 2


def test_a_name_in_another_case_finds_the_user(bot, aws):
    aws.create_user(UserName="Bob.Smith")
    key = aws.create_access_key(UserName="Bob.Smith")["AccessKey"]["AccessKeyId"]
    [reply] = bot.responses(bot.slash("U0BOB", "keys bob.smith").response_url)
    assert key in reply["text"] and "Bob.Smith" in reply["text"]
