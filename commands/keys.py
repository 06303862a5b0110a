"""Access keys: issued only with a reason, revealed once, rotated, retired.

A key request is a request of kind `access_key` on the shared lifecycle (`workflow.py`): filed
pending and approved by a second person (`/iam create-key`), or filed already approved by the
owner or an approver (a rotation, which adds no standing access). Its plan has no steps: once
approved it is provisioned at once and owes the owner a DM with a Reveal button. The key is
created at the owner's first click, never earlier, and at most once per request: the attempt
is written down before CreateAccessKey and the key id right after it, so a claim released
after a crash finds them and, the secret being gone, deletes that key instead of making a
second one.

Key actions not tied to a request (deactivate, activate, delete) are events on the request
that issued the key when the store knows it, else on none, with the key id in the detail.
A rotation's later steps are decided from the store by `check_rotations`, a periodic duty.
Plain values in, reasons and data out: the Slack edge says things.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

import storage
from storage import NewJob, Request, Store

from . import guardrails
from .errors import CommandError, IamError, NotAllowed, Why
from .iam import AccessKey, IamGateway, IamUser, KeyMayExist, KeyMeta
from .lifecycle import APPROVE_ROTATION, KEY_ATTEMPT, KEY_ATTEMPT_SETTLED, KEY_CREATED, KEY_LOST, check_owner, file, move
from .parse import Verb, check_key_id, check_user_name, one_user_name, plain, usage_of
from .rules import Person
from .scope import in_account
from .workflow import REVEAL_CLAIM_TIMEOUT, Due, Filed, Kind, Owed, Secret, Workflow

log = logging.getLogger(__name__)

ACCESS_KEY = "access_key"
ACTIVE, INACTIVE = "Active", "Inactive"
MAX_KEYS = 2  # AWS's limit per user
TAG_VALUE_MAX = 256
TAG_PUNCTUATION = frozenset("_.:/=+-@")

# Events of a rotation, in the request that made the new key.
ROTATION_DEACTIVATED = "rotation_deactivated"
ROTATION_DELETED = "rotation_deleted"
ROTATION_KEPT = "rotation_kept"  # the old key was re-activated: left alone
ROTATION_GONE = "rotation_gone"  # the old key was already deleted
ROTATION_ENDS = (ROTATION_DELETED, ROTATION_KEPT, ROTATION_GONE)
SETTLE_BATCH = 50  # key attempts settled per run of the rotations duty; the rest wait for the next


# -- the commands ------------------------------------------------------------------------------

class KeysCommand(BaseModel):
    """`/iam keys <user-name>`
    List a user's access keys with their age and last use. For approvers, and for the
    owner of that user."""

    model_config = ConfigDict(frozen=True)
    user_name: str


class CreateKeyCommand(BaseModel):
    """`/iam create-key <user-name> --reason <words...>`
    Ask for an access key for an IAM user, saying why it is needed. A second person must
    approve it; the user's owner then reveals the key once. Prefer a role (workloads on AWS),
    OIDC federation (CI) or IAM Identity Center (people) to a long-term key."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    reason: str


class RotateKeyCommand(BaseModel):
    """`/iam rotate-key <user-name> <access-key-id>`
    Replace a key with a new one (owner or approver, no second person): the owner reveals the
    new key once; the old key is deactivated when the new one is first used (or after the
    rotation grace), and deleted one grace later unless someone re-activates it."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    key_id: str


class DeactivateKeyCommand(BaseModel):
    """`/iam deactivate-key <user-name> <access-key-id>`
    Make a key stop working, reversibly (owner or approver)."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    key_id: str


class ActivateKeyCommand(BaseModel):
    """`/iam activate-key <user-name> <access-key-id>`
    Make an inactive key work again (owner or approver; a key an approver deactivated, only an
    approver)."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    key_id: str


class DeleteKeyCommand(BaseModel):
    """`/iam delete-key <user-name> <access-key-id>`
    Delete an inactive key for good (owner or approver). Deactivate it first and watch."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    key_id: str


