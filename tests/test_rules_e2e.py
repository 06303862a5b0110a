"""Approval rules from a file (issue 19), end to end over signed HTTP with the strict Slack stand-in
and moto: per-group approvers and thresholds on creates, key requests, resets and enables (one
security person's click counts for two groups; a dev lead cannot approve Admins), deny at filing
and at approval, `/iam who-approves`, who is an approver away from a card, and start-up."""

import pytest

import storage
from bot import blocks
from commands import workflow
from commands.rules import Person
from bot.cli import main as cli_main
from bot.rules_cli import check
from bot.shell.aws import add_aws_managed_policies
from tests.support.fake_slack import TEAM
from tests.support.faults import Fault, record_calls
from tests.support.harness import APPROVALS

pytestmark = pytest.mark.e2e

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
RULES = """
[defaults]
approvers = ["U0BOB"]

[[group]]
name = "Admins"
approvers = ["S0SECURITY"]
approvals = 2

[[group]]
name = "Developers"
approvers = ["S0DEVLEADS"]

[[group]]
name = "Payroll"
max_duration = "8h"

[[deny]]
groups = ["BillingAdmins"]
reason = "Ask in #security; not through chat."
"""
# carol is in security and a dev lead, bob in security (and the defaults), dan a dev lead only.
USER_GROUPS = {"S0SECURITY": ["U0CAROL", "U0BOB"], "S0DEVLEADS": ["U0DAN", "U0CAROL"], "S0ADMINS": ["U0CAROL"]}


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return str(path)


@pytest.fixture
def bot(make_bot, slack, aws, rules_file):
    add_aws_managed_policies("123456789012", ("AdministratorAccess",))  # moto's account has none
    slack.usergroups.update(USER_GROUPS)
    for group in ("Admins", "BillingAdmins"):
        aws.create_group(GroupName=group)
    return make_bot(iam_bot_rules_file=rules_file, iam_bot_approvers="")


def cards(slack):
    return [p for p in slack.of("chat.postMessage") if p.get("channel") == APPROVALS and not p.get("thread_ts")]


def last_card(slack) -> str:
    updates = [p for p in slack.of("chat.update") if p.get("channel") == APPROVALS]
    return str((updates or cards(slack))[-1]["blocks"])


def said(bot, response) -> str:
    return bot.said(response.response_url)


def existing_user(aws, name, *groups, password=True):
    aws.create_user(UserName=name, Path="/people/")
    for group in groups:
        aws.add_user_to_group(UserName=name, GroupName=group)
    if password:
        aws.create_login_profile(UserName=name, Password="Some-password-1Aa!", PasswordResetRequired=True)


# -- creates ---------------------------------------------------------------------------------

def test_one_security_click_counts_for_two_groups_and_a_dev_lead_cannot_approve_admins(bot, slack, aws):
    filed = bot.slash("U0ALICE", "create jane.doe Admins Developers")
    assert "Request #1" in said(bot, filed)
    card = str(cards(slack)[-1]["blocks"])
    assert "`Admins`: 0 of 2 from <!subteam^S0SECURITY>" in card
    assert "`Developers`: 0 of 1 from <!subteam^S0DEVLEADS>" in card

    first = bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)  # security and a dev lead: counts for both
    answer = said(bot, first)
    assert "recorded (1 of 2)" in answer and "It waits for `Admins`: 1 of 2 from <!subteam^S0SECURITY>" in answer
    assert "`Developers`: 1 of 1" in last_card(slack) and "`Admins`: 1 of 2" in last_card(slack)

    dan = bot.click("U0DAN", blocks.ACTION_APPROVE, 1)  # a dev lead: Developers has its approval already
    assert "the groups you approve for have their approvals already" in said(bot, dan)
    assert "It waits for `Admins`: 1 of 2 from <!subteam^S0SECURITY>" in said(bot, dan)
    alice = bot.click("U0ALICE", blocks.ACTION_APPROVE, 1)
    assert "you asked for it" in said(bot, alice)
    assert bot.store.get(1).state == storage.PENDING

    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)  # security: Admins has its two
    request = bot.store.get(1)
    assert request.state == storage.PROVISIONED
    assert {g["GroupName"] for g in aws.list_groups_for_user(UserName="jane.doe")["Groups"]} == {"Admins", "Developers"}
    events = {e.what: e.detail for e in bot.store.events(1)}
    assert events["approval"] == "1 of 2; group Admins, group Developers"
    assert events["approved"] == "group Admins, group Developers"
    assert events["refused:not_needed"] == "decide"
    assert [a["rule"] for a in request.details["approvals"]] == ["group Admins, group Developers", "group Admins"]

    status = str(bot.responses(bot.slash("U0BOB", "status jane.doe").response_url))
    assert "<@U0CAROL> approval (1 of 2; group Admins, group Developers)" in status
    assert "<@U0BOB> approved (group Admins, group Developers)" in status


