"""The life of a request: filed, decided by a second person, provisioned, revealed.

Plain values in, plain results out; no Slack here. Every state change goes through the
store's conditional transitions, so a double click or a second process cannot win twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import storage
from storage import Request, Store

from .errors import CommandError, IamError, NotAllowed
from .iam import TAG_APPROVER, TAG_OWNER, TAG_REQUEST, TAG_REQUESTER, IamGateway, PasswordPolicy, UserExists
from .parse import CreateCommand
from .passwords import generate_password
from .text import escape, quote
from .rules import Decision, Person, Reason, decide_approval, decide_retry, is_expired

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
PasswordGenerator = Callable[[PasswordPolicy], str]

STEP_CREATE_USER = "create_user"
STEP_LOGIN_PROFILE = "login_profile"
# A reveal claimed but neither shown nor released for this long is released by the sweep.
REVEAL_CLAIM_TIMEOUT = dt.timedelta(minutes=2)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def group_step(group: str) -> str:
    return f"group:{group}"


def plan(request: Request) -> list[str]:
    """The provisioning steps for a request, in order."""
    steps = [STEP_CREATE_USER]
    if request.console:
        steps.append(STEP_LOGIN_PROFILE)
    return steps + [group_step(g) for g in request.groups]


@dataclass(frozen=True)
class Policy:
    """The parts of the configuration the workflow needs."""

    team_id: str
    user_path: str = "/"
    request_ttl: dt.timedelta = dt.timedelta(hours=24)
    reveal_ttl: dt.timedelta = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Filed:
    request: Request
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What a click did: the request as it is now, and what to tell the person who clicked."""

    request: Request
    changed: bool
    message: str = ""
    reason: Reason | None = None


@dataclass(frozen=True)
class Revealed:
    request: Request
    password: str = field(repr=False)  # never in a repr, so never in a log line


@dataclass(frozen=True)
class Provisioned:
    request: Request
    sign_in_url: str | None = None


