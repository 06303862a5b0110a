"""Offboarding: removing an IAM user in AWS's order, disabling one, and giving one a new password.

Three kinds of request share the workflow's lifecycle (filing, the two-person rule, step by
step provisioning that resumes after a crash, the one-time reveal):

- `remove`: its plan is the removal steps (or, with `--disable-only`, the two reversible ones);
  it ends `provisioned` ("done") and reveals nothing. What the user held is read from AWS at
  filing into `details["inventory"]`, for the card.
- `reset_password` and `enable`: once approved the owner gets the sign-in DM, and the Reveal
  click sets a new console password (UpdateLoginProfile, or CreateLoginProfile). `enable` has
  one step, in the store only: the keys its user's disable held go back to their owner's hands.

When Slack says a person left, `Offboarding.leaver` voids what they had open and files a
removal for each IAM user they own, as the requester `iam-bot`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

import storage
from storage import Grant, Job, NewJob, Request, Store

from . import guardrails
from .errors import CommandError, IamError, Why
from .iam import TAG_OWNER, IamGateway, IamUser
from .parse import Verb, check_user_name, one_user_name, plain, usage_of
from .lifecycle import (
    CANCEL_USER_REMOVED, DISABLE_FAILED, DISABLED, MFA_DEVICES_NOTED, USER_FOUND, USER_REMOVED, VOID_APPROVAL,
    VOID_LEAVER, VOID_REVEAL, check_owner, file, move,
)
from .rules import Person
from .scope import current_account, in_account
from .workflow import Clock, Due, Filed, Kind, Owed, PasswordGenerator, Workflow, password_reveal, thread

log = logging.getLogger(__name__)

REMOVE = storage.REMOVE
RESET_PASSWORD = "reset_password"
ENABLE = "enable"
# The requester (and actor) of what the bot files by itself, when Slack says a person left.
BOT_REQUESTER = "iam-bot"

STEP_CHECK = "check"
REMOVAL_STEPS = ("login_profile", "access_keys", "signing_certificates", "ssh_public_keys",
                 "service_specific_credentials", "mfa_devices", "inline_policies", "managed_policies", "groups",
                 "delete_user")
DISABLE_STEPS = ("login_profile", "deactivate_keys")
# An approved `enable` gives the keys its user's disable held back to their owner.
STEP_LIFT_KEY_HOLDS = "lift_key_holds"
# Durable work: act on a Slack deactivation (payload {"user_id": ...}).
LEAVER_JOB = "leaver"
SLACK_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


# -- the commands ------------------------------------------------------------------------------

class RemoveCommand(BaseModel):
    """`/iam remove <user-name> [--disable-only] [--reason <words...>]`
    Remove an IAM user and everything it holds, in the order AWS requires. A second person
    must approve it. `--disable-only` only deletes the console password and deactivates the
    access keys (undo it with `/iam enable`)."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    disable_only: bool = False
    reason: str = ""


class ResetPasswordCommand(BaseModel):
    """`/iam reset-password <user-name>`
    A new console password for a user who lost theirs: a second person approves, and the
    user's owner reveals it once."""

    model_config = ConfigDict(frozen=True)
    user_name: str


class EnableCommand(BaseModel):
    """`/iam enable <user-name>`
    Undo `/iam remove --disable-only`: a new console password, approved by a second person
    and revealed once to the owner. Access keys stay inactive until their owner activates them."""

    model_config = ConfigDict(frozen=True)
    user_name: str


def parse_remove(args: list[str]) -> RemoveCommand:
    """`<user-name> [--disable-only] [--reason words...]`: the reason takes the rest of the line."""
    names: list[str] = []
    disable_only = False
    reason = ""
    for index, raw in enumerate(args):
        word = plain(raw)
        option = word.lower()
        if option == "--reason":
            reason = " ".join(plain(w) for w in args[index + 1:]).strip()
            if not reason:
                raise CommandError(Why.REASON_MISSING, verb="remove")
            break
        if option == "--disable-only":
            disable_only = True
            continue
        if word.startswith("--"):
            raise CommandError(Why.UNKNOWN_OPTION, word=word, options=("--disable-only", "--reason"))
        names.append(word)
    if len(names) != 1:
        raise CommandError(Why.ONE_USER_NAME, verb="remove")
    return RemoveCommand(user_name=check_user_name(names[0]), disable_only=disable_only, reason=reason)


