"""Every state change a request can make, by name, and the one function that makes them
(`move`); and filing, the one way a request is born (`file`).

A request's life (pending -> approved -> provisioned -> revealed, with its side roads) is the
store's conditional write: a transition wins only if the request is in one of its `from_states`,
so a double click or a second process cannot win twice. Each transition is written down here
once, with the states it moves between and the event it records; the kinds' modules (create,
keys, offboard, mfa, reminders) and the workflow name the one they make and call `move`.
Which jobs a transition owes depends on who makes it: they come with the call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from storage import (
    APPROVED, CANCELLED, DENIED, EXPIRED, FAILED, PENDING, PROVISIONED, REMOVED, REVEAL_EXPIRED, REVEALED, REVEALING,
    DuplicateRequest, Request, Store,
)

from . import metrics
from .errors import CommandError, Why
from .rules import Person
from .scope import current_account


@dataclass(frozen=True)
class Transition:
    """A named state change: the event it records (`event`), and what it means (`what`)."""

    event: str
    from_states: tuple[str, ...]
    to_state: str
    what: str


# -- deciding a pending request -------------------------------------------------------------
APPROVAL = Transition("approval", (PENDING,), PENDING, "one approval of the two a sensitive request needs")
APPROVE = Transition("approved", (PENDING,), APPROVED, "the approval that decides: provisioning is owed")
APPROVE_ROTATION = Transition("approved", (PENDING,), APPROVED,
                              "a rotation filed by the key's owner or an approver: no second person needed")
DENY = Transition("denied", (PENDING,), DENIED, "an approver says no, with a reason")
EXPIRE = Transition("expired", (PENDING,), EXPIRED, "nobody decided within IAM_BOT_REQUEST_TTL")
WITHDRAW = Transition("cancelled", (PENDING,), CANCELLED, "its requester withdraws it (/iam cancel)")
CANCEL_CARD_REFUSED = Transition("cancelled", (PENDING,), CANCELLED,
                                 "its approval card could not be posted: nobody can see it")
USER_FOUND = Transition("user_found", (PENDING,), PENDING, "a password request notes its user's ARN at filing")

# -- provisioning ---------------------------------------------------------------------------
FAILED_STEP = Transition("failed", (APPROVED,), FAILED, "a provisioning step failed; an approver may retry")
RETRY = Transition("retried", (FAILED,), APPROVED, "an approver sends it back to provisioning, from its failed step")
PROVISIONED_ALL = Transition("provisioned", (APPROVED,), PROVISIONED, "every step done: the reveal is owed, if any")
MFA_DEVICES_NOTED = Transition("mfa_devices_noted", (APPROVED,), APPROVED,
                               "a removal notes the user's MFA devices before deactivating them")

# -- the one-time reveal --------------------------------------------------------------------
REVEAL_BUTTON_SENT = Transition("reveal_button_sent", (PROVISIONED,), PROVISIONED,
                                "a fresh Reveal button: any earlier one stops working")
CLAIM_REVEAL = Transition("reveal_claimed", (PROVISIONED,), REVEALING, "the owner's click claims the reveal")
RELEASE_REVEAL = Transition("reveal_released", (REVEALING,), PROVISIONED,
                            "a claim that could not show the secret, or was never finished, is let go")
REVEALED_ONCE = Transition("revealed", (REVEALING,), REVEALED, "the secret was shown, once")
EXPIRE_REVEAL = Transition("reveal_expired", (PROVISIONED,), REVEAL_EXPIRED, "not revealed within IAM_BOT_REVEAL_TTL")

# -- access keys (commands/keys.py): the attempt at a key is written down around CreateAccessKey --
KEY_ATTEMPT = Transition("key_attempt", (REVEALING,), REVEALING, "CreateAccessKey is about to be sent")
KEY_CREATED = Transition("key_created", (REVEALING,), REVEALING, "AWS made the key: its id is written down")
KEY_ATTEMPT_SETTLED = Transition("key_attempt_settled", (REVEALING,), REVEALING,
                                 "no key of the attempt is left in AWS: the next click starts afresh")
KEY_LOST = Transition("key_lost", (PROVISIONED, REVEALING, REVEAL_EXPIRED), REVEAL_EXPIRED,
                      "a key whose secret was never shown was deleted")

# -- MFA (commands/mfa.py): a revealed console user watched until it has a device ------------
MFA_NUDGED = Transition("mfa_nudged", (REVEALED,), REVEALED, "its owner is reminded to add an MFA device")
MFA_ON = Transition("mfa_on", (REVEALED,), REVEALED, "AWS lists an MFA device: the reminders stop")
MFA_WATCH_STOPPED = Transition("mfa_watch_stopped", (REVEALED,), REVEALED, "the user is gone: nothing to remind of")

# -- offboarding (commands/offboard.py) -----------------------------------------------------
USER_REMOVED = Transition("user_removed", (PROVISIONED, REVEALING), REMOVED,
                          "the user was removed: what the request promised about it stops")
CANCEL_USER_REMOVED = Transition("cancelled", (PENDING,), CANCELLED, "its user was removed by another request")
VOID_LEAVER = Transition("cancelled", (PENDING,), CANCELLED, "its requester or owner left Slack")
VOID_REVEAL = Transition("reveal_voided", (PROVISIONED,), REVEAL_EXPIRED, "its owner left Slack before revealing")
VOID_APPROVAL = Transition("approval_voided", (PENDING,), PENDING, "an approver of it left Slack: their approval goes")
DISABLED = Transition("disabled", (PENDING,), PENDING,
                      "IAM_BOT_ON_SLACK_DEACTIVATION=disable: a leaver's user disabled at once")
DISABLE_FAILED = Transition("disable_failed", (PENDING,), PENDING, "disabling a leaver's user at once failed")

# -- self-approval: auto-approve and break-glass (commands/groups.py; docs/rules.md) ---------
APPROVED_BY_RULE = Transition("approved", (PENDING,), APPROVED,
                              "a rule approves it at filing (auto_approve, or break_glass by its requester)")
REVIEWED = Transition("reviewed", (PROVISIONED,), PROVISIONED,
                      "a second person reviewed a break-glass membership (Reviewed)")
REVOKED_NOW = Transition("revoked", (PROVISIONED,), PROVISIONED,
                         "an approver ended a self-approved membership at once (Revoke now)")
REVIEW_REMINDED = Transition("review_reminded", (PROVISIONED,), PROVISIONED,
                             "a break-glass membership still waits for its review: a reminder in its thread")

# -- group membership (commands/groups.py) ----------------------------------------------------
CANCEL_GRANT_ENDED = Transition("cancelled", (PENDING,), CANCELLED,
                                "an extension whose grant ended first (its time, I'm done, drop, Revoke now)")

TRANSITIONS = tuple(value for value in dict(globals()).values() if isinstance(value, Transition))

# The transitions Prometheus counts (commands/metrics.py), by the request's kind.
COUNTED = {
    APPROVE: metrics.REQUESTS_APPROVED, APPROVE_ROTATION: metrics.REQUESTS_APPROVED,
    DENY: metrics.REQUESTS_DENIED, EXPIRE: metrics.REQUESTS_EXPIRED, FAILED_STEP: metrics.REQUESTS_FAILED,
}


def check_owner(owner: Person, *, team_id: str, user_name: str, groups: tuple[str, ...] = ()) -> None:
    """The person an IAM user is for must be a live human of this workspace: the one check every
    kind that names an owner makes at filing."""
    if owner.is_bot or owner.deleted:
        raise CommandError(Why.OWNER_INACTIVE, owner_id=owner.user_id, user_name=user_name, groups=groups)
    if owner.team_id is not None and owner.team_id != team_id:
        raise CommandError(Why.OWNER_OTHER_WORKSPACE, owner_id=owner.user_id)


def file(store: Store, **fields) -> Request:
    """A new request, stored pending (`fields` are the store's `file_request`'s); REQUEST_OPEN when
    one for the same user and kind is open already."""
    fields.setdefault("account", current_account())  # the account of the command in hand (`--account`)
    try:
        filed = store.file_request(**fields)
    except DuplicateRequest as duplicate:
        raise CommandError(Why.REQUEST_OPEN, request_id=duplicate.existing_id, user_name=fields["user_name"]) from None
    metrics.REQUESTS_FILED.labels(filed.kind).inc()
    return filed


def move(store: Store, transition: Transition, request_id: int, *, actor_id: str | None, now: dt.datetime,
         **changes) -> Request | None:
    """Make `transition` happen to the request, if it is in one of its `from_states`: the request
    as it is now, or None when another click, thread or process got there first. `changes` are
    the store's (`detail`, `jobs`, `guard`, `due` and the columns it changes)."""
    moved = store.transition(request_id, from_states=list(transition.from_states), to_state=transition.to_state,
                             actor_id=actor_id, what=transition.event, now=now, **changes)
    counter = COUNTED.get(transition)
    if counter is not None and moved is not None:
        counter.labels(moved.kind).inc()
    return moved
