"""`iam-bot shell` shows the guardrails: a sensitive group on the card, two approvals, the
alternatives to a user without a console. The sample rules allow `Admins` only for a while, so
jane is made in Developers and then gets Admins with issue 20's story: `/iam add jane.doe Admins
--for 2h --reason incident 42`, two approvals, `wait 2h`, and jane's DMs: what she has until
when, and that it ended (the warning with Extend and I'm done comes ten minutes before the end to a
clock that passes that moment: tests/test_groups_e2e.py)."""

import pytest

from tests.support.shell import after, message, run_shell, turns

pytestmark = pytest.mark.slow

STORY = """\
/iam create jane.doe Developers
as bob
click Approve
y
as alice
/iam add jane.doe Admins --for 2h --reason incident 42
as bob
click Approve
y
click Approve
y
as carol
click Approve
y
as jane
wait 2h
as alice
/iam create ci.bot Developers @carol --no-console
"""


@pytest.fixture(scope="module")
def said():
    result = run_shell(STORY)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return turns(result.stdout)


def test_the_banner_names_the_sensitive_group_and_the_user_without_mfa(said):
    [banner] = after(said, "banner")
    assert "Admins has AdministratorAccess, so it is sensitive" in banner
    assert "a console password but no MFA device" in banner


def test_the_card_shows_what_admins_grants_and_that_it_needs_two_approvers(said):
    [shown] = after(said, "alice> /iam add jane.doe Admins --for 2h --reason incident 42")
    card = message(shown, "#iam-approvals · message")
    assert "• `Admins` 🚨 sensitive (`AdministratorAccess` attached): policies `AdministratorAccess`" in card
    assert "Needs two different approvers" in card


def test_two_approvers_one_after_the_other(said):
    _create, first, again = after(said, "bob> click Approve")
    assert "recorded (1 of 2)" in first and "1 of 2 approvals: @bob" in first
    assert "you already approved it" in again
    [second] = after(said, "carol> click Approve")
    assert "Approved by @bob and @carol" in second and "Added `jane.doe` to `Admins` for 2 hours" in second


def test_the_add_is_approved_and_jane_is_told_until_when(said):
    [approved] = after(said, "carol> click Approve")
    assert "DM from iam-bot to jane" in approved and "is now in these groups" in approved
    assert "`Admins` until" in approved


def test_two_hours_later_the_membership_ends_and_jane_is_told(said):
    [later] = after(said, "jane> wait 2h")
    assert "membership of `Admins` ended: its time was up, and the bot removed it" in later
    assert "DM from iam-bot to jane" in later and "membership of `Admins` ended (request #2)" in later


def test_a_user_without_a_console_is_told_the_alternatives(said):
    [shown] = after(said, "alice> /iam create ci.bot Developers @carol --no-console")
    assert "IAM role" in shown and "OIDC federation" in shown and "IAM Identity Center" in shown
    assert "`Developers`: policies `AmazonEC2FullAccess`, `AmazonS3ReadOnlyAccess`; inline `deploy-lambdas`" in shown


MFA_STORY = """\
/iam create jane.doe Developers
as bob
click Approve
y
as jane
click Reveal password
wait 12h
wait 2d
"""


def test_the_shell_shows_mfa_reminders_once_time_has_passed():
    result = run_shell(MFA_STORY)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    said = turns(result.stdout)
    [revealed] = after(said, "jane> click Reveal password")
    assert "Password for `jane.doe`" in revealed
    [early] = after(said, "jane> wait 12h")
    assert "no MFA device yet" not in early  # within IAM_BOT_MFA_GRACE (24h): no reminder
    [later] = after(said, "jane> wait 2d")
    assert later.count("has no MFA device yet") == 1 and "Assign MFA device" in later
