"""`[[account]]` in the rules file (issue 23), as pydantic reads it (extra=forbid) and the checks
that follow; and the hub's and the spoke's printed policies."""

import json

import pytest

from commands.policy import hub_policy, spoke_policy, trust_policy
from commands.ruleset import RulesError, parse_rules

DEFAULTS = {"approvers": ["U0BOB"]}
STAGING = {"name": "staging", "role_arn": "arn:aws:iam::222222222222:role/iam-bot", "external_id": "ext-staging"}


def rules(*accounts, groups=()):
    return parse_rules({"defaults": DEFAULTS, "account": list(accounts), "group": list(groups)})


def test_accounts_read_with_the_default_first():
    read = rules(STAGING, {"name": "prod", "default": True, "permissions_boundary":
                           "arn:aws:iam::123456789012:policy/b", "approvals_channel": "C0PROD", "user_path": "/people/"},
                 groups=[{"name": "Admins", "account": "prod"}, {"name": "Admins", "account": "staging"}])
    assert [a.name for a in read.accounts] == ["prod", "staging"]
    assert read.default_account.role_arn is None and read.accounts[1].account_id == "222222222222"
    assert read.groups[0].matches("admins", "prod") and not read.groups[0].matches("admins", "staging")
    assert read.groups[1].matches("admins", "staging")
    assert rules().accounts == ()  # no [[account]]: the bot's own account, as before


@pytest.mark.parametrize("accounts, groups, says", [
    ([{**STAGING, "default": True, "region": "x"}], [], "account[0].region: unknown key"),
    ([{**STAGING, "default": True, "role_arn": "arn:aws:iam::1:user/x"}], [], "account[0].role_arn: 'arn:aws:iam::1:user/x' is not a role's ARN"),
    ([{**STAGING, "default": True, "permissions_boundary": "b"}], [], "account[0].permissions_boundary: use a managed policy's ARN"),
    ([{**STAGING, "default": True, "approvals_channel": "#iam"}], [], "account[0].approvals_channel: use the channel id"),
    ([{**STAGING, "default": True, "user_path": "people"}], [], "account[0].user_path: an IAM path"),
    ([STAGING], [], "exactly one [[account]] must say default = true (none does)"),
    ([{**STAGING, "default": True}, {**STAGING, "name": "other", "default": True,
                                     "role_arn": "arn:aws:iam::333333333333:role/iam-bot"}], [], "account[1] is a second"),
    ([{"name": "prod", "default": True}, {"name": "staging", "role_arn": STAGING["role_arn"]}], [],
     "account[1].external_id: required with a role_arn"),
    ([{"name": "prod", "default": True}, {"name": "sandbox"}], [], "account[1].role_arn: required"),
    ([{"name": "prod", "default": True}, {**STAGING, "name": "PROD"}], [], "account[1].name: PROD is already named"),
    ([{"name": "prod", "default": True}, STAGING], [{"name": "Admins", "account": "sandbox"}],
     "group[0].account: no [[account]] named sandbox (known: prod, staging)"),
    ([{"name": "prod default", "default": True}], [], "is not an account name"),
])
def test_a_wrong_account_entry_is_one_line_naming_the_key(accounts, groups, says):
    with pytest.raises(RulesError, match=None) as error:
        rules(*accounts, groups=groups)
    assert says in str(error.value)


ROLES = ("arn:aws:iam::222222222222:role/iam-bot", "arn:aws:iam::333333333333:role/iam-bot")


def test_the_hub_may_assume_exactly_the_listed_roles():
    policy = hub_policy("/", None, ROLES)
    [assume] = [s for s in policy["Statement"] if s["Action"] == ["sts:AssumeRole"]]
    assert assume["Resource"] == list(ROLES)
    assert sum("sts:AssumeRole" in s["Action"] for s in policy["Statement"]) == 1
    assert hub_policy("/", None, ())["Statement"] == hub_policy("/", None, ())["Statement"]
    assert not [s for s in hub_policy("/", None, ())["Statement"] if "sts:AssumeRole" in s["Action"]]


def test_the_spoke_role_has_the_bots_permissions_and_trusts_the_hub_with_the_external_id():
    permissions = spoke_policy("/people/", "arn:aws:iam::222222222222:policy/b")
    [create] = [s for s in permissions["Statement"] if "iam:CreateUser" in s["Action"]]
    assert create["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": "arn:aws:iam::222222222222:policy/b"}}
    trust = trust_policy("arn:aws:iam::123456789012:role/iam-bot-hub", "ext-staging")
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/iam-bot-hub"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-staging"}}


def test_parliament_finds_nothing_in_the_hub_and_spoke_policies():
    from parliament import analyze_policy_string

    for document in (hub_policy("/", "arn:aws:iam::123456789012:policy/b", ROLES), spoke_policy("/", None)):
        findings = analyze_policy_string(json.dumps(document)).findings
        assert not findings, [(f.issue, f.detail) for f in findings]
    # parliament reads identity policies: a trust policy has no Resource, which it says, and only that.
    trust = trust_policy("arn:aws:iam::123456789012:role/iam-bot-hub", "ext-staging")
    findings = analyze_policy_string(json.dumps(trust)).findings
    assert [(f.issue, f.detail) for f in findings] == [("MALFORMED", "Statement contains neither Resource nor NotResource")]


