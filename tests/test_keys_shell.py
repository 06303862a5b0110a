"""`iam-bot shell` walks the access-key story: ask, approve, reveal, list, rotate, deactivate, delete."""

import re

from tests.support.shell import after, run_shell, turns

KEY_STORY = """\
/iam create jane.doe Developers --no-console
as bob
click 1
y
as alice
/iam create-key jane.doe --reason CI for the billing repo
as bob
click 4
y
as jane
click 6
click 6
/iam keys jane.doe
click 7
y
click 10
/iam keys jane.doe
click 12
y
/iam keys jane.doe
click 19
y
/iam keys jane.doe
"""


def test_the_shell_walks_the_whole_key_story():
    result = run_shell(KEY_STORY)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    said = turns(result.stdout)
    [filed] = after(said, "alice> /iam create-key jane.doe --reason CI for the billing repo")
    assert "Access key requested by @alice" in filed and "Reason, as @alice typed it:\n    CI for the billing repo" in filed
    first, again = after(said, "jane> click 6")
    old = re.search(r"Access key id: `([A-Z0-9]+)`", first)[1]
    assert "Secret access key:" in first and "aws configure --profile" in first
    assert "already revealed" in again and "Secret access key:" not in again
    [rotated] = after(said, "jane> click 7")
    assert "Rotation of" in rotated and "[10] Reveal access key" in rotated
    [revealed] = after(said, "jane> click 10")
    new = re.search(r"Access key id: `([A-Z0-9]+)`", revealed)[1]
    [deactivated] = after(said, "jane> click 12")
    assert f"`{old}` of `jane.doe` is now inactive" in deactivated
    [deleted] = after(said, "jane> click 19")
    assert f"`{old}` of `jane.doe` is deleted" in deleted
    final = after(said, "jane> /iam keys jane.doe")[-1]
    assert new in final and old not in final