def parse_reset_password(args: list[str]) -> ResetPasswordCommand:
    return ResetPasswordCommand(user_name=one_user_name("reset-password", args))


def parse_enable(args: list[str]) -> EnableCommand:
    return EnableCommand(user_name=one_user_name("enable", args))


VERBS = (
    Verb("remove", parse_remove, usage_of(RemoveCommand), position=80),
    Verb("reset-password", parse_reset_password, usage_of(ResetPasswordCommand), position=90),
    Verb("enable", parse_enable, usage_of(EnableCommand), position=100),
)


# -- the kinds -------------------------------------------------------------------------------

def remove_plan(request: Request) -> list[str]:
    """Check the user is still the one filed for, then delete in the order IAM requires."""
    return [STEP_CHECK, *(DISABLE_STEPS if request.details.get("disable_only") else REMOVAL_STEPS)]


@dataclass(frozen=True)
class Protected:
    """Who may never be removed or disabled, and where the bot's users live: IAM_BOT_USER_PATH, or
    with several AWS accounts the `user_path` of the account of the work in hand (`path_of`, the
    gateway's `user_path_or`)."""

    user_path: str
    protected: tuple[str, ...] = ()
    path_of: Callable[[str], str] | None = None

    def path(self) -> str:
        return self.path_of(self.user_path) if self.path_of is not None else self.user_path

    def refusal(self, facts: IamUser, bot_arn: str) -> tuple[Why, dict] | None:
        user_path = self.path()
        if not facts.path.startswith(user_path):
            return Why.USER_OUTSIDE_PATH, dict(user_name=facts.name, path=facts.path, user_path=user_path)
        if facts.name.lower() in {p.lower() for p in self.protected}:
            return Why.USER_PROTECTED, dict(user_name=facts.name)
        if facts.arn.lower() == bot_arn.lower():
            return Why.USER_IS_THE_BOT, dict(user_name=facts.name)
        return None

    def check(self, facts: IamUser, bot_arn: str) -> IamUser:
        """The user, or the CommandError that says why the bot leaves it alone."""
        refused = self.refusal(facts, bot_arn)
        if refused is not None:
            raise CommandError(refused[0], **refused[1])
        return facts


def offboarding_kinds(store: Store, iam: IamGateway, clock: Clock, protected: Protected,
                      passwords: PasswordGenerator) -> tuple[Kind, ...]:
    """The three kinds, bound to the store and the gateway; the Workflow is given them at start-up."""

    def run_remove_step(request: Request, step: str) -> str | None:
        name = request.user_name
        if step == STEP_CHECK:
            facts = iam.user(name, tags=True)
            if facts is None:
                return None  # already gone: every step will find its thing gone
            if facts.user_id != request.details.get("user_id"):
                raise IamError(f"{name} is no longer the user this request was filed for (it was deleted and made "
                               "again since); nothing was removed. File a new request if it must go too.")
            refused = protected.refusal(facts, iam.bot_identity())
            if refused is not None:
                raise IamError(f"{name} may not be removed or disabled by the bot ({refused[0].value}); "
                               "nothing was removed.")
            return facts.arn
        if step == "mfa_devices":
            assigned = iam.mfa_serials(name)
            known = list(dict.fromkeys([*request.details.get("mfa_serials", []),
                                        *request.details.get("inventory", {}).get("mfa_devices", [])]))
            if set(assigned) - set(known):
                # Noted before anything is deactivated: after a crash the device is no longer
                # listed as the user's, and only this note says it is ours to delete.
                move(store, MFA_DEVICES_NOTED, request.id, actor_id=None, now=clock(),
                     details={**request.details, "mfa_serials": list(dict.fromkeys([*known, *assigned]))})
            did = iam.remove_mfa_devices(name, assigned, known)
        elif step == "deactivate_keys":
            hold_keys(store, iam, request, actor_id=request.decider_id, now=clock())
            did = iam.deactivate_access_keys(name)
        elif step == "delete_user":
            did = iam.delete_user(name)
            retire_requests_of_removed_user(store, request, now=clock())
        else:
            did = {
                "login_profile": iam.delete_login_profile,
                "access_keys": iam.delete_access_keys,
                "signing_certificates": iam.delete_signing_certificates,
                "ssh_public_keys": iam.delete_ssh_public_keys,
                "service_specific_credentials": iam.delete_service_specific_credentials,
                "inline_policies": iam.delete_inline_policies,
                "managed_policies": iam.detach_managed_policies,
                "groups": iam.leave_groups,
            }[step](name)
        store.append_event(request.id, None, f"did:{step}", clock(), detail=did)
        return None

    reveal_new_password = password_reveal(iam, passwords, iam.set_or_create_password)

    def no_steps(request: Request) -> list[str]:
        return []

    def enable_plan(request: Request) -> list[str]:
        return [STEP_LIFT_KEY_HOLDS]

    def run_enable_step(request: Request, step: str) -> None:
        if step != STEP_LIFT_KEY_HOLDS:
            raise ValueError(f"no such step: {step}")
        store.lift_disable_holds(request.user_name, request.id, clock())

    def not_a_step(request: Request, step: str) -> None:
        raise ValueError(f"no such step: {step}")

    def sign_in(request: Request) -> list[NewJob]:
        return [NewJob(Owed.SIGN_IN_DM)]

    return (
        Kind(name=REMOVE, plan=remove_plan, run_step=run_remove_step),
        Kind(name=RESET_PASSWORD, plan=no_steps, run_step=not_a_step, reveals=lambda r: True,
             reveal=reveal_new_password, after_provisioning=sign_in),
        Kind(name=ENABLE, plan=enable_plan, run_step=run_enable_step, reveals=lambda r: True,
             reveal=reveal_new_password, after_provisioning=sign_in),
    )


