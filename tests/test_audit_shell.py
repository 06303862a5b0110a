"""`iam-bot shell` shows the audit half: withdrawing, reminders as time passes, /iam status, /iam audit."""

from __future__ import annotations

import re

import pytest

from tests.support.shell import after, message, run_shell, turns

pytestmark = pytest.mark.slow

STORY = """\
/iam create jane.doe Developers
click Cancel request
y
/iam create jane.doe Developers
wait 1h
as bob
/iam cancel 2
click Approve
y
/iam status jane.doe
/iam audit
as jane
/iam audit
"""


@pytest.fixture(scope="module")
def story():
    result = run_shell(STORY)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return turns(result.stdout)


def test_the_banner_names_the_new_shell_command_and_the_user_without_mfa(story):
    [banner] = after(story, "banner")
    assert "wait <time>" in banner and "a console password but no MFA" in banner


def test_the_requester_withdraws_with_the_cancel_button(story):
    first, _ = after(story, "alice> /iam create jane.doe Developers")
    filed = first[first.index("Request #1 filed"):]
    assert re.search(r"\[\d+\] Cancel request", filed) and "/iam cancel 1" in filed
    [shown] = after(story, "alice> click Cancel request")
    assert "Withdraw this request?" in shown
    assert "You withdrew request #1" in message(shown, "#general · only visible to alice")
    assert "Withdrawn by @alice" in message(shown, "message 1 (edited)")
    assert "@alice withdrew request #1" in message(shown, "reply in the thread of message 1")


def test_an_hour_later_the_approvers_are_reminded_in_the_cards_thread(story):
    [shown] = after(story, "alice> wait 1h")
    reminder = message(shown, "reply in the thread of message 3")
    assert "🔔 Reminder: request #2 (IAM user `jane.doe` for @jane)" in reminder
    # The shell runs on bot/shell/rules.toml: Developers is approved by bob alone, so he is the one reminded.
    assert "@bob: please approve or deny it" in reminder


def test_only_the_requester_may_withdraw_and_a_second_person_approves(story):
    [shown] = after(story, "bob> /iam cancel 2")
    assert "You can only withdraw a request you filed, and #2 is not one of yours." in shown
    [shown] = after(story, "bob> click Approve")
    assert "Approved by @bob" in message(shown, "message 3 (edited)")


def test_status_shows_each_request_and_its_trail(story):
    [shown] = after(story, "bob> /iam status jane.doe")
    assert "#2 · IAM user `jane.doe` for @jane · AWS account sandbox · provisioned" in shown  # two accounts
    assert "@alice asked" in shown and "the bot reminded the approvers" in shown and "@bob approved" in shown
    assert "#1 · IAM user `jane.doe` for @jane · AWS account sandbox · cancelled" in shown and "@alice withdrew it" in shown
    assert shown.index("#2 ·") < shown.index("#1 ·")


def test_audit_sums_up_the_sample_account_for_an_approver_only(story):
    [shown] = after(story, "bob> /iam audit")
    assert "Credential audit of the AWS account: 2 IAM users" in shown and "just made" in shown
    assert "Root user: ✅ MFA on; ✅ no access keys." in shown
    assert "Console users without MFA (2): `jane.doe`, `sam.sample`" in shown
    assert "Access keys older than 90 days (1): `sam.sample` (key 1, 200 days)" in shown
    assert "Users the bot did not make (no owner known) (1): `sam.sample`" in shown
    [shown] = after(story, "jane> /iam audit")
    assert "Only approvers can run /iam audit." in shown.replace("`", "")
    assert "Root user" not in shown