RULES_FILE = """
[defaults]
approvers = ["U0BOB"]

[[account]]
name = "prod"
default = true
permissions_boundary = "arn:aws:iam::123456789012:policy/iam-bot-boundary"

[[account]]
name = "staging"
role_arn = "arn:aws:iam::222222222222:role/iam-bot"
external_id = "ext-staging"
user_path = "/people/"
permissions_boundary = "arn:aws:iam::222222222222:policy/iam-bot-boundary"
"""


def printed(monkeypatch, capsys, tmp_path, *argv):
    from bot.cli import main

    path = tmp_path / "rules.toml"
    path.write_text(RULES_FILE)
    for name in ("IAM_BOT_USER_PATH", "IAM_BOT_PERMISSIONS_BOUNDARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IAM_BOT_RULES_FILE", str(path))
    code = main(["policy", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_iam_bot_policy_prints_the_hubs_and_each_spokes(monkeypatch, capsys, tmp_path):
    code, out, _ = printed(monkeypatch, capsys, tmp_path)
    hub = json.loads(out)
    assert code == 0
    [assume] = [s for s in hub["Statement"] if s["Action"] == ["sts:AssumeRole"]]
    assert assume["Resource"] == ["arn:aws:iam::222222222222:role/iam-bot"]
    [create] = [s for s in hub["Statement"] if "iam:CreateUser" in s["Action"]]
    assert create["Condition"]["ArnEquals"]["iam:PermissionsBoundary"].endswith("123456789012:policy/iam-bot-boundary")
    code, out, _ = printed(monkeypatch, capsys, tmp_path, "--spoke", "staging", "--hub",
                           "arn:aws:iam::123456789012:role/iam-bot-hub")
    permissions, trust = [json.loads(part.split("\n", 1)[1]) for part in out.split("# ")[1:]]
    [create] = [s for s in permissions["Statement"] if "iam:CreateUser" in s["Action"]]
    assert create["Resource"] == "arn:aws:iam::*:user/people/*"
    assert create["Condition"]["ArnEquals"]["iam:PermissionsBoundary"].endswith("222222222222:policy/iam-bot-boundary")
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-staging"}}
    assert trust["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/iam-bot-hub"}
    code, _, err = printed(monkeypatch, capsys, tmp_path, "--spoke", "sandbox", "--hub", "arn:aws:iam::1:role/x")
    assert code == 2 and "no [[account]] named sandbox with a role_arn" in err and "known: staging" in err


def test_rules_check_names_each_account(tmp_path, capsys):
    from bot.rules_cli import check

    class Exists:  # every boundary asked for exists (tests/test_boundary_e2e.py asks moto)
        asked = []

        def policy_exists(self, arn):
            self.asked.append(arn)
            return True

        def gateway(self, name):
            return self

    path = tmp_path / "rules.toml"
    path.write_text(RULES_FILE)
    assert check(str(path), {}, iam=Exists(), registry=Exists()) == 0
    assert Exists.asked == ["arn:aws:iam::123456789012:policy/iam-bot-boundary",
                            "arn:aws:iam::222222222222:policy/iam-bot-boundary"]
    out = capsys.readouterr().out
    assert "account prod (default): the bot's own credentials' account; boundary arn:aws:iam::123456789012" in out
    assert "account staging: assumes arn:aws:iam::222222222222:role/iam-bot (external id set); user path /people/" in out
    assert "ext-staging" not in out  # the external id is not a secret, but it is not printed either
    path.write_text(RULES_FILE.replace('name = "staging"', 'name = "staging"\nregion = "eu-west-1"'))
    assert check(str(path), {}) == 2
    assert "account[1].region: unknown key" in capsys.readouterr().err


def test_account_is_taken_out_once_for_every_verb():
    from commands.errors import CommandError, Why
    from commands.parse import Parser, Verb

    seen = []
    parser = Parser([Verb("review", lambda args: seen.append(args) or object(), "`/iam review`", 1)],
                    accounts=("prod", "staging"))
    parser.parse("review start --account staging now")
    parser.parse("review --account=STAGING")
    assert seen == [["start", "now"], []]  # the verb's own parser never sees it
    assert parser.account("review --account Staging") == "staging"
    assert parser.account("review --account prod") is None  # the default records none, named or not
    assert parser.account("review") is None
    for text, why in (("review --account sandbox", Why.UNKNOWN_ACCOUNT), ("review --account", Why.ACCOUNT_WHICH),
                      ("review --account --now", Why.ACCOUNT_WHICH)):
        with pytest.raises(CommandError) as error:
            parser.parse(text)
        assert error.value.why is why
    with pytest.raises(CommandError) as error:
        Parser(parser.verbs.values()).parse("review --account prod")
    assert error.value.why is Why.NO_ACCOUNTS


def test_a_group_rule_with_an_account_applies_in_that_account_only():
    from commands.ruleset import rule_for
    from commands.scope import in_account

    read = rules({"name": "prod", "default": True}, STAGING, groups=[
        {"name": "Admins", "account": "staging", "approvals": 2, "approvers": ["U0BOB", "U0FAR"]},
        {"name": "Admins", "approvals": 1, "approvers": ["U0CAROL"]}])
    assert rule_for(read, "Admins").approvers == ("U0CAROL",)  # the default account: the second entry
    with in_account("staging"):
        assert rule_for(read, "admins").approvals == 2
    assert rule_for(read, "Developers") is read.defaults