KeyCommand = RotateKeyCommand | DeactivateKeyCommand | ActivateKeyCommand | DeleteKeyCommand
MAX_KEY_REASON = 1000


def parse_keys(args: list[str]) -> KeysCommand:
    return KeysCommand(user_name=one_user_name("keys", args))


def parse_create_key(args: list[str]) -> CreateKeyCommand:
    words = [plain(a) for a in args]
    flag = next((i for i, w in enumerate(words) if w.lower() == "--reason"), None)
    names = words if flag is None else words[:flag]
    reason = "" if flag is None else " ".join(words[flag + 1:]).strip()
    if len(names) != 1:
        raise CommandError(Why.ONE_USER_NAME, verb="create-key")
    user_name = check_user_name(names[0])
    if not reason:
        raise CommandError(Why.KEY_REASON_MISSING, user_name=user_name)
    if len(reason) > MAX_KEY_REASON:
        raise CommandError(Why.KEY_REASON_TOO_LONG, limit=MAX_KEY_REASON)
    return CreateKeyCommand(user_name=user_name, reason=reason)


def key_command(verb: str, command: type[KeyCommand], position: int) -> Verb:
    """`/iam <verb> <user-name> <access-key-id>`."""
    def parse_key_command(args: list[str]) -> KeyCommand:
        if len(args) != 2:
            raise CommandError(Why.USER_AND_KEY, verb=verb)
        user_name, key_id = check_user_name(plain(args[0])), check_key_id(plain(args[1]))
        return command(user_name=user_name, key_id=key_id)
    return Verb(verb, parse_key_command, usage_of(command), position)


VERBS = (
    Verb("keys", parse_keys, usage_of(KeysCommand), position=20),
    Verb("create-key", parse_create_key, usage_of(CreateKeyCommand), position=30),
    key_command("rotate-key", RotateKeyCommand, position=40),
    key_command("deactivate-key", DeactivateKeyCommand, position=50),
    key_command("activate-key", ActivateKeyCommand, position=60),
    key_command("delete-key", DeleteKeyCommand, position=70),
)


class KeyOwed:
    """Durable work of the key flows (see `workflow.Owed`)."""

    NOTE = "key_note"  # a line in the approvals channel: the issuing request's thread, or a message of its own
    DM = "key_dm"  # the owner hears of a rotation step
    ROTATION_CARD = "rotation_card"  # a rotation has no approval card: post its own message, threads follow it


def description(reason: str) -> str:
    """The reason as an IAM tag value: letters, digits, spaces and `_ . : / = + - @`, at most 256."""
    kept = "".join(c if c in TAG_PUNCTUATION or unicodedata.category(c)[0] in "LN" else
                   (" " if unicodedata.category(c)[0] in "ZC" else "") for c in reason)
    return " ".join(kept.split())[:TAG_VALUE_MAX].strip()


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def key_facts(key: AccessKey) -> dict:
    """What the card shows of an existing key, kept in the request's details (no secret)."""
    return {"key_id": key.key_id, "status": key.status, "created": _iso(key.created),
            "last_used": _iso(key.last_used), "service": key.last_service}


@dataclass(frozen=True)
class KeyTarget:
    """A user named in a key command, as AWS holds it, with the owner the store or a tag names."""

    user: IamUser
    owner_id: str | None


@dataclass(frozen=True)
class KeyDone:
    """What a key action did: `action` is deactivated, activated or deleted."""

    action: str
    user_name: str
    key_id: str
    issued_by: int | None  # the request that issued the key, if the bot knows it


def hold_refusal(hold: storage.KeyHold | None, *, role: str, status: str) -> Why | None:
    """The one rule for bringing back a key that someone else's decision made inactive (an
    approver's deactivate, an approved disable, a leaver's disable at once): while it is inactive,
    its owner may neither activate it nor rotate it into a new active key; an approver may."""
    if hold is None or role == "approver" or status != INACTIVE:
        return None
    return Why.KEY_ACTIVATE_APPROVER_ONLY if hold.cause == storage.HOLD_APPROVER else Why.KEY_HELD_DISABLED


