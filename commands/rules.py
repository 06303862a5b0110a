"""Who may do what: pure functions over plain values, with a reason for every answer."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from storage import FAILED, PENDING, Request


@dataclass(frozen=True)
class Person:
    """A Slack user as the rules see them (from users.info)."""

    user_id: str
    team_id: str | None = None
    is_bot: bool = False
    deleted: bool = False
    is_guest: bool = False  # is_restricted or is_ultra_restricted
    name: str | None = None


class Reason(enum.Enum):
    ALLOWED = "allowed"
    NOT_PENDING = "not_pending"
    NOT_FAILED = "not_failed"
    EXPIRED = "expired"
    NOT_APPROVER = "not_approver"
    OTHER_WORKSPACE = "other_workspace"
    BOT = "bot"
    DELETED = "deleted"
    GUEST = "guest"
    REQUESTER = "requester"
    OWNER = "owner"
    ALREADY_APPROVED = "already_approved"  # a sensitive request needs a second, different approver
    NOT_NEEDED = "not_needed"  # an approver only of groups that have their approvals (rules file)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason


ALLOWED = Decision(True, Reason.ALLOWED)


def is_expired(request: Request, now: dt.datetime, ttl: dt.timedelta) -> bool:
    return now >= request.created_at + ttl


def person_refusal(request: Request, person: Person, *, listed: bool, team_id: str) -> Reason | None:
    """Why this person may not act on this request's decision, or None: the two-person rule."""
    for reason, failed in (
        (Reason.OTHER_WORKSPACE, person.team_id is not None and person.team_id != team_id),
        (Reason.BOT, person.is_bot),
        (Reason.DELETED, person.deleted),
        (Reason.GUEST, person.is_guest),
        (Reason.REQUESTER, person.user_id == request.requester_id),
        (Reason.OWNER, person.user_id == request.owner_id),
        (Reason.NOT_APPROVER, not listed),
    ):
        if failed:
            return reason
    return None


def decide_approval(
    request: Request,
    approver: Person,
    *,
    listed: bool,
    team_id: str,
    now: dt.datetime,
    request_ttl: dt.timedelta,
) -> Decision:
    """May `approver` approve or deny `request` now? The two-person rule, checked at click time."""
    if request.state != PENDING:
        return Decision(False, Reason.NOT_PENDING)
    if is_expired(request, now, request_ttl):
        return Decision(False, Reason.EXPIRED)
    reason = person_refusal(request, approver, listed=listed, team_id=team_id)
    return ALLOWED if reason is None else Decision(False, reason)


def decide_retry(request: Request, person: Person, *, listed: bool, team_id: str) -> Decision:
    """May `person` send a failed request back to provisioning? The same people as may decide."""
    if request.state != FAILED:
        return Decision(False, Reason.NOT_FAILED)
    reason = person_refusal(request, person, listed=listed, team_id=team_id)
    return ALLOWED if reason is None else Decision(False, reason)


def may_see_keys(*, caller: Person, listed: bool, owns_user: bool, team_id: str) -> bool:
    """Approvers may list anyone's keys; an owner may list their own user's keys."""
    if caller.is_bot or caller.deleted or (caller.team_id is not None and caller.team_id != team_id):
        return False
    return owns_user or (listed and not caller.is_guest)


def precheck_decider(request: Request, user_id: str, *, now: dt.datetime, request_ttl: dt.timedelta) -> Decision:
    """What can be said of a click from the store alone, before asking Slack who clicked.

    Enough to refuse at once; the whole two-person rule is checked when the decision is taken.
    """
    if request.state != PENDING:
        return Decision(False, Reason.NOT_PENDING)
    if is_expired(request, now, request_ttl):
        return Decision(False, Reason.EXPIRED)
    if user_id == request.requester_id:
        return Decision(False, Reason.REQUESTER)
    if user_id == request.owner_id:
        return Decision(False, Reason.OWNER)
    return ALLOWED
