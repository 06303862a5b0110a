"""`iam-bot shell`'s `home`: the App Home of whoever you are, drawn like a message, its buttons
pressed by label."""

import pytest

from tests.support.shell import after, message, run_shell, turns

pytestmark = pytest.mark.slow

HOME_STORY = """\
/iam create jane.doe Developers --no-console
as bob
click Approve
y
as jane
/iam create-key jane.doe --reason CI for the billing repo
as carol
home
as bob
home
click Approve
y
as jane
click Reveal access key
home
click Deactivate
y
as alice
/iam create carol.x Developers @carol
home
click Cancel
y
"""


def test_the_shell_shows_the_home_and_presses_its_buttons():
    result = run_shell(HOME_STORY)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    said = turns(result.stdout)

    # carol approves Admins, not Developers (bot/shell/rules.toml): jane's key waits for bob alone
    [carols] = after(said, "carol> home")
    assert "Nothing waits for you." in message(carols, "App Home of iam-bot for carol")
    [bobs] = after(said, "bob> home")
    home = message(bobs, "App Home of iam-bot for bob")
    assert "only visible to bob" in home
    assert "Waiting for your approval" in home and "#2" in home and "needs 1 more approval" in home
    assert "Open its card" in home

    [janes] = after(said, "jane> home")
    home = message(janes, "App Home of iam-bot for jane")
    assert "`jane.doe`" in home and "`Developers`" in home and "no console sign-in" in home
    assert "1 access key" in home and "Active" in home and "[" in home and "Deactivate" in home
    [deactivated] = after(said, "jane> click Deactivate")
    assert "jane pressed Deactivate" in deactivated and "is now inactive" in deactivated
    updated = message(deactivated, "App Home of iam-bot for jane (updated)")
    assert "Inactive" in updated and "Activate" in updated

    [alices] = after(said, "alice> home")
    assert "#3" in message(alices, "App Home of iam-bot for alice")
    [cancelled] = after(said, "alice> click Cancel")
    assert "You withdrew request #3" in cancelled
    assert "Nothing open." in message(cancelled, "App Home of iam-bot for alice (updated)")