def test_a_dev_lead_alone_approves_developers_and_not_anything_else(bot, slack, aws):
    bot.slash("U0ALICE", "create jane.doe Developers")
    bob = bot.click("U0BOB", blocks.ACTION_APPROVE, 1)  # the defaults do not approve a group with its own approvers
    assert "the rules do not name you among its approvers" in said(bot, bob)
    bot.click("U0DAN", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED

    bot.slash("U0ALICE", "create jim.ops ReadOnly <@U0DAN>")  # ReadOnly has no rule: the defaults (bob)
    carol = bot.click("U0CAROL", blocks.ACTION_APPROVE, 2)
    assert "the rules do not name you among its approvers" in said(bot, carol)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert bot.store.get(2).state == storage.PROVISIONED


def test_a_group_sensitive_by_its_grants_needs_two_whatever_the_file_says(bot, slack, aws):
    aws.attach_group_policy(GroupName="Developers", PolicyArn=ADMIN)
    bot.slash("U0ALICE", "create jane.doe Developers")
    assert "`Developers`: 0 of 2 from <!subteam^S0DEVLEADS>" in str(cards(slack)[-1]["blocks"])
    bot.click("U0DAN", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PENDING
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED


def test_any_approver_of_a_group_at_stake_may_deny_and_the_trail_names_the_rule(bot, slack, aws):
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.submit_deny("U0BOB", 1, "not while on leave")  # the defaults do not approve Developers
    assert bot.store.get(1).state == storage.PENDING
    bot.submit_deny("U0DAN", 1, "ask for Developers alone")
    request = bot.store.get(1)
    assert request.state == storage.DENIED and request.details["deny_rule"] == "group Developers"


# -- deny ------------------------------------------------------------------------------------

def test_a_denied_group_is_refused_at_filing_with_the_rules_reason_and_nothing_is_stored(bot, slack, aws):
    refused = said(bot, bot.slash("U0ALICE", "create jane.doe Developers BillingAdmins"))
    assert "Nobody gets `BillingAdmins` through this bot: Ask in #security; not through chat. (rule deny[0])" in refused
    assert bot.store.in_states(storage.LIVE_STATES) == [] and cards(slack) == []

    existing_user(aws, "jane.doe", "BillingAdmins")  # a credential for a member is refused too
    for text in ("create-key jane.doe --reason deploys", "reset-password jane.doe"):
        assert "Nobody gets `BillingAdmins` through this bot" in said(bot, bot.slash("U0ALICE", text))
    assert bot.store.in_states(storage.LIVE_STATES) == []


def test_a_deny_is_checked_again_at_approval(bot, slack, aws):
    existing_user(aws, "jane.doe", "Developers")
    bot.slash("U0ALICE", "reset-password jane.doe")
    aws.add_user_to_group(UserName="jane.doe", GroupName="BillingAdmins")  # joined since, outside the bot
    refused = bot.click("U0DAN", blocks.ACTION_APPROVE, 1)
    assert "Nobody gets `BillingAdmins` through this bot" in said(bot, refused)
    assert bot.store.get(1).state == storage.PENDING
    assert bot.store.events(1)[-1].what == "refused:denied_by_rule" and bot.store.events(1)[-1].detail == "deny[0]"


def test_a_rotation_is_refused_for_a_member_of_a_denied_group_like_a_new_key(bot, slack, aws):
    existing_user(aws, "jane.doe", "Developers", password=False)
    key_id = aws.create_access_key(UserName="jane.doe")["AccessKey"]["AccessKeyId"]
    aws.add_user_to_group(UserName="jane.doe", GroupName="BillingAdmins")
    refused = said(bot, bot.slash("U0BOB", f"rotate-key jane.doe {key_id}"))
    assert "Nobody gets `BillingAdmins` through this bot: Ask in #security; not through chat. (rule deny[0])" in refused
    assert bot.store.in_states(storage.LIVE_STATES) == []
    assert [k["AccessKeyId"] for k in aws.list_access_keys(UserName="jane.doe")["AccessKeyMetadata"]] == [key_id]


def test_only_an_approver_of_every_group_of_the_user_rotates_or_undoes_an_approvers_hold(bot, slack, aws):
    existing_user(aws, "jane.doe", "Admins", "Developers", password=False)
    old = aws.create_access_key(UserName="jane.doe")["AccessKey"]["AccessKeyId"]
    held = aws.create_access_key(UserName="jane.doe")["AccessKey"]["AccessKeyId"]
    # dan approves Developers, not Admins: he may still see and deactivate the keys
    assert "is now inactive" in said(bot, bot.slash("U0DAN", f"deactivate-key jane.doe {held}"))
    refused = said(bot, bot.slash("U0DAN", f"activate-key jane.doe {held}"))
    assert ("Only one of the defaults' approvers, or an approver of every group `jane.doe` is in, can activate "
            f"`{held}` again after an approver deactivated it") in refused
    refused = said(bot, bot.slash("U0DAN", f"rotate-key jane.doe {old}"))
    assert "or an approver of every group `jane.doe` is in, can rotate its access keys" in refused
    assert bot.store.in_states(storage.LIVE_STATES) == []
    assert [e.what for e in bot.store.events(None)][-2:] == ["refused:activate_key", "refused:rotate_key"]
    # carol approves both groups, bob is among the defaults
    assert "is active again" in said(bot, bot.slash("U0CAROL", f"activate-key jane.doe {held}"))
    bot.slash("U0BOB", f"deactivate-key jane.doe {held}")
    assert "is active again" in said(bot, bot.slash("U0BOB", f"activate-key jane.doe {held}"))
    aws.delete_access_key(UserName="jane.doe", AccessKeyId=held)  # room for the rotation's new key
    assert "Rotation of" in said(bot, bot.slash("U0CAROL", f"rotate-key jane.doe {old}"))

    existing_user(aws, "carol", "Developers", password=False)  # all of its groups are dan's
    key = aws.create_access_key(UserName="carol")["AccessKey"]["AccessKeyId"]
    assert "Rotation of" in said(bot, bot.slash("U0DAN", f"rotate-key carol {key}"))


# -- credentials for an existing user: the groups it is in now ---------------------------------

def test_a_key_for_an_admin_needs_two_from_security(bot, slack, aws):
    existing_user(aws, "jane.doe", "Admins", "Developers", password=False)
    filed = bot.slash("U0ALICE", "create-key jane.doe --reason deploys")
    assert "Request #1 filed" in said(bot, filed)
    assert "`Admins`: 0 of 2 from <!subteam^S0SECURITY>" in str(cards(slack)[-1]["blocks"])
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    dan = bot.click("U0DAN", blocks.ACTION_APPROVE, 1)
    assert "have their approvals already" in said(bot, dan)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED


def test_a_reset_and_an_enable_are_approved_by_the_users_groups_approvers(bot, slack, aws):
    existing_user(aws, "jane.doe", "Developers")
    bot.slash("U0ALICE", "reset-password jane.doe")
    bob = bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert "the rules do not name you among its approvers" in said(bot, bob)
    bot.click("U0DAN", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED

    existing_user(aws, "dan", "Admins", password=False)  # dan@example.com: dan's
    bot.slash("U0ALICE", "enable dan")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert bot.store.get(2).state == storage.PENDING  # one of two from security
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 2)
    assert bot.store.get(2).state == storage.PROVISIONED


def test_remove_is_approved_by_the_defaults(bot, slack, aws):
    existing_user(aws, "jane.doe", "Admins")
    bot.slash("U0ALICE", "remove jane.doe")
    assert "the defaults: 0 of 1 from <@U0BOB>" in str(cards(slack)[-1]["blocks"])
    dan = bot.click("U0DAN", blocks.ACTION_APPROVE, 1)
    assert "the rules do not name you among its approvers" in said(bot, dan)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state in (storage.APPROVED, storage.PROVISIONED)


def test_an_approver_of_a_users_group_sees_its_keys_and_status_and_only_the_defaults_audit(bot, slack, aws):
    existing_user(aws, "jane.doe", "Developers", password=False)
    existing_user(aws, "sam", "ReadOnly", password=False)
    assert "has no access keys" in said(bot, bot.slash("U0DAN", "keys jane.doe"))  # a dev lead, for a developer
    assert "Only approvers" in said(bot, bot.slash("U0DAN", "keys sam"))  # not for anyone else
    assert "Only approvers can run `/iam audit`." in said(bot, bot.slash("U0DAN", "audit"))


# -- Retry: what was approved must still be allowed ---------------------------------------------

def failed_create(bot, aws):
    """jane.doe's create for Developers, approved by a dev lead, stopped at adding her to the group."""
    bot.slash("U0ALICE", "create jane.doe Developers")
    fault = Fault(bot.client, "AddUserToGroup", "AccessDenied", status=403)
    bot.click("U0DAN", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.FAILED
    fault.remove()


def test_retry_is_refused_when_a_group_turned_sensitive_since_the_approval(bot, slack, aws):
    failed_create(bot, aws)
    aws.attach_group_policy(GroupName="Developers", PolicyArn=ADMIN)
    refused = said(bot, bot.click("U0DAN", blocks.ACTION_RETRY, 1))
    assert "Request #1 cannot be retried: `Developers` needs 2 approvals now and it had 1" in refused
    assert "File a new request" in refused
    assert bot.store.get(1).state == storage.FAILED
    assert bot.store.events(1)[-1].what == "refused:retry_needs_new_request"
    assert "jane.doe" not in str(aws.get_group(GroupName="Developers")["Users"])


def test_retry_is_refused_when_a_deny_rule_names_a_group_since(bot, slack, aws, make_bot, tmp_path):
    failed_create(bot, aws)
    stricter = tmp_path / "stricter.toml"  # a replica restarted on a file that denies Developers
    stricter.write_text(RULES.replace('groups = ["BillingAdmins"]', 'groups = ["BillingAdmins", "Developers"]'))
    replica = make_bot(iam_bot_rules_file=str(stricter), iam_bot_approvers="")
    refused = said(replica, replica.click("U0DAN", blocks.ACTION_RETRY, 1))
    assert "Nobody gets `Developers` through this bot: Ask in #security; not through chat. (rule deny[0])" in refused
    assert bot.store.get(1).state == storage.FAILED
    assert bot.store.events(1)[-1].what == "refused:denied_by_rule"
    bot.click("U0DAN", blocks.ACTION_RETRY, 1)  # a replica on the old file still retries it
    assert bot.store.get(1).state == storage.PROVISIONED


# -- a stranger's click ------------------------------------------------------------------------

def test_a_strangers_approve_click_is_refused_without_reading_iam(bot, slack, aws):
    existing_user(aws, "jane.doe", "Admins", password=False)
    bot.slash("U0ALICE", "create-key jane.doe --reason deploys")
    calls = record_calls(bot.client)
    dan = bot.click("U0DAN", blocks.ACTION_APPROVE, 1)  # a dev lead; jane is in Admins alone
    assert "the rules do not name you among its approvers" in said(bot, dan)
    assert calls == []
    assert bot.store.events(1)[-1].what == "refused:not_approver"
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)  # security: judged on the groups read afresh
    assert calls[:2] == ["ListGroupsForUser", "ListAttachedGroupPolicies"]


def test_without_a_file_a_strangers_approve_click_is_refused_without_reading_iam(make_bot, slack, aws):
    bot = make_bot()
    existing_user(aws, "jane.doe", "Developers", password=False)
    bot.slash("U0ALICE", "create-key jane.doe --reason deploys")
    calls = record_calls(bot.client)
    dan = bot.click("U0DAN", blocks.ACTION_APPROVE, 1)
    assert "you are not one of the approvers named in IAM_BOT_APPROVERS" in said(bot, dan)
    assert calls == [] and bot.store.get(1).state == storage.PENDING


# -- concurrent approvals: each judged on the request as the one before left it -------------------

def slip_in_at_first_write(monkeypatch, bot, clicker, meanwhile):
    """Another approval lands between `clicker`'s read of the request and its (conditional) write:
    `meanwhile()` runs just before `clicker`'s first write, which then loses and tries again."""
    real, hit = workflow.move, []

    def racing(store, transition, request_id, **kw):
        if not hit and kw.get("actor_id") == clicker:
            hit.append(transition)
            meanwhile(request_id)
        return real(store, transition, request_id, **kw)

    monkeypatch.setattr(workflow, "move", racing)
    return hit


def test_an_approval_that_lost_a_race_is_judged_by_the_groups_the_winner_saw(bot, slack, aws, monkeypatch):
    existing_user(aws, "jane.doe", "Developers", password=False)
    bot.slash("U0ALICE", "create-key jane.doe --reason deploys")

    def meanwhile(request_id):  # jane joins Admins, and bob (security) approves first
        aws.add_user_to_group(UserName="jane.doe", GroupName="Admins")
        assert bot.services.workflow.approve(request_id, Person("U0BOB", TEAM)).changed

    hit = slip_in_at_first_write(monkeypatch, bot, "U0DAN", meanwhile)
    bot.click("U0DAN", blocks.ACTION_APPROVE, 1)  # a dev lead: counts for Developers, not for Admins
    request = bot.store.get(1)
    assert hit and request.state == storage.PENDING  # Admins still waits for a second from security
    assert [a["user_id"] for a in request.details["approvals"]] == ["U0BOB", "U0DAN"]
    shares = {s["group"]: (s["approvals"], s["counted"]) for s in request.details["shares"]}
    assert shares == {"Developers": (1, ["U0DAN"]), "Admins": (2, ["U0BOB"])}
    assert "`Admins`: 1 of 2 from <!subteam^S0SECURITY>" in last_card(slack)


def test_an_approval_that_lost_a_race_keeps_the_sensitivity_the_winner_recorded(bot, slack, aws, monkeypatch):
    bot.slash("U0ALICE", "create jane.doe Admins Developers")

    def meanwhile(request_id):  # Developers turns admin-like, and bob (security) approves first
        aws.attach_group_policy(GroupName="Developers", PolicyArn=ADMIN)
        assert bot.services.workflow.approve(request_id, Person("U0BOB", TEAM)).changed
        aws.detach_group_policy(GroupName="Developers", PolicyArn=ADMIN)  # and back: recorded, it stays

    hit = slip_in_at_first_write(monkeypatch, bot, "U0DAN", meanwhile)
    bot.click("U0DAN", blocks.ACTION_APPROVE, 1)
    request = bot.store.get(1)
    assert hit and request.state == storage.PENDING
    assert request.details["sensitive"] == {"Developers": "AdministratorAccess"}
    shares = {s["group"]: (s["approvals"], s["counted"]) for s in request.details["shares"]}
    assert shares == {"Admins": (2, ["U0BOB"]), "Developers": (2, ["U0DAN"])}


def test_without_a_file_an_approval_that_lost_a_race_counts_where_the_winner_raised_the_bar(
        make_bot, slack, aws, monkeypatch):
    add_aws_managed_policies("123456789012", ("AdministratorAccess",))
    bot = make_bot()
    bot.slash("U0ALICE", "create jane.doe Developers")

    def meanwhile(request_id):  # Developers turns admin-like and bob approves first: 1 of 2 now
        aws.attach_group_policy(GroupName="Developers", PolicyArn=ADMIN)
        assert bot.services.workflow.approve(request_id, Person("U0BOB", TEAM)).changed

    hit = slip_in_at_first_write(monkeypatch, bot, "U0CAROL", meanwhile)
    carol = bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)  # the second of two: counts, not refused
    assert hit and "cannot approve" not in said(bot, carol)
    request = bot.store.get(1)
    assert request.state == storage.PROVISIONED
    assert [a["user_id"] for a in request.details["approvals"]] == ["U0BOB", "U0CAROL"]


# -- /iam who-approves ------------------------------------------------------------------------

def test_who_approves_says_who_how_many_how_long_and_what_is_denied(bot, slack, aws):
    aws.attach_group_policy(GroupName="Admins", PolicyArn=ADMIN)
    response = bot.slash("U0DAN", "who-approves Admins Developers Payroll BillingAdmins")
    assert response.json()["response_type"] == "ephemeral"
    text = said(bot, response)
    assert "`Admins`*\n• Approved by: 2 approvals (sensitive: never fewer than 2) from <!subteam^S0SECURITY> (group Admins)" in text
    assert "`Developers`*\n• Approved by: 1 approval from <!subteam^S0DEVLEADS> (group Developers)" in text
    assert "`Payroll`* (no IAM group of that name in this account)" in text
    assert "1 approval from <@U0BOB> (group Payroll)\n• Membership: at most 8h" in text
    assert "`BillingAdmins`*: :no_entry: never through this bot: Ask in #security; not through chat. (deny[0])" in text
    assert "no auto-approval or break-glass for you" in text
    assert all(p.get("channel") != APPROVALS for p in slack.of("chat.postMessage"))  # only the asker sees it
    assert "Name one or more IAM groups" in bot.slash("U0DAN", "who-approves").json()["text"]


# -- start-up -------------------------------------------------------------------------------

def test_start_up_refuses_a_bad_rules_file_with_one_line_naming_the_key(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "rules.toml"
    bad.write_text(RULES.replace("approvals = 2", "aproval = 2"))
    monkeypatch.setenv("IAM_BOT_APPROVALS_CHANNEL", APPROVALS)
    monkeypatch.setenv("IAM_BOT_RULES_FILE", str(bad))
    monkeypatch.delenv("IAM_BOT_APPROVERS", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-never-used")
    for mode, token in (("serve", "SLACK_SIGNING_SECRET"), ("socket", "SLACK_APP_TOKEN")):
        monkeypatch.setenv(token, "never-used")
        assert cli_main([mode]) == 2
        assert capsys.readouterr().err == f"iam-bot: {bad}: group[0].aproval: unknown key (did you mean approvals?)\n"


def test_without_a_file_iam_bot_approvers_is_still_required(monkeypatch, capsys):
    monkeypatch.setenv("IAM_BOT_APPROVALS_CHANNEL", APPROVALS)
    monkeypatch.delenv("IAM_BOT_APPROVERS", raising=False)
    monkeypatch.delenv("IAM_BOT_RULES_FILE", raising=False)
    assert cli_main(["serve"]) == 2
    assert capsys.readouterr().err == "iam-bot: IAM_BOT_APPROVERS is required but not set\n"


# -- iam-bot rules check --slack -------------------------------------------------------------

def test_rules_check_slack_asks_once_for_the_groups_and_once_a_user(slack, rules_file, capsys):
    slack.usergroups.update(USER_GROUPS)
    env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.api_url}
    assert check(rules_file, env, slack=True) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Rules from {rules_file}: valid." and out[-1] == "Slack knows every user group and user the rules name (3)."
    assert len(slack.of("usergroups.list")) == 1 and [p["user"] for p in slack.of("users.info")] == ["U0BOB"]


def test_rules_check_slack_names_each_id_slack_does_not_know(slack, tmp_path, capsys):
    path = tmp_path / "rules.toml"
    path.write_text(RULES.replace('"U0BOB"', '"U0NOBODY", "U0GONE"').replace("S0DEVLEADS", "S0NOSUCH"))
    env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.api_url}
    assert check(str(path), env, slack=True) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"iam-bot: {path}: S0SECURITY: no such user group in this workspace",
        f"iam-bot: {path}: S0NOSUCH: no such user group in this workspace",
        f"iam-bot: {path}: U0NOBODY: no such user in this workspace",
        f"iam-bot: {path}: U0GONE: deactivated in Slack",
    ]
    assert check(str(path), {}, slack=True) == 2
    assert capsys.readouterr().err.endswith("iam-bot: SLACK_BOT_TOKEN is required for --slack but not set\n")


