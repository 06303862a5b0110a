"""MFA made unavoidable: reminders with the clock moved, the MFA group's policy, and the bot's
own policy growing by exactly the guardrails' calls."""

import datetime as dt
import json

import pytest

import storage
from bot import blocks
from bot.cli import main
from commands import guardrails
from commands.iam import IamGateway
from commands.policy import allowed_operations, bot_policy, mfa_policy
from tests.support.faults import count_calls
from tests.support.stories import OWNER_DM, reveal_value, thread_texts

pytestmark = pytest.mark.e2e

T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc)


def nudges(slack):
    return [p for p in slack.of("chat.postMessage") if p.get("channel") == OWNER_DM and "no MFA device" in p["text"]
            + str(p.get("blocks"))]


def mfa_pass(bot):
    """What the MFA duty does every hour, once."""
    bot.run_duty("mfa")
    bot.settle()


def revealed_jane(make_bot, slack, now, **settings):
    bot = make_bot(clock=lambda: now[0], **settings)
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    assert bot.store.get(1).state == storage.REVEALED
    return bot


def test_a_user_without_mfa_is_reminded_once_a_day_after_the_grace_until_it_has_a_device(make_bot, slack, aws):
    now = [T0]
    bot = revealed_jane(make_bot, slack, now, iam_bot_mfa_grace="24h")
    checks = count_calls(bot.client, "ListMFADevices")
    now[0] = T0 + dt.timedelta(hours=23, minutes=59)
    mfa_pass(bot)
    assert nudges(slack) == [] and checks == []  # inside the grace nobody is asked

    now[0] = T0 + dt.timedelta(hours=24)
    mfa_pass(bot)
    [nudge] = nudges(slack)
    text = str(nudge["blocks"])
    assert "`jane.doe` has no MFA device yet" in text and "Assign MFA device" in text
    assert "https://123456789012.signin.aws.amazon.com/console" in text

    for hours in (25, 30, 47):  # the duty runs hourly; a reminder goes at most once a day
        now[0] = T0 + dt.timedelta(hours=hours)
        mfa_pass(bot)
    assert len(nudges(slack)) == 1

    now[0] = T0 + dt.timedelta(hours=48)
    mfa_pass(bot)
    assert len(nudges(slack)) == 2

    device = aws.create_virtual_mfa_device(VirtualMFADeviceName="jane.doe")["VirtualMFADevice"]
    aws.enable_mfa_device(UserName="jane.doe", SerialNumber=device["SerialNumber"],
                          AuthenticationCode1="123456", AuthenticationCode2="654321")
    now[0] = T0 + dt.timedelta(hours=49)
    mfa_pass(bot)
    assert any("<@U0JANE> turned on MFA for `jane.doe`" in t for t in thread_texts(slack))
    seen = len(checks)
    for days in (3, 4, 5):
        now[0] = T0 + dt.timedelta(days=days)
        mfa_pass(bot)
    assert len(nudges(slack)) == 2 and len(checks) == seen  # no more reminders, nor checks
    assert [e.what for e in bot.store.events(1)].count("mfa_nudged") == 2


def test_two_passes_at_the_same_moment_remind_once(make_bot, slack, aws):
    """As if two processes both thought they ran the duty: the second write finds the first."""
    now = [T0]
    bot = revealed_jane(make_bot, slack, now)
    now[0] = T0 + dt.timedelta(days=1)
    watch = bot.built.feature("mfa").domain
    first = watch.check()
    second = watch.check()
    bot.settle()
    assert first.nudged == [1] and second.nudged == [] and len(nudges(slack)) == 1


def test_a_user_with_no_console_or_never_revealed_is_not_reminded(make_bot, slack, aws):
    now = [T0]
    bot = make_bot(clock=lambda: now[0])
    bot.slash("U0ALICE", "create ci.bot Developers <@U0DAN> --no-console")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    now[0] = T0 + dt.timedelta(days=3)
    checks = count_calls(bot.client, "ListMFADevices")
    mfa_pass(bot)
    assert checks == [] and nudges(slack) == []


