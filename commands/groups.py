"""`/iam add` and `/iam drop`: group membership for an existing user, for good or for a while (issue 20).

An `add` is a request of kind `group_add` about a user that exists, approved by the rules of the
groups asked for (docs/rules.md) and provisioned by the shared lifecycle: one AddUserToGroup a
group, each step recorded. With `--for`, each group becomes a *grant* once its membership is in
place: a row of the store's `grants` table, with a due entry for its end (`Due.GRANT_END`) and
one for the owner's warning before it (`Due.GRANT_WARNING`).

The revoker (`Groups.revoke_due`) reads only due entries, in batches (docs/duties.md). For each
grant that has ended it calls RemoveUserFromGroup, unless the user still needs the membership (a
later live grant of the same group, or a standing membership the bot recorded); then the grant
ends and the membership stays. A failed removal is retried with a backoff doubling from
IAM_BOT_REVOKE_RETRY up to 15 minutes; at the third failure the approvals channel is told once,
with AWS's words; an approver may stop the retries. RemoveUserFromGroup of a user who is not in
the group is NoSuchEntity, treated as done: a crash between the call and its record neither
removes twice nor forgets.

An add `--for` that a group's `auto_approve` allows, or a `--break-glass` add the `[break_glass]`
rule allows (docs/rules.md), is approved by that rule at filing (`APPROVED_BY_RULE`, the event
naming the rule) and provisioned at once; its card has no Approve or Deny, only Revoke now
(and, for break-glass, Reviewed: a second person must press one within `review_within`, then
reminders follow every REVIEW_REMIND_EVERY from the `Due.GLASS_REVIEW` entry).

Several adds for one user may be open at once (the store's one-live-request rule skips them):
each approved one is a grant of its own. Once the user is in the group, a new add is refused
(with "use Extend" when a live grant holds it).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

import storage
from storage import GROUP_ADD, GROUP_DROP, GROUP_EXTEND, Grant, NewJob, Request, Store

from . import guardrails
from .approvals import Approvals
from .errors import CommandError, IamError, NotAllowed, Why
from .iam import IamGateway, IamUser
from .lifecycle import APPROVED_BY_RULE, CANCEL_GRANT_ENDED, REVIEW_REMINDED, REVIEWED, REVOKED_NOW, file, move
from .offboard import Protected
from .parse import Verb, check_group_name, check_groups, check_user_name, plain, usage_of
from .rules import Person
from .ruleset import (
    BREAK_GLASS, Ruling, Verdict, auto_approve, break_glass, format_duration, membership_limit, rule_for,
)
from .scope import in_account
from .workflow import Due, Filed, Kind, Owed, Policy, Workflow, thread

MAX_GROUPS = guardrails.MAX_GROUPS  # IAM's limit of groups a user is in
REVOKE_RETRY_CAP = dt.timedelta(minutes=15)
TELL_AFTER = 3  # failed removals before the approvals channel is told (once)
_DURATION = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

# Why a grant ended (the `grants.end_reason` column).
REMOVED = "removed"            # RemoveUserFromGroup done (or the user was not in the group any more)
KEPT = "kept"                  # ended, membership kept: another grant or a standing membership needs it
DONE = "done"                  # its owner pressed I'm done
DROPPED = "dropped"            # `/iam drop` by its owner or an approver
USER_REMOVED = "user_removed"  # the user was removed: the removal took the membership
REVOKED = "revoked"            # an approver pressed Revoke now on a self-approved membership
REVIEW_REMOVED = "review_removed"  # an access review took the membership away (a reviewer's Remove, or its deadline)

REVIEW_REMIND_EVERY = dt.timedelta(hours=1)  # a break-glass review overdue: a reminder this often


class GroupOwed:
    """Durable work the groups feature owes people (payloads hold no secret)."""

    DM = "group_dm"      # the owner hears: granted, the warning before the end, extended, ended
    NOTE = "group_note"  # a line in the add's thread: a grant ended, a removal failing
    CARD = "group_card"  # an extension's approval card (filed by a button, not by a command)
    RULE_CARD = "group_rule_card"  # the card of an add a rule approved at filing (auto-approve, break-glass)
    SECURITY_COPY = "group_security_copy"  # break-glass's copy in IAM_BOT_SECURITY_CHANNEL, redrawn after a review


# -- the commands --------------------------------------------------------------------------------

class AddCommand(BaseModel):
    """`/iam add <user-name> <group> [<group> ...] [--for <duration>] [--break-glass] --reason <words...>`
    Ask for an existing IAM user to join groups, for good or for a while (`--for 30m`, `4h`, `2d`,
    `1w`): the bot takes the user out of the group when the time is up. Approved like a create, or
    at once when a rule allows it (auto-approve; `--break-glass` for the on-call, reviewed after)."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    groups: tuple[str, ...]
    duration: dt.timedelta | None = None
    break_glass: bool = False
    reason: str


