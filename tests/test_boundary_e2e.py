"""The permissions boundary (IAM_BOT_PERMISSIONS_BOUNDARY), end to end: every user the bot creates
carries it, a missing one stops start-up and `rules check`, and the cards about an existing user
say when it lacks the boundary or has another. AWS is moto made AWS-like (bot/shell/awslike.py),
which keeps boundaries as AWS does (moto forgets them)."""

import json

import pytest

from bot import blocks
from bot.cli import check_boundary
from bot.rules_cli import check as rules_check
from bot.shell.awslike import make_aws_like
from commands.iam import IamGateway
from commands.settings import SettingsError, load_settings
from tests.support.stories import card_text, provision_jane

pytestmark = pytest.mark.e2e

DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:*", "logs:*"], "Resource": "*"}]})


def boundary(aws, name="iam-bot-boundary") -> str:
    return aws.create_policy(PolicyName=name, PolicyDocument=DOCUMENT)["Policy"]["Arn"]


def boundary_of(aws, user: str) -> str | None:
    return (aws.get_user(UserName=user)["User"].get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")


def test_every_user_the_bot_creates_carries_the_boundary(make_bot, aws):
    arn = boundary(aws)
    bot = make_bot(iam_bot_permissions_boundary=arn)
    provision_jane(bot)
    assert boundary_of(aws, "jane.doe") == arn
    [create] = [c for c in make_aws_like(bot.client).calls if c.operation == "CreateUser"]
    assert create.params["PermissionsBoundary"] == arn


def test_without_the_setting_users_are_made_as_before(bot, aws):
    provision_jane(bot)
    assert boundary_of(aws, "jane.doe") is None


def test_a_boundary_that_does_not_exist_fails_the_create_with_aws_words(make_bot, aws, slack):
    arn = "arn:aws:iam::123456789012:policy/not-there"
    bot = make_bot(iam_bot_permissions_boundary=arn)
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == "failed"
    assert any("not-there does not exist or is not attachable" in p.get("text", "")
               for p in slack.of("chat.postMessage") if p.get("thread_ts"))


def test_start_up_and_rules_check_refuse_a_missing_boundary(moto_url, aws, capsys):
    settings = lambda arn: load_settings(environment=False, iam_bot_approvals_channel="C0APPROVALS",  # noqa: E731
                                         iam_bot_approvers="U0BOB", iam_bot_permissions_boundary=arn)
    gateway = IamGateway(aws)
    arn = boundary(aws)
    check_boundary(settings(arn), gateway)  # exists: nothing to say
    missing = arn.replace("iam-bot-boundary", "typo-boundary")
    with pytest.raises(SettingsError, match="IAM_BOT_PERMISSIONS_BOUNDARY names .*typo-boundary, and AWS has no such"):
        check_boundary(settings(missing), gateway)
    env = {"IAM_BOT_APPROVERS": "U0BOB"}
    assert rules_check(None, {**env, "IAM_BOT_PERMISSIONS_BOUNDARY": arn}, iam=gateway) == 0
    assert f"Every permissions boundary exists ({arn})." in capsys.readouterr().out
    assert rules_check(None, {**env, "IAM_BOT_PERMISSIONS_BOUNDARY": missing}, iam=gateway) == 2
    assert "typo-boundary, and AWS has no such managed policy" in capsys.readouterr().err
    assert rules_check(None, {**env, "IAM_BOT_PERMISSIONS_BOUNDARY": "iam-bot-boundary"}, iam=gateway) == 2
    assert "IAM_BOT_PERMISSIONS_BOUNDARY is malformed: use a managed policy's ARN" in capsys.readouterr().err


def test_the_setting_must_be_a_policy_arn():
    with pytest.raises(SettingsError, match="IAM_BOT_PERMISSIONS_BOUNDARY is malformed"):
        load_settings(environment=False, iam_bot_approvals_channel="C0APPROVALS", iam_bot_approvers="U0BOB",
                      iam_bot_permissions_boundary="arn:aws:iam::123:role/x")


def test_cards_about_a_user_without_the_boundary_or_with_another_say_so(make_bot, aws, slack):
    arn, other = boundary(aws), boundary(aws, "older-boundary")
    for name, path in (("sam.old", "/people/"), ("kim.other", "/people/")):
        aws.create_user(UserName=name, Path=path, Tags=[{"Key": "iam-bot:owner-slack-id", "Value": "U0JANE"}])
    aws.put_user_permissions_boundary(UserName="kim.other", PermissionsBoundary=other)
    bot = make_bot(iam_bot_permissions_boundary=arn)
    # /iam keys: the listing says it.
    listing = bot.said(bot.slash("U0BOB", "keys sam.old").response_url)
    assert "`sam.old` has *no permissions boundary*" in listing and arn in listing
    # A key request's card, a reset's card, an add's card.
    bot.slash("U0ALICE", "create-key sam.old --reason CI for the billing repo")
    assert "`sam.old` has *no permissions boundary*" in card_text(slack, bot.store.get(1))
    bot.slash("U0ALICE", "reset-password kim.other")
    text = card_text(slack, bot.store.get(2))
    assert "permissions boundary is `" + other + "`, not `" + arn + "`" in text
    bot.slash("U0ALICE", "add kim.other ReadOnly --reason incident 42")
    assert "permissions boundary is `" + other in card_text(slack, bot.store.get(3))
    # A user the bot made with the boundary: no such line.
    aws.put_user_permissions_boundary(UserName="sam.old", PermissionsBoundary=arn)
    listing = bot.said(bot.slash("U0BOB", "keys sam.old").response_url)
    assert "boundary" not in listing


def test_the_audit_lists_the_users_the_bot_made_without_the_boundary(make_bot, aws, slack):
    from bot.shell.credential_report import ReportFiller

    arn = boundary(aws)
    bot = make_bot(iam_bot_permissions_boundary=arn)
    provision_jane(bot)
    bot.slash("U0ALICE", "create sam.smith Developers <@U0DAN|dan>")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    aws.create_user(UserName="not.ours", Path="/people/")
    aws.delete_user_permissions_boundary(UserName="jane.doe")  # as a user made before the boundary
    ReportFiller(bot.client, root_mfa=True, root_keys=0)
    response = bot.slash("U0BOB", "audit")
    said = "\n".join(str(r.get("blocks", "")) for r in bot.responses(response.response_url))
    [line] = [part for part in said.split("'text': '") if "without the permissions boundary" in part]
    assert "(1): `jane.doe`" in line and "sam.smith" not in line and "not.ours" not in line