def hold_keys(store: Store, iam: IamGateway, request: Request, *, actor_id: str | None, now: dt.datetime) -> None:
    """Before a disable deactivates a user's keys, hold every one of them (active or not) for this
    request, so that only an approver or an approved `enable` brings them back; an approver's own
    hold on one stays as it is. Written first, so a crash after AWS's change cannot lose it."""
    store.hold_keys([storage.KeyHold(key_id, request.user_name, storage.HOLD_DISABLE, actor_id,
                                              request.id, now) for key_id in iam.access_key_ids(request.user_name)],
                             keep_approvers=True)


def disable_user(store: Store, iam: IamGateway, user_name: str, *, actor_id: str | None, request_id: int | None,
                 now: dt.datetime) -> str:
    """The reversible half of a removal, at once: the console password deleted, every key held (for
    `request_id`, if any) and deactivated. What `--disable-only` does, for a leaver's disable and an
    access review's deadline. IamError if AWS refuses; what was done, in words, otherwise."""
    did = [iam.delete_login_profile(user_name)]
    store.hold_keys([storage.KeyHold(key_id, user_name, storage.HOLD_DISABLE, actor_id, request_id, now)
                     for key_id in iam.access_key_ids(user_name)], keep_approvers=True)
    did.append(iam.deactivate_access_keys(user_name))
    return "; ".join(did)


def live_grants_in(store: Store, user_name: str, account: str | None, group: str | None = None) -> list[Grant]:
    """The user's live grants (of one group, or of all) in one account: a same-named user in
    another `[[account]]` is another user (a grant's account is its add's)."""
    return [grant for grant in store.live_grants(user_name, group)
            if ((store.get(grant.request_id).account or "") == (account or ""))]


