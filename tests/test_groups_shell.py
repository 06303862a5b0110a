"""`iam-bot shell` tells issue 20's story: `/iam add jane.doe Admins --for 2h --reason incident 42`,
two approvals (Admins is sensitive and time-bound only in the sample rules), `wait 2h`, and jane's
DMs: what she has until when, the warning with Extend and I'm done, and that it ended."""

import pytest

from tests.support.shell import after, run_shell, turns

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
as carol
click Approve
y
as jane
wait 2h
"""


@pytest.fixture(scope="module")
def said():
    result = run_shell(STORY)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return turns(result.stdout)


def test_the_add_is_approved_and_jane_is_told_until_when(said):
    [approved] = after(said, "carol> click Approve")
    assert "Added `jane.doe` to `Admins` for 2 hours" in approved
    assert "DM from iam-bot to jane" in approved and "is now in these groups" in approved
    assert "`Admins` until" in approved


def test_two_hours_later_the_membership_ends_and_jane_is_told(said):
    [later] = after(said, "jane> wait 2h")
    assert "Extend" in later and "I'm done" in later  # the warning, due ten minutes before
    assert "membership of `Admins` ended: its time was up, and the bot removed it" in later
    assert "DM from iam-bot to jane" in later and "membership of `Admins` ended (request #2)" in later
