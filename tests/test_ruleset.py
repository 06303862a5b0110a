"""Approval rules as code: the file read and checked, and every decision over it, as plain values."""

import copy
import dataclasses
import datetime as dt
import pathlib
import tomllib

import pytest
from hypothesis import given, settings, strategies as st

from commands.ruleset import (
    Verdict, auto_approve, break_glass, denial, deny_reason, env_rules, format_duration, is_account_approver, is_approver,
    is_approver_for_user, load_rules, may_approve, may_deny, membership_limit, parse_rules, preview, progress,
    rule_for, rules_from_settings, RulesError, thresholds,
)
from commands.settings import load_settings
from tests.support.rules import ISSUE_FILE

ROOT = pathlib.Path(__file__).resolve().parent.parent
HOUR = dt.timedelta(hours=1)

ISSUE = tomllib.loads(ISSUE_FILE)

# Who is in which user group: the security team, the dev leads, engineers, on call.
MEMBERS = {
    "S0SECURITY": {"U0SAM", "U0SUE"},
    "S0PLATFORM": {"U0PAT"},
    "S0DEVLEADS": {"U0DAN", "U0SAM"},
    "S0ENGINEERS": {"U0ALICE", "U0ERIN"},
    "S0ONCALL": {"U0OLLY"},
}


def member(user_id, group):
    return user_id in MEMBERS.get(group, ())


def issue_rules(**changes):
    data = copy.deepcopy(ISSUE)
    data.update(changes)
    return parse_rules(data)


def with_developers(**developers):
    """The issue's file and a Developers group the dev leads approve."""
    data = copy.deepcopy(ISSUE)
    data["group"].append({"name": "Developers", "approvers": ["S0DEVLEADS"], **developers})
    return parse_rules(data)


# --- Which rule applies ---

def test_the_issue_file_reads_as_written():
    rules = parse_rules(tomllib.loads(ISSUE_FILE))
    admins = rule_for(rules, "Admins")
    assert (admins.name, admins.approvers, admins.approvals, admins.standing, admins.max_duration) == (
        "group Admins", ("S0SECURITY",), 2, False, 4 * HOUR)
    read_only = rule_for(rules, "ReadOnly")
    assert (read_only.approvers, read_only.approvals, read_only.own_approvers) == (("S0PLATFORM", "U0BOB"), 1, False)
    assert read_only.auto_approve.max_duration == 8 * HOUR and read_only.auto_approve.per_requester_per_day == 3
    assert rules.break_glass.review_within == 24 * HOUR
    assert rule_for(rules, "Developers").name == "defaults"


def test_a_group_matches_by_name_or_glob_in_any_case_and_the_first_entry_wins():
    data = copy.deepcopy(ISSUE)
    data["group"] = [{"name": "Prod-Web", "approvers": ["U0DAN"]}, {"name": "Prod-*", "approvers": ["S0SECURITY"]},
                     *data["group"]]
    rules = parse_rules(data)
    assert rule_for(rules, "prod-web").name == "group Prod-Web"
    assert rule_for(rules, "PROD-DB").name == "group Prod-*"
    assert rule_for(rules, "admins").name == "group Admins"
    assert rule_for(rules, "Production").name == "defaults"


GROUP_CHARS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-",
                      min_size=1, max_size=30)


@given(name=GROUP_CHARS, suffix=st.text(alphabet="abcXYZ019-_", max_size=10))
def test_globs_and_names_match_like_iam_any_case(name, suffix):
    data = copy.deepcopy(ISSUE)
    data["group"] = [{"name": name.swapcase(), "approvals": 1}, {"name": f"{name}*", "approvers": ["U0DAN"]}]
    rules = parse_rules(data)
    assert rule_for(rules, name).name == f"group {name.swapcase()}"
    if suffix:
        assert rule_for(rules, (name + suffix).upper()).name == f"group {name}*"


# --- Thresholds and progress ---

def test_a_security_persons_one_click_counts_for_admins_and_developers():
    rules = with_developers()
    needs = thresholds(rules, ("Admins", "Developers"))
    assert [(t.group, t.rule, t.approvers, t.approvals) for t in needs] == [
        ("Admins", "group Admins", ("S0SECURITY",), 2), ("Developers", "group Developers", ("S0DEVLEADS",), 1)]
    after_sam = progress(needs, ["U0SAM"], member, requester="U0ALICE", owner="U0JANE")
    assert not after_sam.met
    assert [(s.threshold.group, s.still, s.threshold.approvals) for s in after_sam.waiting] == [("Admins", 1, 2)]
    assert progress(needs, ["U0SAM", "U0SUE"], member, "U0ALICE", "U0JANE").met