def test_ten_groups_with_long_approver_lists_keep_whole_lines_on_the_card(make_bot, slack, aws, tmp_path):
    groups = [f"Team-{n}-with-a-rather-long-group-name" for n in range(10)]
    approvers = [f"S0{n:02d}APPROVERSOFALONGNAME" for n in range(8)]
    path = tmp_path / "rules.toml"
    path.write_text('[defaults]\napprovers = ["U0BOB"]\n' + "".join(
        f'[[group]]\nname = "{g}"\napprovers = {approvers!r}\n'.replace("'", '"') for g in groups))
    for group in groups:
        aws.create_group(GroupName=group)
    bot = make_bot(iam_bot_rules_file=str(path), iam_bot_approvers="")
    filed = bot.slash("U0ALICE", "create jane.doe " + " ".join(groups))
    assert "Request #1" in said(bot, filed)
    card = " ".join(b["text"]["text"] for b in cards(slack)[-1]["blocks"] if b.get("text", {}).get("type") == "mrkdwn")
    rules_part = card[card.index("*Approvals, by the rules:*"):]
    assert "and 3 more" in rules_part  # five approvers a group, then "and N more"
    assert "more groups" in rules_part  # the lines stop before Slack's limit, whole
    assert rules_part.count("<!subteam^") == rules_part.count(">")  # no mention cut in half
    assert "…" not in rules_part
