"""The reconciler (issue 20): AWS's group members compared with the grants in the store.

Every IAM_BOT_RECONCILE_EVERY, for each group with a grant live now or ended in the last day and
each group of the rules with `standing = false`, one GetGroup per 100 members lists who is in it:

- a grant whose end has come but which is still live (the revoker has not got to it, or was down)
  is revoked now, as the revoker would (`Groups.revoke_now`);
- a member whose grant the bot ended in the last day, and whom nothing else covers, is still in
  AWS: removed now;
- a member of a `standing = false` group that no live grant and no standing membership the bot
  recorded covers was "added outside the bot": reported in the approvals channel once per member
  (the store's `outside_members`; forgotten when it leaves, so a return is reported again), and
  removed when the group's rule says `enforce = true`.

Protected users, the bot's own identity and users outside IAM_BOT_USER_PATH are reported, never
removed. Its store reads are indexed: the groups of the day's grants, a group's grants of the day,
and for a member no live grant covers, its requests by name.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from storage import NewJob, Store

from .errors import IamError
from .groups import Groups
from .iam import IamGateway, IamUser
from .offboard import Protected
from .ruleset import Rules, rule_for

log = logging.getLogger(__name__)

LOOK_BACK = dt.timedelta(days=1)  # ended grants this recent are compared with AWS too
_GLOB = set("*?[")

# What a reconciler note says (its payload's "event").
OUTSIDE = "outside"                # a member added outside the bot
AFTER_END = "after_end"            # still in AWS after its grant ended
STOPPED = "stopped"                # its grant ended, an approver stopped the retries, still in AWS


class ReconcileOwed:
    """Durable work the reconciler owes: a note in the approvals channel (or the add's thread)."""
    NOTE = "reconcile_note"


@dataclass
class Reconciled:
    """What one pass did: (user, group) pairs."""
    groups: list[str] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    reported: list[tuple[str, str]] = field(default_factory=list)


class Reconciler:
    def __init__(self, groups: Groups, store: Store, iam: IamGateway, protected: Protected):
        self.domain = groups
        self.store = store
        self.iam = iam
        self.protected = protected

    @property
    def rules(self) -> Rules:
        return self.domain.approvals.rules

    def groups_to_check(self, now: dt.datetime) -> list[str]:
        """The groups of the day's grants and the rules' `standing = false` groups (a glob is matched
        against the account's groups: one ListGroups)."""
        names = {name.lower(): name for name in self.store.grant_groups_since(now - LOOK_BACK)}
        rules = self.rules
        time_bound = [rule for rule in rules.groups if not rule.standing and rule.pattern]
        if any(_GLOB & set(rule.pattern) for rule in time_bound):
            for name in self.iam.list_groups():
                if not rule_for(rules, name).standing:
                    names.setdefault(name.lower(), name)
        for rule in time_bound:
            if not _GLOB & set(rule.pattern) and not rule_for(rules, rule.pattern).standing:
                names.setdefault(rule.pattern.lower(), rule.pattern)
        return sorted(names.values(), key=str.lower)

    def reconcile(self) -> Reconciled:
        now = self.domain.now()
        done = Reconciled()
        groups = self.groups_to_check(now)
        if not groups:
            return done  # no AWS call at all
        try:
            bot_arn: str | None = self.iam.bot_identity()
        except IamError:
            bot_arn = None  # who the bot is is unknown: nobody is removed, everyone is reported
        for group in groups:
            try:
                self._group(group, now, bot_arn, done)
            except IamError as error:
                log.warning("the reconciler could not check group %s: %s; it tries again next pass", group, error)
        return done

    def _kept_because(self, member: IamUser, bot_arn: str | None) -> str | None:
        """Why the reconciler never removes this member (a Why's value), or None."""
        if bot_arn is None:
            return "identity_unknown"
        refused = self.protected.refusal(member, bot_arn)
        return refused[0].value if refused is not None else None

    def _group(self, group: str, now: dt.datetime, bot_arn: str | None, done: Reconciled) -> None:
        members = self.iam.group_members(group)
        if members is None:
            return  # no such group (any more)
        done.groups.append(group)
        grants = self.store.group_grants_since(group, now - LOOK_BACK)
        rule = rule_for(self.rules, group)
        for member in members:
            mine = [g for g in grants if g.user_name.lower() == member.name.lower()]
            live = [g for g in mine if g.live]
            if any(g.ends_at > now for g in live):
                continue  # a live grant covers it
            if live:  # ended by the clock, not yet revoked
                for grant in live:
                    if grant.stopped:
                        self._report(group, member, now, done, event=STOPPED, request_id=grant.request_id,
                                     kept=None, removed=False, aws=None)
                    elif self.domain.revoke_ended(grant) is not None:
                        done.removed.append((member.name, group))
                continue
            if self.domain.standing_of(member.name, group) is not None:
                continue  # a standing membership the bot recorded
            kept = self._kept_because(member, bot_arn)
            ended = mine[-1] if mine else None
            if ended is None and rule.standing:
                continue  # nothing the bot knows of, in a group the rules allow for good
            remove = kept is None and (ended is not None or rule.enforce)
            removed, aws = False, None
            if remove:
                try:
                    self.iam.remove_user_from_group(member.name, group)
                    removed = True
                    done.removed.append((member.name, group))
                except IamError as error:
                    aws = error.for_approvers
            if ended is not None and removed:
                self.store.append_event(ended.request_id, None, "reconciled", now,
                                        detail=f"{group}: removed, still in AWS after the grant ended",
                                        jobs=[NewJob(ReconcileOwed.NOTE, self._facts(AFTER_END, group, member,
                                                                                     None, True, None))])
                continue
            self._report(group, member, now, done, event=AFTER_END if ended is not None else OUTSIDE,
                         request_id=ended.request_id if ended is not None else None, kept=kept, removed=removed,
                         aws=aws)
        self.store.forget_outside_members(group, [member.name for member in members])

    @staticmethod
    def _facts(event: str, group: str, member: IamUser, kept: str | None, removed: bool, aws: str | None) -> dict:
        return {"event": event, "group": group, "user_name": member.name, "path": member.path, "kept": kept,
                "removed": removed, "aws": aws}

    def _report(self, group: str, member: IamUser, now: dt.datetime, done: Reconciled, *, event: str,
                request_id: int | None, kept: str | None, removed: bool, aws: str | None) -> None:
        facts = {**self._facts(event, group, member, kept, removed, aws), "request_id": request_id}
        detail = f"{group}: {member.name} ({event}{', removed' if removed else ''}{f', kept: {kept}' if kept else ''})"
        if self.store.report_outside_member(group, member.name, now=now, detail=detail,
                                            jobs=[NewJob(ReconcileOwed.NOTE, facts)]):
            done.reported.append((member.name, group))
