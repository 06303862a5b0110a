"""Approval rules as code (issue 19): the rules file, read and checked, and the decisions over it.

`IAM_BOT_RULES_FILE` names a TOML file (docs/rules.md); without one, the environment forms the
rules exactly as before: `IAM_BOT_APPROVERS` approve everything, one approval, two for a group
`IAM_BOT_SENSITIVE_GROUPS` names. The rules are read once, at start-up.

Everything below the loader is a pure function of plain values: user ids, group names, a
`membership(user_id, user_group_id) -> bool` the caller answers (from Slack, cached), durations.
Every answer names the rule that gave it ("group Admins", "defaults", "deny[0]", "break_glass"),
so the trail can say why.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import fnmatch
import re
import tomllib
import types
import typing
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .scope import current_account
from .settings import SLACK_ID, SLACK_ID_WORDS, Settings, check_policy_arn, check_user_path, parse_duration

DEFAULTS = "defaults"
BREAK_GLASS = "break_glass"
SENSITIVE_FLOOR = 2  # a group sensitive by its grants (or named sensitive) needs at least two
_DURATION = re.compile(r"\d+\s*[smhd]")
_GLOB = re.compile(r"[\w+=,.@*?-]{1,128}", re.ASCII)
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", re.ASCII)
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/([\x21-\x7e]{0,510}/)?[\w+=,.@-]{1,64}", re.ASCII)
EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)

Membership = Callable[[str, str], bool]  # (user id, user group id) -> is that person in that group now?


class RulesError(Exception):
    "The rules file is not usable: one line naming the key and what is wrong"


# --- The file, as pydantic reads it: an unknown or misspelled key is an error, never ignored ---

def _duration(value):
    if not isinstance(value, str) or not _DURATION.fullmatch(value.strip()):
        raise ValueError("use a number with m, h or d in quotes, for example \"4h\"")
    return parse_duration(value)


def _approver(value: str) -> str:
    if not SLACK_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not {SLACK_ID_WORDS}")
    return value


def _group_pattern(value: str) -> str:
    if not _GLOB.fullmatch(value):
        raise ValueError(f"{value!r} is not an IAM group name or a glob such as \"Prod-*\"")
    return value


def _words(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


Duration = Annotated[dt.timedelta, BeforeValidator(_duration)]
Approver = Annotated[str, AfterValidator(_approver)]
GroupPattern = Annotated[str, AfterValidator(_group_pattern)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DefaultsTable(_Table):
    approvers: list[Approver] = Field(min_length=1)
    approvals: int = Field(default=1, ge=1)


class AutoApproveTable(_Table):
    requesters: list[Approver] = Field(min_length=1)
    max_duration: Duration
    per_requester_per_day: int = Field(ge=1)


class GroupTable(_Table):
    name: GroupPattern
    approvers: list[Approver] | None = Field(default=None, min_length=1)
    approvals: int | None = Field(default=None, ge=1)
    standing: bool = True
    max_duration: Duration | None = None
    auto_approve: AutoApproveTable | None = None
    enforce: bool = False
    # Access reviews (issue 22): who decides Keep or Remove (default: the group's approvers), how
    # often a campaign starts (default: IAM_BOT_REVIEW_EVERY), how long it runs (default:
    # IAM_BOT_REVIEW_DEADLINE), and what befalls an undecided membership at its deadline.
    reviewers: list[Approver] | None = Field(default=None, min_length=1)
    review_every: Duration | None = None
    review_deadline: Duration | None = None
    on_deadline: typing.Literal["report", "remove", "disable"] = "report"
    account: AccountName | None = None  # applies in that `[[account]]` only; None: in every account


def _account_name(value: str) -> str:
    if not ACCOUNT_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an account name: letters, digits, - and _, up to 32")
    return value


def _role_arn(value: str) -> str:
    if not ROLE_ARN.fullmatch(value):
        raise ValueError(f"{value!r} is not a role's ARN, for example arn:aws:iam::123456789012:role/iam-bot")
    return value


def _policy_arn(value: str) -> str:
    try:
        return check_policy_arn(value)
    except ValueError as error:
        raise ValueError(str(error)) from None


def _external_id(value: str) -> str:
    if not EXTERNAL_ID.fullmatch(value):
        raise ValueError("use 2 to 1224 characters of letters, digits and +=,.@:/-")
    return value


def _channel(value: str) -> str:
    if not re.fullmatch(r"[CG][A-Z0-9]+", value):
        raise ValueError("use the channel id (C...), not its name")
    return value


def _path(value: str) -> str:
    return check_user_path(value)


AccountName = Annotated[str, AfterValidator(_account_name)]


class AccountTable(_Table):
    """One `[[account]]`: an AWS account the bot manages by assuming `role_arn` (docs/rules.md)."""

    name: AccountName
    role_arn: Annotated[str, AfterValidator(_role_arn)] | None = None
    external_id: Annotated[str, AfterValidator(_external_id)] | None = None
    user_path: Annotated[str, AfterValidator(_path)] | None = None
    permissions_boundary: Annotated[str, AfterValidator(_policy_arn)] | None = None
    approvals_channel: Annotated[str, AfterValidator(_channel)] | None = None
    default: bool = False


class DenyTable(_Table):
    groups: list[GroupPattern] = Field(min_length=1)
    reason: Annotated[str, AfterValidator(_words)]


class BreakGlassTable(_Table):
    requesters: list[Approver] = Field(min_length=1)
    groups: list[GroupPattern] = Field(min_length=1)
    max_duration: Duration
    review_within: Duration


class RulesFile(_Table):
    defaults: DefaultsTable
    account: list[AccountTable] = []
    group: list[GroupTable] = []
    deny: list[DenyTable] = []
    break_glass: BreakGlassTable | None = None


# --- The rules as the decisions use them ---

@dataclass(frozen=True)
class AutoApprove:
    requesters: tuple[str, ...]
    max_duration: dt.timedelta
    per_requester_per_day: int


@dataclass(frozen=True)
class Rule:
    """What applies to a group: a `[[group]]` entry with the defaults filled in, or the defaults."""

    name: str                      # "defaults" or "group <pattern>": what the trail names
    pattern: str | None            # the `[[group]]` name (an IAM group name or a glob); None: the defaults
    approvers: tuple[str, ...]     # user ids (U.., W..) and user group ids (S..)
    approvals: int
    own_approvers: bool = False    # False: the approvers are the defaults'
    standing: bool = True          # False: only time-bound membership
    max_duration: dt.timedelta | None = None
    auto_approve: AutoApprove | None = None
    enforce: bool = False          # True: the reconciler removes a member added outside the bot
    reviewers: tuple[str, ...] = ()  # access reviews: who decides; () = the rule's approvers
    review_every: dt.timedelta | None = None     # None: IAM_BOT_REVIEW_EVERY
    review_deadline: dt.timedelta | None = None  # None: IAM_BOT_REVIEW_DEADLINE
    on_deadline: str = "report"    # report | remove | disable: an undecided membership at the deadline
    account: str | None = None     # the `[[account]]` it applies in; None: every account

    @property
    def who_reviews(self) -> tuple[str, ...]:
        return self.reviewers or self.approvers

    def matches(self, group: str, account: str | None = None) -> bool:
        """The rule applies to `group` (in `account`, when one is named and the rule names one)."""
        if self.account is not None and account is not None and self.account.lower() != account.lower():
            return False
        return self.pattern is not None and _matches(self.pattern, group)


@dataclass(frozen=True)
class Account:
    """An AWS account the bot manages: by assuming `role_arn` (with `external_id`), or, without a
    role, the account of the bot's own credentials. None in a field: the environment's setting."""

    name: str
    role_arn: str | None = None
    external_id: str | None = None
    user_path: str | None = None
    permissions_boundary: str | None = None
    approvals_channel: str | None = None
    default: bool = False

    @property
    def account_id(self) -> str | None:
        """The 12 digits of the role's ARN; None for the bot's own account."""
        return self.role_arn.split(":")[4] if self.role_arn else None


@dataclass(frozen=True)
class Deny:
    name: str                      # "deny[0]"
    groups: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class BreakGlass:
    requesters: tuple[str, ...]
    groups: tuple[str, ...]
    max_duration: dt.timedelta
    review_within: dt.timedelta


@dataclass(frozen=True)
class Rules:
    defaults: Rule
    groups: tuple[Rule, ...] = ()
    denies: tuple[Deny, ...] = ()
    break_glass: BreakGlass | None = None
    sensitive_groups: tuple[str, ...] = ()  # IAM_BOT_SENSITIVE_GROUPS: at least two, like a group sensitive by its grants
    source: str | None = None               # the file read; None: the environment
    accounts: tuple[Account, ...] = ()      # `[[account]]`s, the default first; none: the bot's own account only

    @property
    def default_account(self) -> Account | None:
        return self.accounts[0] if self.accounts else None


def _matches(pattern: str, group: str) -> bool:
    """An exact name or a glob, any case (IAM group names are unique regardless of case)."""
    return fnmatch.fnmatchcase(group.lower(), pattern.lower())


def _covers(earlier: str, later: str) -> bool:
    """Does every group `later` (a name or a glob) matches match `earlier` too? Then a `[[group]]`
    named `later` after one named `earlier` never applies (the first match wins). Sure, not
    complete: the wildcards of `later` must fall within a `*` of `earlier`."""
    parts = ["[^*?]" if c == "?" else ".*" if c == "*" else re.escape(c) for c in earlier.lower()]
    return re.fullmatch("".join(parts), later.lower(), re.DOTALL) is not None


def _any_matches(patterns: Iterable[str], group: str) -> bool:
    return any(_matches(pattern, group) for pattern in patterns)


# --- Reading ---

def env_rules(approvers: Iterable[str], sensitive_groups: Iterable[str] = ()) -> Rules:
    """The rules without a file, exactly as before: the approvers approve everything, one approval,
    two for a group IAM_BOT_SENSITIVE_GROUPS names (and for one sensitive by its grants)."""
    return Rules(defaults=Rule(DEFAULTS, None, tuple(approvers), 1), sensitive_groups=tuple(sensitive_groups))


def load_rules(path: str | None, *, approvers: Iterable[str] = (), sensitive_groups: Iterable[str] = ()) -> Rules:
    """The rules file at `path` (IAM_BOT_RULES_FILE), or without one the environment's rules.
    RulesError with one line naming the key and what is wrong."""
    sensitive_groups = tuple(sensitive_groups)
    if not path:
        return env_rules(approvers, sensitive_groups)
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise RulesError(f"cannot read it: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"not TOML: {error}") from None
    return parse_rules(data, sensitive_groups=sensitive_groups, source=path)


def rules_from_settings(settings: Settings) -> Rules:
    """What start-up reads: IAM_BOT_RULES_FILE, else IAM_BOT_APPROVERS and IAM_BOT_SENSITIVE_GROUPS."""
    return load_rules(settings.iam_bot_rules_file, approvers=settings.iam_bot_approvers,
                      sensitive_groups=settings.iam_bot_sensitive_groups)


def parse_rules(data: dict, *, sensitive_groups: Iterable[str] = (), source: str | None = None) -> Rules:
    """A rules file's TOML, already parsed, checked whole: RulesError naming the first wrong key."""
    try:
        table = RulesFile.model_validate(data)
    except ValidationError as error:
        raise RulesError(_one_line(error.errors()[0])) from None
    sensitive_groups = tuple(sensitive_groups)
    defaults = Rule(DEFAULTS, None, tuple(table.defaults.approvers), table.defaults.approvals)
    _check_reachable(DEFAULTS, defaults)
    groups, seen = [], {}
    for index, entry in enumerate(table.group):
        where = f"group[{index}]"
        key = (entry.name.lower(), (entry.account or "").lower())
        if key in seen:
            raise RulesError(f"{where}.name: {entry.name} is already named by {seen[key]}")
        seen[key] = where
        shadow = next((i for i, earlier in enumerate(groups) if _covers(earlier.pattern, entry.name)
                       and earlier.account in (None, entry.account)), None)
        if shadow is not None:
            raise RulesError(f"{where}.name: {entry.name} is already matched by group[{shadow}] "
                             f"({groups[shadow].pattern})")
        rule = _group_rule(entry, defaults)
        _check_reachable(where, rule)
        _check_auto_approve(where, rule, sensitive_groups)
        groups.append(rule)
    denies = tuple(Deny(f"deny[{i}]", tuple(d.groups), d.reason) for i, d in enumerate(table.deny))
    glass = table.break_glass
    break_glass = glass and BreakGlass(tuple(glass.requesters), tuple(glass.groups), glass.max_duration,
                                       glass.review_within)
    accounts = _accounts(table.account)
    names = {account.name.lower() for account in accounts}
    for index, entry in enumerate(table.group):
        if entry.account is not None and entry.account.lower() not in names:
            known = ", ".join(a.name for a in accounts) or "none: add an [[account]]"
            raise RulesError(f"group[{index}].account: no [[account]] named {entry.account} (known: {known})")
    return Rules(defaults, tuple(groups), denies, break_glass, sensitive_groups, source, accounts)