# -- the Kind: the key made at the owner's first click, at most once ----------------------------

# A key AWS made for an attempt has a CreateDate close to it: from a minute before (the bot's
# and AWS's clocks differ) to a few minutes after (the call's timeouts and botocore's retries of
# connections that never reached AWS).
ATTEMPT_EARLIEST = dt.timedelta(minutes=1)
ATTEMPT_LATEST = dt.timedelta(minutes=5)


def unseen(keys: list[KeyMeta], *, before: set[str], recorded: set[str], attempted: dt.datetime) -> list[str]:
    """The keys an attempt at `attempted` may have made: not there before it, written down by no
    request, and created within minutes of it (a key someone made in the console later stays)."""
    earliest, latest = attempted - ATTEMPT_EARLIEST, attempted + ATTEMPT_LATEST
    return [k.key_id for k in keys
            if k.key_id not in before and k.key_id not in recorded and earliest <= k.created <= latest]


class KeyIssuer:
    """The access-key kind's reveal, and the settling of a key whose secret was never shown."""

    def __init__(self, store: Store, iam: IamGateway, clock: Callable[[], dt.datetime]):
        self.store, self.iam, self.clock = store, iam, clock

    @property
    def kind(self) -> Kind:
        return Kind(
            name=ACCESS_KEY, plan=lambda request: [], run_step=_no_steps, reveals=lambda request: True,
            reveal=self.reveal, after_provisioning=lambda request: [NewJob(Owed.SIGN_IN_DM)],
            # A rotation's later steps start at its reveal: the new key's first use is looked for each check.
            after_reveal=lambda request, now: {Due.ROTATION: now if request.details.get("replaces") else None},
        )

    def reveal(self, request: Request) -> Secret:
        """The owner's first click (the request is claimed, `revealing`): create the key, describe it.

        At most one key per request: the attempt (and the keys the user had before it) is recorded
        before CreateAccessKey and the key id after it. A request that finds either from an earlier
        claim lost that key's secret (the claim was released after a crash or a failed show): that
        key is deleted and the request ends. CreateAccessKey is never resent blindly: when AWS does
        not say whether it made a key, the key nobody saw is deleted and the call made once more.
        """
        store, iam, now = self.store, self.iam, self.clock()
        details = dict(request.details)
        if details.get("key_attempted") or details.get("key_id"):
            if not self.lose_key(request, actor_id=request.owner_id):
                raise CommandError(Why.KEY_TRY_AGAIN, request_id=request.id, user_name=request.user_name, busy=True)
            raise NotAllowed(Why.KEY_LOST, request_id=request.id, user_name=request.user_name)
        keys = iam.key_ids(request.user_name)
        if len(keys) >= MAX_KEYS:
            raise CommandError(Why.KEY_LIMIT, user_name=request.user_name, keys=tuple(k.key_id for k in keys))
        details.update(key_attempted=_iso(now), keys_before=[k.key_id for k in keys])
        move(store, KEY_ATTEMPT, request.id, actor_id=None, now=now, details=details, key_attempt_at=now)
        key_id, secret = self._create_key(request, details)
        details["key_id"] = key_id
        # A key whose secret is never shown (the claim released) is deleted by the rotations duty.
        move(store, KEY_CREATED, request.id, actor_id=None, now=self.clock(), detail=key_id, details=details,
             key_attempt_at=None, due={Due.ROTATION: self.clock() + REVEAL_CLAIM_TIMEOUT})
        try:
            iam.describe_key(request.user_name, key_id, description(details.get("reason", "")) or f"request {request.id}")
        except IamError as error:
            # The key exists and its secret is about to be shown: a missing description must not lose it.
            store.append_event(request.id, None, "key_description_failed", self.clock(), detail=error.message)
        return Secret("access_key", secret, key_id)


    def _create_key(self, request: Request, details: dict) -> tuple[str, str]:
        """CreateAccessKey, and once more after an unanswered call whose key (if any) was deleted."""
        for _ in range(2):
            try:
                return self.iam.create_access_key(request.user_name)
            except KeyMayExist:
                keys = self.iam.key_ids(request.user_name)
                unseen = self.unseen_keys(request, details, keys)
                if unseen is None:
                    # Left recorded: the next click or the rotations duty settles it.
                    raise CommandError(Why.KEY_TRY_AGAIN, request_id=request.id, user_name=request.user_name,
                                       busy=True) from None
                for key_id in unseen:
                    self.iam.delete_access_key(request.user_name, key_id)
                    self.store.append_event(request.id, None, "key_unseen_deleted", self.clock(),
                                                detail=f"{key_id} {request.user_name}: AWS made it without saying so")
            except IamError:
                self._attempt_settled(request, details, "AWS refused CreateAccessKey: no key was made")
                raise
        self._attempt_settled(request, details, "AWS did not answer twice; what it made was deleted")
        raise CommandError(Why.KEY_TRY_AGAIN, request_id=request.id, user_name=request.user_name)


    def _attempt_settled(self, request: Request, details: dict, why: str) -> None:
        """No key of this attempt is left in AWS: the next click is a fresh attempt, not a lost key."""
        for name in ("key_attempted", "keys_before"):
            details.pop(name, None)
        move(self.store, KEY_ATTEMPT_SETTLED, request.id, actor_id=None, now=self.clock(), detail=why,
             details=details, key_attempt_at=None)


    def unseen_keys(self, request: Request, details: dict, keys: list[KeyMeta]) -> list[str] | None:
        """The keys this request's attempt may have made, that nobody saw; None when that cannot be
        told now: another request is making a key for this user this moment."""
        recorded = set()
        for other in self.store.for_user_name(request.user_name):
            if other.id == request.id or other.kind != ACCESS_KEY:
                continue
            if other.state == storage.REVEALING:
                return None
            if other.details.get("key_id"):
                recorded.add(other.details["key_id"])
        return unseen(keys, before=set(details.get("keys_before") or []), recorded=recorded,
                      attempted=dt.datetime.fromisoformat(details["key_attempted"]))


    def lose_key(self, request: Request, *, actor_id: str | None) -> bool:
        """A key made for this request whose secret was never shown: delete it, end the request.

        False when it cannot be told yet which key that is (see `unseen_keys`): nothing changed."""
        iam, details = self.iam, dict(request.details)
        orphans = [details["key_id"]] if details.get("key_id") else []
        if not orphans and details.get("key_attempted"):
            found = self.unseen_keys(request, details, iam.key_ids(request.user_name))
            if found is None:
                return False
            orphans = found
        for key_id in orphans:
            iam.delete_access_key(request.user_name, key_id)
        details["key_lost"] = True
        detail = f"secret never shown; deleted {', '.join(orphans) or 'nothing'}"
        # Also from reveal_expired: its DM said no key was made, and the key was; the DM says so now.
        ended = move(
            self.store, KEY_LOST, request.id, actor_id=actor_id, now=self.clock(), detail=detail,
            details=details, key_attempt_at=None,
            jobs=[NewJob(Owed.DM_UPDATE), NewJob(Owed.THREAD, {"event": "key_lost", "actor": actor_id})],
            due={Due.ROTATION: None, Due.REVEAL_EXPIRY: None},
        )
        if ended is None:
            self.store.append_event(request.id, actor_id, "key_lost", self.clock(), detail=detail)
        return True


