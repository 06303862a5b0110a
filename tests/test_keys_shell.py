"""`iam-bot shell` walks the access-key story: ask, approve, reveal, list, rotate, deactivate, delete."""

import re

import pytest

from tests.support.shell import after, run_shell, turns

pytestmark = pytest.mark.slow

KEY_STORY = """\
/iam create jane.doe Developers --no-console
as bob
click Approve
y
as alice
/iam create-key jane.doe --reason CI for the billing repo
as bob
click Approve
y
as jane
click Reveal access key
click Reveal access key
/iam keys jane.doe
click Rotate
y
click Reveal access key
/iam keys jane.doe
click Deactivate
y
/iam keys jane.doe
click Delete
y
/iam keys jane.doe
"""


def test_the_shell_walks_the_whole_key_story():
    result = run_shell(KEY_STORY)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    said = turns(result.stdout)
    [filed] = after(said, "alice> /iam create-key jane.doe --reason CI for the billing repo")
    assert "Access key requested by @alice" in filed and "Reason, as @alice typed it:\n    CI for the billing repo" in filed
    first, again, revealed = after(said, "jane> click Reveal access key")
    old = re.search(r"Access key id: `([A-Z0-9]+)`", first)[1]
    assert "Secret access key:" in first and "aws configure --profile" in first
    assert "already revealed" in again and "Secret access key:" not in again
    [rotated] = after(said, "jane> click Rotate")
    assert "Rotation of" in rotated and re.search(r"\[\d+\] Reveal access key", rotated)
    new = re.search(r"Access key id: `([A-Z0-9]+)`", revealed)[1]
    [deactivated] = after(said, "jane> click Deactivate")
    assert f"`{old}` of `jane.doe` is now inactive" in deactivated
    [deleted] = after(said, "jane> click Delete")
    assert f"`{old}` of `jane.doe` is deleted" in deleted
    final = after(said, "jane> /iam keys jane.doe")[-1]
    assert new in final and old not in final
