"""A pending request is not forgotten: reminders with backoff, and withdrawing by its requester.

Reminders: 1 hour after filing, then 2 hours after that reminder, then 4, 8 ... until the
request expires or is decided. Each reminder is decided and recorded in one compare-and-swap
of the request's details (`Store.revise`), with its thread line owed as a job in the same
write, so two runners reading the same request cannot both send it.
"""

from __future__ import annotations

import datetime as dt

import storage
from storage import NewJob, Request

from .errors import CommandError, NotAllowed, Why
from .rules import is_expired
from .workflow import Owed, Workflow, thread

FIRST_REMINDER = dt.timedelta(hours=1)
EVENT_REMINDER = "reminder"  # the thread line (bot/notify.py THREAD_LINES)
EVENT_WITHDRAWN = "withdrawn"


def reminders_sent(request: Request) -> int:
    return int(request.details.get("reminders") or 0)


def next_reminder(request: Request) -> dt.datetime:
    """When this request's next reminder is due: its last reminder (or its filing) plus 1 h, 2 h, 4 h ..."""
    sent = reminders_sent(request)
    last = request.details.get("reminded_at")
    since = dt.datetime.fromisoformat(last) if sent and last else request.created_at
    return since + FIRST_REMINDER * (2 ** sent)


def reminder_due(request: Request, now: dt.datetime, request_ttl: dt.timedelta) -> bool:
    """Pure: is a reminder owed now? Only for a pending request with a card that has not expired."""
    if request.state != storage.PENDING or not request.card_ts:
        return False
    if is_expired(request, now, request_ttl):
        return False
    return now >= next_reminder(request)


def remind(workflow: Workflow, request: Request) -> Request | None:
    """Record the next reminder of `request` (as read) and owe its thread line; None if another won."""
    now = workflow.clock()
    number = reminders_sent(request) + 1
    details = {**request.details, "reminders": number, "reminded_at": now.isoformat()}
    line = NewJob(Owed.THREAD, {"event": EVENT_REMINDER, "actor": None}, key=f"reminder:{request.id}:{number}")
    return workflow.store.revise(
        request.id, state=storage.PENDING, expected=request.details, details=details, actor_id=None,
        what="reminded", now=now, detail=f"reminder {number}", jobs=[line],
    )


def remind_due(workflow: Workflow) -> list[Request]:
    """Send every reminder that is due now (at most one per request); returns the requests reminded."""
    now = workflow.clock()
    reminded = []
    for request in workflow.store.in_states([storage.PENDING]):
        if reminder_due(request, now, workflow.policy.request_ttl):
            done = remind(workflow, request)
            if done is not None:
                reminded.append(done)
    return reminded


def withdraw(workflow: Workflow, request_id: int, person_id: str) -> Request:
    """The requester, and only the requester, cancels a pending request; its card and thread are owed.

    Anyone else hears the same whether or not the request exists, so that a guessed number tells
    them nothing (neither that it exists nor who filed it)."""
    request = workflow.find(request_id)
    now = workflow.clock()
    if request is None:
        # No request to point at: the id goes in the detail, so that it never joins the history
        # of a request filed later under that number.
        workflow.store.append_event(None, person_id, "refused:not_requester", now,
                                    detail=f"cancel #{request_id}: no such request")
        raise NotAllowed(Why.NOT_REQUESTER, request_id=request_id)
    if person_id != request.requester_id:
        workflow.store.append_event(request_id, person_id, "refused:not_requester", now, detail="cancel")
        raise NotAllowed(Why.NOT_REQUESTER, request_id=request_id)
    if request.state == storage.PENDING and is_expired(request, now, workflow.policy.request_ttl):
        request = workflow.expire(request_id) or workflow.store.get(request_id)
    won = None
    if request.state == storage.PENDING:
        won = workflow.store.transition(
            request_id, from_states=[storage.PENDING], to_state=storage.CANCELLED, actor_id=person_id,
            what="cancelled", now=now, detail="withdrawn by its requester", decider_id=person_id, decided_at=now,
            jobs=[NewJob(Owed.CARD), thread(EVENT_WITHDRAWN, person_id)],
        )
    if won is None:
        current = workflow.store.get(request_id)
        raise CommandError(Why.NOT_CANCELLABLE, request_id=request_id, state=current.state,
                           user_name=current.user_name)
    return won
