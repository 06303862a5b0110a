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
    EXPIRED = "expired"
    NOT_APPROVER = "not_approver"
    OTHER_WORKSPACE = "other_workspace"
    BOT = "bot"
    DELETED = "deleted"
    GUEST = "guest"
    REQUESTER = "requester"
    OWNER = "owner"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason
    message: str


_WORDS = {
    Reason.NOT_APPROVER: "you are not one of the approvers named in IAM_BOT_APPROVERS",
    Reason.OTHER_WORKSPACE: "your account belongs to another Slack workspace",
    Reason.BOT: "bots cannot approve requests",
    Reason.DELETED: "your Slack account is deactivated",
    Reason.GUEST: "guest accounts cannot approve requests",
    Reason.REQUESTER: "you asked for it, and a second person must decide",
    Reason.OWNER: "the account is for you, and a second person must decide",
}


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
        return Decision(False, Reason.NOT_PENDING, f"Request #{request.id} is already {request.state}; nothing changed.")
    if is_expired(request, now, request_ttl):
        return Decision(False, Reason.EXPIRED, f"Request #{request.id} has expired; ask for it again with /iam create.")
    reason = person_refusal(request, approver, listed=listed, team_id=team_id)
    if reason is not None:
        return Decision(False, reason, f"You cannot decide request #{request.id}: {_WORDS[reason]}.")
    return Decision(True, Reason.ALLOWED, "")


def decide_retry(request: Request, person: Person, *, listed: bool, team_id: str) -> Decision:
    """May `person` send a failed request back to provisioning? The same people as may decide."""
    if request.state != FAILED:
        return Decision(False, Reason.NOT_PENDING,
                        f"Request #{request.id} is {request.state}, not failed; nothing to retry.")
    reason = person_refusal(request, person, listed=listed, team_id=team_id)
    if reason is not None:
        return Decision(False, reason, f"You cannot retry request #{request.id}: {_WORDS[reason]}.")
    return Decision(True, Reason.ALLOWED, "")


def may_see_keys(*, caller: Person, listed: bool, owns_user: bool, team_id: str) -> bool:
    """Approvers may list anyone's keys; an owner may list their own user's keys."""
    if caller.is_bot or caller.deleted or (caller.team_id is not None and caller.team_id != team_id):
        return False
    return owns_user or (listed and not caller.is_guest)