def _accounts(tables: list[AccountTable]) -> tuple[Account, ...]:
    """The `[[account]]`s checked: names and roles unique, a role for every account but the
    default, an external id with every role, exactly one default (listed first)."""
    if not tables:
        return ()
    seen: dict[str, str] = {}
    roles: dict[str, str] = {}
    for index, entry in enumerate(tables):
        where = f"account[{index}]"
        if entry.name.lower() in seen:
            raise RulesError(f"{where}.name: {entry.name} is already named by {seen[entry.name.lower()]}")
        seen[entry.name.lower()] = where
        if entry.role_arn is None and not entry.default:
            raise RulesError(f"{where}.role_arn: required (only the default account may be the bot's own)")
        if entry.role_arn is not None and entry.external_id is None:
            raise RulesError(f"{where}.external_id: required with a role_arn (the role's trust policy asks for it)")
        if entry.role_arn is not None and entry.role_arn in roles:
            raise RulesError(f"{where}.role_arn: {entry.role_arn} is already {roles[entry.role_arn]}'s")
        if entry.role_arn is not None:
            roles[entry.role_arn] = where
    defaults = [i for i, entry in enumerate(tables) if entry.default]
    if len(defaults) != 1:
        raise RulesError("account: exactly one [[account]] must say default = true "
                         f"({'none does' if not defaults else 'account[' + str(defaults[1]) + '] is a second'})")
    accounts = [Account(e.name, e.role_arn, e.external_id, e.user_path, e.permissions_boundary, e.approvals_channel,
                        e.default) for e in tables]
    return (accounts[defaults[0]], *(a for i, a in enumerate(accounts) if i != defaults[0]))


