"""Several AWS accounts end to end (issue 23): `--account staging` on the commands, through the
real HTTP path, the strict Slack stand-in and moto's server, where 123456789012 is the bot's own
account (the default, `prod`) and 222222222222 is reached by assuming its role with an external
id (the AWS-like STS refuses what AWS would)."""

import datetime as dt
import json

import boto3
import pytest

import storage
from bot import blocks, export_cli
from bot.features.reviews import ACTION_REMOVE
from tests.support.faults import Fault
from tests.support.grants import T0
from tests.support.harness import APPROVALS
from tests.support.home import home_text, open_home, press_home, wait_for_home
from commands.trail import record
from tests.support.stories import card_text, dms_to_jane, reveal_value, thread_texts

pytestmark = pytest.mark.e2e

HUB, SPOKE = "123456789012", "222222222222"
ROLE = f"arn:aws:iam::{SPOKE}:role/iam-bot"
EXTERNAL_ID = "staging-4f1c"
APPROVERS = '["U0BOB", "U0FAR", "U0ALICE", "U0JANE", "S0ADMINS"]'


def in_account(moto_url, account: str):
    """An IAM client acting in `account` (moto names an account by the credentials of a role in it)."""
    raw = boto3.client("sts", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    peek = raw.assume_role(RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup")["Credentials"]
    return boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id=peek["AccessKeyId"],
                        aws_secret_access_key=peek["SecretAccessKey"], aws_session_token=peek["SessionToken"])


def rules_file(tmp_path, external_id=EXTERNAL_ID, extra=""):
    path = tmp_path / "rules.toml"
    path.write_text(f"""
[defaults]
approvers = {APPROVERS}

[[account]]
name = "prod"
default = true

[[account]]
name = "staging"
role_arn = "{ROLE}"
external_id = "{external_id}"
user_path = "/people/"
{extra}
""")
    return str(path)


@pytest.fixture
def spoke(moto_url, aws):
    iam = in_account(moto_url, SPOKE)
    iam.create_role(RoleName="iam-bot", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{HUB}:root"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}]}))
    for group in ("Developers", "ReadOnly"):
        iam.create_group(GroupName=group)
    return iam


def user_in(iam, name="jane.doe"):
    try:
        return iam.get_user(UserName=name)["User"]
    except iam.exceptions.NoSuchEntityException:
        return None


def test_create_key_grant_and_removal_in_the_second_account(make_bot, spoke, aws, slack, tmp_path):
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path))
    # Create.
    filed = bot.slash("U0ALICE", "create jane.doe Developers --account staging")
    assert "Request #1 filed" in bot.said(filed.response_url)
    assert "AWS account *staging*" in card_text(slack, bot.store.get(1))
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    request = bot.store.get(1)
    assert request.state == storage.PROVISIONED and request.account == "staging"
    made = user_in(spoke)
    assert made["Arn"] == f"arn:aws:iam::{SPOKE}:user/people/jane.doe" and user_in(aws) is None
    tags = {t["Key"]: t["Value"] for t in spoke.list_user_tags(UserName="jane.doe")["Tags"]}
    assert tags["iam-bot:request-id"] == "1"
    assert [g["GroupName"] for g in spoke.list_groups_for_user(UserName="jane.doe")["Groups"]] == ["Developers"]
    # The DM's sign-in URL is the second account's; the trail names the account and the session.
    assert any(f"https://{SPOKE}.signin.aws.amazon.com/console" in str(p) for p in dms_to_jane(slack))
    session = f"arn:aws:sts::{SPOKE}:assumed-role/iam-bot/iam-bot"
    steps = [e for e in bot.store.events(1) if e.what.startswith("step:")]
    assert steps and all(e.detail == f"as {session}" for e in steps)
    lines = [record(event) for event in bot.store.trail() if event.request_id == 1]
    assert lines and all(line["account"] == "staging" for line in lines)
    # The password reveal sets the password in the second account.
    jane = bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel="D0JANE")
    assert "password" in bot.said(jane.response_url).lower()
    assert spoke.get_login_profile(UserName="jane.doe")["LoginProfile"]["PasswordResetRequired"]
    # A key.
    bot.slash("U0ALICE", "create-key jane.doe --reason CI for the billing repo --account staging")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert bot.store.get(2).state == storage.PROVISIONED
    key = bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack, "Reveal access key"), channel="D0JANE")
    assert "Access key id" in bot.said(key.response_url)
    assert len(spoke.list_access_keys(UserName="jane.doe")["AccessKeyMetadata"]) == 1
    # A grant.
    bot.slash("U0ALICE", "add jane.doe ReadOnly --reason incident 42 --account staging")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 3)
    assert bot.store.get(3).state == storage.PROVISIONED
    assert {g["GroupName"] for g in spoke.list_groups_for_user(UserName="jane.doe")["Groups"]} == {"Developers", "ReadOnly"}
    # The removal.
    bot.slash("U0ALICE", "remove jane.doe --reason left the team --account staging")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 4)
    assert bot.store.get(4).state == storage.PROVISIONED
    assert user_in(spoke) is None


