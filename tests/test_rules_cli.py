"""`iam-bot rules check [FILE]` as an operator runs it: the rules per group, or one line and exit 2."""

import os
import pathlib
import subprocess
import sys

import pytest

from tests.support.rules import ISSUE_FILE

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHELL_RULES = ROOT / "bot" / "shell" / "rules.toml"

# The issue's file, and a glob after it (an array of tables may continue anywhere).
GOOD = ISSUE_FILE + """
[[group]]
name = "Prod-*"
approvers = ["S0SECURITY", "U0DAN"]
"""


def rules_check(*args, env=None, cwd=ROOT):
    """Run `iam-bot rules check` in a clean environment: (exit code, stdout lines, stderr lines)."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("IAM_BOT_", "SLACK_"))}
    clean.update(env or {})
    done = subprocess.run([sys.executable, "-m", "bot.cli", "rules", "check", *map(str, args)], env=clean, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout.splitlines(), done.stderr.splitlines()


def test_a_good_file_prints_the_rules_per_group(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(GOOD)
    code, out, err = rules_check(path)
    assert (code, err) == (0, [])
    assert out == [
        f"Rules from {path}: valid.",
        "defaults: 1 approval from S0PLATFORM, U0BOB",
        "group Admins: 2 approvals from S0SECURITY; time-bound only; at most 4h",
        "group ReadOnly: 1 approval from the defaults (S0PLATFORM, U0BOB); at most 30d; "
        "auto-approved for S0ENGINEERS up to 8h, 3 a requester a day",
        "group Prod-*: 1 approval from S0SECURITY, U0DAN",
        "deny[0]: BillingAdmins, OrganizationAdmins* refused at filing: Ask in #security; not through chat.",
        "break_glass: S0ONCALL may let themselves into Admins for up to 1h; a second person reviews within 24h",
        "A group with AdministratorAccess, IAMFullAccess or PowerUserAccess attached needs at least 2 approvals. "
        "Any group not named above: the defaults.",
    ]


def test_without_a_file_it_prints_the_environments_rules():
    code, out, err = rules_check(env={"IAM_BOT_APPROVERS": "U0BOB, S0IAMADMINS", "IAM_BOT_SENSITIVE_GROUPS": "Admins"})
    assert (code, err) == (0, [])
    assert out[:3] == [
        "Rules from the environment (IAM_BOT_RULES_FILE is not set): valid.",
        "defaults: 1 approval from U0BOB, S0IAMADMINS",
        "Admins (IAM_BOT_SENSITIVE_GROUPS): 2 approvals from the defaults (U0BOB, S0IAMADMINS)",
    ]


def test_without_a_file_argument_it_checks_the_file_iam_bot_rules_file_names():
    code, out, _ = rules_check(env={"IAM_BOT_RULES_FILE": "bot/shell/rules.toml", "IAM_BOT_SENSITIVE_GROUPS": "Admins"})
    assert code == 0
    assert out[0] == "Rules from bot/shell/rules.toml: valid."
    assert "Admins (IAM_BOT_SENSITIVE_GROUPS): 2 approvals from S0IAMADMINS, U0BOB (group Admins)" in out


def test_the_shells_sample_file_is_valid():
    code, out, err = rules_check(SHELL_RULES)
    assert (code, err) == (0, [])
    assert "group Developers: 1 approval from U0BOB; at most 90d" in out


@pytest.mark.parametrize("text, line", [
    (GOOD.replace("approvals = 2", "aproval = 2"), "group[0].aproval: unknown key (did you mean approvals?)"),
    (GOOD.replace("approvals = 2", "approvals = 0"), "group[0].approvals: must be at least 1"),
    (GOOD.replace('max_duration = "4h"', 'max_duration = "4 hours"'),
     'group[0].max_duration: use a number with m, h or d in quotes, for example "4h"'),
    (GOOD.replace("[break_glass]", "[break-glass]"), "break-glass: unknown key (did you mean break_glass?)"),
    (GOOD.replace('max_duration = "30d"', 'max_duration = "30d"\napprovals = 2'),
     "group[1].auto_approve: not allowed on a group that needs 2 approvals"),
    (GOOD + '[[group]]\nname = "Prod-Admins"\napprovers = ["S0SECURITY"]\napprovals = 2\n',
     "group[3].name: Prod-Admins is already matched by group[2] (Prod-*)"),
])
def test_each_bad_file_gets_one_line_naming_the_key_and_exit_2(tmp_path, text, line):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    code, out, err = rules_check(path)
    assert (code, out, err) == (2, [], [f"iam-bot: {path}: {line}"])


def test_a_file_that_is_not_toml_gets_one_line_with_where(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(GOOD.replace('name = "Admins" ', "name = Admins "))
    code, out, [line] = rules_check(path)
    assert (code, out) == (2, [])
    assert line.startswith(f"iam-bot: {path}: not TOML: ") and line.endswith("(at line 7, column 8)")


def test_a_missing_file_and_a_missing_environment_each_get_one_line():
    assert rules_check("no-such-rules.toml")[::2] == (
        2, ["iam-bot: no-such-rules.toml: cannot read it: No such file or directory"])
    assert rules_check()[::2] == (2, ["iam-bot: IAM_BOT_APPROVERS is required but not set (or name a rules file)"])