def _group_rule(entry: GroupTable, defaults: Rule) -> Rule:
    auto = entry.auto_approve
    return Rule(
        name=f"group {entry.name}", pattern=entry.name,
        approvers=tuple(entry.approvers) if entry.approvers else defaults.approvers,
        approvals=entry.approvals if entry.approvals is not None else defaults.approvals,
        own_approvers=bool(entry.approvers), standing=entry.standing, max_duration=entry.max_duration,
        enforce=entry.enforce, auto_approve=auto and AutoApprove(tuple(auto.requesters), auto.max_duration, auto.per_requester_per_day),
        reviewers=tuple(entry.reviewers or ()), review_every=entry.review_every, review_deadline=entry.review_deadline,
        on_deadline=entry.on_deadline,
        account=entry.account)


def _check_reachable(where: str, rule: Rule) -> None:
    """A threshold no one could meet: more approvals than the people named (user groups may hold more)."""
    if all(not ref.startswith("S") for ref in rule.approvers) and rule.approvals > len(set(rule.approvers)):
        named = len(set(rule.approvers))
        raise RulesError(f"{where}.approvals: {rule.approvals} needed but only {named} "
                         f"approver{'s are' if named != 1 else ' is'} named")


def _check_auto_approve(where: str, rule: Rule, sensitive_groups: tuple[str, ...]) -> None:
    auto = rule.auto_approve
    if auto is None:
        return
    if rule.approvals >= SENSITIVE_FLOOR:
        raise RulesError(f"{where}.auto_approve: not allowed on a group that needs {rule.approvals} approvals")
    named = [group for group in sensitive_groups if rule.matches(group)]
    if named:
        raise RulesError(f"{where}.auto_approve: not allowed on a sensitive group "
                         f"(IAM_BOT_SENSITIVE_GROUPS names {named[0]})")
    if rule.max_duration is not None and auto.max_duration > rule.max_duration:
        raise RulesError(f"{where}.auto_approve.max_duration: longer than the group's max_duration "
                         f"({format_duration(rule.max_duration)})")


