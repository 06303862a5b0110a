"""`iam-bot shell` run as its own process with a script on stdin, and its transcript read back
as turns: who typed what, and what the shell printed after it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PROMPT = re.compile(r"^(alice|bob|carol|jane)> (.*)$")

# What a machine set up for real Slack and AWS might have: the shell must use none of it.
FOREIGN_ENVIRONMENT = {
    "SLACK_BOT_TOKEN": "xoxb-not-for-the-shell", "SLACK_SIGNING_SECRET": "not-for-the-shell",
    "SLACK_API_URL": "http://127.0.0.1:9/api/", "IAM_BOT_APPROVERS": "not ids!", "IAM_BOT_APPROVALS_CHANNEL": "#x",
    "DATABASE_URL": "postgres://nowhere", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ENDPOINT_URL_IAM": "http://127.0.0.1:9", "AWS_PROFILE": "no-such-profile",
    "AWS_ACCESS_KEY_ID": "AKIANOTFORTHESHELL00", "AWS_SECRET_ACCESS_KEY": "not-for-the-shell",
    # Optional settings the shell leaves at their defaults: read, they would change every story (no
    # such MFA group refuses every create; a sensitive Developers needs two approvers).
    "IAM_BOT_MFA_GROUP": "NoSuchGroup", "IAM_BOT_SENSITIVE_GROUPS": "Developers", "IAM_BOT_RULES_FILE": "/nowhere.toml",
}


def run_shell(script: str, timeout: float = 50) -> subprocess.CompletedProcess:
    env = dict(os.environ, **FOREIGN_ENVIRONMENT, PYTHONIOENCODING="utf-8")
    env.pop("LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "bot.cli", "shell"], input=script, capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout, cwd=ROOT, env=env)


def turns(output: str) -> list[tuple[str, str]]:
    """The transcript as (who typed what, what the shell printed after it), in order."""
    found: list[tuple[str, list[str]]] = [("banner", [])]
    for line in output.splitlines():
        match = PROMPT.match(line)
        if match:
            found.append((f"{match[1]}> {match[2]}", []))
        else:
            found[-1][1].append(line)
    return [(typed, "\n".join(lines)) for typed, lines in found]


def after(said: list[tuple[str, str]], typed: str) -> list[str]:
    """What the shell printed after each time this line was typed (`alice> click 1`), in order."""
    found = [shown for who_typed, shown in said if who_typed == typed]
    assert found, f"{typed!r} was never typed; the turns were {[t for t, _ in said]}"
    return found


def message(text: str, header: str) -> str:
    """The first message under a header containing `header`: its header line and its lines."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("── ") and header in line:
            body = [line]
            for following in lines[i + 1:]:
                if not following.startswith("    "):
                    break
                body.append(following)
            return "\n".join(body)
    raise AssertionError(f"no message under a header with {header!r} in:\n{text}")