class DropCommand(BaseModel):
    """`/iam drop <user-name> <group>`
    Take the user out of a group the bot put it in (for a while or for good), now: the owner of the
    user or an approver. A group whose policies hold a Deny needs an approver, as an add does."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    group: str


def parse_grant_duration(word: str) -> dt.timedelta:
    match = _DURATION.fullmatch(word.strip().lower())
    if not match or int(match[1]) == 0:
        raise CommandError(Why.BAD_DURATION, word=word)
    return dt.timedelta(**{_UNITS[match[2]]: int(match[1])})


def parse_add(args: list[str]) -> AddCommand:
    words = [plain(arg) for arg in args]
    names: list[str] = []
    duration = None
    glass = False
    reason: list[str] | None = None
    index = 0
    while index < len(words):
        word = words[index]
        if reason is not None:
            reason.append(word)
        elif word.lower() == "--reason":
            reason = []
        elif word.lower() == "--for":
            if index + 1 >= len(words):
                raise CommandError(Why.BAD_DURATION, word="")
            index += 1
            duration = parse_grant_duration(words[index])
        elif word.lower() == "--break-glass":
            glass = True
        elif word.startswith("--"):
            raise CommandError(Why.UNKNOWN_OPTION, word=word, options=("--for", "--break-glass", "--reason"))
        else:
            names.append(word)
        index += 1
    if not names:
        raise CommandError(Why.ADD_WHICH)
    user_name, groups = check_user_name(names[0]), names[1:]
    if not groups:
        raise CommandError(Why.ADD_WHICH)
    groups = check_groups(groups, MAX_GROUPS)
    text = " ".join(reason or []).strip()
    if not text:
        raise CommandError(Why.REASON_MISSING, verb=f"add {user_name} {groups[0]}")
    return AddCommand(user_name=user_name, groups=groups, duration=duration, break_glass=glass, reason=text[:500])


def parse_drop(args: list[str]) -> DropCommand:
    words = [plain(arg) for arg in args]
    if len(words) != 2:
        raise CommandError(Why.ADD_WHICH)
    return DropCommand(user_name=check_user_name(words[0]), group=check_group_name(words[1]))


VERBS = (
    Verb("add", parse_add, usage_of(AddCommand), position=75),
    Verb("drop", parse_drop, usage_of(DropCommand), position=76),
)


def approved_by_rule(request: Request) -> str | None:
    """The rule that approved this add at filing ("group ReadOnly auto_approve", "break_glass"), if one did."""
    return request.details.get("approved_by_rule")


def is_break_glass(request: Request) -> bool:
    return approved_by_rule(request) == BREAK_GLASS


def duration_of(request: Request) -> dt.timedelta | None:
    seconds = request.details.get("duration_seconds")
    return dt.timedelta(seconds=seconds) if seconds else None


STEP_EXTEND = "extend"


def group_step(group: str) -> str:
    return f"group:{group}"


@dataclass(frozen=True)
class Ended:
    """A grant the bot ended, and why (for words)."""

    grant: Grant
    reason: str
    kept_by: str | None = None  # "grant #12 until ..." / "standing" when the membership stayed


@dataclass(frozen=True)
class Dropped:
    """What `/iam drop` did at once: the grants it ended and the standing membership it dropped."""

    user_name: str
    group: str
    ended: tuple[Ended, ...] = ()
    standing: int | None = None  # the request (a create, an add without --for) that held it for good


def dropped_groups(request: Request) -> dict:
    """The groups of a standing request dropped since (`/iam drop`), by lower-case name."""
    return dict(request.details.get("dropped") or {})


def standing_groups(request: Request) -> list[str]:
    """The groups a request holds for good: a create's once made, an add's without --for once done;
    minus those dropped since."""
    standing = (request.kind == storage.CREATE_USER and request.state in storage.PROVISIONED_STATES) or \
        (request.kind == GROUP_ADD and request.state == storage.PROVISIONED and duration_of(request) is None)
    dropped = dropped_groups(request)
    return [group for group in request.groups if group.lower() not in dropped] if standing else []


def _reviewed(request: Request) -> bool:
    return bool(request.details.get("reviewed_by"))


# -- the domain object ---------------------------------------------------------------------------

class Groups:
    """Files adds, gives the workflow the `group_add` kind, runs the revoker, ends grants early."""

    def __init__(self, workflow: Workflow, store: Store, iam: IamGateway, policy: Policy, approvals: Approvals, *,
                 protected: Protected, grant_min: dt.timedelta = dt.timedelta(minutes=15),
                 warning: dt.timedelta = dt.timedelta(minutes=10), retry: dt.timedelta = dt.timedelta(minutes=1)):
        self.workflow = workflow
        self.store = store
        self.iam = iam
        self.policy = policy
        self.approvals = approvals
        self.protected = protected
        self.grant_min = grant_min
        self.warning = warning
        self.retry = retry
        self.kind = Kind(name=GROUP_ADD, plan=self._plan, run_step=self._run_step,
                         after_provisioning=lambda request: [NewJob(GroupOwed.DM, {"event": "granted"})])
        self.extend_kind = Kind(name=GROUP_EXTEND, plan=lambda request: [STEP_EXTEND], run_step=self._extend_step,
                                after_provisioning=lambda request: [NewJob(GroupOwed.DM, {"event": "extended"})])
        self.drop_kind = Kind(name=GROUP_DROP, plan=lambda request: [group_step(group) for group in request.groups],
                              run_step=self._drop_step)

    def now(self) -> dt.datetime:
        return self.workflow.now()

    # -- filing ------------------------------------------------------------------------------

    def target(self, user_name: str) -> IamUser:
        """The user (any case, one GetUser with its tags), under IAM_BOT_USER_PATH and not protected."""
        return self.protected.check(self.iam.existing_user(user_name), self.iam.bot_identity())

    def check_duration(self, groups: tuple[str, ...], duration: dt.timedelta | None) -> None:
        """The rules' `standing` and `max_duration`, and IAM_BOT_GRANT_MIN: no AWS call."""
        ruling = membership_limit(self.approvals.rules, groups, duration)
        if not ruling.allowed and ruling.why is Verdict.NOT_TIME_BOUND:
            raise CommandError(Why.GROUP_NOT_STANDING, group=ruling.group, limit=ruling.limit)
        if not ruling.allowed:
            raise CommandError(Why.GRANT_TOO_LONG, group=ruling.group, limit=format_duration(ruling.limit))
        if duration is not None and duration < self.grant_min:
            raise CommandError(Why.GRANT_TOO_SHORT, minimum=format_duration(self.grant_min))

    def file(self, command: AddCommand, *, requester: Person, owner: Person | None, user: IamUser) -> Filed:
        """Check an add against the rules, AWS and the store; store it as pending."""
        self.workflow.refuse_denied(lambda: command.groups)
        self.check_duration(command.groups, command.duration)
        if owner is None:
            raise CommandError(Why.USER_NO_OWNER, user_name=user.name)
        missing = self.iam.missing_groups(command.groups)
        if missing:
            raise CommandError(Why.NO_SUCH_GROUP, missing=tuple(missing), known=tuple(self.iam.list_groups()))
        current = self.iam.groups_for_user(user.name) or []
        held = {group.lower(): group for group in current}
        for group in command.groups:
            if group.lower() in held:
                live = self.store.live_grants(user.name, group)
                raise CommandError(Why.ALREADY_IN_GROUP, user_name=user.name, group=held[group.lower()],
                                   grant=live[0] if live else None)
        if len(held) + len(command.groups) > MAX_GROUPS:
            raise CommandError(Why.GROUP_LIMIT, user_name=user.name, groups=tuple(current), limit=MAX_GROUPS,
                               asked=len(command.groups))
        details = guardrails.filing_details(self.iam, self.policy.guardrails, command.groups, False)
        details.update(self.workflow.filing_shares(None, command.groups, details["sensitive"]))
        details.update(guardrails.boundary_details(user, self.iam.boundary_or(self.policy.boundary)))
        details.update(reason=command.reason, user_arn=user.arn, user_id=user.user_id,
                       duration_seconds=int(command.duration.total_seconds()) if command.duration else None)
        rule = self._self_approval(command, requester, owner, details)
        request = file(self.store, user_name=user.name, groups=command.groups, console=False,
                       owner_id=owner.user_id, requester_id=requester.user_id, team_id=self.policy.team_id,
                       now=self.now(), kind=GROUP_ADD, details=details)
        if rule is not None:
            request = self._approve_by_rule(request, rule)
        return Filed(request, owner_is_guest=owner.is_guest)

    # -- approved by a rule at filing: auto-approve, break-glass (docs/rules.md) ----------------

    def _self_approval(self, command: AddCommand, requester: Person, owner: Person, details: dict) -> str | None:
        """The rule that approves this add at once, or None (approvers decide). `--break-glass` by
        anyone the rule does not allow is refused with its reason."""
        rules, membership = self.approvals.rules, self.approvals.membership
        if command.break_glass:
            ruling = break_glass(rules, command.groups, requester.user_id, membership, command.duration,
                                 command.reason)
            if ruling.allowed and requester.user_id != owner.user_id:
                ruling = Ruling(False, Verdict.OWNER, BREAK_GLASS, command.groups[0])
            if not ruling.allowed:
                self.store.append_event(None, requester.user_id, f"refused:break_glass:{ruling.why.value}", self.now())
                raise NotAllowed(Why.BREAK_GLASS_REFUSED, ruling=ruling, user_name=command.user_name,
                                 requesters=tuple(rules.break_glass.requesters) if rules.break_glass else ())
            review = rules.break_glass.review_within
            details.update(break_glass_review_by=(self.now() + review).isoformat())
            return ruling.rule
        if command.duration is None:
            return None
        return self._auto_approval(command.groups, requester.user_id, command.duration, details)

    def _auto_approval(self, groups: tuple[str, ...], requester_id: str, duration: dt.timedelta,
                       details: dict) -> str | None:
        """The auto_approve rule(s) that approve this time-bound membership (an add or an extension)
        at once, or None. The daily cap counts the requester's adds and extensions of the last day
        that the same rule approved."""
        rules, membership = self.approvals.rules, self.approvals.membership
        since = self.now() - dt.timedelta(days=1)
        earlier = [*self.store.requested_since(requester_id, since, kind=GROUP_ADD),
                   *self.store.requested_since(requester_id, since, kind=GROUP_EXTEND)]
        names = []
        for group in groups:
            name = f"{rule_for(rules, group).name} auto_approve"
            count = sum(1 for r in earlier if name in (approved_by_rule(r) or "").split(", "))
            ruling = auto_approve(rules, group, requester_id, membership, duration, count,
                                  group in details.get("sensitive", {}))
            if not ruling.allowed:
                return None
            names.append(ruling.rule)
        return ", ".join(dict.fromkeys(names)) or None

    def _approve_by_rule(self, request: Request, rule: str) -> Request:
        """Approved at filing by the rule itself: its card (no Approve, no Deny) and provisioning are owed;
        a break-glass membership's review is due."""
        now = self.now()
        due = None
        if rule == BREAK_GLASS:
            due = {Due.GLASS_REVIEW: dt.datetime.fromisoformat(request.details["break_glass_review_by"])}
        details = {**request.details, "approved_by_rule": rule}
        won = move(self.store, APPROVED_BY_RULE, request.id, actor_id=None, now=now, detail=rule,
                   decided_at=now, details=details, due=due,
                   jobs=[NewJob(GroupOwed.RULE_CARD), NewJob(Owed.PROVISION)])
        return won or self.store.get(request.id)

    def review(self, request_id: int, person: Person, *, listed: bool) -> Request:
        """Reviewed: a second person (an approver, not the requester) has seen the break-glass membership."""
        request = self._self_approved(request_id, person, listed=listed, review=True)
        now = self.now()
        details = {**request.details, "reviewed_by": person.user_id, "reviewed_at": now.isoformat()}
        won = move(self.store, REVIEWED, request.id, actor_id=person.user_id, now=now, detail=BREAK_GLASS,
                   details=details, due={Due.GLASS_REVIEW: None}, guard=lambda current: not _reviewed(current),
                   jobs=[NewJob(Owed.CARD), NewJob(GroupOwed.SECURITY_COPY), thread("reviewed", person.user_id)])
        if won is None:
            raise CommandError(Why.ALREADY_REVIEWED, request_id=request.id)
        return won

    def revoke_now(self, request_id: int, person: Person, *, listed: bool) -> list[Ended]:
        """Revoke now: an approver ends every live grant of a self-approved add at once (for break-glass,
        a second person's Revoke now is also its review)."""
        request = self._self_approved(request_id, person, listed=listed, review=False)
        ended = [self._end_now(grant, person, REVOKED) for grant in self.store.grants_of(request.id) if grant.live]
        now = self.now()
        details = {**self.store.get(request.id).details, "revoked_by": person.user_id, "revoked_at": now.isoformat()}
        due = None
        if is_break_glass(request) and person.user_id != request.requester_id and not _reviewed(request):
            details.update(reviewed_by=person.user_id, reviewed_at=now.isoformat())
            due = {Due.GLASS_REVIEW: None}
        move(self.store, REVOKED_NOW, request.id, actor_id=person.user_id, now=now, detail=approved_by_rule(request),
             details=details, due=due, guard=lambda current: not current.details.get("revoked_by"),
             jobs=[NewJob(Owed.CARD), thread("revoked", person.user_id)]
             + ([NewJob(GroupOwed.SECURITY_COPY)] if is_break_glass(request) else []))
        return ended

    def security_copy_posted(self, request_id: int, channel: str, ts: str, *, tries: int = 5) -> None:
        """Where break-glass's copy in the security channel is, so that a review redraws it too (a
        compare-and-swap on the details: tried again if a review changed them meanwhile)."""
        for _ in range(tries):
            request = self.store.get(request_id)
            details = {**request.details, "security_copy": {"channel": channel, "ts": ts}}
            if self.store.revise(request_id, state=request.state, expected=request.details, details=details,
                                 actor_id=None, what="security_copy_posted", now=self.now(), detail=channel):
                return

    def _self_approved(self, request_id: int, person: Person, *, listed: bool, review: bool) -> Request:
        request = self.store.get(request_id)
        if request.kind != GROUP_ADD or not approved_by_rule(request) or (review and not is_break_glass(request)):
            raise CommandError(Why.NOT_SELF_APPROVED, request_id=request_id)
        if not listed or (review and person.user_id == request.requester_id):
            self._refused(request.id, person.user_id, "review" if review else "revoke_now")
            raise NotAllowed(Why.REVIEW_NOT_YOURS, request_id=request.id, requester_id=request.requester_id,
                             own=person.user_id == request.requester_id)
        if request.state != storage.PROVISIONED:
            raise CommandError(Why.NOT_SELF_APPROVED, request_id=request_id, state=request.state)
        if review and _reviewed(request):
            raise CommandError(Why.ALREADY_REVIEWED, request_id=request.id)
        if not review and request.details.get("revoked_by"):
            raise CommandError(Why.NO_LIVE_GRANT, user_name=request.user_name, group=", ".join(request.groups))
        return request

    def review_due(self) -> int:
        """A break-glass membership nobody reviewed within review_within: a reminder in its card's thread,
        then again every REVIEW_REMIND_EVERY until someone presses Reviewed or Revoke now."""
        now, sent = self.now(), 0
        for request in self.store.each_due(Due.GLASS_REVIEW, now=now):
            if _reviewed(request) or request.state != storage.PROVISIONED:
                self.store.set_due(request.id, {Due.GLASS_REVIEW: None})
                continue
            won = move(self.store, REVIEW_REMINDED, request.id, actor_id=None, now=now, detail=BREAK_GLASS,
                       due={Due.GLASS_REVIEW: now + REVIEW_REMIND_EVERY}, jobs=[thread("review_overdue")])
            sent += won is not None
        return sent

    # -- the kind: AddUserToGroup per group, and a grant once the membership is in place ----

    def _plan(self, request: Request) -> list[str]:
        return [group_step(group) for group in request.groups]

    def _run_step(self, request: Request, step: str) -> str | None:
        group = step.removeprefix("group:")
        self.iam.add_user_to_group(request.user_name, group)
        duration = duration_of(request)
        if duration is not None:
            now = self.now()
            ends = now + duration
            due = {Due.GRANT_END: ends}
            if ends - self.warning > now:
                due[Due.GRANT_WARNING] = ends - self.warning
            self.store.start_grant(request.id, request.user_name, group, started_at=now, ends_at=ends, due=due)
        return None

    def grants_of(self, request_id: int) -> list[Grant]:
        return self.store.grants_of(request_id)

    # -- the revoker -------------------------------------------------------------------------

    def revoke_due(self) -> list[Ended]:
        """End every grant whose time has come (and retry failed removals whose next try has come):
        only the due entries are read, in batches."""
        now = self.now()
        ended: list[Ended] = []
        for request in self.store.each_due(Due.GRANT_END, now=now):
            for grant in self.store.grants_of(request.id):
                if grant.live and not grant.stopped and now >= grant.ends_at and \
                        (grant.next_try_at is None or now >= grant.next_try_at):
                    done = self._revoke(grant, now)
                    if done is not None:
                        ended.append(done)
            self.store.set_due(request.id, {Due.GRANT_END: self._next_end(request.id)})
        return ended

    def _next_end(self, request_id: int) -> dt.datetime | None:
        times = [max(g.ends_at, g.next_try_at or g.ends_at) for g in self.store.grants_of(request_id)
                 if g.live and not g.stopped]
        return min(times) if times else None

    def still_needed(self, grant: Grant, now: dt.datetime) -> str | None:
        """Why the membership must stay when this grant ends: another grant of the same group that
        has not ended, or a standing membership the bot recorded; None if nothing needs it."""
        for other in self.store.live_grants(grant.user_name, grant.group):
            if other.id != grant.id and other.ends_at > now:
                return f"grant:{other.request_id}:{other.ends_at.isoformat()}"
        standing = self.standing_of(grant.user_name, grant.group)
        return f"standing:{standing}" if standing is not None else None

    def standing_of(self, user_name: str, group: str) -> int | None:
        """The request by which the bot made or found `user_name` a standing member of `group`
        (a create, or an add without `--for`), not dropped since, or None."""
        for request in self.store.for_user_name(user_name):
            if group.lower() in (g.lower() for g in standing_groups(request)):
                return request.id
        return None

    def revoke_ended(self, grant: Grant) -> Ended | None:
        """The revoker's work on one grant whose end has come, now (the reconciler found it still in
        AWS), and the add's due entry moved after it."""
        ended = self._revoke(grant, self.now())
        self._move_due(grant.request_id)
        return ended

    def _revoke(self, grant: Grant, now: dt.datetime) -> Ended | None:
        kept_by = self.still_needed(grant, now)
        if kept_by is not None:
            return self._end(grant, KEPT, now, actor_id=None, kept_by=kept_by)
        try:
            with in_account(self.store.get(grant.request_id).account):  # the grant's request's AWS account
                self.iam.remove_user_from_group(grant.user_name, grant.group)
        except IamError as error:
            attempts = grant.attempts + 1
            delay = min(self.retry * 2 ** (attempts - 1), REVOKE_RETRY_CAP)
            tell = [NewJob(GroupOwed.NOTE, {"event": "revoke_failing", "group": grant.group, "grant_id": grant.id,
                                            "attempts": attempts, "aws": error.for_approvers})] \
                if attempts == TELL_AFTER else []
            self.store.grant_attempt_failed(grant, now=now, next_try_at=now + delay,
                                            detail=f"{grant.group}: {error.for_approvers}", tell=tell)
            return None
        return self._end(grant, REMOVED, now, actor_id=None)

    def _end(self, grant: Grant, reason: str, now: dt.datetime, *, actor_id: str | None,
             kept_by: str | None = None) -> Ended | None:
        facts = {"group": grant.group, "reason": reason, "kept_by": kept_by, "actor": actor_id}
        ended = self.store.end_grant(
            grant.id, now=now, reason=reason, actor_id=actor_id, what="grant_ended",
            detail=f"{grant.group}: {reason}" + (f" ({kept_by})" if kept_by else ""),
            jobs=[NewJob(GroupOwed.NOTE, {"event": "grant_ended", **facts}),
                  NewJob(GroupOwed.DM, {"event": "ended", **facts})])
        if ended is None:
            return None
        self._void_extensions(grant, now)
        return Ended(ended, reason, kept_by)

    def _void_extensions(self, grant: Grant, now: dt.datetime) -> None:
        """An extension still waiting for a grant that ended has nothing left to extend: cancelled,
        its card redrawn."""
        for other in self.store.for_user_name(grant.user_name):
            if other.kind == GROUP_EXTEND and other.state == storage.PENDING \
                    and other.details.get("grant_id") == grant.id:
                move(self.store, CANCEL_GRANT_ENDED, other.id, actor_id=None, now=now,
                     detail=f"the membership of {grant.group} ended first", jobs=[NewJob(Owed.CARD)])

    # -- the warning before the end -----------------------------------------------------------

    def warn_due(self) -> int:
        """The owner's DM (Extend, I'm done) IAM_BOT_GRANT_WARNING before a grant ends, once; none for
        a grant whose end has come already (the DM that it ended says enough)."""
        now, sent = self.now(), 0
        for request in self.store.each_due(Due.GRANT_WARNING, now=now):
            for grant in self.store.grants_of(request.id):
                if grant.live and not grant.warned and grant.ends_at - self.warning <= now < grant.ends_at:
                    warned = self.store.revise_grant(
                        grant.id, now=now, actor_id=None, what="grant_warned", detail=grant.group, warned=True,
                        jobs=[NewJob(GroupOwed.DM, {"event": "warning", "group": grant.group,
                                                    "grant_id": grant.id})])
                    sent += warned is not None
            later = [g.ends_at - self.warning for g in self.store.grants_of(request.id)
                     if g.live and not g.warned and g.ends_at > now]
            self.store.set_due(request.id, {Due.GRANT_WARNING: min(later) if later else None})
        return sent

    # -- Extend: a further duration, approved like an add --------------------------------------

    def may_extend(self, grant_id: int, person: Person) -> tuple[Grant, dt.timedelta, dt.timedelta | None]:
        """Whether this person may ask to extend this grant now (its owner, no extension open): the
        grant, the further duration to suggest (its own length again, within the group's limit) and
        the group's max_duration (None: no limit). Store reads only: the Extend button asks this
        before it opens the form."""
        grant, add = self._grant(grant_id)
        if person.user_id != add.owner_id:
            self._refused(add.id, person.user_id, "extend_not_owner")
            raise NotAllowed(Why.GRANT_NOT_YOURS, group=grant.group, user_name=grant.user_name)
        for other in self.store.for_user_name(grant.user_name):
            if other.kind == GROUP_EXTEND and other.state in (storage.PENDING, storage.APPROVED) \
                    and other.details.get("grant_id") == grant.id:
                raise CommandError(Why.EXTENSION_OPEN, group=grant.group, user_name=grant.user_name,
                                   request_id=other.id)
        limit = rule_for(self.approvals.rules, grant.group).max_duration
        length = duration_of(add) or (grant.ends_at - grant.started_at)
        return grant, min(length, limit) if limit else length, limit

    def extend(self, grant_id: int, person: Person, duration: dt.timedelta) -> Request:
        """The owner's Extend: an extension request (kind `group_extend`) for a further `duration`
        (at least IAM_BOT_GRANT_MIN, at most the group's max_duration), one open at a time per grant.
        Approved like an add, by the same rules: at once when the group's auto-approve allows it (its
        limits and its daily cap, shared with adds), else its card is owed."""
        grant, _, _ = self.may_extend(grant_id, person)
        add = self.store.get(grant.request_id)
        self.workflow.refuse_denied(lambda: (grant.group,))
        self.check_duration((grant.group,), duration)
        details = guardrails.filing_details(self.iam, self.policy.guardrails, (grant.group,), False)
        details.update(self.workflow.filing_shares(None, (grant.group,), details["sensitive"]))
        details.update(reason=f"extension of request #{add.id}: {add.details.get('reason') or ''}".strip(),
                       user_arn=add.details.get("user_arn"), grant_id=grant.id, extends=add.id,
                       from_end=grant.ends_at.isoformat(), duration_seconds=int(duration.total_seconds()))
        rule = self._auto_approval((grant.group,), person.user_id, duration, details)
        request = file(self.store, user_name=grant.user_name, groups=(grant.group,), console=False,
                       owner_id=add.owner_id, requester_id=person.user_id, team_id=self.policy.team_id,
                       now=self.now(), kind=GROUP_EXTEND, details=details,
                       jobs=[] if rule is not None else [NewJob(GroupOwed.CARD)])
        if rule is not None:
            request = self._approve_by_rule(request, rule)
        return request

    def _extend_step(self, request: Request, step: str) -> str | None:
        """Move the grant's end from the end it had when the extension was asked for: once, even
        if the step runs again after a crash."""
        grant = self.store.grant(request.details["grant_id"])
        from_end = dt.datetime.fromisoformat(request.details["from_end"])
        new_end = from_end + dt.timedelta(seconds=request.details["duration_seconds"])
        if grant is not None and grant.live and grant.ends_at == new_end:
            return None
        if grant is None or not grant.live or grant.ends_at != from_end:
            raise IamError(f"The membership of {request.groups[0]} ended (or changed) before the extension was "
                           "approved; nothing was changed. Ask for it again with /iam add.")
        self.store.revise_grant(grant.id, now=self.now(), actor_id=None, what="grant_extended",
                                detail=f"{grant.group}: until {new_end.isoformat()}", ends_at=new_end, warned=False)
        self._move_due(grant.request_id)
        return None

    def _move_due(self, request_id: int) -> None:
        """The add's due entries from its live grants (after one of them moved)."""
        live = [g for g in self.store.grants_of(request_id) if g.live]
        warnings = [g.ends_at - self.warning for g in live if not g.warned and g.ends_at - self.warning > g.started_at]
        self.store.set_due(request_id, {Due.GRANT_END: self._next_end(request_id),
                                        Due.GRANT_WARNING: min(warnings) if warnings else None})

    # -- ending a grant early: I'm done, /iam drop, Stop retrying -----------------------------

    def done(self, grant_id: int, person: Person) -> Ended:
        """The owner's I'm done: the grant ends now (the revoker removes the membership at once)."""
        grant, request = self._grant(grant_id)
        if person.user_id != request.owner_id:
            self._refused(request.id, person.user_id, "grant_not_yours")
            raise NotAllowed(Why.GRANT_NOT_YOURS, group=grant.group, user_name=grant.user_name)
        return self._end_now(grant, person, DONE)

    def drop(self, command: DropCommand, person: Person, *, listed: bool) -> Dropped | Filed:
        """`/iam drop`: the owner of the user or an approver takes it out of a group the bot granted
        (its live grants, and a standing membership from a create or an add without --for). At once,
        with no second person, since it takes access away; but a group whose policies hold a Deny
        lifts that Deny when left, so that drop is a request (`group_drop`) approved like an add.
        The MFA group is never dropped."""
        mfa = self.policy.guardrails.mfa_group
        if mfa and command.group.lower() == mfa.lower():
            raise CommandError(Why.DROP_MFA_GROUP, group=command.group)
        live = self.store.live_grants(command.user_name, command.group)
        standing = self.standing_of(command.user_name, command.group)
        holders = [self.store.get(grant.request_id) for grant in live] + \
            ([self.store.get(standing)] if standing is not None else [])
        if not holders:
            raise CommandError(Why.NO_LIVE_GRANT, user_name=command.user_name, group=command.group)
        if not listed and person.user_id not in {request.owner_id for request in holders}:
            self._refused(holders[0].id, person.user_id, "drop_not_allowed")
            raise NotAllowed(Why.GRANT_NOT_YOURS, group=command.group, user_name=holders[0].user_name)
        user_name = holders[0].user_name
        group = live[0].group if live else next(g for g in holders[-1].groups if g.lower() == command.group.lower())
        for other in self.store.for_user_name(user_name):
            if other.kind == GROUP_DROP and other.state in (storage.PENDING, storage.APPROVED) \
                    and other.groups[0].lower() == group.lower():
                raise CommandError(Why.REQUEST_OPEN, request_id=other.id, user_name=user_name)
        if self.iam.group_denies(group):
            return self._file_drop(user_name, group, person, holders[0])
        return self._take_out(user_name, group, actor_id=person.user_id)

    def _file_drop(self, user_name: str, group: str, person: Person, holder: Request) -> Filed:
        """A drop that lifts a Deny: a request of kind `group_drop`, approved by the group's rules."""
        details = guardrails.filing_details(self.iam, self.policy.guardrails, (group,), False)
        details.update(self.workflow.filing_shares(None, (group,), details["sensitive"]))
        details.update(reason=f"the policies of {group} hold a Deny: leaving the group lifts it",
                       user_arn=holder.details.get("user_arn"), lifts_deny=True)
        request = file(self.store, user_name=user_name, groups=(group,), console=False, owner_id=holder.owner_id,
                       requester_id=person.user_id, team_id=self.policy.team_id, now=self.now(), kind=GROUP_DROP,
                       details=details)
        return Filed(request)

    def _drop_step(self, request: Request, step: str) -> str | None:
        """An approved drop: out of the group, its grants ended, its standing membership dropped, as a
        drop at once would; again after a crash, nothing twice (each end is conditional)."""
        self._take_out(request.user_name, step.removeprefix("group:"), actor_id=request.requester_id)
        return None

    def _take_out(self, user_name: str, group: str, *, actor_id: str) -> Dropped:
        """RemoveUserFromGroup (an IamError is said to the person, nothing recorded), then every live
        grant of the group ended and the standing membership dropped: each an event, a line in its
        request's thread and a DM to its owner."""
        now = self.now()
        self.iam.remove_user_from_group(user_name, group)
        ended = []
        for grant in self.store.live_grants(user_name, group):
            done = self._end(grant, DROPPED, now, actor_id=actor_id)
            if done is not None:
                ended.append(done)
            self.store.set_due(grant.request_id, {Due.GRANT_END: self._next_end(grant.request_id)})
        standing = self.standing_of(user_name, group)
        if standing is not None:
            self._drop_standing(standing, group, now, actor_id=actor_id)
        return Dropped(user_name, group, tuple(ended), standing)

    def _drop_standing(self, request_id: int, group: str, now: dt.datetime, *, actor_id: str, tries: int = 5) -> None:
        """Record that a standing membership was dropped, on the request that granted it (a
        compare-and-swap on its details), with the event, the thread line and the owner's DM a
        grant's end has."""
        facts = {"group": group, "reason": DROPPED, "kept_by": None, "actor": actor_id, "standing": True}
        for _ in range(tries):
            request = self.store.get(request_id)
            dropped = dropped_groups(request)
            if group.lower() in dropped:
                return
            dropped[group.lower()] = {"by": actor_id, "at": now.isoformat()}
            if self.store.revise(request_id, state=request.state, expected=request.details,
                                 details={**request.details, "dropped": dropped}, actor_id=actor_id,
                                 what="membership_dropped", now=now, detail=f"{group}: {DROPPED}",
                                 jobs=[NewJob(GroupOwed.NOTE, {"event": "grant_ended", **facts}),
                                       NewJob(GroupOwed.DM, {"event": "ended", **facts})]):
                return

    def _end_now(self, grant: Grant, person: Person, reason: str) -> Ended:
        now = self.now()
        kept_by = self.still_needed(grant, now)
        if kept_by is None:
            self.iam.remove_user_from_group(grant.user_name, grant.group)  # an IamError: said to the person, grant live
        ended = self._end(grant, reason, now, actor_id=person.user_id, kept_by=kept_by)
        if ended is None:
            raise CommandError(Why.NO_LIVE_GRANT, user_name=grant.user_name, group=grant.group)
        self.store.set_due(grant.request_id, {Due.GRANT_END: self._next_end(grant.request_id)})
        return ended

    def stop_retrying(self, grant_id: int, person: Person, *, listed: bool) -> Grant:
        grant, request = self._grant(grant_id)
        if not listed:
            self._refused(request.id, person.user_id, "stop_retrying")
            raise NotAllowed(Why.GRANT_NOT_YOURS, group=grant.group, user_name=grant.user_name)
        stopped = self.store.revise_grant(grant.id, now=self.now(), actor_id=person.user_id, what="revoke_stopped",
                                          detail=grant.group, stopped=True)
        if stopped is None:
            raise CommandError(Why.NO_LIVE_GRANT, user_name=grant.user_name, group=grant.group)
        return stopped

    def _grant(self, grant_id: int) -> tuple[Grant, Request]:
        grant = self.store.grant(grant_id)
        if grant is None or not grant.live:
            raise CommandError(Why.NO_LIVE_GRANT, user_name=grant.user_name if grant else "",
                               group=grant.group if grant else "")
        return grant, self.store.get(grant.request_id)

    def _refused(self, request_id: int, person_id: str, what: str) -> None:
        self.store.append_event(request_id, person_id, f"refused:{what}", self.now())
