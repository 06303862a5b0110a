"""Guardrails, end to end over HTTP: what a group grants on the card, two approvers for a
sensitive request, the MFA group, and the alternatives to a user without a console."""


import pytest

import storage
from bot import blocks
from tests.support.faults import count_calls
from bot.shell.aws import add_aws_managed_policies
from tests.support.harness import APPROVALS

pytestmark = pytest.mark.e2e

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ACCOUNT = "123456789012"  # moto's account for the tests' credentials
MANAGED = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess", "AmazonEC2FullAccess", "AmazonS3ReadOnlyAccess",
           "AmazonSQSFullAccess", "AmazonSNSFullAccess", "AWSLambda_FullAccess", "CloudWatchReadOnlyAccess",
           "AmazonDynamoDBReadOnlyAccess")


@pytest.fixture(autouse=True)
def managed_policies(aws):
    """AWS's own managed policies, as every AWS account has them (moto's fresh account has none)."""
    add_aws_managed_policies(ACCOUNT, MANAGED)


def card_posts(slack):
    return [p for p in slack.of("chat.postMessage") if p.get("channel") == APPROVALS and not p.get("thread_ts")]


def card_updates(slack):
    return [p for p in slack.of("chat.update") if p.get("channel") == APPROVALS]


def buttons(payload):
    return [e["action_id"] for b in payload.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def text_of(payload) -> str:
    return str(payload["blocks"])


def approver_tag(aws, user):
    return {t["Key"]: t["Value"] for t in aws.list_user_tags(UserName=user)["Tags"]}["iam-bot:approver"]


@pytest.fixture
def admins(aws):
    """A group with AWS's AdministratorAccess attached: sensitive by policy."""
    aws.create_group(GroupName="Admins")
    aws.attach_group_policy(GroupName="Admins", PolicyArn=ADMIN)
    return "Admins"


# -- what a group grants, on the card ------------------------------------------------------

def test_the_card_shows_each_groups_policies_and_inline_policy_names(bot, slack, aws):
    aws.attach_group_policy(GroupName="Developers", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2FullAccess")
    aws.attach_group_policy(GroupName="Developers", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    aws.put_group_policy(GroupName="Developers", PolicyName="deploy-lambdas",
                         PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                                        '"Action": "lambda:UpdateFunctionCode", "Resource": "*"}]}')
    bot.slash("U0ALICE", "create jane.doe Developers ReadOnly")
    [card] = card_posts(slack)
    text = text_of(card)
    assert ("• `Developers`: policies `AmazonEC2FullAccess`, `AmazonS3ReadOnlyAccess`; inline `deploy-lambdas`"
            in text)
    assert "• `ReadOnly`: no policies (it grants nothing by itself)" in text
    assert "sensitive" not in text.lower() and "Needs a second person" in text


def test_past_five_policies_a_group_says_how_many_more(bot, slack, aws):
    for name in ("AmazonEC2FullAccess", "AmazonS3ReadOnlyAccess", "AmazonSQSFullAccess", "AmazonSNSFullAccess",
                 "AWSLambda_FullAccess", "CloudWatchReadOnlyAccess", "AmazonDynamoDBReadOnlyAccess"):
        aws.attach_group_policy(GroupName="Developers", PolicyArn=f"arn:aws:iam::aws:policy/{name}")
    bot.slash("U0ALICE", "create jane.doe Developers")
    [line] = [b["text"]["text"] for b in card_posts(slack)[0]["blocks"] if "• `Developers`" in str(b)]
    assert line.count("`Amazon") + line.count("`AWS") + line.count("`Cloud") == 5 and "and 2 more" in line


def test_a_group_with_an_admin_policy_is_marked_sensitive(bot, slack, aws, admins):
    response = bot.slash("U0ALICE", "create jane.doe Admins")
    text = text_of(card_posts(slack)[0])
    assert "`Admins` :rotating_light: *sensitive* (`AdministratorAccess` attached)" in text
    assert "Needs 2 different approvers" in text and "Needs two different approvers" in text
    assert "needs two different approvers" in bot.said(response.response_url)


def test_a_group_named_in_the_setting_is_sensitive(make_bot, slack, aws):
    bot = make_bot(iam_bot_sensitive_groups="readonly, Billing")
    bot.slash("U0ALICE", "create jane.doe Developers ReadOnly")
    text = text_of(card_posts(slack)[0])
    assert "`ReadOnly` :rotating_light: *sensitive* (named in IAM_BOT_SENSITIVE_GROUPS)" in text
    assert "`Developers`: no policies" in text
    assert bot.store.get(1).details["approvals_needed"] == 2


def test_a_customer_policy_named_like_an_admin_one_is_not_sensitive(bot, slack, aws):
    arn = aws.create_policy(PolicyName="AdministratorAccess", PolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}'
    ))["Policy"]["Arn"]
    aws.attach_group_policy(GroupName="Developers", PolicyArn=arn)
    bot.slash("U0ALICE", "create jane.doe Developers")
    text = text_of(card_posts(slack)[0])
    assert "policies `AdministratorAccess`" in text and "sensitive" not in text.lower()
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED


# -- two approvers ---------------------------------------------------------------------

def test_a_sensitive_request_needs_two_different_approvers(bot, slack, aws, admins):
    bot.slash("U0ALICE", "create jane.doe Admins")
    first = bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert "recorded (1 of 2)" in bot.said(first.response_url)
    assert bot.store.get(1).state == storage.PENDING
    with pytest.raises(aws.exceptions.NoSuchEntityException):
        aws.get_user(UserName="jane.doe")
    card = card_updates(slack)[-1]
    assert "*1 of 2 approvals:* <@U0BOB>" in text_of(card)
    assert buttons(card) == [blocks.ACTION_APPROVE, blocks.ACTION_DENY]  # still waiting for a decision

    again = bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert "you already approved it" in bot.said(again.response_url)
    assert bot.store.get(1).state == storage.PENDING
    assert bot.store.events(1)[-1].what == "refused:already_approved"

    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED
    assert "Approved by <@U0BOB> and <@U0CAROL>" in text_of(card_updates(slack)[-1])
    assert approver_tag(aws, "jane.doe") == "U0BOB U0CAROL"
    assert [e.what for e in bot.store.events(1)][:5] == ["filed", "card_sent", "approval", "refused:already_approved", "approved"]


def test_deny_after_one_approval_ends_it(bot, slack, aws, admins):
    bot.slash("U0ALICE", "create jane.doe Admins")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    bot.click("U0CAROL", blocks.ACTION_DENY, 1)
    bot.submit_deny("U0CAROL", 1, "Admins only after the security training")
    request = bot.store.get(1)
    assert request.state == storage.DENIED and request.decider_id == "U0CAROL"
    card = card_updates(slack)[-1]
    assert buttons(card) == [] and "Denied by <@U0CAROL>" in text_of(card)
    late = bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert "already denied" in bot.said(late.response_url)
    with pytest.raises(aws.exceptions.NoSuchEntityException):
        aws.get_user(UserName="jane.doe")


@pytest.mark.parametrize("command", ["create jane.doe Developers", "reset-password pat.fox"])
def test_sensitivity_is_judged_again_when_approving(bot, slack, aws, command):
    """The groups are read afresh at each approval (a reset: the user's current groups): made
    an admin group since filing, the request needs two."""
    if command.startswith("reset-password"):
        aws.create_user(UserName="pat.fox", Path="/people/",
                        Tags=[{"Key": "iam-bot:owner-slack-id", "Value": "U0DAN"}])
        aws.create_login_profile(UserName="pat.fox", Password="Seeded-Password-1!", PasswordResetRequired=True)
        aws.add_user_to_group(UserName="pat.fox", GroupName="Developers")
    bot.slash("U0ALICE", command)
    assert "sensitive" not in text_of(card_posts(slack)[0]).lower()
    aws.attach_group_policy(GroupName="Developers", PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    request = bot.store.get(1)
    assert request.state == storage.PENDING and request.details["sensitive"] == {"Developers": "IAMFullAccess"}
    assert "*1 of 2 approvals:* <@U0BOB>" in text_of(card_updates(slack)[-1])
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED


def test_fifty_clicks_from_two_approvers_make_one_user_and_two_approvals(bot, aws, admins):
    bot.slash("U0ALICE", "create jane.doe Admins")
    creates = count_calls(bot.client, "CreateUser")
    statuses = bot.clicks_at_once(["U0BOB" if i % 2 else "U0CAROL" for i in range(50)], blocks.ACTION_APPROVE, "1")
    assert statuses == [200] * 50
    assert creates == ["CreateUser"]
    approvals = [e for e in bot.store.events(1) if e.what in ("approval", "approved")]
    assert sorted(e.what for e in approvals) == ["approval", "approved"]
    assert {e.actor_id for e in approvals} == {"U0BOB", "U0CAROL"}
    request = bot.store.get(1)
    assert request.state == storage.PROVISIONED and len(request.details["approvals"]) == 2
    assert sorted(approver_tag(aws, "jane.doe").split()) == ["U0BOB", "U0CAROL"]


# -- the MFA group ---------------------------------------------------------------------

def test_a_console_user_also_joins_the_mfa_group(make_bot, slack, aws):
    aws.create_group(GroupName="ForceMFA")
    bot = make_bot(iam_bot_mfa_group="ForceMFA")
    bot.slash("U0ALICE", "create jane.doe Developers")
    assert "`ForceMFA`: the MFA group" in text_of(card_posts(slack)[0])
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    groups = {g["GroupName"] for g in aws.list_groups_for_user(UserName="jane.doe")["Groups"]}
    assert groups == {"Developers", "ForceMFA"}
    # A programmatic user has no console to protect with it.
    bot.slash("U0ALICE", "create ci.bot Developers <@U0DAN> --no-console")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert {g["GroupName"] for g in aws.list_groups_for_user(UserName="ci.bot")["Groups"]} == {"Developers"}


def test_with_an_mfa_group_at_most_nine_groups_may_be_asked_for(make_bot, aws):
    names = [f"Team{i}" for i in range(10)]
    for name in names + ["ForceMFA"]:
        aws.create_group(GroupName=name)
    bot = make_bot(iam_bot_mfa_group="ForceMFA")
    response = bot.slash("U0ALICE", "create jane.doe " + " ".join(names))
    said = bot.said(response.response_url)
    assert "also joins the MFA group `ForceMFA`" in said and "name at most 9; you named 10" in said
    assert bot.store.find(1) is None
    ok = bot.slash("U0ALICE", "create jane.doe " + " ".join(names[:9]))
    assert "Request #1 filed" in bot.said(ok.response_url)


def test_a_missing_mfa_group_is_said_before_anything_is_filed(make_bot, aws):
    bot = make_bot(iam_bot_mfa_group="ForceMFA")
    response = bot.slash("U0ALICE", "create jane.doe Developers")
    assert "AWS has no such group" in bot.said(response.response_url)
    assert bot.store.find(1) is None


# -- when not to make a user -------------------------------------------------------------

def test_a_programmatic_user_is_answered_and_carded_with_the_alternatives(bot, slack):
    response = bot.slash("U0ALICE", "create ci.bot Developers <@U0DAN> --no-console")
    said = bot.said(response.response_url)
    card = text_of(card_posts(slack)[0])
    for alternative in ("*IAM role*", "*OIDC federation*", "*IAM Identity Center*"):
        assert alternative in said and alternative in card
    plain = bot.slash("U0ALICE", "create jane.doe Developers")
    assert "OIDC" not in bot.said(plain.response_url)


def test_a_voided_first_approval_counts_no_more(bot, slack, aws, admins):
    """Offboarding voids a leaver's half of a decision: the next approver is then only the first."""
    bot.slash("U0ALICE", "create jane.doe Admins")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    request = bot.store.get(1)
    voided = [dict(a, voided=True) for a in request.details["approvals"]]
    bot.store.transition(1, from_states=[storage.PENDING], to_state=storage.PENDING, actor_id=None,
                         what="approval_voided", now=request.updated_at, details={**request.details, "approvals": voided})
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PENDING
    assert "*1 of 2 approvals:* <@U0CAROL>" in text_of(card_updates(slack)[-1])


def test_a_key_for_a_member_of_a_sensitive_group_needs_two_approvers_and_says_so_on_its_card(make_bot, slack, aws):
    """Guardrails and access keys together: the card says two approvers (and an MFA session) from the start."""
    from tests.support.harness import APPROVALS
    bot = make_bot(iam_bot_sensitive_groups="Developers", iam_bot_mfa_group="Developers")
    aws.create_user(UserName="ci.robot", Path="/people/",
                    Tags=[{"Key": "iam-bot:owner-slack-id", "Value": "U0DAN"}])
    aws.add_user_to_group(UserName="ci.robot", GroupName="Developers")
    response = bot.slash("U0ALICE", "create-key ci.robot --reason deploys from CI")
    assert "filed" in bot.said(response.response_url).lower()
    [card] = [p for p in slack.of("chat.postMessage") if p.get("channel") == APPROVALS and not p.get("thread_ts")]
    text = str(card["blocks"])
    assert "two different approvers" in text.lower() or "2 approvals" in text
    assert "MFA session" in text or "get-session-token" in text
    request = bot.store.get(1)
    bot.click("U0BOB", "iam_approve")
    assert bot.store.get(1).state == "pending"  # one of two
    bot.click("U0CAROL", "iam_approve")
    assert bot.store.get(1).state == "provisioned"
    assert request.details.get("approvals_needed") == 2


# -- a new password for a member of a sensitive group ---------------------------------------

@pytest.mark.parametrize("command, has_password, reveal", [
    ("reset-password pat.fox", True, "Reveal password"),
    ("enable pat.fox", False, "Reveal password"),
    ("create-key pat.fox --reason deploys", True, "Reveal access key"),
])
def test_a_new_credential_for_an_admin_needs_two_approvers_like_a_create_into_admins(bot, slack, aws, admins,
                                                                                  command, has_password, reveal):
    """A console password or a key for a member of Admins is a way into Admins: two approvers, said on the card."""
    aws.create_user(UserName="pat.fox", Path="/people/", Tags=[{"Key": "iam-bot:owner-slack-id", "Value": "U0DAN"}])
    aws.add_user_to_group(UserName="pat.fox", GroupName="Admins")
    if has_password:
        aws.create_login_profile(UserName="pat.fox", Password="Seeded-Password-1!", PasswordResetRequired=True)
    response = bot.slash("U0ALICE", command)
    assert "needs two different approvers" in bot.said(response.response_url)
    card = text_of(card_posts(slack)[0])
    assert "*Sensitive:* `Admins`. Needs 2 different approvers." in card and "Needs two different approvers" in card

    first = bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert "recorded (1 of 2)" in bot.said(first.response_url)
    assert bot.store.get(1).state == storage.PENDING
    assert "*1 of 2 approvals:* <@U0BOB>" in text_of(card_updates(slack)[-1])
    assert [p for p in slack.of("chat.postMessage") if p.get("channel") == "D0DAN"] == []  # no Reveal yet

    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED
    assert "Approved by <@U0BOB> and <@U0CAROL>" in text_of(card_updates(slack)[-1])
    [dm] = [p for p in slack.of("chat.postMessage") if p.get("channel") == "D0DAN"]
    assert reveal in str(dm["blocks"])

