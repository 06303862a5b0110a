"""Hygiene reported: `/iam status <user>` (a user's requests and their trail) and `/iam audit`
(AWS's credential report summed up against the AWS guide's best practices).

The report is read with the same two kinds of call for any number of users
(`IamGateway.credential_report`); which users the bot made comes from its own store, never
from more IAM calls. Everything here returns data; `bot/audit_blocks.py` says it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict

import storage
from storage import GROUP_ADD, Event, Grant, Request, Store

from .errors import CommandError, NotAllowed, Why
from .groups import standing_groups
from .iam import IamGateway
from .parse import Verb, one_user_name, usage_of
from .rules import Person
from .workflow import Workflow

STALE_DAYS = 90  # AWS's guide: rotate keys and remove credentials unused for 90 days
ROOT_ROW = "<root_account>"
# A report cell that holds no time: never used, not applicable, not recorded, not supported.
NO_TIME = {"", "N/A", "no_information", "not_supported", "never"}
STATUS_REQUESTS = 20  # /iam status reads this many requests, newest first (bot/audit_blocks.py shows them)
AUDIT_POST = "audit_post"  # work: the scheduled report, posted to the approvals channel (bot/audit_work.py)


# -- the commands ------------------------------------------------------------------------------

class StatusCommand(BaseModel):
    """`/iam status <user-name>`
    Every request about that IAM user and its trail: who asked, approved, denied,
    revealed, when. For approvers, and for the owner of that user."""

    model_config = ConfigDict(frozen=True)
    user_name: str


class AuditCommand(BaseModel):
    """`/iam audit`
    The account's credential hygiene from AWS's credential report: root MFA and keys,
    console users without MFA, old and unused keys, unused users, users the bot did not
    make. For approvers."""

    model_config = ConfigDict(frozen=True)


def parse_status(args: list[str]) -> StatusCommand:
    return StatusCommand(user_name=one_user_name("status", args))


def parse_audit(args: list[str]) -> AuditCommand:
    if args:
        raise CommandError(Why.AUDIT_TAKES_NOTHING)
    return AuditCommand()


VERBS = (
    Verb("status", parse_status, usage_of(StatusCommand), position=110),
    Verb("audit", parse_audit, usage_of(AuditCommand), position=130),
)


# -- who may ask -------------------------------------------------------------------------

def may_audit(*, caller: Person, listed: bool, team_id: str) -> bool:
    """Only approvers (named in IAM_BOT_APPROVERS, active members of this workspace)."""
    if caller.is_bot or caller.deleted or caller.is_guest:
        return False
    if caller.team_id is not None and caller.team_id != team_id:
        return False
    return listed


# -- /iam status -------------------------------------------------------------------------

@dataclass(frozen=True)
class RequestTrail:
    request: Request
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Status:
    user_name: str  # as asked
    trails: tuple[RequestTrail, ...]  # newest request first
    everything: bool  # False: only the requests for the caller (an owner who is not an approver)
    older: int = 0  # requests about the name older than those in `trails`, not read
    grants: tuple[Grant, ...] = ()  # live time-bound memberships (`/iam add --for`), soonest end first
    standing: tuple[tuple[str, int], ...] = ()  # (group, request id): memberships the bot granted for good


# -- the credential report ---------------------------------------------------------------

@dataclass(frozen=True)
class KeyRow:
    number: int  # 1 or 2, as the report numbers them
    active: bool
    last_rotated: dt.datetime | None
    last_used: dt.datetime | None
    last_service: str | None = None  # the service it was last used with, as the report names it


@dataclass(frozen=True)
class ReportRow:
    user: str
    arn: str
    created: dt.datetime | None
    password_enabled: bool
    password_last_used: dt.datetime | None
    mfa_active: bool
    keys: tuple[KeyRow, ...]

    @property
    def is_root(self) -> bool:
        return self.user == ROOT_ROW

    def last_activity(self) -> dt.datetime | None:
        used = [t for t in (self.password_last_used, *(k.last_used for k in self.keys)) if t is not None]
        return max(used) if used else None


def _time(cell: str | None) -> dt.datetime | None:
    cell = (cell or "").strip()
    if cell in NO_TIME:
        return None
    try:
        moment = dt.datetime.fromisoformat(cell.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _true(cell: str | None) -> bool:
    return (cell or "").strip().lower() == "true"


def _word(cell: str | None) -> str | None:
    cell = (cell or "").strip()
    return None if cell in NO_TIME else cell


def parse_report(content: bytes | str) -> list[ReportRow]:
    """The rows of AWS's credential report CSV (column names as AWS documents them)."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    rows = []
    for cells in csv.DictReader(io.StringIO(text)):
        keys = tuple(
            KeyRow(number=n, active=_true(cells.get(f"access_key_{n}_active")),
                   last_rotated=_time(cells.get(f"access_key_{n}_last_rotated")),
                   last_used=_time(cells.get(f"access_key_{n}_last_used_date")),
                   last_service=_word(cells.get(f"access_key_{n}_last_used_service")))
            for n in (1, 2)
        )
        rows.append(ReportRow(
            user=cells.get("user") or "", arn=cells.get("arn") or "", created=_time(cells.get("user_creation_time")),
            password_enabled=_true(cells.get("password_enabled")),
            password_last_used=_time(cells.get("password_last_used")), mfa_active=_true(cells.get("mfa_active")),
            keys=keys,
        ))
    return rows