def retire_requests_of_removed_user(store: Store, removal: Request, *, now: dt.datetime) -> None:
    """The user is gone: what other requests promised about it stops (and frees its name). Its live
    grants (`/iam add --for`) end with the removal, which took the memberships: no revocation."""
    for grant in live_grants_in(store, removal.user_name, removal.account):
        store.end_grant(grant.id, now=now, reason="user_removed", actor_id=None, what="grant_ended",
                        detail=f"{grant.group}: user_removed (by request #{removal.id})",
                        due={Due.GRANT_END: None, Due.GRANT_WARNING: None})
    for other in store.for_user_name(removal.user_name):
        if other.id == removal.id or other.kind == REMOVE or (other.account or "") != (removal.account or ""):
            continue  # a same-named user in another account is another user
        if other.state in (storage.PROVISIONED, storage.REVEALING):
            jobs = [thread("user_removed"), *([NewJob(Owed.DM_UPDATE)] if other.dm_ts else [])]
            move(store, USER_REMOVED, other.id, actor_id=None, now=now, detail=f"by request #{removal.id}",
                 jobs=jobs)
        elif other.state == storage.PENDING:
            move(store, CANCEL_USER_REMOVED, other.id, actor_id=None, now=now,
                 detail=f"the user was removed by request #{removal.id}", jobs=[NewJob(Owed.CARD), thread("user_removed")])


# -- filing and the leaver ---------------------------------------------------------------------

@dataclass(frozen=True)
class Leaving:
    """What the bot did when Slack said a person left."""

    person_id: str
    voided: tuple[Request, ...] = ()
    filed: tuple[Request, ...] = ()  # removals, new or already open, whose card may need posting
    skipped: tuple[tuple[str, Why], ...] = ()  # users of theirs the bot may not touch, and why