# pydantic's report -> "group[0].aproval: unknown key (did you mean approvals?)"
_MESSAGES = {
    "missing": "required",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "string_type": "must be a string in quotes",
    "list_type": "must be a list in [brackets]",
    "model_type": "must be a table",
    "dict_type": "must be a table",
}


def _one_line(error: dict) -> str:
    loc = tuple(error["loc"])
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".") or "the file"
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        known = list(_table_at(loc[:-1]).model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        what = f"unknown key (did you mean {close[0]}?)" if close else f"unknown key (known: {', '.join(known)})"
    elif kind == "greater_than_equal":
        what = f"must be at least {ctx['ge']}"
    elif kind == "too_short":
        what = "must not be empty"
    elif kind == "literal_error":
        what = f"must be one of {ctx.get('expected')}"
    elif kind == "value_error":
        what = str(ctx.get("error", error["msg"]))
    else:
        what = _MESSAGES.get(kind, error["msg"])
    return f"{path}: {what}"


def _table_at(loc: tuple) -> type[BaseModel]:
    """The model a location inside the file names (list indexes skipped)."""
    model: type[BaseModel] = RulesFile
    for part in loc:
        if isinstance(part, int):
            continue
        model = _model_in(model.model_fields[part].annotation) or model
    return model


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found:
                return found
    return None


def format_duration(value: dt.timedelta) -> str:
    """4h, 24h, 30d, 90m: the largest unit that says it whole."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and (unit != "d" or seconds > size):  # 24h, not 1d
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- Decisions ---

class Verdict(enum.Enum):
    ALLOWED = "allowed"
    REQUESTER = "requester"                # the requester never counts
    OWNER = "owner"                        # nor the person the user is for
    NOT_APPROVER = "not_approver"          # not among the approvers of any group still needing one
    ALREADY_APPROVED = "already_approved"  # this person's approval is counted already
    DENIED = "denied"                      # a [[deny]] rule names the group
    NO_RULE = "no_rule"                    # no auto_approve for the group / no [break_glass]
    NOT_LISTED = "not_listed"              # not among auto_approve's or break_glass's requesters
    NOT_COVERED = "not_covered"            # break_glass.groups does not name the group
    SENSITIVE = "sensitive"                # auto-approve never for a sensitive group or one needing 2+
    NOT_TIME_BOUND = "not_time_bound"      # permanent membership where only time-bound may be
    TOO_LONG = "too_long"                  # longer than the rule's max_duration
    DAILY_LIMIT = "daily_limit"            # per_requester_per_day reached
    NO_REASON = "no_reason"                # break-glass without --reason


@dataclass(frozen=True)
class Ruling:
    """An answer and the rule that gave it; `group` and `limit` say what it was about."""

    allowed: bool
    why: Verdict
    rule: str
    group: str | None = None
    limit: dt.timedelta | int | None = None


def _allowed(rule: str, group: str | None = None, limit=None) -> Ruling:
    return Ruling(True, Verdict.ALLOWED, rule, group, limit)


def _refused(why: Verdict, rule: str, group: str | None = None, limit=None) -> Ruling:
    return Ruling(False, why, rule, group, limit)


def rule_for(rules: Rules, group: str) -> Rule:
    """The first `[[group]]` whose name or glob matches (any case) in the account of the work in
    hand (commands/scope.py; a rule naming another `account` is skipped), else the defaults."""
    account = current_account() or (rules.accounts[0].name if rules.accounts else None)
    return next((rule for rule in rules.groups if rule.matches(group, account)), rules.defaults)


def named_sensitive(rules: Rules, group: str) -> bool:
    return group.lower() in (name.lower() for name in rules.sensitive_groups)


def is_approver(person: str, approvers: Iterable[str], membership: Membership) -> bool:
    """Named directly, or a member of a named user group (S...): the only question asked of Slack.
    Every group is asked until one says yes: a group that could not be read (`membership` raised)
    decides nothing, and its error is raised only when no other group said yes."""
    refs = tuple(approvers)
    if person in refs:
        return True
    unreadable = None
    for ref in refs:
        if not ref.startswith("S"):
            continue
        try:
            if membership(person, ref):
                return True
        except Exception as error:  # Slack could not say (e.g. SlackBusy): maybe a later group can
            unreadable = unreadable or error
    if unreadable is not None:
        raise unreadable
    return False


def _remembered(membership: Membership) -> Membership:
    """Each (person, user group) asked once within one decision."""
    seen: dict[tuple[str, str], bool] = {}

    def ask(person: str, ref: str) -> bool:
        if (person, ref) not in seen:
            seen[(person, ref)] = membership(person, ref)
        return seen[(person, ref)]

    return ask


def deny_reason(rules: Rules, groups: Iterable[str]) -> Ruling | None:
    """A DENIED ruling naming the first `[[deny]]` rule and the group it refuses, or None. Its
    reason: `denial(rules, ruling).reason`. Checked at filing and again at approval."""
    for group in groups:
        for deny in rules.denies:
            if _any_matches(deny.groups, group):
                return _refused(Verdict.DENIED, deny.name, group)
    return None


def denial(rules: Rules, ruling: Ruling) -> Deny:
    """The deny rule a DENIED ruling names (its `reason` is what the requester reads)."""
    return next(deny for deny in rules.denies if deny.name == ruling.rule)


@dataclass(frozen=True)
class Threshold:
    """One group's share of a request's approval: `approvals` distinct people from `approvers`."""

    group: str | None            # None: no group applies (e.g. `remove`): the defaults decide
    rule: str
    approvers: tuple[str, ...]
    approvals: int
    own_approvers: bool = False  # False: the defaults' approvers
    sensitive: bool = False      # the floor of two applied (by its grants or IAM_BOT_SENSITIVE_GROUPS)


def thresholds(rules: Rules, groups: Iterable[str], sensitive_by_grants: Collection[str] = ()) -> tuple[Threshold, ...]:
    """What each group at stake asks for, in order, each group once (any case). A group sensitive by
    its grants (`sensitive_by_grants`, e.g. the guardrails' `details["sensitive"]`) or named in
    IAM_BOT_SENSITIVE_GROUPS needs at least two, whatever the file says. No group: the defaults."""
    by_grants = {name.lower() for name in sensitive_by_grants}
    result, seen = [], set()
    for group in groups:
        if group.lower() in seen:
            continue
        seen.add(group.lower())
        rule = rule_for(rules, group)
        sensitive = group.lower() in by_grants or named_sensitive(rules, group)
        approvals = max(rule.approvals, SENSITIVE_FLOOR) if sensitive else rule.approvals
        result.append(Threshold(group, rule.name, rule.approvers, approvals, rule.own_approvers, sensitive))
    if not result:
        result.append(Threshold(None, DEFAULTS, rules.defaults.approvers, rules.defaults.approvals))
    return tuple(result)


@dataclass(frozen=True)
class Share:
    """How far one threshold is: who counted, how many are still needed, from whom."""

    threshold: Threshold
    counted: tuple[str, ...]

    @property
    def have(self) -> int:
        return min(len(self.counted), self.threshold.approvals)

    @property
    def still(self) -> int:
        return self.threshold.approvals - self.have

    @property
    def met(self) -> bool:
        return self.still == 0


@dataclass(frozen=True)
class Progress:
    shares: tuple[Share, ...]

    @property
    def met(self) -> bool:
        return all(share.met for share in self.shares)

    @property
    def waiting(self) -> tuple[Share, ...]:
        """The thresholds still short, for the card: "1 of 2 from @security"."""
        return tuple(share for share in self.shares if not share.met)


def progress(thresholds: Iterable[Threshold], approvals: Iterable[str], membership: Membership,
             requester: str | None, owner: str | None) -> Progress:
    """Which thresholds the approvals so far (approver user ids, in order) meet. One person counts
    for every group they approve for; the requester and the owner never count."""
    membership = _remembered(membership)
    people = [p for p in dict.fromkeys(approvals) if p not in (requester, owner)]
    return Progress(tuple(Share(t, tuple(p for p in people if is_approver(p, t.approvers, membership)))
                          for t in thresholds))


def _not_party(person: str, requester: str | None, owner: str | None) -> Ruling | None:
    if person == requester:
        return _refused(Verdict.REQUESTER, "")
    if person == owner:
        return _refused(Verdict.OWNER, "")
    return None


def may_approve(person: str, thresholds: Iterable[Threshold], approvals: Iterable[str], membership: Membership,
                requester: str | None, owner: str | None) -> Ruling:
    """May this person's approval count now? Only if they approve for a group still short of its
    number; the ruling names that group's rule (the first, when they count for several)."""
    refused = _not_party(person, requester, owner)
    if refused:
        return refused
    approvals = tuple(approvals)
    if person in approvals:
        return _refused(Verdict.ALREADY_APPROVED, "")
    membership = _remembered(membership)
    thresholds = tuple(thresholds)
    for share in progress(thresholds, approvals, membership, requester, owner).waiting:
        if is_approver(person, share.threshold.approvers, membership):
            return _allowed(share.threshold.rule, share.threshold.group)
    return _refused(Verdict.NOT_APPROVER, ", ".join(dict.fromkeys(t.rule for t in thresholds)))


def may_deny(person: str, thresholds: Iterable[Threshold], membership: Membership,
             requester: str | None, owner: str | None) -> Ruling:
    """May this person deny the request? Any approver of any of its thresholds, met or not."""
    refused = _not_party(person, requester, owner)
    if refused:
        return refused
    membership = _remembered(membership)
    thresholds = tuple(thresholds)
    for threshold in thresholds:
        if is_approver(person, threshold.approvers, membership):
            return _allowed(threshold.rule, threshold.group)
    return _refused(Verdict.NOT_APPROVER, ", ".join(dict.fromkeys(t.rule for t in thresholds)))


def is_account_approver(rules: Rules, person: str, membership: Membership) -> Ruling:
    """For account-wide actions (`/iam audit`, `/iam review start`): the defaults' approvers."""
    if is_approver(person, rules.defaults.approvers, membership):
        return _allowed(DEFAULTS)
    return _refused(Verdict.NOT_APPROVER, DEFAULTS)


def is_approver_for_user(rules: Rules, person: str, user_groups: Iterable[str], membership: Membership) -> Ruling:
    """For an action about an existing user (its keys, Retry, Revoke now, `/iam status`...): the
    defaults' approvers, or the approvers of any group the user is in now."""
    membership = _remembered(membership)
    ruling = is_account_approver(rules, person, membership)
    if ruling.allowed:
        return ruling
    for group in user_groups:
        rule = rule_for(rules, group)
        if rule.own_approvers and is_approver(person, rule.approvers, membership):
            return _allowed(rule.name, group)
    return ruling


def membership_limit(rules: Rules, groups: Iterable[str], duration: dt.timedelta | None) -> Ruling:
    """May these groups be joined for `duration` (None: for good)? `standing = false` allows only
    time-bound membership, `max_duration` caps it. Deny is separate (`deny_reason`)."""
    groups = tuple(groups)
    for group in groups:
        rule = rule_for(rules, group)
        if duration is None and not rule.standing:
            return _refused(Verdict.NOT_TIME_BOUND, rule.name, group, rule.max_duration)
        if duration is not None and rule.max_duration is not None and duration > rule.max_duration:
            return _refused(Verdict.TOO_LONG, rule.name, group, rule.max_duration)
    return _allowed(", ".join(dict.fromkeys(rule_for(rules, g).name for g in groups)) or DEFAULTS)


def may_auto_approve(rules: Rules, group: str, requester: str, membership: Membership,
                     sensitive_by_grants: bool = False) -> Ruling:
    """Could this requester's time-bound membership of this group be approved by the rule itself?
    Allowed with `limit` the longest duration; the request's own duration and the day's count are
    `auto_approve`'s."""
    denied = deny_reason(rules, (group,))
    if denied:
        return denied
    rule = rule_for(rules, group)
    auto = rule.auto_approve
    if auto is None:
        return _refused(Verdict.NO_RULE, rule.name, group)
    if sensitive_by_grants or named_sensitive(rules, group) or rule.approvals >= SENSITIVE_FLOOR:
        return _refused(Verdict.SENSITIVE, rule.name, group)
    if not is_approver(requester, auto.requesters, membership):
        return _refused(Verdict.NOT_LISTED, rule.name, group)
    longest = min(auto.max_duration, rule.max_duration or auto.max_duration)
    return _allowed(f"{rule.name} auto_approve", group, longest)


def auto_approve(rules: Rules, group: str, requester: str, membership: Membership, duration: dt.timedelta | None,
                 count_today: int, sensitive_by_grants: bool = False) -> Ruling:
    """Is this request (time-bound membership of `group` for `duration`) approved by the rule,
    without anyone? `count_today`: how many the requester had auto-approved in the last day.
    Never for a user or a key: the caller asks only for group membership."""
    ruling = may_auto_approve(rules, group, requester, membership, sensitive_by_grants)
    if not ruling.allowed:
        return ruling
    auto = rule_for(rules, group).auto_approve
    if duration is None:
        return _refused(Verdict.NOT_TIME_BOUND, ruling.rule, group, ruling.limit)
    if duration > ruling.limit:
        return _refused(Verdict.TOO_LONG, ruling.rule, group, ruling.limit)
    if count_today >= auto.per_requester_per_day:
        return _refused(Verdict.DAILY_LIMIT, ruling.rule, group, auto.per_requester_per_day)
    return ruling


def may_break_glass(rules: Rules, group: str, requester: str, membership: Membership) -> Ruling:
    """Could this requester let themselves into this group at once? Allowed with `limit` the
    longest duration. Deny still wins."""
    denied = deny_reason(rules, (group,))
    if denied:
        return denied
    glass = rules.break_glass
    if glass is None:
        return _refused(Verdict.NO_RULE, BREAK_GLASS, group)
    if not is_approver(requester, glass.requesters, membership):
        return _refused(Verdict.NOT_LISTED, BREAK_GLASS, group)
    if not _any_matches(glass.groups, group):
        return _refused(Verdict.NOT_COVERED, BREAK_GLASS, group)
    group_limit = rule_for(rules, group).max_duration  # as auto-approve: never past the group's own limit
    return _allowed(BREAK_GLASS, group, min(glass.max_duration, group_limit or glass.max_duration))


def break_glass(rules: Rules, groups: Iterable[str], requester: str, membership: Membership,
                duration: dt.timedelta | None, reason: str | None) -> Ruling:
    """`--break-glass --reason <words>`: may the requester approve their own time-bound membership
    of these groups? The review is due `rules.break_glass.review_within` after."""
    groups = tuple(groups)
    membership = _remembered(membership)
    ruling = _refused(Verdict.NO_RULE, BREAK_GLASS)
    tightest = None  # the ruling with the shortest limit: every group's, break_glass's and its own, holds
    for group in groups:
        ruling = may_break_glass(rules, group, requester, membership)
        if not ruling.allowed:
            return ruling
        if tightest is None or ruling.limit < tightest.limit:
            tightest = ruling
    if tightest is None:
        return ruling
    if duration is None:
        return _refused(Verdict.NOT_TIME_BOUND, BREAK_GLASS, tightest.group, tightest.limit)
    if duration > tightest.limit:
        return _refused(Verdict.TOO_LONG, BREAK_GLASS, tightest.group, tightest.limit)
    if not (reason or "").strip():
        return _refused(Verdict.NO_REASON, BREAK_GLASS, groups[0])
    return _allowed(BREAK_GLASS, groups[0] if len(groups) == 1 else None, tightest.limit)


@dataclass(frozen=True)
class GroupPreview:
    """`/iam who-approves`: what one group asks of the person asking."""

    threshold: Threshold
    standing: bool
    max_duration: dt.timedelta | None
    denied: Deny | None
    auto_approve: Ruling   # allowed: they could, up to `limit`
    break_glass: Ruling    # allowed: they could, up to `limit`


def preview(rules: Rules, groups: Iterable[str], requester: str, membership: Membership,
            sensitive_by_grants: Collection[str] = ()) -> tuple[GroupPreview, ...]:
    """For each group: who may approve and how many, the longest duration, whether a deny rule
    applies, and whether the requester could auto-approve or break glass."""
    groups = tuple(groups)
    if not groups:
        return ()
    membership = _remembered(membership)
    by_grants = {name.lower() for name in sensitive_by_grants}
    result = []
    for threshold in thresholds(rules, groups, sensitive_by_grants):
        group = threshold.group
        rule = rule_for(rules, group)
        denied = deny_reason(rules, (group,))
        result.append(GroupPreview(
            threshold=threshold, standing=rule.standing, max_duration=rule.max_duration,
            denied=denial(rules, denied) if denied else None,
            auto_approve=may_auto_approve(rules, group, requester, membership, group.lower() in by_grants),
            break_glass=may_break_glass(rules, group, requester, membership)))
    return tuple(result)
