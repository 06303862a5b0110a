"""The bot's own IAM policy allows every AWS call the code makes, and no more than it says."""

import json
import re
from pathlib import Path

import boto3
import pytest

from commands.policy import allowed_operations, bot_policy, render

ROOT = Path(__file__).resolve().parent.parent


def operations_in_source() -> set[str]:
    """Every `self.client.<method>(` and paginator in the gateway, as IAM operation names."""
    source = (ROOT / "commands" / "iam.py").read_text()
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    mapping = client.meta.method_to_api_mapping
    methods = set(re.findall(r"self\.client\.(\w+)\(", source)) - {"get_paginator"}
    methods |= set(re.findall(r'get_paginator\("(\w+)"\)', source))
    unknown = methods - set(mapping)
    assert not unknown, f"not IAM methods: {unknown}"
    return {mapping[m] for m in methods}


def test_the_policy_allows_every_operation_in_the_gateway():
    missing = operations_in_source() - allowed_operations(bot_policy())
    assert not missing, f"iam-policy.json lacks {sorted(missing)}"


def test_every_bot_in_the_suite_is_checked_against_its_policy(make_bot):
    """conftest's make_bot checks, after each test, every IAM call that test's bots made against
    the policy; here a bot is driven through a create and an approval to prove the check sees calls."""
    from bot import blocks
    bot = make_bot()
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert {"GetUser", "GetGroup", "CreateUser", "CreateLoginProfile", "AddUserToGroup"} <= bot.called
    assert bot.called <= allowed_operations(bot_policy("/people/"))


def test_writes_are_scoped_to_the_user_path():
    policy = bot_policy("/people/")
    [write] = [s for s in policy["Statement"] if "iam:CreateUser" in s["Action"]]
    assert write["Resource"] == "arn:aws:iam::*:user/people/*"
    # The one deletion: an access key its owner or an approver retires (deactivated first).
    assert all(("iam:Delete" not in a or a == "iam:DeleteAccessKey") and a != "iam:*"
               for s in policy["Statement"] for a in s["Action"])


def test_the_file_in_the_repository_is_the_default_policy():
    assert (ROOT / "iam-policy.json").read_text() == render("/")
    json.loads((ROOT / "iam-policy.json").read_text())