def test_an_unknown_account_is_refused_with_the_names_and_nothing_changes(make_bot, spoke, tmp_path):
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path))
    response = bot.slash("U0ALICE", "create jane.doe Developers --account sandbox")
    said = response.json()["text"]
    assert "No AWS account is named `sandbox`" in said and "`prod`" in said and "`staging`" in said
    assert bot.store.in_states(storage.LIVE_STATES) == []
    from bot.router import help_message
    from commands.parse import Parser

    usage = str(help_message(Parser([], accounts=("prod", "staging"))))
    assert "`--account <name>` after any command: the AWS account it is about (prod, staging; default prod)" in usage


def test_without_accounts_the_option_is_refused(bot):
    said = bot.slash("U0ALICE", "keys jane.doe --account staging").json()["text"]
    assert "leave out `--account`" in said


def test_a_role_that_cannot_be_assumed_says_aws_words(make_bot, spoke, tmp_path):
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path, external_id="not-the-one"))
    response = bot.slash("U0ALICE", "create jane.doe Developers --account staging")
    said = bot.said(response.response_url)
    assert "Could not assume the role of account staging" in said, said
    assert bot.store.in_states(storage.LIVE_STATES) == []
    # The default account works as ever.
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED and bot.store.get(1).account is None


def trust(spoke, external_id):
    spoke.update_assume_role_policy(RoleName="iam-bot", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{HUB}:root"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]}))


def test_a_role_refused_at_approval_says_aws_words_and_changes_nothing(make_bot, spoke, slack, tmp_path):
    """The approval judges the request again in its account (what its groups grant): a role AWS
    stopped letting the bot assume is said to the approver, and the request waits."""
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path))
    bot.slash("U0ALICE", "create jane.doe Developers --account staging")
    trust(spoke, "rotated-id")  # the role stops trusting the bot's external id
    bot.services.accounts.forget("staging")  # as when the held session has run out
    response = bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    said = bot.said(response.response_url)
    assert "Could not assume the role of account staging" in said, said
    assert bot.store.get(1).state == storage.PENDING and user_in(spoke) is None
    trust(spoke, EXTERNAL_ID)  # the operator puts the external id back
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED and user_in(spoke) is not None


def test_credentials_that_expire_at_provisioning_fail_the_request_and_retry_assumes_again(make_bot, spoke, slack,
                                                                                          tmp_path):
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path))
    bot.slash("U0ALICE", "create jane.doe Developers --account staging")
    held = bot.services.accounts.session("staging")
    Fault(held.gateway.client, "CreateUser", "ExpiredToken", status=403, times=1)
    assumed = bot.services.accounts.assumed
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    failed = bot.store.get(1)
    assert failed.state == storage.FAILED and "expired" in failed.failure
    assert any("Provisioning of `jane.doe` stopped" in t and "ExpiredToken" in t for t in thread_texts(slack))
    bot.click("U0BOB", blocks.ACTION_RETRY, 1)
    assert bot.store.get(1).state == storage.PROVISIONED and user_in(spoke) is not None
    assert bot.services.accounts.assumed == assumed + 1  # the stale session was dropped, a new one asked for