def test_a_dev_lead_cannot_approve_admins_but_may_approve_developers():
    rules = with_developers()
    needs = thresholds(rules, ("Admins", "Developers"))
    dan = may_approve("U0DAN", needs, [], member, "U0ALICE", "U0JANE")
    assert (dan.allowed, dan.rule, dan.group) == (True, "group Developers", "Developers")
    # Once Developers has its one, Dan's click would add nothing: only security can finish it.
    late = may_approve("U0DAN", needs, ["U0SAM"], member, "U0ALICE", "U0JANE")
    assert (late.allowed, late.why, late.rule) == (False, Verdict.NOT_APPROVER, "group Admins, group Developers")
    only_admins = thresholds(rules, ("Admins",))
    assert may_approve("U0DAN", only_admins, [], member, "U0ALICE", "U0JANE").why is Verdict.NOT_APPROVER
    assert not progress(only_admins, ["U0DAN", "U0PAT"], member, "U0ALICE", "U0JANE").met


def test_the_requester_and_the_owner_never_count():
    rules = issue_rules()
    needs = thresholds(rules, ("Admins",))
    assert not progress(needs, ["U0SAM", "U0SUE"], member, requester="U0SAM", owner="U0JANE").met
    assert not progress(needs, ["U0SAM", "U0SUE"], member, requester="U0ALICE", owner="U0SUE").met
    assert may_approve("U0SAM", needs, [], member, "U0SAM", "U0JANE").why is Verdict.REQUESTER
    assert may_approve("U0SUE", needs, [], member, "U0ALICE", "U0SUE").why is Verdict.OWNER
    assert may_deny("U0SUE", needs, member, "U0ALICE", "U0SUE").why is Verdict.OWNER
    assert may_approve("U0SAM", needs, ["U0SAM"], member, "U0ALICE", "U0JANE").why is Verdict.ALREADY_APPROVED


def test_any_approver_of_the_request_may_deny_it_even_when_their_group_has_enough():
    needs = thresholds(with_developers(), ("Admins", "Developers"))
    assert may_deny("U0DAN", needs, member, "U0ALICE", "U0JANE").rule == "group Developers"
    assert may_deny("U0PAT", needs, member, "U0ALICE", "U0JANE").why is Verdict.NOT_APPROVER


@given(approvals=st.integers(1, 5), by_grants=st.booleans(), named=st.booleans())
def test_a_sensitive_group_needs_at_least_two_whatever_the_file_says(approvals, by_grants, named):
    data = copy.deepcopy(ISSUE)
    data["group"].append({"name": "Developers", "approvers": ["S0DEVLEADS"], "approvals": approvals})
    rules = parse_rules(data, sensitive_groups=("DEVELOPERS",) if named else ())
    [need] = thresholds(rules, ("Developers",), {"developers": "AdministratorAccess"} if by_grants else ())
    assert need.approvals == (max(approvals, 2) if by_grants or named else approvals)
    assert need.sensitive == (by_grants or named)


def test_no_group_at_stake_means_the_defaults_decide():
    [need] = thresholds(issue_rules(), ())
    assert (need.group, need.rule, need.approvers, need.approvals) == (None, "defaults", ("S0PLATFORM", "U0BOB"), 1)


def test_a_group_asked_twice_in_two_cases_is_one_threshold():
    assert [t.group for t in thresholds(issue_rules(), ("Admins", "admins", "ReadOnly"))] == ["Admins", "ReadOnly"]


PEOPLE = ("U0BOB", "U0CAROL", "U0DAN", "U0ALICE", "U0JANE")


def shell_member(user_id, group):
    """The shell's world: carol is in @iam-admins."""
    return group == "S0IAMADMINS" and user_id == "U0CAROL"


@settings(max_examples=200)
@given(groups=st.lists(st.sampled_from(("Admins", "Developers", "ReadOnly", "admins")), max_size=4),
       named=st.lists(st.sampled_from(("Admins", "ReadOnly")), max_size=2),
       by_grants=st.lists(st.sampled_from(("Admins", "Developers")), max_size=2),
       approvals=st.lists(st.sampled_from(PEOPLE), max_size=5),
       requester=st.sampled_from(PEOPLE), owner=st.sampled_from(PEOPLE))
