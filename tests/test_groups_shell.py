"""`iam-bot shell` tells the rest of issue 20's story on its sample rules: alice lets jane into
ReadOnly for an hour (the rule's auto-approve), jane asks for two hours more with Extend's form
ten minutes before the end, bob approves, `/iam status` lists the grant with its new end and the
standing membership the create gave, and jane drops that one herself. (Admins for 2h, approved by
two people and ended by `wait 2h`, is tests/test_guard_shell.py.)"""

import pytest

from tests.support.shell import after, message, run_shell, turns

pytestmark = pytest.mark.slow

STORY = """\
/iam create jane.doe Developers
as bob
click Approve
y
as alice
/iam add jane.doe ReadOnly --for 1h --reason look at the logs
as jane
wait 55m
click Extend
2h
as bob
click Approve
y
as jane
/iam status jane.doe
/iam drop jane.doe Developers
/iam status jane.doe
"""


@pytest.fixture(scope="module")
def said():
    result = run_shell(STORY)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return turns(result.stdout)


def test_the_rule_lets_jane_in_at_once(said):
    [shown] = after(said, "alice> /iam add jane.doe ReadOnly --for 1h --reason look at the logs")
    assert "approved by the rule `group ReadOnly auto_approve`" in shown
    assert "is now in these groups" in message(shown, "DM from iam-bot to jane")


def test_extend_asks_how_much_longer_and_an_approver_decides(said):
    [warned] = after(said, "jane> wait 55m")
    assert "membership of `ReadOnly` ends" in warned and "Extend" in warned and "I'm done" in warned
    [form] = after(said, "jane> click Extend")
    assert 'modal "Extend membership"' in form and "at most 30d" in form
    assert "Request #3 filed" in form and "2 hours more" in form
    assert "Longer group membership requested" in message(form, "#iam-approvals")
    _create, approved = after(said, "bob> click Approve")
    assert "keeps `ReadOnly` 2 hours longer" in approved
    assert "membership of `ReadOnly` now ends" in message(approved, "DM from iam-bot to jane")


def test_status_lists_grants_and_standing_memberships_and_drop_ends_one(said):
    before, later = after(said, "jane> /iam status jane.doe")
    assert "Time-bound memberships" in before and "`ReadOnly` until" in before
    assert "Standing memberships the bot granted" in before
    assert "`Developers` for good (request #1 · AWS account sandbox)" in before  # the shell has two accounts
    [dropped] = after(said, "jane> /iam drop jane.doe Developers")
    assert "is out of `Developers`" in dropped and "standing membership (request #1)" in dropped
    assert "membership of `Developers` ended (request #1): it was dropped by @jane" in dropped
    assert "Standing memberships" not in later and "`ReadOnly` until" in later