def _no_steps(request: Request, step: str) -> str | None:
    raise ValueError(f"an access-key request has no provisioning steps: {step}")


def access_key_kind(store: Store, iam: IamGateway, clock: Callable[[], dt.datetime]) -> Kind:
    """The access-key kind, for the Workflow's kinds."""
    return KeyIssuer(store, iam, clock).kind


# -- the flows -----------------------------------------------------------------------

class KeyFlow:
    """Filing key requests, rotating, and deactivating, activating and deleting keys."""

    def __init__(self, workflow: Workflow, store: Store, iam: IamGateway, *,
                 grace: dt.timedelta = dt.timedelta(days=7)):
        self.workflow = workflow
        self.store = store
        self.iam = iam
        self.grace = grace
        self.issuer = KeyIssuer(store, iam, workflow.now)

    def now(self) -> dt.datetime:
        return self.workflow.now()

    # -- who and what --------------------------------------------------------------------

    def target(self, user_name: str) -> KeyTarget:
        """The user (in whatever case it was typed) and the owner the bot knows of, or NO_SUCH_USER."""
        user = self.iam.existing_user(user_name)
        return KeyTarget(user, user.owner_id)

    def role(self, caller: Person, *, listed: bool, target: KeyTarget, owner_id: str | None) -> str | None:
        """"approver", "owner" or None: who may act on this user's keys."""
        if caller.is_bot or caller.deleted:
            return None
        if caller.team_id is not None and caller.team_id != self.workflow.policy.team_id:
            return None
        if listed and not caller.is_guest:
            return "approver"
        if caller.user_id in (owner_id, target.owner_id) or self.workflow.owns_user(caller.user_id, target.user.name):
            return "owner"
        return None

    def _check_path(self, user: IamUser) -> None:
        path = self.iam.user_path_or(self.workflow.policy.user_path)  # the account's user_path, if it has one
        if not user.path.startswith(path):
            raise CommandError(Why.KEY_USER_OUTSIDE_PATH, user_name=user.name, path=path)

    def _check_owner(self, owner: Person | None, user_name: str) -> Person:
        if owner is None:
            raise CommandError(Why.KEY_OWNER_UNKNOWN, user_name=user_name)
        check_owner(owner, team_id=self.workflow.policy.team_id, user_name=user_name)
        return owner

    def issued_by(self, key_id: str) -> Request | None:
        """The request that made this key, if the bot made it."""
        request = self.store.key_issued(key_id)
        if request is not None and request.state in (storage.REVEALED, storage.REVEALING, storage.PROVISIONED):
            return request
        return None

    # -- /iam create-key -----------------------------------------------------------------

    def file(self, command: CreateKeyCommand, *, requester: Person, owner: Person | None,
             target: KeyTarget, listed: bool = False) -> Filed:
        """Check a key request against AWS; store it as pending, with what its card shows."""
        user = target.user
        owner = self._check_owner(owner, user.name)
        self._check_path(user)
        self.workflow.refuse_denied(lambda: self.iam.groups_for_user(user.name) or ())
        keys = self.iam.access_keys(user.name) or []
        if len(keys) >= MAX_KEYS:
            # Only those who may list the keys (`/iam keys`) are told which they are.
            may_list = self.role(requester, listed=listed, target=target, owner_id=owner.user_id) is not None
            raise CommandError(Why.KEY_LIMIT, user_name=user.name,
                               keys=tuple(k.key_id for k in keys) if may_list else ())
        details = {"reason": command.reason, "user_arn": user.arn, "keys": [key_facts(k) for k in keys],
                   **guardrails.boundary_details(user, self.iam.boundary_or(self.workflow.policy.boundary))}
        return self._file(user, owner, requester, details)

    def _file(self, user: IamUser, owner: Person, requester: Person, details: dict) -> Filed:
        request = file(self.store, user_name=user.name, groups=(), console=False, owner_id=owner.user_id,
                       requester_id=requester.user_id, team_id=self.workflow.policy.team_id, now=self.now(),
                       kind=ACCESS_KEY, details=details)
        return Filed(self._judged(request), owner_is_guest=owner.is_guest)

    def _judged(self, request):
        """The guardrails' word on the card from the start: a key for a member of a sensitive group
        needs two approvers, one for a member of the MFA group an MFA session. (Every approval
        judges again, so a failure to read it now only leaves the card without the note.)"""
        try:
            judged = self.workflow.judge(request)
        except IamError as error:
            log.warning("could not judge the sensitivity of request #%s: %s", request.id, error.message)
            return request
        revised = self.store.revise(request.id, state=storage.PENDING, expected=request.details,
                                    details={**request.details, **judged}, actor_id=None, what="judged",
                                    now=self.now())
        return revised or self.store.get(request.id)

    # -- the buttons and typed commands on one key ---------------------------------------

    def _key(self, verb: str, target: KeyTarget, key_id: str, caller: Person, *, listed: bool,
             owner_id: str | None) -> tuple[str, list[KeyMeta], KeyMeta]:
        user = target.user
        role = self.role(caller, listed=listed, target=target, owner_id=owner_id)
        if role is None:
            self.store.append_event(None, caller.user_id, f"refused:{verb}_key", self.now(),
                                    detail=f"{key_id} {user.name}")
            raise NotAllowed(Why.KEY_NOT_ALLOWED, user_name=user.name, verb=verb)
        keys = self.iam.key_ids(user.name)
        key = next((k for k in keys if k.key_id == key_id), None)
        if key is None:
            self.store.append_event(None, caller.user_id, f"refused:{verb}_key", self.now(),
                                    detail=f"{key_id} {user.name}: no such key")
            raise CommandError(Why.NO_SUCH_KEY, user_name=user.name, key_id=key_id,
                               keys=tuple(k.key_id for k in keys))
        self._check_path(user)
        return role, keys, key

    def rotate(self, target: KeyTarget, key_id: str, caller: Person, *, listed: bool,
               owner: Person | None) -> Request:
        """File a rotation, approved already: the owner reveals a new key; the old one follows later."""
        owner_id = owner.user_id if owner else None
        role, keys, key = self._key("rotate", target, key_id, caller, listed=listed, owner_id=owner_id)
        if role == "approver" and not self._approves_every_group(caller, target):
            # an approver of some of the user's groups only: as its owner, if they are, else refused
            role = self.role(caller, listed=False, target=target, owner_id=owner_id)
            if role is None:
                self._refuse_partial("rotate", target, key, caller)
        self._check_hold("rotate", target, key, caller, role)
        owner = self._check_owner(owner, target.user.name)
        self.workflow.refuse_denied(lambda: self.iam.groups_for_user(target.user.name) or ())  # as create-key
        if len(keys) >= MAX_KEYS:
            inactive = [k.key_id for k in keys if k.status == INACTIVE]
            raise CommandError(Why.ROTATE_TWO_KEYS, user_name=target.user.name, key_id=key_id,
                               inactive=inactive[0] if inactive else None)
        issuing = self.issued_by(key_id)
        reason = (issuing.details.get("reason") if issuing else None) or f"rotation of {key_id}"
        details = {"reason": reason, "replaces": key_id, "user_arn": target.user.arn,
                   "keys": [key_facts(k) for k in self.iam.access_keys(target.user.name) or []],
                   "issued_by": issuing.id if issuing else None}
        filed = self._file(target.user, owner, caller, details)
        now = self.now()
        approved = move(
            self.store, APPROVE_ROTATION, filed.request.id, actor_id=caller.user_id, now=now,
            detail=f"rotation of {key_id} by the {role}: no second person needed",
            decider_id=caller.user_id, decided_at=now,
            jobs=[NewJob(KeyOwed.ROTATION_CARD), NewJob(Owed.PROVISION)],
        )
        return approved or self.store.get(filed.request.id)

    def act(self, action: str, target: KeyTarget, key_id: str, caller: Person, *, listed: bool,
            owner_id: str | None) -> KeyDone:
        """Deactivate, activate or delete one key, if this person may; an event and a line in the channel."""
        verb = {"deactivated": "deactivate", "activated": "activate", "deleted": "delete"}[action]
        role, _, key = self._key(verb, target, key_id, caller, listed=listed, owner_id=owner_id)
        name = target.user.name
        issuing = self.issued_by(key_id)
        issued_by = issuing.id if issuing else None
        if action == "deactivated":
            if key.status == INACTIVE:
                raise CommandError(Why.KEY_ALREADY, key_id=key_id, status="inactive")
            if role == "approver":
                # Held before AWS is asked: no crash leaves the key inactive and its owner free to undo it.
                self.store.hold_keys([storage.KeyHold(key_id, name, storage.HOLD_APPROVER, caller.user_id,
                                                      issued_by, self.now())])
            self.iam.set_key_status(name, key_id, False)
        elif action == "activated":
            if key.status == ACTIVE:
                raise CommandError(Why.KEY_ALREADY, key_id=key_id, status="active")
            self._check_hold("activate", target, key, caller, role)
            self.iam.set_key_status(name, key_id, True)
        else:
            if key.status == ACTIVE:
                raise CommandError(Why.KEY_DELETE_ACTIVE, user_name=name, key_id=key_id)
            self.iam.delete_access_key(name, key_id)
        detail = f"{key_id} {name} ({role})"
        jobs = [NewJob(KeyOwed.NOTE, {"event": action, "actor": caller.user_id, "key_id": key_id, "user_name": name})]
        if action == "deactivated" and role == "approver":
            self.store.append_event(issued_by, caller.user_id, f"key_{action}", self.now(), detail=detail, jobs=jobs)
        else:
            # The key is back, deleted, or was active when its owner deactivated it: any hold on it is done.
            self.store.lift_key_hold(key_id, issued_by, caller.user_id, f"key_{action}", self.now(), detail=detail,
                                     jobs=jobs)
        return KeyDone(action, name, key_id, issued_by)

    def _approves_every_group(self, caller: Person, target: KeyTarget) -> bool:
        """Who may rotate a key or undo an approver's hold as an approver: those who could approve a
        create-key for this user alone (the defaults', or an approver of each of its groups)."""
        return self.workflow.approvals.for_every_group(
            caller.user_id, lambda: self.iam.groups_for_user(target.user.name) or ())

    def _refuse_partial(self, verb: str, target: KeyTarget, key: KeyMeta, caller: Person) -> None:
        name = target.user.name
        self.store.append_event(None, caller.user_id, f"refused:{verb}_key", self.now(),
                                detail=f"{key.key_id} {name}: an approver of only some of its groups")
        raise NotAllowed(Why.KEY_APPROVER_OF_EVERY_GROUP, key_id=key.key_id, user_name=name, verb=verb)

    def _check_hold(self, verb: str, target: KeyTarget, key: KeyMeta, caller: Person, role: str) -> None:
        hold = self.store.key_hold(key.key_id) if key.status == INACTIVE else None
        if hold is not None and role == "approver" and not self._approves_every_group(caller, target):
            self._refuse_partial(verb, target, key, caller)
        why = hold_refusal(hold, role=role, status=key.status)
        if why is None:
            return
        name = target.user.name
        self.store.append_event(None, caller.user_id, f"refused:{verb}_key", self.now(),
                                detail=f"{key.key_id} {name}: held inactive ({hold.cause})")
        raise NotAllowed(why, key_id=key.key_id, user_name=name, verb=verb, request_id=hold.request_id)

    # -- the rotation's later steps (a periodic duty) ------------------------------------

    def check_rotations(self) -> list[tuple[Request, str]]:
        """Move every open rotation on if it is due; returns (request, event) for each step taken.

        Reads only the requests whose rotation entry is due (`Due.ROTATION`); each is moved later
        or cleared, so a finished rotation is never read again."""
        taken = []
        now = self.now()
        for request in self.store.each_due(Due.ROTATION, now=now):
            with in_account(request.account):  # its key is in its request's AWS account
                self._rotation_due(request, now, taken)
        return taken

    def _rotation_due(self, request: Request, now: dt.datetime, taken: list) -> None:
        try:
            if request.kind == ACCESS_KEY and request.state == storage.REVEALED \
                    and request.details.get("replaces"):
                step = self._rotation_step(request)
                if step:
                    taken.append((request, step))
            elif request.kind == ACCESS_KEY and request.state == storage.REVEALING:
                self.store.set_due(request.id, {Due.ROTATION: now + REVEAL_CLAIM_TIMEOUT})
            elif request.kind == ACCESS_KEY and request.state != storage.REVEALED \
                    and request.details.get("key_id") and not request.details.get("key_lost"):
                self.issuer.lose_key(request, actor_id=None)  # released, then expired, never shown
                taken.append((request, "key_lost"))
            else:
                self.store.set_due(request.id, {Due.ROTATION: None})
        except IamError as error:
            log.warning("rotation check of request #%s: %s", request.id, error.message)

    def settle_key_attempts(self, limit: int = SETTLE_BATCH) -> list[Request]:
        """Attempts at a key that no claim holds any more and whose key id was never written down
        (the process died between CreateAccessKey and that write): the key AWS made then was never
        seen, so it is deleted and the request ends key_lost. Reads only such requests."""
        settled = []
        for request in self.store.unsettled_key_attempts(limit=limit):
            try:
                if self.issuer.lose_key(request, actor_id=None):
                    settled.append(request)
            except IamError as error:
                log.warning("settling the key attempt of request #%s: %s", request.id, error.message)
        return settled

    def _rotation_step(self, request: Request) -> str | None:
        """The step due now, if any; the rotation's entry moves to its next step (cleared at its end).
        Until the old key is deactivated, the new key's first use is looked for at every check."""
        events = self.store.events(request.id)
        done = {e.what: e for e in events}
        if any(end in done for end in ROTATION_ENDS):
            self.store.set_due(request.id, {Due.ROTATION: None})
            return None
        now, name = self.now(), request.user_name
        old, new = request.details["replaces"], request.details.get("key_id")
        keys = {k.key_id: k for k in self.iam.key_ids(name)}
        if old not in keys:
            return self._rotation_event(request, ROTATION_GONE, old, "the old key was already deleted", None)
        deactivated = done.get(ROTATION_DEACTIVATED)
        if deactivated is None:
            used = self.iam.key_last_used(new) if new in keys else None
            if used is not None:
                why = "the new key was used"
            elif request.revealed_at and now >= request.revealed_at + self.grace:
                why = "the rotation grace passed"
            else:
                return None
            if keys[old].status == ACTIVE:
                self.iam.set_key_status(name, old, False)
            return self._rotation_event(request, ROTATION_DEACTIVATED, old, why, now + self.grace)
        if now < deactivated.at + self.grace:
            self.store.set_due(request.id, {Due.ROTATION: deactivated.at + self.grace})
            return None
        if keys[old].status == ACTIVE:
            return self._rotation_event(request, ROTATION_KEPT, old, "it was re-activated", None)
        self.iam.delete_access_key(name, old)
        return self._rotation_event(request, ROTATION_DELETED, old, "the rotation grace passed again", None)

    def _rotation_event(self, request: Request, what: str, key_id: str, why: str,
                        next_due: dt.datetime | None) -> str:
        payload = {"event": what, "actor": None, "key_id": key_id, "user_name": request.user_name, "why": why}
        self.store.append_event(request.id, None, what, self.now(), detail=f"{key_id} {request.user_name}: {why}",
                                jobs=[NewJob(KeyOwed.NOTE, payload), NewJob(KeyOwed.DM, payload)],
                                due={Due.ROTATION: next_due})
        return what
