"""One key per request, whatever AWS answers: a CreateAccessKey that AWS completed but answered
with a 5xx, or never answered, is not sent again blindly. The bot lists the user's keys, deletes
the one nobody saw, and tries once more cleanly; the owner sees exactly one key, and AWS holds
exactly that one.

The bot's IAM client goes through the proxy in front of moto, which lets moto do the call and
then fails its answer."""

import datetime as dt

import boto3
import pytest
from botocore.config import Config

import storage
from bot import blocks
from bot.shell.awslike import make_aws_like
from commands.iam import RETRY_CONFIG, KeyMeta
from commands.keys import unseen
from tests.support.faults import Fault
from tests.support.stories import ask_and_approve, keys_of, provision_jane, reveal, shown_key

pytestmark = pytest.mark.e2e

pytest_plugins = ["tests.support.process"]


def bot_behind(make_bot, aws_proxy, read_timeout: float = 20, **bot_settings):
    client = boto3.client("iam", endpoint_url=aws_proxy.url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing", config=RETRY_CONFIG.merge(Config(read_timeout=read_timeout)))
    make_aws_like(client)
    return make_bot(iam_client_override=client, **bot_settings)


def unseen_deleted(bot, request_id):
    return [e.detail for e in bot.store.events(request_id) if e.what == "key_unseen_deleted"]


def test_a_key_aws_made_but_answered_with_a_5xx_is_deleted_unseen_and_one_clean_retry_shows_the_only_key(
        make_bot, slack, aws, aws_proxy):
    bot = bot_behind(make_bot, aws_proxy)
    provision_jane(bot)
    value = ask_and_approve(bot, slack)
    aws_proxy.fail_after("CreateAccessKey")  # AWS makes the key, then answers 500
    said = reveal(bot, slack, value)
    key_id, _ = shown_key(said)
    assert keys_of(aws) == {key_id: "Active"}  # the key AWS made first is gone; nobody ever saw it
    assert aws_proxy.forwarded("CreateAccessKey") == 2
    [deleted] = unseen_deleted(bot, 2)
    assert key_id not in deleted and deleted.startswith("AKIA")
    assert bot.store.get(2).state == storage.REVEALED and bot.store.get(2).details["key_id"] == key_id


def test_a_key_aws_made_but_never_answered_is_deleted_unseen_and_one_clean_retry_shows_the_only_key(
        make_bot, slack, aws, aws_proxy):
    bot = bot_behind(make_bot, aws_proxy, read_timeout=3)
    provision_jane(bot)
    value = ask_and_approve(bot, slack)
    aws_proxy.time_out_after("CreateAccessKey")  # AWS makes the key; its answer never comes
    said = reveal(bot, slack, value)
    key_id, _ = shown_key(said)
    assert keys_of(aws) == {key_id: "Active"}
    assert aws_proxy.forwarded("CreateAccessKey") == 2 and len(unseen_deleted(bot, 2)) == 1


def test_when_aws_fails_both_tries_nothing_is_left_and_the_owner_clicks_again(make_bot, slack, aws, aws_proxy):
    bot = bot_behind(make_bot, aws_proxy)
    provision_jane(bot)
    value = ask_and_approve(bot, slack)
    aws.create_access_key(UserName="jane.doe")  # a key jane already had stays, whatever happens
    before = set(keys_of(aws))
    aws_proxy.fail_after("CreateAccessKey", times=2)
    said = reveal(bot, slack, value)
    assert "AWS did not say whether the key for request #2 was made" in said and "Reveal access key" in said
    assert "Secret" not in said
    assert set(keys_of(aws)) == before and len(unseen_deleted(bot, 2)) == 2
    assert bot.store.get(2).state == storage.PROVISIONED
    key_id, _ = shown_key(reveal(bot, slack, value))
    assert set(keys_of(aws)) == before | {key_id} and aws_proxy.forwarded("CreateAccessKey") == 3


def test_throttling_is_still_retried_by_botocore_for_a_key(make_bot, slack, aws, aws_proxy):
    bot = bot_behind(make_bot, aws_proxy)
    provision_jane(bot)
    value = ask_and_approve(bot, slack)
    throttled = Fault(bot.client, "CreateAccessKey", "Throttling", times=1)  # refused: nothing was made
    key_id, _ = shown_key(reveal(bot, slack, value))
    assert throttled.hits == 1 and keys_of(aws) == {key_id: "Active"} and unseen_deleted(bot, 2) == []


def test_a_key_made_in_the_console_minutes_after_the_attempt_is_not_taken_for_its_key():
    attempted = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)
    made = [KeyMeta("AKIAOLDKEY0000000000", "Active", attempted - dt.timedelta(days=30)),
            KeyMeta("AKIAMADEBYTHEBOT0000", "Active", attempted + dt.timedelta(seconds=2)),
            KeyMeta("AKIAOTHERREQUEST0000", "Active", attempted + dt.timedelta(seconds=30)),
            KeyMeta("AKIACONSOLELATER0000", "Active", attempted + dt.timedelta(minutes=20))]
    assert unseen(made, before={"AKIAOLDKEY0000000000"}, recorded={"AKIAOTHERREQUEST0000"},
                  attempted=attempted) == ["AKIAMADEBYTHEBOT0000"]


def test_a_console_password_aws_gave_but_answered_with_a_5xx_is_set_to_the_one_shown(make_bot, slack, aws,
                                                                                       aws_proxy):
    """CreateLoginProfile resent by botocore finds the profile its first try made: the password
    shown must still be the one AWS holds, so the bot sets it with UpdateLoginProfile."""
    passwords = iter(["Reset-password-3Cc#xx"])
    bot = bot_behind(make_bot, aws_proxy, passwords=lambda policy: next(passwords))
    bot.slash("U0ALICE", "create jane.doe Developers --no-console")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    bot.slash("U0JANE", "reset-password jane.doe")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    aws_proxy.fail_after("CreateLoginProfile")
    shown = bot.click("U0JANE", blocks.ACTION_REVEAL, channel="D0JANE")
    assert "Reset-password-3Cc#xx" in bot.said(shown.response_url)
    set_last = [s.form for s in aws_proxy.seen if s.forwarded and s.form.get("Action") in (
        "CreateLoginProfile", "UpdateLoginProfile") and s.form.get("UserName") == "jane.doe"][-1]
    assert set_last["Password"] == "Reset-password-3Cc#xx"
    assert bot.store.get(2).state == storage.REVEALED