def test_a_removed_user_stops_being_watched(make_bot, slack, aws):
    now = [T0]
    bot = revealed_jane(make_bot, slack, now)
    aws.remove_user_from_group(UserName="jane.doe", GroupName="Developers")
    aws.delete_login_profile(UserName="jane.doe")
    aws.delete_user(UserName="jane.doe")
    now[0] = T0 + dt.timedelta(days=2)
    mfa_pass(bot)
    assert nudges(slack) == [] and bot.store.events(1)[-1].what == "mfa_watch_stopped"


def test_with_an_mfa_group_the_reminder_says_nothing_works_until_then(make_bot, slack, aws):
    aws.create_group(GroupName="ForceMFA")
    now = [T0]
    bot = revealed_jane(make_bot, slack, now, iam_bot_mfa_group="ForceMFA")
    now[0] = T0 + dt.timedelta(days=1)
    mfa_pass(bot)
    [nudge] = nudges(slack)
    assert "can do nothing but set up MFA" in str(nudge["blocks"]) and "`ForceMFA`" in str(nudge["blocks"])


# -- policies ------------------------------------------------------------------------

def test_iam_bot_policy_mfa_prints_the_mfa_groups_policy(capsys):
    assert main(["policy", "--mfa"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == mfa_policy()
    [deny] = [s for s in printed["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
    # Without MFA: set up a device, change the first password, get an MFA session; nothing else.
    assert {"iam:EnableMFADevice", "iam:CreateVirtualMFADevice", "iam:ChangePassword",
            "sts:GetSessionToken"} <= set(deny["NotAction"])
    assert not any(a.startswith(("s3:", "ec2:", "iam:CreateUser", "iam:Attach")) for a in deny["NotAction"])


GUARDRAIL_OPERATIONS = {"ListAttachedGroupPolicies", "ListGroupPolicies", "ListGroupsForUser", "ListMFADevices"}
BEFORE_GUARDRAILS = {"GetUser", "ListUserTags", "ListAccessKeys", "GetAccessKeyLastUsed", "CreateUser", "TagUser",
                     "CreateLoginProfile", "UpdateLoginProfile", "GetGroup", "AddUserToGroup", "ListGroups",
                     "GetAccountPasswordPolicy", "ListAccountAliases"}


def test_the_policy_grows_by_exactly_the_guardrails_calls():
    from tests.support.iam_source import operations_in_source

    grown = allowed_operations(bot_policy()) - BEFORE_GUARDRAILS
    # Other flows add their own actions; the guardrails add these four, each one called.
    assert GUARDRAIL_OPERATIONS <= grown and GUARDRAIL_OPERATIONS <= operations_in_source()


def test_a_key_request_for_a_member_of_a_sensitive_group_is_judged_from_the_users_groups(aws):
    """The rule is a function of the request: a key's user is judged by the groups it is in now."""
    aws.create_group(GroupName="Admins")
    aws.create_user(UserName="sam.sample")
    aws.add_user_to_group(UserName="sam.sample", GroupName="Admins")
    aws.create_group(GroupName="ForceMFA")
    aws.add_user_to_group(UserName="sam.sample", GroupName="ForceMFA")
    gateway = IamGateway(aws)
    calls = count_calls(aws, "ListGroupsForUser")
    key = storage.Request(id=7, user_name="sam.sample", groups=(), console=False, owner_id="U0DAN",
                          requester_id="U0DAN", team_id="T0", state=storage.PENDING, created_at=T0, updated_at=T0,
                          kind=guardrails.ACCESS_KEY)
    judged = guardrails.judge(gateway, guardrails.Guardrails(sensitive_groups=("admins",), mfa_group="ForceMFA"), key)
    assert judged["sensitive"] == {"Admins": guardrails.NAMED} and judged["approvals_needed"] == 2
    assert judged["mfa_session"] is True and calls == ["ListGroupsForUser"]
    plain = guardrails.judge(gateway, guardrails.Guardrails(), key)
    assert plain["sensitive"] == {} and "approvals_needed" not in plain