def test_without_a_file_approval_is_exactly_as_before(groups, named, by_grants, approvals, requester, owner):
    """Today: 2 distinct approvers from IAM_BOT_APPROVERS (bob, and carol through @iam-admins) when
    any group is sensitive, else 1; neither the requester nor the owner counts."""
    rules = env_rules(("U0BOB", "S0IAMADMINS"), named)
    needs = thresholds(rules, groups, by_grants)
    listed = {p for p in approvals if p in ("U0BOB", "U0CAROL")} - {requester, owner}
    sensitive = {g.lower() for g in groups} & {g.lower() for g in (*named, *by_grants)}
    today_met = len(listed) >= (2 if sensitive else 1)
    assert progress(needs, approvals, shell_member, requester, owner).met == today_met


# --- Deny ---

class Busy(Exception):
    "Slack could not say"


def test_a_user_group_slack_cannot_read_decides_nothing_when_another_says_yes():
    def membership(person, group):
        if group == "S0BUSY":
            raise Busy(group)
        return member(person, group)
    assert is_approver("U0SAM", ("S0BUSY", "S0SECURITY"), membership)
    assert is_approver("U0BOB", ("S0BUSY", "U0BOB"), membership)
    with pytest.raises(Busy):
        is_approver("U0DAN", ("S0BUSY", "S0SECURITY"), membership)  # no yes: never "no" for "could not check"
    assert not is_approver("U0DAN", ("S0SECURITY", "U0BOB"), membership)


def test_deny_names_its_rule_and_reason_for_a_name_or_a_glob_in_any_case():
    rules = issue_rules()
    ruling = deny_reason(rules, ("ReadOnly", "organizationadmins-eu"))
    assert (ruling.allowed, ruling.why, ruling.rule, ruling.group) == (
        False, Verdict.DENIED, "deny[0]", "organizationadmins-eu")
    assert denial(rules, ruling).reason == "Ask in #security; not through chat."
    assert deny_reason(rules, ("billingadmins",)).rule == "deny[0]"
    assert deny_reason(rules, ("Admins", "ReadOnly")) is None


# --- Who is an approver elsewhere ---

def test_an_approver_for_a_user_is_a_default_approver_or_one_of_a_current_groups():
    rules = with_developers()
    assert is_approver_for_user(rules, "U0PAT", ("Developers",), member).rule == "defaults"
    assert is_approver_for_user(rules, "U0SAM", ("ReadOnly", "Admins"), member).rule == "group Admins"
    assert is_approver_for_user(rules, "U0DAN", ("Developers",), member).allowed
    assert not is_approver_for_user(rules, "U0DAN", ("Admins", "ReadOnly"), member).allowed
    assert is_account_approver(rules, "U0BOB", member).allowed
    assert not is_account_approver(rules, "U0SAM", member).allowed


# --- Durations ---

def test_standing_false_allows_only_time_bound_membership_up_to_max_duration():
    rules = issue_rules()
    assert membership_limit(rules, ("Admins",), None).why is Verdict.NOT_TIME_BOUND
    too_long = membership_limit(rules, ("ReadOnly", "Admins"), 5 * HOUR)
    assert (too_long.why, too_long.rule, too_long.limit) == (Verdict.TOO_LONG, "group Admins", 4 * HOUR)
    assert membership_limit(rules, ("Admins", "ReadOnly"), 4 * HOUR).allowed
    assert membership_limit(rules, ("Developers",), None).rule == "defaults"


# --- Auto-approve ---

def auto(duration=8 * HOUR, count=0, requester="U0ALICE", group="ReadOnly", sensitive=False, rules=None):
    return auto_approve(rules or issue_rules(), group, requester, member, duration, count, sensitive)


def test_auto_approve_within_its_limits_names_the_rule():
    ruling = auto()
    assert (ruling.allowed, ruling.rule, ruling.group) == (True, "group ReadOnly auto_approve", "ReadOnly")


@given(hours=st.integers(1, 48), count=st.integers(0, 6))
def test_auto_approve_only_up_to_its_duration_and_its_daily_count(hours, count):
    ruling = auto(hours * HOUR, count)
    assert ruling.allowed == (hours <= 8 and count < 3)
    if hours > 8:
        assert (ruling.why, ruling.limit) == (Verdict.TOO_LONG, 8 * HOUR)
    elif count >= 3:
        assert (ruling.why, ruling.limit) == (Verdict.DAILY_LIMIT, 3)