@dataclass
class Offboarding:
    workflow: Workflow
    store: Store
    iam: IamGateway
    protected: Protected
    disable_on_deactivation: bool = False
    kinds: tuple[Kind, ...] = field(default=())
    # The [[account]] names a leaver's users are looked for in (None: the default, the only one without any).
    accounts: tuple[str | None, ...] = (None,)

    def _now(self) -> dt.datetime:
        return self.workflow.now()

    def target(self, user_name: str) -> IamUser:
        """The user a remove, reset-password or enable is about, or a CommandError saying why not."""
        return self.protected.check(self.iam.existing_user(user_name), self.iam.bot_identity())

    def owner_hint(self, facts: IamUser) -> str | None:
        """Whom the user is for, as AWS's tag or the store says; None if neither does (ask e-mail)."""
        tagged = facts.tags.get(TAG_OWNER, "")
        if SLACK_ID.fullmatch(tagged):
            return tagged
        made = [r for r in self.store.for_user_name(facts.name)
                if r.kind == storage.CREATE_USER and r.state in storage.PROVISIONED_STATES]
        return made[-1].owner_id if made else None

    def _mine(self, kind: str, user_name: str, requester_id: str, since: dt.datetime | None) -> Request | None:
        """This requester's own request, filed by this very command before a crash."""
        if since is None:
            return None
        for request in self.store.for_user_name(user_name):
            if request.kind == kind and request.requester_id == requester_id and request.created_at >= since:
                return request
        return None

    def file_remove(self, command: RemoveCommand, *, requester_id: str, owner_id: str | None,
                    since: dt.datetime | None = None, reason: str | None = None, left: str | None = None,
                    facts: IamUser | None = None) -> Filed:
        """Read what the user holds and store a pending `remove` (refused if one is open already)."""
        facts = facts or self.target(command.user_name)
        mine = self._mine(REMOVE, facts.name, requester_id, since)
        if mine is not None:
            return Filed(mine)
        details = {
            "user_id": facts.user_id, "user_arn": facts.arn, "disable_only": command.disable_only,
            "reason": reason if reason is not None else command.reason,
            "inventory": self.iam.inventory(facts.name),
        }
        if left:
            details["left"] = left
        details.update(self.workflow.filing_shares(None, (), {}))  # a removal: the defaults approve
        request = file(self.store, user_name=facts.name, groups=(), console=False, owner_id=owner_id or "",
                       requester_id=requester_id, team_id=self.workflow.policy.team_id, now=self._now(), kind=REMOVE,
                       details=details)
        return Filed(request)

    def file_password(self, command: ResetPasswordCommand | EnableCommand, *, requester_id: str, owner: Person,
                      since: dt.datetime | None = None, facts: IamUser | None = None) -> Filed:
        """A pending `reset_password` or `enable`: a new console password for the owner, revealed once."""
        kind = ENABLE if isinstance(command, EnableCommand) else RESET_PASSWORD
        facts = facts or self.target(command.user_name)
        mine = self._mine(kind, facts.name, requester_id, since)
        if mine is not None:
            return Filed(mine, owner_is_guest=owner.is_guest)
        check_owner(owner, team_id=self.workflow.policy.team_id, user_name=facts.name)
        self.workflow.refuse_denied(lambda: self.iam.groups_for_user(facts.name) or ())
        has_password = self.iam.has_login_profile(facts.name)
        if kind == ENABLE and has_password:
            raise CommandError(Why.ALREADY_ENABLED, user_name=facts.name)
        details = {"user_id": facts.user_id, "had_password": has_password,
                   **guardrails.boundary_details(facts, self.iam.boundary_or(self.workflow.policy.boundary))}
        request = file(self.store, user_name=facts.name, groups=(), console=True, owner_id=owner.user_id,
                       requester_id=requester_id, team_id=self.workflow.policy.team_id, now=self._now(), kind=kind,
                       details=details)
        # The user's ARN makes the sign-in URL of the DM; nothing is provisioned for this kind.
        request = move(self.store, USER_FOUND, request.id, actor_id=None, now=self._now(), user_arn=facts.arn,
                       details={**request.details, **self._judged(request)})
        return Filed(request, owner_is_guest=owner.is_guest)

    def _judged(self, request: Request) -> dict:
        """A console password for a member of a sensitive group takes its two approvers, on the card
        from the start. Every approval judges again, so a failure to read it now only leaves the card
        without the note."""
        try:
            return self.workflow.judge(request)
        except IamError as error:
            log.warning("could not judge the sensitivity of request #%s: %s", request.id, error.message)
            return {}

    # -- when Slack says a person left ----------------------------------------------------

    def note_leaver(self, person_id: str, event_id: str | None, worker: str) -> Job | None:
        """Write down, before Slack's event is acknowledged, that a person left: once per event id
        (Slack delivers an event again when its ack was slow), and once per leaving (Slack sends an
        event per profile change, a burst of them as an account is deactivated): None while this
        person's leaving is being handled or its removals are open. The work is claimed by
        `worker`, which runs it at once: no other process starts it beside it."""
        key = f"slack-event:{event_id}" if event_id else None
        return self.store.open_leaver(person_id, NewJob(LEAVER_JOB, {"user_id": person_id}, key=key),
                                      now=self._now(), worker=worker, hold=self.workflow.policy.work_hold)

    def returned(self, person_id: str) -> None:
        """Slack says the person is active (reactivated): leaving again is handled anew."""
        self.store.close_leaver(person_id)

    def leaver(self, person_id: str, email: str | None, email_domain: str | None, job: Job) -> Leaving:
        """Void what the leaver had open; file a removal for each IAM user they own. Safe to run again.
        The removals are written down on the leaving that `job` handles: it stays open while they are."""
        voided = self.void(person_id)
        filed, skipped = [], []
        for account in self.accounts:  # one IAM user per human per account: each account's are removed
            with in_account(account):
                self._leaver_in_account(person_id, email, email_domain, filed, skipped)
        self.store.leaver_removals(person_id, job.id, [request.id for request in filed])
        if self.disable_on_deactivation:
            filed = [self._disable_in_its_account(request) for request in filed]
        return Leaving(person_id, tuple(voided), tuple(filed), tuple(skipped))

    def _disable_in_its_account(self, request: Request) -> Request:
        with in_account(request.account):
            return self.disable_now(request)

    def _leaver_in_account(self, person_id: str, email: str | None, email_domain: str | None, filed: list,
                           skipped: list) -> None:
        for facts in self.users_of(person_id, email, email_domain):
            refused = self.protected.refusal(facts, self.iam.bot_identity())
            if refused is not None:
                skipped.append((facts.name, refused[0]))
                self.store.append_event(None, BOT_REQUESTER, "leaver_user_skipped", self._now(),
                                        detail=f"{facts.name}: {refused[0].value}")
                continue
            open_removal = self._open_removal(facts.name)
            if open_removal is not None:
                filed.append(open_removal)
                continue
            try:
                request = self.file_remove(
                    RemoveCommand(user_name=facts.name), requester_id=BOT_REQUESTER, owner_id=person_id,
                    reason="their Slack account was deactivated", left=person_id, facts=facts).request
            except CommandError as error:
                if error.why is Why.REQUEST_OPEN:
                    found = self._open_removal(facts.name)
                    if found is not None:
                        filed.append(found)
                    continue
                skipped.append((facts.name, error.why))
                continue
            filed.append(request)

    def _open_removal(self, user_name: str) -> Request | None:
        """An open removal of this name in the current account."""
        for request in self.store.for_user_name(user_name):
            if request.kind == REMOVE and request.state in (storage.PENDING, storage.APPROVED) \
                    and request.account == current_account():
                return request
        return None

    def users_of(self, person_id: str, email: str | None, email_domain: str | None) -> list[IamUser]:
        """The users the store says this person owns, and the one named after their e-mail, unless
        another person's owner tag is on it. No scan of the account."""
        names = [r.user_name for r in self.store.for_owner(person_id)
                 if r.kind == storage.CREATE_USER and r.state in storage.PROVISIONED_STATES
                 and r.account == current_account()]
        if email and email_domain and email.lower().endswith("@" + email_domain.lower()):
            local = email.rsplit("@", 1)[0]
            if re.fullmatch(r"[\w+=,.@-]{1,64}", local, re.ASCII):
                names.append(local)
        found: dict[str, IamUser] = {}
        for name in names:
            if name.lower() in found:
                continue
            facts = self.iam.user(name, tags=True)
            if facts is None:
                continue
            tagged = facts.tags.get(TAG_OWNER)
            if tagged and tagged != person_id:
                continue  # someone else's, whatever its name says
            found[facts.name.lower()] = facts
        return list(found.values())

    def void(self, person_id: str) -> list[Request]:
        """Their pending requests, their live Reveal buttons, their half of a two-approver decision."""
        now = self._now()
        voided = []
        for request in {r.id: r for r in (*self.store.for_requester(person_id),
                                           *self.store.for_owner(person_id))}.values():
            if request.state == storage.PENDING and request.kind != REMOVE:
                done = move(self.store, VOID_LEAVER, request.id, actor_id=BOT_REQUESTER, now=now,
                            detail="its requester or owner left (Slack account deactivated)",
                            jobs=[NewJob(Owed.CARD), thread("voided_leaver")])
            elif (request.state == storage.PROVISIONED and request.owner_id == person_id
                  and self.workflow.kind(request).reveals(request)):
                done = move(self.store, VOID_REVEAL, request.id, actor_id=BOT_REQUESTER, now=now,
                            detail="its owner left (Slack account deactivated)",
                            jobs=[NewJob(Owed.DM_UPDATE), thread("reveal_voided")])
            else:
                continue
            if done is not None:
                voided.append(done)
        for request in self.store.in_states([storage.PENDING]):
            approvals = request.details.get("approvals")
            if not isinstance(approvals, list) or not any(
                    isinstance(a, dict) and a.get("user_id") == person_id for a in approvals):
                continue
            kept = [a for a in approvals if not (isinstance(a, dict) and a.get("user_id") == person_id)]
            done = move(self.store, VOID_APPROVAL, request.id, actor_id=BOT_REQUESTER, now=now,
                        detail=f"{person_id} left (Slack account deactivated)",
                        details={**request.details, "approvals": kept}, jobs=[NewJob(Owed.CARD), thread("approval_voided")])
            if done is not None:
                voided.append(done)
        return voided

    def disable_now(self, request: Request) -> Request:
        """IAM_BOT_ON_SLACK_DEACTIVATION=disable: the reversible half at once, without approval."""
        if request.state != storage.PENDING or request.details.get("disabled_at"):
            return request
        name = request.user_name
        try:
            detail = disable_user(self.store, self.iam, name, actor_id=BOT_REQUESTER, request_id=request.id,
                                  now=self._now())
            changes = {"disabled_at": self._now().isoformat()}
            outcome = DISABLED
        except IamError as error:
            changes = {"disable_failed": error.for_approvers}
            outcome, detail = DISABLE_FAILED, error.for_approvers
        done = move(self.store, outcome, request.id, actor_id=BOT_REQUESTER, now=self._now(), detail=detail,
                    details={**request.details, **changes}, jobs=[NewJob(Owed.CARD)] if request.card_ts else [])
        return done or self.store.get(request.id)