def test_a_leaver_with_users_in_two_accounts_gets_a_removal_in_each(make_bot, spoke, aws, slack, tmp_path):
    from tests.support.stories import leaves, send, user_change

    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path))
    bot.slash("U0ALICE", "create jane.doe Developers")  # the default account: the store knows it
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    spoke.create_user(UserName="jane.doe", Path="/people/")  # staging: named after her e-mail, made by hand
    calls = []
    spoke_client = bot.services.accounts.session("staging").gateway.client
    spoke_client.meta.events.register("before-call.iam.GetUser", lambda **_: calls.append(1))
    leaves(slack, "U0JANE")
    assert send(bot, user_change("Ev01")).status_code == 200
    removals = {r.account: r for r in bot.store.for_user_name("jane.doe") if r.kind == "remove"}
    assert set(removals) == {None, "staging"}
    assert all(r.state == storage.PENDING and r.owner_id == "U0JANE" for r in removals.values())
    assert len(calls) == 1  # one GetUser in the second account: the e-mail-named user
    assert "AWS account *staging*" in card_text(slack, removals["staging"])
    for removal in removals.values():
        bot.click("U0BOB", blocks.ACTION_APPROVE, removal.id, message_ts=removal.card_ts)
    assert user_in(aws) is None and user_in(spoke) is None


def test_audit_of_an_account_whose_role_cannot_be_assumed_says_so(make_bot, spoke, slack, tmp_path):
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path, external_id="not-the-one"))
    response = bot.slash("U0BOB", "audit --account staging")
    said = bot.said(response.response_url)
    assert "Could not assume the role of account staging" in said, said
    # The default account's audit is as ever (/healthz reads the store alone: an account's trouble is not the bot's).
    from bot.shell.credential_report import ReportFiller

    ReportFiller(bot.client, root_mfa=True, root_keys=0)
    said = str(bot.responses(bot.slash("U0BOB", "audit").response_url))
    assert "Credential audit of the AWS account*" in said


def test_key_buttons_under_a_listing_in_the_second_account_act_there(make_bot, spoke, slack, tmp_path):
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path))
    spoke.create_user(UserName="sam.ci", Path="/people/", Tags=[{"Key": "iam-bot:owner-slack-id", "Value": "U0JANE"}])
    key_id = spoke.create_access_key(UserName="sam.ci")["AccessKey"]["AccessKeyId"]
    listing = bot.slash("U0BOB", "keys sam.ci --account staging")
    [shown] = [r for r in bot.responses(listing.response_url) if r.get("blocks")]
    [value] = {e["value"] for b in shown["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert value == f"{key_id} sam.ci staging"
    bot.click("U0BOB", "iam_key_deactivate", value)
    assert spoke.list_access_keys(UserName="sam.ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"


def test_an_accounts_approvals_channel_takes_its_cards(make_bot, spoke, slack, tmp_path):
    slack.channels["C0STAGING"] = "staging-approvals"
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path, extra='approvals_channel = "C0STAGING"'))
    filed = bot.slash("U0ALICE", "create jane.doe Developers --account staging")
    assert "<#C0STAGING>" in str(bot.responses(filed.response_url))
    [card] = [p for p in slack.of("chat.postMessage") if p.get("channel") == "C0STAGING" and not p.get("thread_ts")]
    assert "AWS account *staging*" in str(card["blocks"])
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1, channel="C0STAGING", message_ts=bot.store.get(1).card_ts)
    assert bot.store.get(1).state == storage.PROVISIONED
    assert any(p.get("channel") == "C0STAGING" and p.get("thread_ts") for p in slack.of("chat.postMessage"))
    # The default account's cards stay in IAM_BOT_APPROVALS_CHANNEL.
    bot.slash("U0ALICE", "create dan.dev Developers <@U0DAN>")
    assert bot.store.get(2).card_channel == "C0APPROVALS"