def test_auto_approve_refuses_what_it_does_not_cover():
    assert auto(None).why is Verdict.NOT_TIME_BOUND
    assert auto(requester="U0PAT").why is Verdict.NOT_LISTED
    assert auto(group="Admins").why is Verdict.NO_RULE
    assert auto(sensitive=True).why is Verdict.SENSITIVE  # sensitive by its grants: known only at request time
    named = dataclasses.replace(issue_rules(), sensitive_groups=("readonly",))  # as if the file had passed
    assert auto(rules=named).why is Verdict.SENSITIVE


def test_deny_wins_over_auto_approve_and_break_glass():
    data = copy.deepcopy(ISSUE)
    data["deny"][0]["groups"].extend(["ReadOnly", "Admins"])
    rules = parse_rules(data)
    assert auto(rules=rules).rule == "deny[0]"
    assert break_glass(rules, ("Admins",), "U0OLLY", member, HOUR, "prod is down").why is Verdict.DENIED


# --- Break-glass ---

def glass(groups=("Admins",), requester="U0OLLY", duration=HOUR, reason="prod is down, INC-42", rules=None):
    return break_glass(rules or issue_rules(), groups, requester, member, duration, reason)


def test_break_glass_lets_on_call_in_for_up_to_its_max_duration():
    ruling = glass()
    assert (ruling.allowed, ruling.rule, ruling.group, ruling.limit) == (True, "break_glass", "Admins", HOUR)
    assert glass(duration=30 * dt.timedelta(minutes=1)).allowed


@pytest.mark.parametrize("change, why", [
    (dict(duration=2 * HOUR), Verdict.TOO_LONG),
    (dict(duration=None), Verdict.NOT_TIME_BOUND),
    (dict(reason="  "), Verdict.NO_REASON),
    (dict(reason=None), Verdict.NO_REASON),
    (dict(requester="U0SAM"), Verdict.NOT_LISTED),
    (dict(groups=("Admins", "ReadOnly")), Verdict.NOT_COVERED),
    (dict(groups=()), Verdict.NO_RULE),
])
def test_break_glass_refuses_outside_its_limits(change, why):
    ruling = glass(**change)
    assert (ruling.allowed, ruling.why, ruling.rule) == (False, why, "break_glass")


def test_break_glass_never_goes_past_the_groups_own_max_duration():
    data = copy.deepcopy(ISSUE)
    data["break_glass"].update(max_duration="8h", groups=["Admins", "Ops"])  # Admins: at most 4h
    data["group"].append({"name": "Ops", "max_duration": "2h"})
    rules = parse_rules(data)
    assert glass(rules=rules, duration=4 * HOUR).limit == 4 * HOUR
    too_long = glass(rules=rules, duration=5 * HOUR)
    assert (too_long.allowed, too_long.why, too_long.group, too_long.limit) == (False, Verdict.TOO_LONG, "Admins", 4 * HOUR)
    both = glass(rules=rules, groups=("Admins", "Ops"), duration=3 * HOUR)  # the shortest of them all
    assert (both.allowed, both.why, both.group, both.limit) == (False, Verdict.TOO_LONG, "Ops", 2 * HOUR)
    assert glass(rules=rules, groups=("Admins", "Ops"), duration=2 * HOUR).limit == 2 * HOUR
    [admins] = preview(rules, ("Admins",), "U0OLLY", member)
    assert admins.break_glass.limit == 4 * HOUR
    data["group"][0].pop("max_duration")  # no limit of its own: break_glass's
    assert glass(rules=parse_rules(data), duration=8 * HOUR).limit == 8 * HOUR


def test_no_break_glass_section_means_nobody_breaks_glass():
    data = copy.deepcopy(ISSUE)
    del data["break_glass"]
    assert glass(rules=parse_rules(data)).why is Verdict.NO_RULE


# --- who-approves ---

def test_preview_says_who_approves_how_many_how_long_and_what_the_asker_could_do():
    rules = issue_rules()
    admins, read_only, billing = preview(rules, ("Admins", "ReadOnly", "BillingAdmins"), "U0OLLY", member)
    assert (admins.threshold.approvers, admins.threshold.approvals, admins.standing, admins.max_duration) == (
        ("S0SECURITY",), 2, False, 4 * HOUR)
    assert (admins.break_glass.allowed, admins.break_glass.limit) == (True, HOUR)
    assert admins.auto_approve.why is Verdict.NO_RULE and admins.denied is None
    assert read_only.auto_approve.why is Verdict.NOT_LISTED
    assert billing.denied.reason == "Ask in #security; not through chat."
    [engineer] = preview(rules, ("readonly",), "U0ALICE", member)
    assert (engineer.auto_approve.allowed, engineer.auto_approve.limit, engineer.break_glass.why) == (
        True, 8 * HOUR, Verdict.NOT_LISTED)
    [by_grants] = preview(rules, ("ReadOnly",), "U0ALICE", member, sensitive_by_grants={"ReadOnly"})
    assert (by_grants.threshold.approvals, by_grants.auto_approve.why) == (2, Verdict.SENSITIVE)


