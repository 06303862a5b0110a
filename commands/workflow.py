"""The life of a request: filed, decided by a second person, provisioned, revealed.

Plain values in, plain results out: reasons and data, never words or markup (the Slack edge
says things). Every state change goes through the store's conditional transitions, so a
double click or a second process cannot win twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import secrets

import storage
from storage import Job, NewJob, Request, Store

from . import guardrails
from .approvals import Approvals, rules_met
from .errors import CommandError, IamError, NotAllowed, Why
from .iam import AccessKey, IamGateway, PasswordPolicy, PasswordRejected
from .lifecycle import (
    APPROVAL, APPROVE, CANCEL_CARD_REFUSED, CLAIM_REVEAL, DENY, EXPIRE, EXPIRE_REVEAL, FAILED_STEP, PROVISIONED_ALL,
    RELEASE_REVEAL, REVEAL_BUTTON_SENT, REVEALED_ONCE, RETRY, move,
)
from .rules import (
    Decision, Person, Reason, decide_approval, decide_retry, is_expired, may_see_keys, precheck_decider,
)
from .ruleset import Threshold, Verdict

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
PasswordGenerator = Callable[[PasswordPolicy], str]

class Owed:
    """Kinds of durable work. A transition writes what it owes people in its own transaction;
    `bot/work.py` does it, again after a crash, until it is done."""

    COMMAND = "command"        # a slash command acked but not yet answered
    PROVISION = "provision"    # run the provisioning steps of an approved request
    CARD = "card"              # bring the approval card up to date
    THREAD = "thread"          # one line in the card's thread, payload {"event": ..., "actor": ...}
    SIGN_IN_DM = "sign_in_dm"  # the owner's sign-in details with the Reveal button
    DENIED_DM = "denied_dm"    # the requester hears of a denial
    DM_UPDATE = "dm_update"    # the owner's DM after the reveal, or after it expired
    MFA_NUDGE = "mfa_nudge"    # a console user without MFA is reminded, with the steps


class Due:
    """Names of the store's due entries, one per periodic duty that reads them (`Store.each_due`,
    docs/duties.md): the transition that makes a request due writes its entry, the duty moves it
    later or clears it."""

    REVEAL_EXPIRY = "reveal_expiry"  # the sweep: a reveal not claimed within IAM_BOT_REVEAL_TTL expires
    MFA = "mfa"                      # commands/mfa.py: a console user's MFA device, checked and nudged
    ROTATION = "rotation"            # commands/keys.py: a rotation's later steps, a key never shown
    GRANT_END = "grant_end"          # commands/groups.py: a grant's end (and the revoker's retries)
    GRANT_WARNING = "grant_warning"  # commands/groups.py: the owner's warning before a grant ends
    GLASS_REVIEW = "glass_review"    # commands/groups.py: a break-glass membership's review, then reminders


def thread(event: str, actor: str | None = None) -> NewJob:
    return NewJob(Owed.THREAD, {"event": event, "actor": actor})



# A reveal claimed but neither shown nor released for this long is released by the sweep.
REVEAL_CLAIM_TIMEOUT = dt.timedelta(minutes=2)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Secret:
    """What a Reveal click makes and shows once. Never in a repr, a log line, the store or an event."""

    what: str  # "password" or "access_key"
    value: str = field(repr=False)
    key_id: str | None = None


@dataclass(frozen=True)
class Kind:
    """What differs between kinds of request. Filing, the two-person rule, provisioning step by
    step, the one-time reveal and the trail are shared; a kind says which steps, how to run one,
    what (if anything) its owner reveals, and what is owed once provisioned."""

    name: str
    plan: Callable[[Request], list[str]]
    run_step: Callable[[Request, str], str | None]  # returns the user's ARN when it learns it
    reveals: Callable[[Request], bool] = lambda request: False
    reveal: Callable[[Request], Secret] | None = None
    after_provisioning: Callable[[Request], list[NewJob]] = lambda request: []
    # Due entries a finished reveal starts (`Due`), by duty name: what a duty watches afterwards.
    after_reveal: Callable[[Request, dt.datetime], dict] = lambda request, now: {}


def password_reveal(iam: IamGateway, passwords: PasswordGenerator,
                    set_password: Callable[[str, str], None]) -> Callable[[Request], Secret]:
    """A reveal that makes a fresh console password and sets it with `set_password(user, password)`:
    one IAM call, unless AWS rejects the password (the policy just changed), then one retry made
    for the policy read afresh."""
    def reveal(request: Request) -> Secret:
        for fresh in (False, True):
            password = passwords(iam.password_policy(stale_ok=not fresh))
            try:
                set_password(request.user_name, password)
            except PasswordRejected:
                if fresh:
                    raise
                continue
            return Secret("password", password)
        raise AssertionError("unreachable")
    return reveal


@dataclass(frozen=True)
class Policy:
    """The parts of the configuration the workflow needs."""

    team_id: str
    user_path: str = "/"
    request_ttl: dt.timedelta = dt.timedelta(hours=24)
    reveal_ttl: dt.timedelta = dt.timedelta(hours=24)
    work_hold: dt.timedelta = dt.timedelta(seconds=60)
    guardrails: guardrails.Guardrails = guardrails.Guardrails()
    # The managed policy every CreateUser carries as the user's permissions boundary; None: none.
    boundary: str | None = None


@dataclass(frozen=True)
class Filed:
    """A request stored as pending, and what was checked before: the owner's standing."""

    request: Request
    owner_is_guest: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a click did: the request as it is now, whether this click changed it, and if not, why.

    `expired_here` is set when this click noticed the request was too old and won its expiry:
    the one place that should tell people about it.
    """

    request: Request
    changed: bool
    reason: Reason = Reason.ALLOWED
    expired_here: bool = False


@dataclass(frozen=True)
class Revealed:
    request: Request
    secret: Secret  # its value never in a repr, so never in a log line
    sign_in_url: str = ""


@dataclass(frozen=True)
class KeyListing:
    user_name: str  # as AWS holds it
    keys: tuple[AccessKey, ...]
    as_of: dt.datetime
    boundary: dict | None = None  # the user has no permissions boundary or another (guardrails.boundary_details)


class Workflow:
    def __init__(self, store: Store, iam: IamGateway, policy: Policy, *, clock: Clock = utc_now,
                 kinds: tuple[Kind, ...] = (), approvals: Approvals = Approvals()):
        self.store = store
        self.iam = iam
        self.policy = policy
        self.clock = clock
        # The approval rules and how to ask Slack who is in a user group (commands/approvals.py).
        self.approvals = approvals
        # The kinds of request it runs: each feature gives its own (bot/feature.py `Feature.kinds`).
        self.kinds = {kind.name: kind for kind in kinds}

    def kind(self, request: Request) -> Kind:
        return self.kinds[request.kind]

    def now(self) -> dt.datetime:
        """The time the domain runs on (injected: tests and the shell move it)."""
        return self.clock()

    def find(self, request_id: int) -> Request | None:
        return self.store.find(request_id)

    def request(self, request_id: int) -> Request:
        """The request, or a CommandError saying there is none."""
        request = self.store.find(request_id)
        if request is None:
            raise CommandError(Why.NO_SUCH_REQUEST, request_id=request_id)
        return request

    def _refused(self, request_id: int | None, actor_id: str, reason: str, detail: str | None = None) -> None:
        self.store.append_event(request_id, actor_id, f"refused:{reason}", self.clock(), detail=detail)

    def new_card(self, request_id: int, poster: int) -> str | None:
        """A fresh token for the approval card the work `poster` (a job id) is about to post; an
        earlier card's buttons stop working (one may have reached Slack before a crash). None once
        the request is decided, or when other work took the card on: only one piece of work posts
        a request's card, and only it posts it again (its job runs again after a crash)."""
        for _ in range(3):
            request = self.store.get(request_id)
            if request.state != storage.PENDING:
                return None
            if "card_token" in request.details and request.details.get("card_by", poster) != poster:
                return None
            token = secrets.token_hex(4)
            if self.store.revise(request_id, state=storage.PENDING, expected=request.details,
                                 details={**request.details, "card_token": token, "card_by": poster},
                                 actor_id=None, what="card_sent", now=self.clock()):
                return token
        return None

    def check_card(self, request_id: int, token: str | None, person_id: str) -> None:
        """Refuse a click on a card that a newer card of the same request replaced."""
        current = self.request(request_id).details.get("card_token")
        if current and token and token != current:
            self._refused(request_id, person_id, "card_replaced")
            raise NotAllowed(Why.CARD_REPLACED, request_id=request_id)

    def card_posted(self, request_id: int, channel: str, ts: str) -> None:
        self.store.set_card(request_id, channel, ts)

    def card_refused(self, request_id: int, slack_error: str) -> Request | None:
        """The approval card could not be posted: a request nobody can see must not stay live."""
        return move(self.store, CANCEL_CARD_REFUSED, request_id, actor_id=None, now=self.clock(),
                    detail=f"the approval card could not be posted: {slack_error}")

    # -- /iam keys ------------------------------------------------------------------------

    def owns_user(self, person_id: str, user_name: str) -> bool:
        """Did the bot create this IAM user for this person?"""
        return any(r.user_name.lower() == user_name.lower() and r.state in storage.PROVISIONED_STATES
                   for r in self.store.for_owner(person_id))

    def list_keys(self, user_name: str, caller: Person, *, listed: bool) -> KeyListing:
        """The user's access keys, for approvers and the user's owner; a refusal is recorded."""
        owns = self.owns_user(caller.user_id, user_name)
        if not may_see_keys(caller=caller, listed=listed, owns_user=owns, team_id=self.policy.team_id):
            self._refused(None, caller.user_id, "keys", detail=user_name)
            raise NotAllowed(Why.KEYS_NOT_ALLOWED, user_name=user_name)
        found = self.iam.access_keys_of(user_name)
        if found is None:
            raise CommandError(Why.NO_SUCH_USER, user_name=user_name)
        user, keys = found
        return KeyListing(user_name=user.name, keys=tuple(keys), as_of=self.clock(),
                          boundary=guardrails.boundary_details(user, self.iam.boundary_or(self.policy.boundary)).get("boundary"))

    # -- deciding -----------------------------------------------------------------------

    def precheck(self, request_id: int, user_id: str) -> Outcome:
        """What the store alone says of a click, before Slack is asked who clicked (Deny's modal)."""
        request = self.request(request_id)
        decision = precheck_decider(request, user_id, now=self.clock(), request_ttl=self.policy.request_ttl)
        return self._refusal(request, user_id, decision, "decide")

    def _refusal(self, request: Request, user_id: str, decision: Decision, what: str) -> Outcome:
        if decision.allowed:
            return Outcome(request, False)
        expired = self.expire(request.id) if decision.reason is Reason.EXPIRED else None
        self._refused(request.id, user_id, decision.reason.value, detail=what)
        return Outcome(expired or self.store.get(request.id), False, decision.reason, expired_here=expired is not None)

    def approve(self, request_id: int, person: Person) -> Outcome:
        """An approval: the decision, or one of the several the rules ask for.

        The rules are applied now: the groups at stake are read afresh (a key's user's groups as
        they are), with their sensitivity; a deny rule naming one refuses; the person counts only
        for a group still short of its approvals (docs/rules.md). Each write is conditional on the
        approvals it read, so under any number of concurrent clicks no approval is lost or counted
        twice, and only the last one needed decides.
        """
        request = self.request(request_id)
        now = self.clock()
        decision = decide_approval(request, person, listed=True, team_id=self.policy.team_id,
                                   now=now, request_ttl=self.policy.request_ttl)
        if not decision.allowed:
            return self._refusal(request, person.user_id, decision, "decide")
        if not self._could_approve(request, person.user_id):  # before IAM is read for a stranger's click
            return self._refusal(request, person.user_id, Decision(False, Reason.NOT_APPROVER), "decide")
        judged: dict | None = None
        for _ in range(10):  # a lost write means another approval landed first; there are only so many
            if request.state != storage.PENDING:
                break
            # Judged on the request as it is now, after every lost write too: the approval that won
            # may have seen the user in more groups, or a group turn sensitive.
            judged, at_stake = self._judge_now(request, person.user_id, judged)
            before = [a["user_id"] for a in guardrails.approvals(request)]
            ruling = self.approvals.may_approve(person.user_id, at_stake, before, request.requester_id,
                                                request.owner_id)
            if not ruling.allowed:
                return self._refusal(request, person.user_id, Decision(False, self._why_not(ruling, person, at_stake, request)),
                                     "decide")
            done = self.approvals.progress(at_stake, [*before, person.user_id], request.requester_id, request.owner_id)
            mine = rules_met(done, person.user_id)
            seen = guardrails.recorded_approvals(request)
            entry = {"user_id": person.user_id, "at": now.isoformat(), "rule": mine}
            counted = len(before) + 1
            details = {**request.details, **judged, **self.approvals.shares(done), "approvals": [*seen, entry]}
            details["approvals_needed"] = max(guardrails.approvals_needed(request), judged.get("approvals_needed", 1),
                                              *(t.approvals for t in at_stake))
            unchanged = lambda current, seen=seen: guardrails.recorded_approvals(current) == seen  # noqa: E731
            if not done.met or counted < details["approvals_needed"]:
                won = move(self.store, APPROVAL, request_id, actor_id=person.user_id, now=now,
                           detail=f"{counted} of {details['approvals_needed']}; {mine}", details=details,
                           guard=unchanged, jobs=[NewJob(Owed.CARD)])
            else:
                won = move(self.store, APPROVE, request_id, actor_id=person.user_id, now=now, detail=rules_met(done),
                           decider_id=person.user_id, decided_at=now, details=details, guard=unchanged,
                           jobs=[NewJob(Owed.CARD), NewJob(Owed.PROVISION)])
            if won is not None:
                return Outcome(won, True)
            request = self.store.get(request_id)  # another click changed it first: decide on what it holds now
        return self._refusal(request, person.user_id, Decision(False, Reason.NOT_PENDING), "decide")

    def _could_approve(self, request: Request, person_id: str) -> bool:
        """By what the request holds, before IAM is read: is this person among the defaults' approvers,
        those of its groups (and of those found sensitive), or those its card shows (its shares)?
        A stranger's click is refused without reading IAM; who is named here is still judged on
        the groups read afresh."""
        sensitive = request.details.get("sensitive") or {}
        named = [ref for t in self.approvals.thresholds((*request.groups, *sensitive), sensitive) for ref in t.approvers]
        named += [ref for share in request.details.get("shares") or () for ref in share.get("approvers") or ()]
        named += self.approvals.rules.defaults.approvers
        return self.approvals.among(person_id, dict.fromkeys(named))

    def awaits(self, request: Request, person_id: str) -> int | None:
        """How many approvals a pending request still needs, when this person's approval would count
        now; None when it would not (not pending, theirs, not an approver of a group still short).
        By what the request holds, without reading IAM (the App Home's list): Approve judges the
        groups afresh."""
        if request.state != storage.PENDING or not self._could_approve(request, person_id):
            return None
        sensitive = request.details.get("sensitive") or {}
        theirs = tuple(share["group"] for share in request.details.get("shares") or () if share.get("group"))
        at_stake = self.approvals.thresholds((*request.groups, *theirs, *sensitive), sensitive)
        before = [a["user_id"] for a in guardrails.approvals(request)]
        if not self.approvals.may_approve(person_id, at_stake, before, request.requester_id, request.owner_id).allowed:
            return None
        done = self.approvals.progress(at_stake, before, request.requester_id, request.owner_id)
        return max(1, guardrails.approvals_needed(request) - len(before), *(share.still for share in done.shares))

    def _judge_now(self, request: Request, person_id: str, earlier: dict | None) -> tuple[dict, tuple[Threshold, ...]]:
        """The groups at stake read afresh (a deny rule naming one refuses), their sensitivity and
        thresholds. What is recorded never goes down: a group found sensitive stays so (`judge`
        keeps the request's). After a lost write (`earlier`: this click's judgement before it), what
        this click found sensitive stays so too, and every group the approval that won judged stays
        at stake (its shares), whatever this read of the user's groups says."""
        groups = guardrails.groups_at_stake(self.iam, request)
        self._refuse_denied(request, person_id, groups)
        judged = guardrails.judge(self.iam, self.policy.guardrails, request, groups=groups)
        if earlier is None:
            return judged, self._thresholds(request, groups, judged["sensitive"])
        judged["sensitive"] = {**(earlier.get("sensitive") or {}), **judged["sensitive"]}
        needed = max(judged.get("approvals_needed", 1), earlier.get("approvals_needed", 1),
                     2 if judged["sensitive"] else 1)
        if needed > 1:
            judged["approvals_needed"] = needed
        theirs = tuple(share["group"] for share in request.details.get("shares") or () if share.get("group"))
        return judged, self._thresholds(request, (*groups, *theirs), judged["sensitive"])

    def _thresholds(self, request: Request, groups: tuple[str, ...], sensitive) -> tuple[Threshold, ...]:
        """What each group at stake asks for; a group found sensitive before stays at stake (its
        approvals never go down), so does the floor of two."""
        return self.approvals.thresholds((*groups, *sensitive), sensitive)

    def _why_not(self, ruling, person: Person, at_stake: tuple[Threshold, ...], request: Request) -> Reason:
        if ruling.why is Verdict.ALREADY_APPROVED:
            return Reason.ALREADY_APPROVED
        if ruling.why is Verdict.REQUESTER:
            return Reason.REQUESTER
        if ruling.why is Verdict.OWNER:
            return Reason.OWNER
        if self.approvals.may_deny(person.user_id, at_stake, request.requester_id, request.owner_id).allowed:
            return Reason.NOT_NEEDED  # an approver of groups that have their approvals already
        return Reason.NOT_APPROVER

    def _refuse_denied(self, request: Request, person_id: str, groups: tuple[str, ...]) -> None:
        """A deny rule names a group at stake (the file may have changed since filing): refused, recorded."""
        try:
            self.approvals.refuse_denied(lambda: groups)
        except NotAllowed as refused:
            self._refused(request.id, person_id, Why.DENIED_BY_RULE.value, detail=refused.facts["rule"])
            raise

    def judge(self, request: Request) -> dict:
        """Sensitivity and MFA notes of a request, judged now: the `details` a kind files with
        (a key request: one ListGroupsForUser, one ListAttachedGroupPolicies per group), and with
        a rules file who approves each group at stake."""
        groups = guardrails.groups_at_stake(self.iam, request)
        judged = guardrails.judge(self.iam, self.policy.guardrails, request, groups=groups)
        return {**judged, **self.filing_shares(request, groups, judged["sensitive"])}

    def filing_shares(self, request: Request | None, groups: tuple[str, ...], sensitive) -> dict:
        """Who approves each group at stake, for the card from the start ({} without a rules file)."""
        if not self.approvals.per_group:
            return {}
        at_stake = self.approvals.thresholds((*groups, *sensitive), sensitive)
        return self.approvals.shares(self.approvals.progress(at_stake, (), None, None))

    def refuse_denied(self, groups) -> None:
        """At filing, before anything is stored: a deny rule naming one of `groups` (a callable,
        asked only when the rules have deny rules) refuses with its reason."""
        self.approvals.refuse_denied(groups)

    def _at_stake_for_decision(self, request: Request) -> tuple[Threshold, ...]:
        """The thresholds who may deny or retry is judged by: the defaults alone unless some group
        has approvers of its own (then the groups at stake are read)."""
        if not self.approvals.groups_matter:
            return self.approvals.thresholds(())
        groups = guardrails.groups_at_stake(self.iam, request)
        sensitive = request.details.get("sensitive") or {}
        return self.approvals.thresholds((*groups, *sensitive), sensitive)

    def deny(self, request_id: int, person: Person, *, reason: str) -> Outcome:
        reason = (reason or "").strip()
        if not reason:
            raise CommandError(Why.DENY_WITHOUT_REASON)
        request = self.request(request_id)
        now = self.clock()
        decision = decide_approval(request, person, listed=True, team_id=self.policy.team_id,
                                   now=now, request_ttl=self.policy.request_ttl)
        if decision.allowed:
            ruling = self.approvals.may_deny(person.user_id, self._at_stake_for_decision(request),
                                             request.requester_id, request.owner_id)
            decision = Decision(ruling.allowed, Reason.ALLOWED if ruling.allowed else Reason.NOT_APPROVER)
        if not decision.allowed:
            return self._refusal(request, person.user_id, decision, "decide")
        details = {**request.details, "deny_rule": ruling.rule}
        won = move(self.store, DENY, request_id, actor_id=person.user_id, now=now, detail=reason,
                   decider_id=person.user_id, decided_at=now, deny_reason=reason, details=details,
                   jobs=[NewJob(Owed.CARD), NewJob(Owed.DENIED_DM)])
        if won is None:
            return self._refusal(self.store.get(request_id), person.user_id, Decision(False, Reason.NOT_PENDING),
                                 "decide")
        return Outcome(won, True)

    def expire(self, request_id: int) -> Request | None:
        return move(self.store, EXPIRE, request_id, actor_id=None, now=self.clock(),
                    jobs=[NewJob(Owed.CARD), thread("expired")])

    def sweep(self) -> list[Request]:
        """Expire what waited too long; release reveal claims that were never finished.

        Returns the requests whose expiry this sweep won, to be told about.
        """
        now = self.clock()
        changed = []
        for request in self.store.in_states([storage.PENDING]):
            if is_expired(request, now, self.policy.request_ttl):
                expired = self.expire(request.id)
                if expired:
                    changed.append(expired)
        for request in self.store.each_due(Due.REVEAL_EXPIRY, now=now):
            if request.state == storage.REVEALING:  # released or revealed within the claim timeout
                self.store.set_due(request.id, {Due.REVEAL_EXPIRY: now + REVEAL_CLAIM_TIMEOUT})
            elif request.state != storage.PROVISIONED or not self.kind(request).reveals(request) \
                    or request.provisioned_at is None:
                self.store.set_due(request.id, {Due.REVEAL_EXPIRY: None})
            elif not self._reveal_expired(request, now):  # IAM_BOT_REVEAL_TTL grew since it was set
                self.store.set_due(request.id, {Due.REVEAL_EXPIRY: request.provisioned_at + self.policy.reveal_ttl})
            else:
                expired = self._expire_reveal(request.id, now)
                if expired:
                    changed.append(expired)
        for request in self.store.in_states([storage.REVEALING]):
            if request.reveal_claimed_at and now - request.reveal_claimed_at > REVEAL_CLAIM_TIMEOUT:
                move(self.store, RELEASE_REVEAL, request.id, actor_id=None, now=now, detail="claim never finished",
                     reveal_claimed_at=None)
        return changed

    def _reveal_expired(self, request: Request, now: dt.datetime) -> bool:
        return request.provisioned_at is not None and now >= request.provisioned_at + self.policy.reveal_ttl

    def _expire_reveal(self, request_id: int, now: dt.datetime) -> Request | None:
        return move(self.store, EXPIRE_REVEAL, request_id, actor_id=None, now=now,
                    jobs=[NewJob(Owed.DM_UPDATE), thread("reveal_expired")], due={Due.REVEAL_EXPIRY: None})

    # -- provisioning -------------------------------------------------------------------

    def retry(self, request_id: int, person: Person) -> Outcome:
        """An approver sends a failed request back to provisioning, from its failed step: one of the
        defaults' approvers, or of a group at stake (docs/rules.md)."""
        request = self.request(request_id)
        listed = request.state == storage.FAILED and self.approvals.for_user(
            person.user_id, lambda: [t.group for t in self._at_stake_for_decision(request) if t.group]).allowed
        decision = decide_retry(request, person, listed=listed, team_id=self.policy.team_id)
        if not decision.allowed:
            return self._refusal(request, person.user_id, decision, "retry")
        self._judge_retry(request, person.user_id)
        won = move(self.store, RETRY, request_id, actor_id=person.user_id, now=self.clock(), failure=None,
                   jobs=[NewJob(Owed.CARD), thread("retried", person.user_id), NewJob(Owed.PROVISION)])
        if won is None:
            return Outcome(self.store.get(request_id), False, Reason.NOT_FAILED)
        return Outcome(won, True)

    def _judge_retry(self, request: Request, person_id: str) -> None:
        """What was approved must still be allowed before provisioning resumes: a deny rule naming a
        group at stake now refuses with its reason; approvals that no longer meet the thresholds (a
        group turned sensitive since) refuse too, a new request being needed. Recorded either way."""
        groups = guardrails.groups_at_stake(self.iam, request)
        self._refuse_denied(request, person_id, groups)
        judged = guardrails.judge(self.iam, self.policy.guardrails, request, groups=groups)
        at_stake = self._thresholds(request, groups, judged["sensitive"])
        done = self.approvals.progress(at_stake, guardrails.approver_ids(request), request.requester_id,
                                       request.owner_id)
        if done.met:
            return
        short = done.waiting[0]
        self._refused(request.id, person_id, Why.RETRY_NEEDS_NEW_REQUEST.value,
                      detail=f"{short.threshold.rule}: {short.have} of {short.threshold.approvals}")
        raise NotAllowed(Why.RETRY_NEEDS_NEW_REQUEST, request_id=request.id, group=short.threshold.group,
                         approvals=short.threshold.approvals, have=short.have)

    def provision(self, request_id: int) -> Request:
        """Run the provisioning steps not yet recorded; ends provisioned or failed."""
        request = self.store.get(request_id)
        if request.state != storage.APPROVED:
            return request
        kind = self.kind(request)
        step = None
        try:
            for step in kind.plan(request):
                if step in request.steps_done:
                    continue
                arn = kind.run_step(request, step)
                # With several accounts, the trail says which assumed-role session made the step.
                session = self.iam.session_arn()
                request = self.store.record_step(request.id, step, now=self.clock(), user_arn=arn,
                                                 detail=f"as {session}" if session else None)
        except IamError as error:
            log.warning("request #%s failed at step %s", request_id, step)
            failed = move(self.store, FAILED_STEP, request_id, actor_id=None, now=self.clock(),
                          detail=f"{step}: {error.for_approvers}", failure=error.for_approvers,
                          jobs=[NewJob(Owed.CARD), thread("failed")])
            return failed or self.store.get(request_id)
        now = self.clock()
        done = move(self.store, PROVISIONED_ALL, request_id, actor_id=None, now=now, provisioned_at=now,
                    jobs=[NewJob(Owed.CARD), thread("provisioned"), *kind.after_provisioning(request)],
                    due={Due.REVEAL_EXPIRY: now + self.policy.reveal_ttl} if kind.reveals(request) else None)
        return done or self.store.get(request_id)

    def sign_in_url(self, request: Request) -> str:
        # A request about an existing user (an access key) read its ARN at filing time.
        return self.iam.sign_in_url(request.user_arn or request.details.get("user_arn") or "")

    def new_reveal_button(self, request_id: int) -> str | None:
        """A fresh token for the Reveal button about to be sent; any earlier button stops working.

        None when the request has moved on (revealed, expired): there is nothing to send then.
        """
        request = self.store.get(request_id)
        token = secrets.token_hex(4)
        won = move(self.store, REVEAL_BUTTON_SENT, request_id, actor_id=None, now=self.clock(),
                   details={**request.details, "reveal_button": token})
        return token if won else None

    def sign_in_not_delivered(self, request_id: int) -> None:
        self.store.append_event(request_id, None, "sign_in_not_delivered", self.clock(),
                                jobs=[thread("not_delivered")])

    def sign_in_delivered(self, request_id: int, channel: str, ts: str) -> None:
        self.store.set_dm(request_id, channel, ts)
        self.store.append_event(request_id, None, "sign_in_delivered", self.clock(), jobs=[thread("delivered")])

    # -- durable work --------------------------------------------------------------------

    @staticmethod
    def command(text: str, user_id: str, channel_id: str) -> NewJob:
        """A slash command as work to do (its text is not a secret; its response_url never goes here)."""
        return NewJob(Owed.COMMAND, {"text": text, "user_id": user_id, "channel_id": channel_id})

    def take_in(self, jobs: list[NewJob], worker: str) -> list[Job]:
        """Write work down already claimed by `worker`, which starts it at once: one urgent write
        before a slash command is acknowledged, so a crash cannot lose what was acknowledged."""
        return self.store.take_in(jobs, now=self.clock(), worker=worker, hold=self.policy.work_hold)

    def claim_due(self, worker: str, limit: int) -> list[Job]:
        return self.store.claim_due_jobs(worker, now=self.clock(), hold=self.policy.work_hold, limit=limit)

    def still_doing(self, job_ids: list[int], worker: str) -> None:
        """Renew the claims of work this process is still doing, so no other takes it over."""
        self.store.renew_jobs(job_ids, worker, now=self.clock(), hold=self.policy.work_hold)

    def done(self, job: Job, worker: str) -> None:
        self.store.finish_job(job.id, worker, now=self.clock())

    def later(self, job: Job, worker: str, delay: dt.timedelta, error: str) -> None:
        self.store.retry_job(job.id, worker, due_at=self.clock() + delay, error=error)

    def forget_done_work(self, retention: dt.timedelta, *, batch: int = 1000, batches: int = 50) -> int:
        """Delete jobs finished longer than `retention` ago, a batch per write (so acks get their
        turn between them) and at most `batches` a call; how many went."""
        before, gone = self.clock() - retention, 0
        for _ in range(batches):
            count = self.store.prune_jobs(done_before=before, limit=batch)
            gone += count
            if count < batch:
                break
        return gone

    def lead(self, duty: str, holder: str, ttl: dt.timedelta) -> bool:
        """Hold (take or renew) the lease that lets one process run a periodic duty."""
        return self.store.acquire_lease(duty, holder, now=self.clock(), ttl=ttl)

    def step_down(self, duty: str, holder: str) -> None:
        self.store.release_lease(duty, holder)

    def owed(self) -> list[Job]:
        """Work not yet done and due now (tests wait for this to drain)."""
        now = self.clock()
        return [j for j in self.store.jobs(done=False) if j.due_at <= now]

    # -- the one-time reveal ------------------------------------------------------------

    def claim_reveal(self, request_id: int, person: Person, button: str | None = None) -> Revealed:
        """The owner's first click sets and returns a fresh password; anything else raises NotAllowed.

        A refusal that comes from this click expiring the reveal carries `expired_here=True`.
        """
        request = self.request(request_id)
        now = self.clock()
        if person.user_id != request.owner_id:
            self._refused(request_id, person.user_id, "reveal_not_owner")
            raise NotAllowed(Why.REVEAL_NOT_OWNER, owner_id=request.owner_id, kind=request.kind)
        current_button = request.details.get("reveal_button")
        if current_button and button != current_button and request.state == storage.PROVISIONED:
            self._refused(request_id, person.user_id, "reveal_replaced")
            raise NotAllowed(Why.REVEAL_REPLACED, request_id=request_id)
        expired_here = False
        if request.state == storage.PROVISIONED and self._reveal_expired(request, now):
            expired_here = self._expire_reveal(request_id, now) is not None
            request = self.store.get(request_id)
        kind = self.kind(request)
        if request.state != storage.PROVISIONED or kind.reveal is None or not kind.reveals(request):
            self._refused(request_id, person.user_id, f"reveal_{request.state}")
            raise reveal_refusal(request, expired_here=expired_here)
        claimed = move(self.store, CLAIM_REVEAL, request_id, actor_id=person.user_id, now=now,
                       reveal_claimed_at=now)
        if claimed is None:
            current = self.store.get(request_id)
            self._refused(request_id, person.user_id, f"reveal_{current.state}")
            raise reveal_refusal(current)
        try:
            secret = kind.reveal(claimed)
            url = self.sign_in_url(claimed)
        except Exception:
            self.release_reveal(request_id, person, "making the secret failed")
            raise
        return Revealed(claimed, secret, url)

    def finish_reveal(self, request_id: int, person: Person) -> Request | None:
        now = self.clock()
        request = self.store.get(request_id)
        return move(self.store, REVEALED_ONCE, request_id, actor_id=person.user_id, now=now, revealed_at=now,
                    jobs=[NewJob(Owed.DM_UPDATE), thread("revealed")],
                    due={Due.REVEAL_EXPIRY: None, **self.kind(request).after_reveal(request, now)})

    def release_reveal(self, request_id: int, person: Person, why: str) -> None:
        move(self.store, RELEASE_REVEAL, request_id, actor_id=person.user_id, now=self.clock(), detail=why,
             reveal_claimed_at=None)


def reveal_refusal(request: Request, *, expired_here: bool = False) -> NotAllowed:
    facts = dict(request_id=request.id, user_name=request.user_name, state=request.state, request=request,
                 expired_here=expired_here)
    if request.state in (storage.REVEALED, storage.REVEALING):
        return NotAllowed(Why.REVEAL_DONE, **facts)
    if request.state == storage.REVEAL_EXPIRED:
        return NotAllowed(Why.REVEAL_EXPIRED, **facts)
    if not request.console:
        return NotAllowed(Why.NO_CONSOLE, **facts)
    return NotAllowed(Why.NOTHING_TO_REVEAL, **facts)
