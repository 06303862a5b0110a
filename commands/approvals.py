"""The approval rules (commands/ruleset.py) applied to requests and people: who approves a request
and how many, who is "an approver" for an action about an existing user or about the account, and
the deny rules at filing.

The rules are pure; what they ask of the world comes in here: Slack's user groups through an
injected `membership(user_id, user_group_id)` (the edge caches it; it may raise when Slack cannot
say, never answer "no" for "could not check"), and a request's groups from the IAM gateway.

What a request's card shows per group is kept in its `details` (so the card can be redrawn at any
later state), but only when the rules come from a file: without one the card says what it always
said ("1 of 2 approvals").

- `shares`: [{"group", "rule", "approvers", "approvals", "counted"}], one per group at stake (or
  one for the defaults), as judged at filing and at each approval
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from .errors import CommandError, NotAllowed, Why
from .guardrails import MAX_GROUPS, Guardrails, why_sensitive
from .iam import GroupGone, IamGateway
from .parse import Verb, check_group_name, plain, usage_of
from .ruleset import (
    GroupPreview, Membership, Progress, Rules, Ruling, Threshold, denial, deny_reason, env_rules,
    is_account_approver, is_approver, is_approver_for_user, may_approve, may_deny, preview, progress, thresholds,
)


# -- /iam who-approves ---------------------------------------------------------------------------

class WhoApprovesCommand(BaseModel):
    """`/iam who-approves <group> [<group> ...]`
    Who may approve each group and how many approvals it needs, the longest membership, whether
    a deny rule refuses it, and whether you could approve it yourself (auto-approve or break glass).
    Only you see the answer."""

    model_config = ConfigDict(frozen=True)
    groups: tuple[str, ...]


def parse_who_approves(args: list[str]) -> WhoApprovesCommand:
    if not args:
        raise CommandError(Why.WHO_APPROVES_WHICH)
    groups = tuple(check_group_name(plain(arg)) for arg in args)
    if len(groups) > MAX_GROUPS:
        raise CommandError(Why.TOO_MANY_GROUPS, count=len(groups), limit=MAX_GROUPS)
    seen = set()
    for group in groups:
        if group.lower() in seen:
            raise CommandError(Why.GROUP_TWICE, group=group)
        seen.add(group.lower())
    return WhoApprovesCommand(groups=groups)


VERBS = (Verb("who-approves", parse_who_approves, usage_of(WhoApprovesCommand), position=125),)


@dataclass(frozen=True)
class Preview:
    """`/iam who-approves`: each group as the rules see it for the person asking, and which of them
    AWS does not know (the rules still say what would apply)."""

    groups: tuple[GroupPreview, ...]
    missing: tuple[str, ...]
    rules_file: str | None


def nobody(person: str, user_group: str) -> bool:
    return False


@dataclass(frozen=True)
class Approvals:
    """The rules and the one question they ask of Slack."""

    rules: Rules = env_rules(())
    membership: Membership = nobody

    @property
    def per_group(self) -> bool:
        """Do the cards say who approves each group ("1 of 2 from @security")? Only with a file."""
        return self.rules.source is not None

    @property
    def groups_matter(self) -> bool:
        """Does any group have approvers of its own? If not, a user's groups never make anyone an approver."""
        return any(rule.own_approvers for rule in self.rules.groups)

    # -- who is an approver, away from a request's card ------------------------------------

    def for_account(self, person_id: str) -> Ruling:
        """Account-wide actions (`/iam audit`): the defaults' approvers."""
        return is_account_approver(self.rules, person_id, self.membership)

    def for_user(self, person_id: str, groups: Callable[[], Iterable[str]]) -> Ruling:
        """An action about an existing user (its keys, Retry, `/iam status`): the defaults' approvers
        or the approvers of any group the user is in now. `groups` is asked only when it can matter."""
        ruling = self.for_account(person_id)
        if ruling.allowed or not self.groups_matter:
            return ruling
        return is_approver_for_user(self.rules, person_id, groups(), self.membership)

    def among(self, person_id: str, approvers: Iterable[str]) -> bool:
        """Named among these user ids and user groups (directly or as a member)."""
        return is_approver(person_id, approvers, self.membership)

    def for_every_group(self, person_id: str, groups: Callable[[], Iterable[str]]) -> bool:
        """Could this person alone approve a new credential for a user in `groups` (rotate its key,
        undo an approver's hold)? One of the defaults' approvers, or an approver of every one of the
        groups (its own approvers, or the defaults' where it names none). `groups` is asked only
        when it can matter: without groups of their own approvers, that is the defaults."""
        if self.for_account(person_id).allowed:
            return True
        if not self.groups_matter:
            return False
        at_stake = self.thresholds(groups())
        return all(is_approver(person_id, t.approvers, self.membership) for t in at_stake)

    # -- a request ---------------------------------------------------------------------------

    def refuse_denied(self, groups: Callable[[], Iterable[str]]) -> None:
        """NotAllowed(DENIED_BY_RULE) naming the rule and its reason, when a [[deny]] names one of
        the groups. `groups` is asked only when the file has deny rules."""
        if not self.rules.denies:
            return
        ruling = deny_reason(self.rules, groups())
        if ruling is not None:
            raise NotAllowed(Why.DENIED_BY_RULE, rule=ruling.rule, group=ruling.group,
                             reason=denial(self.rules, ruling).reason)

    def thresholds(self, groups: Iterable[str], sensitive: Collection[str] = ()) -> tuple[Threshold, ...]:
        return thresholds(self.rules, groups, sensitive)

    def progress(self, at_stake: tuple[Threshold, ...], approvers: Iterable[str], requester: str | None,
                 owner: str | None) -> Progress:
        return progress(at_stake, approvers, self.membership, requester, owner)

    def may_approve(self, person_id: str, at_stake: tuple[Threshold, ...], approvers: Iterable[str],
                    requester: str | None, owner: str | None) -> Ruling:
        return may_approve(person_id, at_stake, approvers, self.membership, requester, owner)

    def may_deny(self, person_id: str, at_stake: tuple[Threshold, ...], requester: str | None,
                 owner: str | None) -> Ruling:
        return may_deny(person_id, at_stake, self.membership, requester, owner)

    def who_approves(self, iam: IamGateway, guardrails: Guardrails, groups: Iterable[str], person_id: str) -> Preview:
        """What each group asks of this person: one ListAttachedGroupPolicies a group (a group
        sensitive by its grants needs at least two)."""
        groups, sensitive, missing = tuple(groups), [], []
        for group in groups:
            try:
                attached = iam.group_grants(group, inline=False).attached
            except GroupGone:
                missing.append(group)
                attached = ()
            if why_sensitive(group, (arn for _, arn in attached), guardrails):
                sensitive.append(group)
        return Preview(preview(self.rules, groups, person_id, self.membership, sensitive), tuple(missing),
                       self.rules.source)

    def shares(self, done: Progress) -> dict:
        """The `details` a card draws its per-group lines from; {} without a file."""
        if not self.per_group:
            return {}
        return {"shares": [
            {"group": share.threshold.group, "rule": share.threshold.rule,
             "approvers": list(share.threshold.approvers), "approvals": share.threshold.approvals,
             "counted": list(share.counted)}
            for share in done.shares]}


def rules_met(done: Progress, person_id: str | None = None) -> str:
    """The rules a decision met (or that one approver counted for), for the trail:
    "group Admins, group Developers"."""
    return ", ".join(dict.fromkeys(share.threshold.rule for share in done.shares
                                   if person_id is None or person_id in share.counted))