# --- The file's mistakes: one line naming the key and what is wrong ---

def mutate(change):
    data = copy.deepcopy(ISSUE)
    change(data)
    return data


@pytest.mark.parametrize("change, line", [
    (lambda d: d["group"][0].update(aproval=2), "group[0].aproval: unknown key (did you mean approvals?)"),
    (lambda d: d["group"][1].update(approvals=0), "group[1].approvals: must be at least 1"),
    (lambda d: d["group"][1].update(approvals="2"), "group[1].approvals: must be a whole number"),
    (lambda d: d.update(groups=d.pop("group")), "groups: unknown key (did you mean group?)"),
    (lambda d: d.pop("defaults"), "defaults: required"),
    (lambda d: d["defaults"].update(approvers=["bob"]),
     "defaults.approvers[0]: 'bob' is not a Slack user id (U...) or user group id (S...)"),
    (lambda d: d["defaults"].update(approvers=[]), "defaults.approvers: must not be empty"),
    (lambda d: d["group"][0].update(max_duration="4 hours"),
     'group[0].max_duration: use a number with m, h or d in quotes, for example "4h"'),
    (lambda d: d["group"][0].update(max_duration=4),
     'group[0].max_duration: use a number with m, h or d in quotes, for example "4h"'),
    (lambda d: d["group"][0].update(standing="no"), "group[0].standing: must be true or false"),
    (lambda d: d["group"][1]["auto_approve"].update(max_durations="1h"),
     "group[1].auto_approve.max_durations: unknown key (did you mean max_duration?)"),
    (lambda d: d["group"][1]["auto_approve"].pop("per_requester_per_day"),
     "group[1].auto_approve.per_requester_per_day: required"),
    (lambda d: d["deny"][0].update(reason="  "), "deny[0].reason: must not be empty"),
    (lambda d: d["break_glass"].update(groups="Admins"), "break_glass.groups: must be a list in [brackets]"),
    (lambda d: d["break_glass"].update(review_within="0h"), "break_glass.review_within: must be longer than zero"),
    (lambda d: d["group"][0].update(name="Adm ins"),
     "group[0].name: 'Adm ins' is not an IAM group name or a glob such as \"Prod-*\""),
    (lambda d: d["group"].append({"name": "admins"}), "group[2].name: admins is already named by group[0]"),
    (lambda d: d["group"][0].update(approvers=["U0SAM"]), "group[0].approvals: 2 needed but only 1 approver is named"),
    # an entry an earlier glob already matches would never apply
    (lambda d: d["group"].insert(0, {"name": "Adm*"}), "group[1].name: Admins is already matched by group[0] (Adm*)"),
    (lambda d: d["group"].extend([{"name": "Prod-*"}, {"name": "prod-db-*"}]),
     "group[3].name: prod-db-* is already matched by group[2] (Prod-*)"),
    (lambda d: d["group"].extend([{"name": "Prod-?"}, {"name": "Prod-?-web"}, {"name": "*"}, {"name": "Dev"}]),
     "group[5].name: Dev is already matched by group[4] (*)"),
    (lambda d: d["group"][1].update(approvals=2),
     "group[1].auto_approve: not allowed on a group that needs 2 approvals"),
    (lambda d: d["defaults"].update(approvals=2),  # ReadOnly inherits the defaults' two
     "group[1].auto_approve: not allowed on a group that needs 2 approvals"),
    (lambda d: d["group"][1]["auto_approve"].update(max_duration="31d"),
     "group[1].auto_approve.max_duration: longer than the group's max_duration (30d)"),
    # access reviews (issue 22)
    (lambda d: d["group"][0].update(reviewer=["U0SAM"]), "group[0].reviewer: unknown key (did you mean reviewers?)"),
    (lambda d: d["group"][0].update(reviewers=[]), "group[0].reviewers: must not be empty"),
    (lambda d: d["group"][0].update(on_deadline="delete"),
     "group[0].on_deadline: must be one of 'report', 'remove' or 'disable'"),
    (lambda d: d["group"][0].update(review_every="quarterly"),
     'group[0].review_every: use a number with m, h or d in quotes, for example "4h"'),
])
def test_each_mistake_is_one_line_naming_the_key(change, line):
    with pytest.raises(RulesError) as raised:
        parse_rules(mutate(change))
    assert str(raised.value) == line


