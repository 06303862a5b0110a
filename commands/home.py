"""The App Home's domain (issue 21): what one person sees of their own IAM users, their open
requests, and what waits for them as an approver; and whose homes an event of the trail touches.

The store says most of it; AWS is read only for the IAM users a person owns, at most
`HOME_USERS` of them (the rest are counted, "and N more"), each with at most `CALLS_PER_USER`
calls: GetUser, ListAccessKeys, GetAccessKeyLastUsed per key (AWS allows two keys a user),
ListGroupsForUser, GetLoginProfile, ListMFADevices. What AWS said of a user is kept for
`FACTS_TTL`, so a person flicking between tabs costs no AWS call; a refresh after a change
reads afresh (it is coalesced per person, bot/features/home.py). Nothing here knows Slack.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from storage import APPROVED, PENDING, PROVISIONED_STATES, REMOVE, Grant, NewJob, Request, Store
from storage.trail import TrailEvent

from .iam import AccessKey, IamGateway
from .scope import in_account
from .workflow import Workflow

log = logging.getLogger(__name__)

HOME_USERS = 5  # IAM users read from AWS for one home
# GetUser, ListAccessKeys, 2 x GetAccessKeyLastUsed, ListGroupsForUser, GetLoginProfile, ListMFADevices
CALLS_PER_USER = 7
FACTS_TTL = dt.timedelta(seconds=60)
FACTS_KEPT = 1000  # users whose facts one process keeps at most
OPEN_STATES = (PENDING, APPROVED)
# Events that change what an approver waits for: a request filed, approved, decided or gone.
APPROVERS_CARE = frozenset({"filed", "approval", "approved", "denied", "expired", "cancelled"})
APPROVER_HOMES = 200  # approvers' homes refreshed for one such event at most

HOME_JOB = "home"  # durable work: publish one person's home, payload {"user_id", "fresh"}
HOME_STREAM = "app_home"  # the follower's cursor on the event log (table audit_stream)
# A person's home is published at most once per window for changes (and once more for opening it):
# every change in a window is one job, keyed by the person and the window, due at its end.
WINDOW = dt.timedelta(seconds=5)
FOLLOW_BATCH = 500
FOLLOW_BATCHES = 20  # batches one pass reads at most


@dataclass(frozen=True)
class UserFacts:
    """One IAM user a person owns, as AWS says it now (`keys` with their last use) and its live
    grants from the store."""

    name: str
    groups: tuple[str, ...]
    console: bool
    mfa_devices: int
    keys: tuple[AccessKey, ...]
    grants: tuple[Grant, ...] = ()
    account: str | None = None  # the `[[account]]` it lives in (its request's); None: the default
    shown_account: str = ""  # the account's name to show ('' when the rules name no accounts)


@dataclass(frozen=True)
class Waiting:
    """A pending request this person may approve, and how many approvals it still needs."""

    request: Request
    still: int


@dataclass(frozen=True)
class HomeFacts:
    person_id: str
    users: tuple[UserFacts, ...]
    more_users: int  # owned users not read from AWS (over HOME_USERS)
    open: tuple[Request, ...]  # their own requests not yet done (pending: they may withdraw it)
    waiting: tuple[Waiting, ...]  # what waits for them as an approver, oldest first
    approver: bool  # an approver (by the rules' defaults, or something waits for them)
    as_of: dt.datetime


class HomeReader:
    """Reads one person's home; keeps what AWS said of each IAM user (by account and name) for `ttl`.
    With several AWS accounts (`accounts`: the rules' names, the default first), each user is read
    in its request's account (the gateway acts in the account in hand, commands/scope.py)."""

    def __init__(self, store: Store, iam: IamGateway, workflow: Workflow, *, clock: Callable[[], dt.datetime],
                 ttl: dt.timedelta = FACTS_TTL, users: int = HOME_USERS, accounts: tuple[str, ...] = ()):
        self.store, self.iam, self.workflow, self.clock, self.ttl, self.users = store, iam, workflow, clock, ttl, users
        self.accounts = accounts
        self._facts: dict[tuple[str, str], tuple[dt.datetime, UserFacts | None]] = {}
        self._lock = threading.Lock()

    def owned(self, person_id: str) -> list[tuple[str | None, str]]:
        """The IAM users the bot made or changed for this person (as their owner), newest first, each
        as (its account, None: the default; its name). A removal is not one (a removed user's own
        requests leave the provisioned states)."""
        names: dict[tuple[str, str], tuple[str | None, str]] = {}
        for request in reversed(self.store.for_owner(person_id)):
            if request.state in PROVISIONED_STATES and request.kind != REMOVE:
                account = request.account or None
                names.setdefault(((account or "").lower(), request.user_name.lower()), (account, request.user_name))
        return list(names.values())

    def facts(self, user_name: str, *, fresh: bool, account: str | None = None) -> UserFacts | None:
        """The user as AWS says it in `account` (None: the default; AWS has no such user: None), from
        the cache unless `fresh`."""
        key, now = ((account or "").lower(), user_name.lower()), self.clock()
        with self._lock:
            kept = self._facts.get(key)
        if kept is not None and not fresh and now - kept[0] < self.ttl:
            found = kept[1]
        else:
            with in_account(account):
                found = self._read_aws(user_name)
            with self._lock:
                if len(self._facts) >= FACTS_KEPT:
                    self._facts.clear()
                self._facts[key] = (now, found)
        if found is None:
            return None
        return UserFacts(found.name, found.groups, found.console, found.mfa_devices, found.keys,
                         self._grants(found.name, account), account=account,
                         shown_account=(account or self.accounts[0]) if self.accounts else "")

    def _grants(self, user_name: str, account: str | None) -> tuple[Grant, ...]:
        """The user's live grants in this account (a grant's account is its add's)."""
        grants = self.store.live_grants(user_name)
        if not self.accounts or not grants:
            return tuple(grants)
        accounts: dict[int, str] = {}
        for grant in grants:
            if grant.request_id not in accounts:
                found = self.store.find(grant.request_id)
                accounts[grant.request_id] = ((found.account if found else None) or "").lower()
        return tuple(g for g in grants if accounts[g.request_id] == (account or "").lower())

    def _read_aws(self, user_name: str) -> UserFacts | None:
        listed = self.iam.access_keys_of(user_name)
        if listed is None:
            return None
        user, keys = listed
        name = user.name
        return UserFacts(name=name, groups=tuple(self.iam.groups_for_user(name) or ()),
                         console=self.iam.has_login_profile(name), mfa_devices=self.iam.mfa_devices(name) or 0,
                         keys=tuple(keys))

    def waiting(self, person_id: str) -> list[Waiting]:
        waiting = []
        for request in self.store.in_states([PENDING]):
            try:
                still = self.workflow.awaits(request, person_id)
            except Exception as error:  # Slack could not say who is in a user group: not shown this time
                log.info("could not tell whether request #%s waits for %s: %s", request.id, person_id,
                         type(error).__name__)
                continue
            if still:
                waiting.append(Waiting(request, still))
        return waiting

    def read(self, person_id: str, *, fresh: bool) -> HomeFacts:
        names = self.owned(person_id)
        users = [facts for facts in (self.facts(name, fresh=fresh, account=account)
                                     for account, name in names[:self.users]) if facts]
        open_ = tuple(r for r in reversed(self.store.for_requester(person_id)) if r.state in OPEN_STATES)
        waiting = tuple(self.waiting(person_id))
        approver = bool(waiting)
        if not approver:
            try:
                approver = self.workflow.approvals.for_account(person_id).allowed
            except Exception:
                approver = False
        return HomeFacts(person_id=person_id, users=tuple(users), more_users=max(0, len(names) - self.users),
                         open=open_, waiting=waiting, approver=approver, as_of=self.clock())


def touched(events: Iterable[TrailEvent], requests: Callable[[int], Request | None],
            approvers: Callable[[], list[str]]) -> set[str]:
    """Whose homes these events change: each request's owner, requester and the person who acted;
    the approvers' homes when a request was filed, approved, decided or went away."""
    people: set[str] = set()
    approvers_too = False
    for event in events:
        if event.what.startswith("refused"):
            continue  # a refusal changes nothing
        if event.actor_id:
            people.add(event.actor_id)
        if event.request_id is None:
            continue
        request = requests(event.request_id)
        if request is not None:
            people.update(p for p in (request.owner_id, request.requester_id) if p)
        if event.what in APPROVERS_CARE:
            approvers_too = True
    if approvers_too:
        people.update(approvers())
    return people


def _slot(now: dt.datetime) -> int:
    return int(now.timestamp() // WINDOW.total_seconds())


def opened_job(user_id: str, now: dt.datetime) -> NewJob:
    """Publish now, once per window however often the tab is opened; AWS facts may come from the cache."""
    return NewJob(HOME_JOB, {"user_id": user_id, "fresh": False}, key=f"home:{user_id}:opened:{_slot(now)}",
                  due_at=now)


def changed_job(user_id: str, now: dt.datetime) -> NewJob:
    """Publish at the end of this window, read afresh: every change within the window is this one job
    (its key is taken), and a change after the job ran falls in the next window, so none is missed."""
    slot = _slot(now) + 1
    due = dt.datetime.fromtimestamp(slot * WINDOW.total_seconds(), tz=dt.timezone.utc)
    return NewJob(HOME_JOB, {"user_id": user_id, "fresh": True}, key=f"home:{user_id}:{slot}", due_at=due)


class HomeFollower:
    """Follows the event log (its own cursor, as the audit stream does) and writes down a refresh
    for each person with an App Home whom a committed event touches. Run by the duties' lease
    holder; a pass that loses the cursor to another process stops (the jobs it wrote are keyed,
    so a repeat adds none)."""

    def __init__(self, store: Store, clock: Callable[[], dt.datetime], *, batch: int = FOLLOW_BATCH):
        self.store, self.clock, self.batch = store, clock, batch

    def start(self) -> None:
        """Before a home is first read: from here on, every event is followed."""
        self.store.stream_from_head(HOME_STREAM, now=self.clock())

    def follow(self, batches: int = FOLLOW_BATCHES) -> int:
        """One pass; how many refreshes it wrote down. Nothing until a home was first published
        (`start`): the history before that touches no home."""
        if not self.store.stream_started(HOME_STREAM):
            return 0
        written = 0
        for _ in range(batches):
            at, events, after = self.store.stream_batch(HOME_STREAM, limit=self.batch)
            if not events:
                return written
            found: dict[int, Request | None] = {}

            def request(request_id: int) -> Request | None:
                if request_id not in found:
                    found[request_id] = self.store.find(request_id)
                return found[request_id]

            people = touched(events, request, lambda: self.store.approver_homes(limit=APPROVER_HOMES))
            now = self.clock()
            jobs = [changed_job(person, now) for person in sorted(self.store.homes_among(people))]
            if jobs:
                written += len(self.store.enqueue(jobs, now=now))
            if not self.store.stream_advance(HOME_STREAM, at, after, now=now):
                return written  # another process moved it: it goes on from there
            if len(events) < self.batch:
                return written
        return written