def test_the_home_reads_a_second_accounts_user_there_and_its_key_buttons_act_there(make_bot, spoke, aws, tmp_path):
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path))
    bot.slash("U0ALICE", "create jane.doe Developers --account staging")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED
    key = spoke.create_access_key(UserName="jane.doe")["AccessKey"]["AccessKeyId"]
    # A same-named user in the default account the bot did not make: the home never shows it.
    aws.create_user(UserName="jane.doe")
    other = aws.create_access_key(UserName="jane.doe")["AccessKey"]["AccessKeyId"]
    open_home(bot, "U0JANE")
    text = home_text(bot, "U0JANE")
    assert "*`jane.doe`* in AWS account *staging*" in text and "`Developers`" in text
    assert key in text and other not in text
    press_home(bot, "U0JANE", "Deactivate")
    [meta] = spoke.list_access_keys(UserName="jane.doe")["AccessKeyMetadata"]
    assert (meta["AccessKeyId"], meta["Status"]) == (key, "Inactive")
    [untouched] = aws.list_access_keys(UserName="jane.doe")["AccessKeyMetadata"]
    assert untouched["Status"] == "Active"
    wait_for_home(bot, "U0JANE", lambda text: "Inactive" in text and "[Activate]" in text)
    assert not bot.slack.refusals()


REVIEWED = """
[[group]]
name = "Developers"
account = "staging"
reviewers = ["U0BOB", "U0FAR"]
on_deadline = "remove"
review_deadline = "7d"
"""


