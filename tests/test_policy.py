"""The bot's own IAM policy allows every AWS call the code makes, and no more than it says."""

import json
from pathlib import Path

import pytest

from commands.policy import allowed_operations, bot_policy, render
from tests.support.iam_source import operations_in_source

ROOT = Path(__file__).resolve().parent.parent


def test_the_policy_allows_every_operation_in_the_gateway():
    missing = operations_in_source() - allowed_operations(bot_policy())
    assert not missing, f"iam-policy.json lacks {sorted(missing)}"


def test_every_bot_in_the_suite_is_checked_against_its_policy(make_bot):
    """conftest's make_bot checks, after each test, every IAM call that test's bots made against
    the policy; here a bot is driven through a create and an approval to prove the check sees calls."""
    from bot import blocks
    bot = make_bot()
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert {"GetUser", "GetGroup", "CreateUser", "CreateLoginProfile", "AddUserToGroup"} <= bot.called
    assert bot.called <= allowed_operations(bot_policy("/people/"))


def test_writes_are_scoped_to_the_user_path():
    policy = bot_policy("/people/")
    [write] = [s for s in policy["Statement"] if "iam:CreateUser" in s["Action"]]
    assert write["Resource"] == "arn:aws:iam::*:user/people/*"
    assert all(a != "iam:*" and not a.endswith("*") for s in policy["Statement"] for a in s["Action"])
    # Deleting is only for users under the path, and for what is not a user's: MFA devices and groups.
    for statement in policy["Statement"]:
        if any(a.startswith(("iam:Delete", "iam:Detach", "iam:Deactivate")) for a in statement["Action"]):
            assert statement["Resource"] in ("arn:aws:iam::*:user/people/*", "arn:aws:iam::*:mfa/*"), statement


def test_offboarding_grows_the_policy_exactly_by_the_actions_it_calls():
    from commands.policy import OFFBOARD_GROUPS, OFFBOARD_MFA, OFFBOARD_USERS

    called = operations_in_source(ROOT / "commands" / "iam.py")
    already = allowed_operations({"Statement": [s for s in bot_policy()["Statement"]
                                                if not s["Sid"].startswith("Offboard")]})
    added = {a.split(":", 1)[1] for a in OFFBOARD_USERS + OFFBOARD_MFA + OFFBOARD_GROUPS}
    assert added == called - already


def test_the_file_in_the_repository_is_the_default_policy():
    assert (ROOT / "iam-policy.json").read_text() == render("/")
    json.loads((ROOT / "iam-policy.json").read_text())


# Allowed without a call of their own in the source: CreateUser with Tags needs TagUser too.
IMPLIED = {"TagUser"}


def test_the_policy_allows_nothing_the_gateway_does_not_call():
    """The policy grows exactly by the actions the code calls: no action without its call."""
    extra = allowed_operations(bot_policy()) - operations_in_source() - IMPLIED
    assert not extra, f"iam-policy.json allows {sorted(extra)}, which no code calls"


def test_the_credential_report_is_read_account_wide_and_nothing_more():
    [account] = [s for s in bot_policy()["Statement"] if "iam:GenerateCredentialReport" in s["Action"]]
    assert account["Resource"] == "*" and "iam:GetCredentialReport" in account["Action"]
    # No ListUsers, not even for the audit: the credential report covers every user in two calls.
    assert not any(a == "iam:ListUsers" for s in bot_policy()["Statement"] for a in s["Action"])


# -- the permissions boundary (IAM_BOT_PERMISSIONS_BOUNDARY) -----------------------------------

BOUNDARY = "arn:aws:iam::123456789012:policy/iam-bot-boundary"


def printed_policy(monkeypatch, capsys, **env) -> dict:
    """What `iam-bot policy` prints with these variables."""
    from bot.cli import main

    for name in ("IAM_BOT_USER_PATH", "IAM_BOT_PERMISSIONS_BOUNDARY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["policy"]) == 0
    return json.loads(capsys.readouterr().out)


def test_with_a_boundary_create_user_is_allowed_only_with_it(monkeypatch, capsys):
    policy = printed_policy(monkeypatch, capsys, IAM_BOT_USER_PATH="/people/", IAM_BOT_PERMISSIONS_BOUNDARY=BOUNDARY)
    [create] = [s for s in policy["Statement"] if "iam:CreateUser" in s["Action"]]
    assert create["Action"] == ["iam:CreateUser"]  # nothing else rides on the condition
    assert create["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    assert create["Resource"] == "arn:aws:iam::*:user/people/*"
    [read] = [s for s in policy["Statement"] if "iam:GetPolicy" in s["Action"]]  # the boundary's existence, a group's Deny
    assert read["Resource"] == "arn:aws:iam::*:policy/*"
    # Without the setting, CreateUser has no condition (as before).
    plain = printed_policy(monkeypatch, capsys)
    [create] = [s for s in plain["Statement"] if "iam:CreateUser" in s["Action"]]
    assert "Condition" not in create


def test_no_printed_policy_can_change_a_boundary_or_the_boundary_policy(monkeypatch, capsys):
    from commands.policy import NEVER

    for env in ({}, {"IAM_BOT_PERMISSIONS_BOUNDARY": BOUNDARY}):
        actions = {a for s in printed_policy(monkeypatch, capsys, **env)["Statement"] for a in s["Action"]}
        assert not actions & set(NEVER)
        assert not any(a.endswith("*") for a in actions)


def test_a_malformed_boundary_is_refused_by_iam_bot_policy(monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.setenv("IAM_BOT_PERMISSIONS_BOUNDARY", "iam-bot-boundary")
    assert main(["policy"]) == 2
    assert "IAM_BOT_PERMISSIONS_BOUNDARY is malformed" in capsys.readouterr().err


@pytest.mark.parametrize("boundary", [None, BOUNDARY])
def test_parliament_finds_nothing_in_the_printed_policies(boundary):
    from parliament import analyze_policy_string

    from commands.policy import render_mfa

    for document in (render("/"), render("/people/", boundary), render_mfa()):
        findings = analyze_policy_string(document).findings
        assert not findings, [(f.issue, f.detail) for f in findings]
