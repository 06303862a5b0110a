"""`iam-bot shell` shows offboarding: a removal approved by a second person, and a Slack deactivation."""

import pytest

from tests.support.shell import after, run_shell, turns

pytestmark = pytest.mark.slow

STORY = """\
as bob
/iam remove sam.sample --reason left the company
as carol
click Approve y
as alice
/iam create jane.doe Developers
as bob
click Approve y
deactivate jane
events
"""


def test_the_shell_removes_sam_and_offboards_jane_when_slack_says_she_left():
    done = run_shell(STORY)
    assert done.returncode == 0, done.stderr
    said = turns(done.stdout)
    [approved] = after(said, "carol> click Approve y")
    assert "Everything that will go" in approved and "`ReadOnly`" in approved
    assert "Done: `sam.sample` and everything it held were removed from AWS." in approved
    [deactivated] = after(said, "bob> deactivate jane")
    assert "Slack sends the bot a user_change event" in deactivated
    assert "Removal of an IAM user requested" in deactivated and "because Slack says the owner left" in deactivated
    assert "`jane.doe`" in deactivated and "`Developers`" in deactivated
    [trail] = after(said, "bob> events")
    assert "iam-bot step:delete_user" in trail and "iam-bot filed" in trail