def test_an_access_review_of_the_second_account_reads_decides_and_acts_there(make_bot, spoke, aws, tmp_path,
                                                                             monkeypatch, capsys):
    now = [T0]
    bot = make_bot(clock=lambda: now[0], iam_bot_rules_file=rules_file(tmp_path, extra=REVIEWED))
    for name, path in (("dev1", "/people/"), ("dev2", "/people/"), ("robot", "/service/")):
        spoke.create_user(UserName=name, Path=path)
        spoke.add_user_to_group(UserName=name, GroupName="Developers")
    aws.create_user(UserName="dev9")  # the default account's Developers: not this review's
    aws.add_user_to_group(UserName="dev9", GroupName="Developers")
    response = bot.slash("U0BOB", "review start Developers --account staging")
    answer = response.json().get("text", "") + bot.said(response.response_url)
    assert "Access review #1 in AWS account *staging* started: `Developers` (3)" in answer
    assert bot.store.campaign(1).account == "staging"
    assert [i.user_name for i in bot.store.review_items(1, "Developers")] == ["dev1", "dev2", "robot"]
    [card] = [m for m in bot.slack.messages(APPROVALS) if m.text.startswith("Access review #1: ")]
    assert card.text == "Access review #1: Developers in staging, 3 members"
    assert "in AWS account *staging*" in str(card.blocks)
    # A reviewer's Remove takes the member out in the second account, not in the default one.
    [dev1] = [i for i in bot.store.review_items(1, "Developers") if i.user_name == "dev1"]
    removed = bot.click("U0BOB", ACTION_REMOVE, dev1.id, message_ts=card.ts)
    assert "you removed it" in bot.said(removed.response_url)
    assert spoke.list_groups_for_user(UserName="dev1")["Groups"] == []
    assert [g["GroupName"] for g in aws.list_groups_for_user(UserName="dev9")["Groups"]] == ["Developers"]
    # The deadline removes dev2 there; robot is outside the account's user_path (/people/): left alone.
    now[0] = T0 + dt.timedelta(days=8)
    bot.run_duty("reviews")
    bot.settle()
    decided = {i.user_name: (i.decision, i.note) for i in bot.store.review_items(1, "Developers")}
    assert decided == {"dev1": ("removed", None), "dev2": ("deadline_removed", None),
                       "robot": ("left_alone", "user_outside_path")}
    assert spoke.list_groups_for_user(UserName="dev2")["Groups"] == []
    assert [g["GroupName"] for g in spoke.list_groups_for_user(UserName="robot")["Groups"]] == ["Developers"]
    assert [g["GroupName"] for g in aws.list_groups_for_user(UserName="dev9")["Groups"]] == ["Developers"]
    [closing] = [p for p in bot.slack.of("chat.postMessage") if p.get("text") == "Access review #1 closed"]
    assert "Access review #1 in AWS account *staging* closed" in str(closing["blocks"])
    # The evidence names the account.
    monkeypatch.setenv("DATABASE_URL", bot.settings.database_url)
    assert export_cli.main(["--reviews", "--campaign", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3 and {line["account"] for line in lines} == {"staging"}
    assert not bot.slack.refusals()


def test_the_scheduled_audit_reports_each_account_once_a_period(make_bot, spoke, aws, tmp_path):
    now = [dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_audit_every="7d", iam_bot_rules_file=rules_file(tmp_path))
    spoke.create_user(UserName="stage.only", Path="/people/")

    def reports():
        return [str(p["blocks"]) for p in bot.slack.of("chat.postMessage")
                if "Scheduled credential audit" in p.get("text", "")]

    for _ in range(2):  # a second pass in the same period posts nothing more
        bot.run_duty("scheduled_audit")
        bot.settle()
        assert len(reports()) == 2
    [staging] = [r for r in reports() if "of the AWS account staging*" in r]
    [default] = [r for r in reports() if "of the AWS account*" in r]
    assert "1 IAM user." in staging and default != staging


SCHEDULED = """
[[group]]
name = "Developers"
account = "staging"
review_every = "30d"

[[group]]
name = "ReadOnly"
review_every = "30d"
"""


def test_a_scheduled_review_runs_in_the_account_its_rule_names_else_in_the_default(make_bot, spoke, aws, tmp_path):
    now = [T0]
    bot = make_bot(clock=lambda: now[0], iam_bot_rules_file=rules_file(tmp_path, extra=SCHEDULED))
    spoke.create_user(UserName="dev1", Path="/people/")
    spoke.add_user_to_group(UserName="dev1", GroupName="Developers")
    aws.create_user(UserName="ro1")
    aws.add_user_to_group(UserName="ro1", GroupName="ReadOnly")
    bot.run_duty("reviews")
    bot.settle()
    campaigns = {c.account: c for c in (bot.store.campaign(n) for n in (1, 2)) if c is not None}
    assert set(campaigns) == {"staging", None}
    assert [h["group"] for h in campaigns["staging"].groups] == ["Developers"]
    assert [i.user_name for i in bot.store.review_items(campaigns["staging"].id, "Developers")] == ["dev1"]
    assert [h["group"] for h in campaigns[None].groups] == ["ReadOnly"]
    assert [i.user_name for i in bot.store.review_items(campaigns[None].id, "ReadOnly")] == ["ro1"]
    texts = sorted(m.text for m in bot.slack.messages(APPROVALS) if m.text.startswith("Access review #"))
    assert any(t.endswith(": Developers in staging, 1 member") for t in texts)
    assert any(t.endswith(": ReadOnly in prod, 1 member") for t in texts)
    bot.run_duty("reviews")  # not due again until its period has passed
    bot.settle()
    assert bot.store.campaign(3) is None


def test_a_second_accounts_grant_on_the_home_ends_there_with_im_done(make_bot, spoke, aws, tmp_path):
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path))
    # Request #1 is of the default account: grant #1's number is no request number of its account.
    bot.slash("U0ALICE", "create jane.doe ReadOnly")
    bot.slash("U0ALICE", "cancel 1")
    assert bot.store.get(1).state == storage.CANCELLED and bot.store.get(1).account is None
    bot.slash("U0ALICE", "create jane.doe Developers --account staging")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    bot.slash("U0ALICE", "add jane.doe ReadOnly --for 2h --reason incident 42 --account staging")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 3)
    assert bot.store.get(3).state == storage.PROVISIONED
    assert {g["GroupName"] for g in spoke.list_groups_for_user(UserName="jane.doe")["Groups"]} == {
        "Developers", "ReadOnly"}
    open_home(bot, "U0JANE")
    text = home_text(bot, "U0JANE")
    assert "In `ReadOnly` until" in text and "(request #3)" in text and "[I'm done]" in text
    press_home(bot, "U0JANE", "I'm done")
    assert [g["GroupName"] for g in spoke.list_groups_for_user(UserName="jane.doe")["Groups"]] == ["Developers"]
    assert bot.store.live_grants("jane.doe") == []


def test_one_user_per_person_holds_per_account(make_bot, spoke, aws, tmp_path):
    bot = make_bot(iam_bot_rules_file=rules_file(tmp_path))
    bot.slash("U0ALICE", "create jane.doe ReadOnly")  # request #1, waiting, in the default account
    filed = bot.slash("U0ALICE", "create jane.doe Developers --account staging")
    assert "Request #2 filed" in bot.said(filed.response_url)
    assert bot.store.get(2).account == "staging"
    again = bot.slash("U0ALICE", "create jane.d Developers <@U0JANE> --account staging")
    assert "already has request #2" in bot.said(again.response_url)