class Workflow:
    def __init__(self, store: Store, iam: IamGateway, policy: Policy, *, clock: Clock = utc_now,
                 passwords: PasswordGenerator = generate_password):
        self.store = store
        self.iam = iam
        self.policy = policy
        self.clock = clock
        self.passwords = passwords

    def get(self, request_id: int) -> Request:
        """The request, or a CommandError a person can read."""
        request = self.store.find(request_id)
        if request is None:
            raise CommandError(f"There is no request #{request_id}; use the buttons on a card or DM the bot posted.")
        return request

    # -- filing ---------------------------------------------------------------------------

    def file(self, command: CreateCommand, *, requester: Person, owner: Person) -> Filed:
        """Check a create request against AWS and the store; store it as pending."""
        if owner.is_bot or owner.deleted:
            raise CommandError(
                f"<@{owner.user_id}> is not an active person in this workspace; an IAM user is for one "
                "human. Mention the person the account is for, for example "
                f"`/iam create {command.user_name} {' '.join(command.groups)} @jane`."
            )
        if owner.team_id is not None and owner.team_id != self.policy.team_id:
            raise CommandError(f"<@{owner.user_id}> belongs to another Slack workspace; name someone in this one.")
        existing = self.iam.find_user(command.user_name)
        if existing is not None:
            raise CommandError(
                f"An IAM user named {quote(existing)} already exists (IAM user names ignore case). "
                f"Pick another name, or see its keys with `/iam keys {escape(existing)}`."
            )
        missing = self.iam.missing_groups(command.groups)
        if missing:
            known = self.iam.list_groups()
            listing = ", ".join(quote(g) for g in known[:30]) or "none"
            raise CommandError(
                f"No IAM group named {', '.join(quote(g) for g in missing)}. Groups in this account: {listing}."
            )
        self._one_user_per_human(owner)
        try:
            request = self.store.file_request(
                user_name=command.user_name, groups=command.groups, console=command.console,
                owner_id=owner.user_id, requester_id=requester.user_id, team_id=self.policy.team_id,
                now=self.clock(),
            )
        except storage.DuplicateRequest as duplicate:
            raise CommandError(
                f"Request #{duplicate.existing_id} for {quote(command.user_name)} is already open; "
                "wait for its decision instead of asking twice."
            ) from None
        checks = (
            f"{quote(command.user_name)} is a valid IAM user name and free in AWS",
            f"group{'s' if len(command.groups) > 1 else ''} exist{'' if len(command.groups) > 1 else 's'} in AWS: "
            + ", ".join(quote(g) for g in command.groups),
            f"owner <@{owner.user_id}> is an active {'guest' if owner.is_guest else 'member'} of this workspace",
            f"<@{owner.user_id}> has no other IAM user from this bot",
        )
        return Filed(request, checks)

    def _one_user_per_human(self, owner: Person) -> None:
        for other in self.store.for_owner(owner.user_id):
            if other.state in (storage.PENDING, storage.APPROVED):
                raise CommandError(
                    f"<@{owner.user_id}> already has request #{other.id} ({quote(other.user_name)}) waiting; "
                    "one IAM user is for one person."
                )
            # A failed request may have created the user before it stopped: ask AWS.
            if other.state in (*storage.PROVISIONED_STATES, storage.FAILED):
                if self.iam.find_user(other.user_name) is not None:
                    raise CommandError(
                        f"<@{owner.user_id}> already has the IAM user {quote(other.user_name)} (request #{other.id}); "
                        "one IAM user is for one person. Add groups to that user instead."
                    )

    def owns_user(self, person_id: str, user_name: str) -> bool:
        """Did the bot create this IAM user for this person?"""
        return any(r.user_name.lower() == user_name.lower() and r.state in storage.PROVISIONED_STATES
                   for r in self.store.for_owner(person_id))

    # -- deciding -----------------------------------------------------------------------

    def check_decider(self, request_id: int, person: Person, *, listed: bool) -> Decision:
        """May this person approve or deny now? Refusals are recorded; a stale request expires."""
        request = self.get(request_id)
        now = self.clock()
        decision = decide_approval(request, person, listed=listed, team_id=self.policy.team_id,
                                   now=now, request_ttl=self.policy.request_ttl)
        if decision.reason is Reason.EXPIRED:
            self.expire(request_id)
        if not decision.allowed:
            self.store.append_event(request_id, person.user_id, f"refused:{decision.reason.value}", now,
                                    detail="decide")
        return decision

    def approve(self, request_id: int, person: Person, *, listed: bool) -> Outcome:
        return self._decide(request_id, person, listed, storage.APPROVED)

    def deny(self, request_id: int, person: Person, *, listed: bool, reason: str) -> Outcome:
        reason = (reason or "").strip()
        if not reason:
            raise CommandError("Say why the request is denied, so that the requester can act on it.")
        return self._decide(request_id, person, listed, storage.DENIED, detail=reason, deny_reason=reason)

    def _decide(self, request_id: int, person: Person, listed: bool, to_state: str, detail: str | None = None,
                **changes) -> Outcome:
        """The one conditional write that decides a pending request, if this person may."""
        decision = self.check_decider(request_id, person, listed=listed)
        if not decision.allowed:
            return Outcome(self.store.get(request_id), False, decision.message, decision.reason)
        now = self.clock()
        won = self.store.transition(
            request_id, from_states=[storage.PENDING], to_state=to_state, actor_id=person.user_id,
            what=to_state, now=now, detail=detail, decider_id=person.user_id, decided_at=now, **changes,
        )
        if won is None:
            return self._lost(request_id, person)
        return Outcome(won, True)

    def _lost(self, request_id: int, person: Person) -> Outcome:
        current = self.store.get(request_id)
        self.store.append_event(request_id, person.user_id, "refused:not_pending", self.clock(), detail="decide")
        return Outcome(current, False, f"Request #{request_id} is already {current.state}; nothing changed.",
                       Reason.NOT_PENDING)

    def expire(self, request_id: int) -> Request | None:
        return self.store.transition(
            request_id, from_states=[storage.PENDING], to_state=storage.EXPIRED, actor_id=None,
            what="expired", now=self.clock(),
        )

    def sweep(self) -> list[Request]:
        """Expire what waited too long; release reveal claims that were never finished."""
        now = self.clock()
        changed = []
        for request in self.store.in_states([storage.PENDING]):
            if is_expired(request, now, self.policy.request_ttl):
                expired = self.expire(request.id)
                if expired:
                    changed.append(expired)
        for request in self.store.in_states([storage.PROVISIONED]):
            if request.console and self._reveal_expired(request, now):
                expired = self.store.transition(
                    request.id, from_states=[storage.PROVISIONED], to_state=storage.REVEAL_EXPIRED,
                    actor_id=None, what="reveal_expired", now=now,
                )
                if expired:
                    changed.append(expired)
        for request in self.store.in_states([storage.REVEALING]):
            if request.reveal_claimed_at and now - request.reveal_claimed_at > REVEAL_CLAIM_TIMEOUT:
                self.store.transition(
                    request.id, from_states=[storage.REVEALING], to_state=storage.PROVISIONED, actor_id=None,
                    what="reveal_released", now=now, detail="claim never finished", reveal_claimed_at=None,
                )
        return changed

    def _reveal_expired(self, request: Request, now: dt.datetime) -> bool:
        return request.provisioned_at is not None and now >= request.provisioned_at + self.policy.reveal_ttl

    # -- provisioning -------------------------------------------------------------------

    def retry(self, request_id: int, person: Person, *, listed: bool) -> Outcome:
        """An approver sends a failed request back to provisioning, from its failed step."""
        request = self.get(request_id)
        decision = decide_retry(request, person, listed=listed, team_id=self.policy.team_id)
        if not decision.allowed:
            self.store.append_event(request_id, person.user_id, f"refused:{decision.reason.value}", self.clock(),
                                    detail="retry")
            return Outcome(request, False, decision.message, decision.reason)
        won = self.store.transition(
            request_id, from_states=[storage.FAILED], to_state=storage.APPROVED, actor_id=person.user_id,
            what="retried", now=self.clock(), failure=None,
        )
        if won is None:
            current = self.store.get(request_id)
            return Outcome(current, False, f"Request #{request_id} is already {current.state}.", Reason.NOT_PENDING)
        return Outcome(won, True)

    def provision(self, request_id: int) -> Request:
        """Run the provisioning steps not yet recorded; ends provisioned or failed."""
        request = self.store.get(request_id)
        if request.state != storage.APPROVED:
            return request
        step = None
        try:
            for step in plan(request):
                if step in request.steps_done:
                    continue
                request = self._run_step(request, step)
        except IamError as error:
            log.warning("request #%s failed at step %s", request_id, step)
            failed = self.store.transition(
                request_id, from_states=[storage.APPROVED], to_state=storage.FAILED, actor_id=None,
                what="failed", now=self.clock(), detail=f"{step}: {error.message}", failure=error.message,
            )
            return failed or self.store.get(request_id)
        done = self.store.transition(
            request_id, from_states=[storage.APPROVED], to_state=storage.PROVISIONED, actor_id=None,
            what="provisioned", now=self.clock(), provisioned_at=self.clock(),
        )
        return done or self.store.get(request_id)

    def _run_step(self, request: Request, step: str) -> Request:
        name = request.user_name
        arn = None
        if step == STEP_CREATE_USER:
            tags = {
                TAG_REQUEST: str(request.id),
                TAG_REQUESTER: request.requester_id,
                TAG_APPROVER: request.decider_id or "",
                TAG_OWNER: request.owner_id,
            }
            try:
                arn = self.iam.create_user(name, self.policy.user_path, tags)
            except UserExists:
                found = self.iam.user_arn_and_tags(name)
                if found is None or found[1].get(TAG_REQUEST) != str(request.id):
                    raise IamError(
                        f"An IAM user named {name} already exists and was not created by request #{request.id}; "
                        "the bot left it untouched."
                    ) from None
                arn = found[0]
        elif step == STEP_LOGIN_PROFILE:
            # A password nobody ever sees: the owner gets a fresh one at reveal time.
            self.iam.create_login_profile(name, self.passwords(self.iam.password_policy()))
        elif step.startswith("group:"):
            self.iam.add_user_to_group(name, step.removeprefix("group:"))
        return self.store.record_step(request.id, step, now=self.clock(), user_arn=arn)

    def unfinished(self) -> list[Request]:
        """Requests approved but not yet provisioned: resumed at start-up."""
        return self.store.in_states([storage.APPROVED])

    # -- the one-time reveal ------------------------------------------------------------

    def claim_reveal(self, request_id: int, person: Person) -> Revealed:
        """The owner's first click sets and returns a fresh password; anything else raises."""
        request = self.get(request_id)
        now = self.clock()
        if person.user_id != request.owner_id:
            self.store.append_event(request_id, person.user_id, "refused:reveal_not_owner", now)
            raise NotAllowed(f"Only <@{request.owner_id}> can reveal this password.")
        if request.state == storage.PROVISIONED and self._reveal_expired(request, now):
            self.store.transition(request_id, from_states=[storage.PROVISIONED], to_state=storage.REVEAL_EXPIRED,
                                  actor_id=None, what="reveal_expired", now=now)
            request = self.store.get(request_id)
        if request.state != storage.PROVISIONED or not request.console:
            self.store.append_event(request_id, person.user_id, f"refused:reveal_{request.state}", now)
            raise NotAllowed(reveal_refusal(request))
        claimed = self.store.transition(
            request_id, from_states=[storage.PROVISIONED], to_state=storage.REVEALING, actor_id=person.user_id,
            what="reveal_claimed", now=now, reveal_claimed_at=now,
        )
        if claimed is None:
            current = self.store.get(request_id)
            self.store.append_event(request_id, person.user_id, f"refused:reveal_{current.state}", now)
            raise NotAllowed(reveal_refusal(current))
        try:
            password = self.passwords(self.iam.password_policy())
            self.iam.set_password(request.user_name, password)
        except Exception:
            self.release_reveal(request_id, person, "setting the password failed")
            raise
        return Revealed(claimed, password)

    def finish_reveal(self, request_id: int, person: Person) -> Request | None:
        now = self.clock()
        return self.store.transition(
            request_id, from_states=[storage.REVEALING], to_state=storage.REVEALED, actor_id=person.user_id,
            what="revealed", now=now, revealed_at=now,
        )

    def release_reveal(self, request_id: int, person: Person, why: str) -> None:
        self.store.transition(
            request_id, from_states=[storage.REVEALING], to_state=storage.PROVISIONED, actor_id=person.user_id,
            what="reveal_released", now=self.clock(), detail=why, reveal_claimed_at=None,
        )


def reveal_refusal(request: Request) -> str:
    ask = "ask one of the approvers to reset your console password"
    if request.state in (storage.REVEALED, storage.REVEALING):
        return f"The password for {quote(request.user_name)} was already revealed. If that was not you, {ask}."
    if request.state == storage.REVEAL_EXPIRED:
        return f"The reveal button for {quote(request.user_name)} has expired. To get a password, {ask}."
    if not request.console:
        return f"{quote(request.user_name)} has no console password."
    return f"Request #{request.id} is {request.state}; there is no password to reveal."