# -- summed up ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Flagged:
    """One user on one line of the summary; `key` names the access key (1 or 2) when it is about a key,
    `days` its age or how long unused (None: never used)."""

    user: str
    key: int | None = None
    days: int | None = None


@dataclass(frozen=True)
class Root:
    mfa_active: bool
    active_keys: int


@dataclass(frozen=True)
class AuditSummary:
    generated_at: dt.datetime  # when AWS made the report (it reuses one for up to 4 hours)
    as_of: dt.datetime  # when the bot read it
    users: int  # IAM users in the report, the root user aside
    root: Root | None  # None: the report has no root row
    no_mfa: tuple[Flagged, ...]  # console users without MFA
    old_keys: tuple[Flagged, ...]  # active keys older than STALE_DAYS (days: age)
    unused_keys: tuple[Flagged, ...]  # active keys never used, or unused for STALE_DAYS (days: since last use)
    unused_users: tuple[Flagged, ...]  # no sign-in or key use for STALE_DAYS (days: since; None: never)
    not_made: tuple[Flagged, ...]  # users the bot did not create: no owner is known
    # With a permissions boundary set: users the bot created that lack it (or have another); None: no boundary.
    unbounded: tuple[Flagged, ...] | None = None


def _days(now: dt.datetime, then: dt.datetime) -> int:
    return max(0, (now - then).days)


def summarize(rows: list[ReportRow], *, generated_at: dt.datetime, now: dt.datetime,
              made: set[str]) -> AuditSummary:
    """Pure: the report's rows against the best practices; `made` = ARNs of the users the bot created."""
    stale = dt.timedelta(days=STALE_DAYS)
    root = None
    no_mfa, old_keys, unused_keys, unused_users, not_made = [], [], [], [], []
    users = [row for row in rows if not row.is_root]
    for row in rows:
        if row.is_root:
            root = Root(mfa_active=row.mfa_active, active_keys=sum(1 for k in row.keys if k.active))
    for row in sorted(users, key=lambda r: r.user.lower()):
        if row.password_enabled and not row.mfa_active:
            no_mfa.append(Flagged(row.user))
        for key in row.keys:
            if not key.active:
                continue
            if key.last_rotated is not None and now - key.last_rotated > stale:
                old_keys.append(Flagged(row.user, key.number, _days(now, key.last_rotated)))
            if key.last_used is None:
                unused_keys.append(Flagged(row.user, key.number, None))
            elif now - key.last_used > stale:
                unused_keys.append(Flagged(row.user, key.number, _days(now, key.last_used)))
        last = row.last_activity()
        if last is not None and now - last > stale:
            unused_users.append(Flagged(row.user, days=_days(now, last)))
        elif last is None and row.created is not None and now - row.created > stale:
            unused_users.append(Flagged(row.user, days=None))
        if row.arn not in made:
            not_made.append(Flagged(row.user))
    return AuditSummary(
        generated_at=generated_at, as_of=now, users=len(users), root=root, no_mfa=tuple(no_mfa),
        old_keys=tuple(old_keys), unused_keys=tuple(unused_keys), unused_users=tuple(unused_users),
        not_made=tuple(not_made),
    )