@pytest.mark.parametrize("earlier, later", [
    ("Prod-?", "Prod-*"), ("Prod-?", "Prod-AB"), ("Prod-a*", "Prod-*"), ("*-web", "Prod-*"), ("Prod", "Prod-*"),
])
def test_an_entry_an_earlier_one_only_partly_covers_is_allowed(earlier, later):
    data = copy.deepcopy(ISSUE)
    data["group"] += [{"name": earlier}, {"name": later}]
    assert [rule.pattern for rule in parse_rules(data).groups][-2:] == [earlier, later]


def test_auto_approve_on_a_group_named_sensitive_is_refused():
    with pytest.raises(RulesError) as raised:
        parse_rules(copy.deepcopy(ISSUE), sensitive_groups=("readonly",))
    assert str(raised.value) == "group[1].auto_approve: not allowed on a sensitive group (IAM_BOT_SENSITIVE_GROUPS names readonly)"


def test_without_a_file_the_environment_forms_the_rules():
    rules = load_rules(None, approvers=("U0BOB", "S0IAMADMINS"), sensitive_groups=("Admins",))
    assert rules == env_rules(("U0BOB", "S0IAMADMINS"), ("Admins",))
    assert (rules.defaults.approvers, rules.defaults.approvals, rules.groups, rules.denies, rules.break_glass) == (
        ("U0BOB", "S0IAMADMINS"), 1, (), (), None)


def test_start_up_reads_the_file_iam_bot_rules_file_names_else_the_environment():
    env = dict(iam_bot_approvals_channel="C0APPROVALS", iam_bot_approvers="U0BOB,S0IAMADMINS",
               iam_bot_sensitive_groups="Admins")
    assert rules_from_settings(load_settings(**env)) == env_rules(("U0BOB", "S0IAMADMINS"), ("Admins",))
    shell = rules_from_settings(load_settings(**env, iam_bot_rules_file=str(ROOT / "bot" / "shell" / "rules.toml")))
    assert (shell.source, rule_for(shell, "developers").approvers) == (str(ROOT / "bot" / "shell" / "rules.toml"),
                                                                       ("U0BOB",))


def test_durations_read_back_as_written():
    assert [format_duration(d) for d in (30 * dt.timedelta(minutes=1), 4 * HOUR, 24 * HOUR, 30 * 24 * HOUR)] == [
        "30m", "4h", "24h", "30d"]


# --- The shell's sample rules ---

def test_the_shells_sample_rules_tell_the_issues_stories():
    rules = load_rules(str(ROOT / "bot" / "shell" / "rules.toml"))
    needs = thresholds(rules, ("Admins", "Developers"), {"Admins": "AdministratorAccess"})
    # bob's one click counts for Admins and Developers; carol (security) completes Admins.
    assert [s.threshold.group for s in progress(needs, ["U0BOB"], shell_member, "U0ALICE", "U0JANE").waiting] == [
        "Admins"]
    assert progress(needs, ["U0BOB", "U0CAROL"], shell_member, "U0ALICE", "U0JANE").met
    # carol may not approve Developers: bob is its dev lead.
    assert may_approve("U0CAROL", thresholds(rules, ("Developers",)), [], shell_member, "U0ALICE",
                       "U0JANE").why is Verdict.NOT_APPROVER
    assert auto_approve(rules, "ReadOnly", "U0ALICE", shell_member, 4 * HOUR, 0).allowed
    assert break_glass(rules, ("Admins",), "U0CAROL", shell_member, HOUR, "prod is down").allowed
    assert denial(rules, deny_reason(rules, ("BillingAdmins",))).reason == "Ask in #security; not through chat."


def test_a_groups_review_keys_default_to_its_approvers_and_the_settings():
    rules = parse_rules(mutate(lambda d: d["group"][0].update(reviewers=["U0SAM"], review_every="90d",
                                                               on_deadline="remove")))
    admins, read_only = rule_for(rules, "Admins"), rule_for(rules, "ReadOnly")
    assert (admins.who_reviews, admins.review_every, admins.on_deadline) == (("U0SAM",), dt.timedelta(days=90), "remove")
    assert (read_only.who_reviews, read_only.review_every, read_only.review_deadline, read_only.on_deadline) == (
        rules.defaults.approvers, None, None, "report")
