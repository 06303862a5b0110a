"""`iam-bot rules check [FILE] [--slack]`: validate an approval rules file and print the rules per group.

Without FILE it checks what start-up would read: IAM_BOT_RULES_FILE, or without it the
environment's rules (IAM_BOT_APPROVERS, IAM_BOT_SENSITIVE_GROUPS). Exit 0 with the effective
rules, or 2 with one line naming the key and what is wrong: run it in CI before a rollout.
With `--slack` it also asks Slack (SLACK_BOT_TOKEN, SLACK_API_URL) whether every user group and
user the rules name exists: one usergroups.list for the groups, one users.info a user.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from commands.guardrails import ADMIN_LIKE
from commands.accounts import AccountRegistry, aws_clients, boundary_problems
from commands.iam import IamGateway, make_client, make_sts_client
from commands.parse import GROUP_NAME
from commands.ruleset import (SENSITIVE_FLOOR, Rule, Rules, RulesError, format_duration, load_rules, rule_for,
                              thresholds)
from commands.settings import SLACK_ID, SLACK_ID_WORDS, check_policy_arn, comma_list

DEFAULT_API_URL = "https://slack.com/api/"


def check(path: str | None, env: Mapping[str, str], slack: bool = False, iam=None, registry=None) -> int:
    """Print the effective rules (exit 0) or the one thing wrong (exit 2, on stderr); with `slack`,
    each id Slack does not know is a line on stderr too (exit 2). `iam`: the IamGateway that
    checks the permissions boundary (default: one over boto3's credential chain)."""
    path = path or env.get("IAM_BOT_RULES_FILE", "").strip() or None
    try:
        sensitive = comma_list(env.get("IAM_BOT_SENSITIVE_GROUPS", ""), GROUP_NAME, "an IAM group name")
    except ValueError as error:
        return _fail(f"IAM_BOT_SENSITIVE_GROUPS is malformed: {error}")
    approvers: tuple[str, ...] = ()
    if path is None:
        try:
            approvers = comma_list(env.get("IAM_BOT_APPROVERS", ""), SLACK_ID, SLACK_ID_WORDS)
        except ValueError as error:
            return _fail(f"IAM_BOT_APPROVERS is malformed: {error}")
        if not approvers:
            return _fail("IAM_BOT_APPROVERS is required but not set (or name a rules file)")
    try:
        rules = load_rules(path, approvers=approvers, sensitive_groups=sensitive)
    except RulesError as error:
        return _fail(f"{path}: {error}")
    for line in describe(rules):
        print(line)
    boundary = check_boundary(env, iam, rules, registry)
    if boundary:
        return boundary
    return check_slack(rules, env) if slack else 0


def check_boundary(env: Mapping[str, str], iam=None, rules: Rules | None = None, registry=None) -> int:
    """IAM_BOT_PERMISSIONS_BOUNDARY and each `[[account]]`'s permissions_boundary name a managed
    policy that exists in its account: one GetPolicy each (assuming the account's role)."""
    arn = env.get("IAM_BOT_PERMISSIONS_BOUNDARY", "").strip() or None
    accounts = rules.accounts if rules is not None else ()
    wanted = [b for b in (arn, *(a.permissions_boundary for a in accounts)) if b]
    if not wanted:
        return 0
    try:
        arn and check_policy_arn(arn)
    except ValueError as error:
        return _fail(f"IAM_BOT_PERMISSIONS_BOUNDARY is malformed: {error}")
    own = iam or IamGateway(make_client(), make_sts_client())
    if accounts and registry is None:
        registry = AccountRegistry(accounts, own=own, sts=own.sts, clients=aws_clients)
    problems = boundary_problems(own, arn, accounts, registry)
    for line, _ in problems:
        print(f"iam-bot: {line}", file=sys.stderr)
    if problems:
        return 2
    print(f"Every permissions boundary exists ({', '.join(dict.fromkeys(wanted))}).")
    return 0


def named_ids(rules: Rules) -> list[str]:
    """Every user and user group id the rules name, once each, in the order they appear."""
    ids = list(rules.defaults.approvers)
    for rule in rules.groups:
        ids += rule.approvers if rule.own_approvers else ()
        ids += rule.auto_approve.requesters if rule.auto_approve else ()
        ids += rule.reviewers
    ids += rules.break_glass.requesters if rules.break_glass else ()
    return list(dict.fromkeys(ids))


def check_slack(rules: Rules, env: Mapping[str, str]) -> int:
    """Does Slack know each id? One usergroups.list, one users.info a user id."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    token = env.get("SLACK_BOT_TOKEN", "").strip()
    if not token:
        return _fail("SLACK_BOT_TOKEN is required for --slack but not set")
    client = WebClient(token=token, base_url=env.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL, timeout=10)
    ids = named_ids(rules)
    unknown: list[str] = []
    try:
        if any(ref.startswith("S") for ref in ids):
            known = {group["id"] for group in client.usergroups_list()["usergroups"]}
            unknown += [f"{ref}: no such user group in this workspace" for ref in ids
                        if ref.startswith("S") and ref not in known]
        for ref in ids:
            if ref.startswith("S"):
                continue
            try:
                user = client.users_info(user=ref)["user"]
            except SlackApiError as error:
                if error.response.get("error") not in ("user_not_found", "user_not_visible"):
                    raise
                unknown.append(f"{ref}: no such user in this workspace")
                continue
            if user.get("deleted"):
                unknown.append(f"{ref}: deactivated in Slack")
    except SlackApiError as error:
        return _fail(f"Slack refused to say ({error.response.get('error')}); nothing was checked")
    except (SlackClientError, OSError) as error:
        return _fail(f"Slack could not be reached ({type(error).__name__}); nothing was checked")
    where = rules.source or "IAM_BOT_APPROVERS"
    for line in unknown:
        print(f"iam-bot: {where}: {line}", file=sys.stderr)
    if unknown:
        return 2
    print(f"Slack knows every user group and user the rules name ({len(ids)}).")
    return 0


def _fail(line: str) -> int:
    print(f"iam-bot: {line}", file=sys.stderr)
    return 2


def describe(rules: Rules) -> list[str]:
    """The rules in words, one line each, as `rules check` prints them."""
    source = f"Rules from {rules.source}" if rules.source else \
        "Rules from the environment (IAM_BOT_RULES_FILE is not set)"
    lines = [f"{source}: valid.", f"defaults: {_approvals(rules.defaults)}"]
    lines += [f"{rule.name}: {_approvals(rule)}{_limits(rule)}" + (f"; in account {rule.account} only" if rule.account else "")
              for rule in rules.groups]
    for account in rules.accounts:
        where = (f"assumes {account.role_arn} (external id set)" if account.role_arn
                 else "the bot's own credentials' account")
        extra = [f"{key} {value}" for key, value in (("user path", account.user_path),
                                                      ("boundary", account.permissions_boundary),
                                                      ("cards in", account.approvals_channel)) if value]
        lines.append(f"account {account.name}{' (default)' if account.default else ''}: {where}"
                     + "".join(f"; {part}" for part in extra))
    for group in rules.sensitive_groups:
        rule = rule_for(rules, group)
        needed = thresholds(rules, (group,))[0].approvals
        by = "" if rule.pattern is None else f" ({rule.name})"
        lines.append(f"{group} (IAM_BOT_SENSITIVE_GROUPS): {_approvals(rule, needed, rule.pattern is None)}{by}")
    for deny in rules.denies:
        lines.append(f"{deny.name}: {', '.join(deny.groups)} refused at filing: {deny.reason}")
    glass = rules.break_glass
    if glass:
        lines.append(f"break_glass: {', '.join(glass.requesters)} may let themselves into "
                     f"{', '.join(glass.groups)} for up to {format_duration(glass.max_duration)}; "
                     f"a second person reviews within {format_duration(glass.review_within)}")
    lines.append(f"A group with {', '.join(ADMIN_LIKE[:-1])} or {ADMIN_LIKE[-1]} attached needs at least {SENSITIVE_FLOOR} approvals. "
                 "Any group not named above: the defaults.")
    return lines


def _approvals(rule: Rule, needed: int | None = None, defaults: bool = False) -> str:
    """The count and who: `2 approvals from S0SECURITY`, `1 approval from the defaults (U0BOB)`."""
    needed = rule.approvals if needed is None else needed
    count = f"{needed} approval{'s' if needed != 1 else ''}"
    who = ", ".join(rule.approvers)
    if defaults or (rule.pattern is not None and not rule.own_approvers):
        who = f"the defaults ({who})"
    return f"{count} from {who}"


def _limits(rule: Rule) -> str:
    parts = []
    if not rule.standing:
        parts.append("time-bound only")
    if rule.max_duration is not None:
        parts.append(f"at most {format_duration(rule.max_duration)}")
    auto = rule.auto_approve
    if auto:
        parts.append(f"auto-approved for {', '.join(auto.requesters)} up to {format_duration(auto.max_duration)}, "
                     f"{auto.per_requester_per_day} a requester a day")
    if rule.reviewers or rule.review_every or rule.review_deadline or rule.on_deadline != "report":
        review = f"reviewed by {', '.join(rule.who_reviews)}"
        if rule.review_every:
            review += f" every {format_duration(rule.review_every)}"
        if rule.review_deadline:
            review += f" within {format_duration(rule.review_deadline)}"
        parts.append(review + f", undecided at the deadline: {rule.on_deadline}")
    return "".join(f"; {part}" for part in parts)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="iam-bot rules", description="Check the approval rules file.")
    parser.add_argument("action", choices=["check"], help="check: validate and print the rules per group")
    parser.add_argument("file", nargs="?", help="the rules file (default: IAM_BOT_RULES_FILE, else the environment)")
    parser.add_argument("--slack", action="store_true",
                        help="also ask Slack whether each user group and user named exists (SLACK_BOT_TOKEN, SLACK_API_URL)")
    args = parser.parse_args(argv)
    return check(args.file, os.environ, slack=args.slack)