def audit_period(now: dt.datetime, every: dt.timedelta) -> dt.datetime:
    """The start of the schedule's period that `now` falls in (periods counted from the Unix epoch)."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    size = int(every.total_seconds())
    start = int((now - epoch).total_seconds()) // size * size
    return epoch + dt.timedelta(seconds=start)


# -- asked for, or on a schedule ------------------------------------------------------------

class Audit:
    """`/iam status`, `/iam audit` and the scheduled report, over the store and the gateway given."""

    def __init__(self, workflow: Workflow, store: Store, iam: IamGateway):
        self.workflow, self.store, self.iam = workflow, store, iam

    def status(self, user_name: str, caller: Person, *, listed: bool) -> Status:
        """The newest requests about `user_name` (ignoring case) with their events, for an approver;
        an owner sees the requests that are for them. Anyone else is refused, and the refusal recorded.
        However many requests a name has, this is three reads."""
        approver = may_audit(caller=caller, listed=listed, team_id=self.workflow.policy.team_id)
        owner_id = None if approver else caller.user_id
        requests = self.store.about_user(user_name, owner_id=owner_id, newest=STATUS_REQUESTS)
        if not approver and (not requests or caller.is_bot or caller.deleted):
            self.store.append_event(None, caller.user_id, "refused:status", self.workflow.now(), detail=user_name)
            raise NotAllowed(Why.STATUS_NOT_ALLOWED, user_name=user_name)
        older = 0
        if len(requests) == STATUS_REQUESTS:
            older = self.store.count_about_user(user_name, owner_id=owner_id) - len(requests)
        events = self.store.events_of(r.id for r in requests)
        trails = tuple(RequestTrail(r, tuple(events[r.id])) for r in reversed(requests))
        grants = ()
        if any(r.kind == GROUP_ADD for r in requests):  # a fourth read only for a user with adds
            shown = {r.id for r in requests}
            grants = tuple(sorted((g for g in self.store.live_grants(user_name) if approver or g.request_id in shown),
                                  key=lambda g: g.ends_at))
        # The standing memberships the bot granted (a create, an add without --for), not dropped since:
        # from the requests read, or, when older ones are not shown, one more (indexed) read.
        holding = requests if not older else [r for r in self.store.holding_requests(user_name)
                                              if approver or r.owner_id == caller.user_id]
        standing = tuple((group, r.id) for r in holding for group in standing_groups(r))
        return Status(user_name=user_name, trails=trails, everything=approver, older=older, grants=grants,
                      standing=standing)

    def account_summary(self) -> AuditSummary:
        """Read the credential report (two kinds of IAM call) and sum it up; the scheduled post uses this."""
        content, generated_at = self.iam.credential_report()
        rows = parse_report(content)
        made = self.store.users_made(row.arn for row in rows)
        summary = summarize(rows, generated_at=generated_at, now=self.workflow.now(), made=made)
        boundary = self.iam.boundary_or(self.workflow.policy.boundary)
        if boundary is None:
            return summary
        # The report does not say a user's boundary: one GetUser for each user the bot made.
        unbounded = []
        for row in sorted((r for r in rows if r.arn in made), key=lambda r: r.user.lower()):
            user = self.iam.user(row.user)
            if user is not None and user.boundary != boundary:
                unbounded.append(Flagged(row.user))
        return replace(summary, unbounded=tuple(unbounded))

    def audit(self, caller: Person, *, listed: bool) -> AuditSummary:
        """`/iam audit`: approvers only; a refusal is recorded."""
        if not may_audit(caller=caller, listed=listed, team_id=self.workflow.policy.team_id):
            self.store.append_event(None, caller.user_id, "refused:audit", self.workflow.now())
            raise NotAllowed(Why.AUDIT_NOT_ALLOWED)
        return self.account_summary()

    def schedule(self, every: dt.timedelta, accounts: tuple[str, ...] = ()) -> bool:
        """Owe this period's scheduled report, once however many processes ask (the job's key is the
        period): with several AWS accounts (`accounts`, the default first), one report per account
        (its payload names it; the default's job is keyed as without accounts). True if this call
        wrote one down."""
        start = audit_period(self.workflow.now(), every)
        period = start.isoformat()
        jobs = [storage.NewJob(AUDIT_POST, {"period": period}, key=f"audit:{period}")]
        jobs += [storage.NewJob(AUDIT_POST, {"period": period, "account": name}, key=f"audit:{period}:{name}")
                 for name in accounts[1:]]
        new = self.store.enqueue(jobs, now=self.workflow.now())
        return bool(new)
