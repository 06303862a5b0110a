"""A pending request is not forgotten: reminders with backoff, and withdrawing by its requester.

Reminders: 1 hour after filing, then 2 hours after that reminder, then 4, 8 ... until the
request expires or is decided. Each reminder is decided and recorded in one compare-and-swap
of the request's details (`Store.revise`), with its thread line owed as a job in the same
write, so two runners reading the same request cannot both send it.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

import storage
from storage import NewJob, Request, Store

from .errors import CommandError, NotAllowed, Why
from .lifecycle import WITHDRAW, move
from .parse import Verb, request_number, usage_of
from .rules import is_expired
from .workflow import Owed, Workflow, thread


class CancelCommand(BaseModel):
    """`/iam cancel <request-id>`
    Withdraw a request you filed that is still waiting for approval."""

    model_config = ConfigDict(frozen=True)
    request_id: int


def parse_cancel(args: list[str]) -> CancelCommand:
    return CancelCommand(request_id=request_number(args))


VERBS = (Verb("cancel", parse_cancel, usage_of(CancelCommand), position=120),)

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


class Reminders:
    """Reminders of pending requests, and withdrawing one, over the store given."""

    def __init__(self, workflow: Workflow, store: Store):
        self.workflow, self.store = workflow, store

    def remind(self, request: Request) -> Request | None:
        """Record the next reminder of `request` (as read) and owe its thread line; None if another won."""
        now = self.workflow.now()
        number = reminders_sent(request) + 1
        details = {**request.details, "reminders": number, "reminded_at": now.isoformat()}
        line = NewJob(Owed.THREAD, {"event": EVENT_REMINDER, "actor": None}, key=f"reminder:{request.id}:{number}")
        return self.store.revise(
            request.id, state=storage.PENDING, expected=request.details, details=details, actor_id=None,
            what="reminded", now=now, detail=f"reminder {number}", jobs=[line],
        )

    def remind_due(self) -> list[Request]:
        """Send every reminder that is due now (at most one per request); returns the requests reminded."""
        now = self.workflow.now()
        reminded = []
        for request in self.store.in_states([storage.PENDING]):
            if reminder_due(request, now, self.workflow.policy.request_ttl):
                done = self.remind(request)
                if done is not None:
                    reminded.append(done)
        return reminded

    def withdraw(self, request_id: int, person_id: str) -> Request:
        """The requester, and only the requester, cancels a pending request; its card and thread are owed.

        Anyone else hears the same whether or not the request exists, so that a guessed number tells
        them nothing (neither that it exists nor who filed it)."""
        request = self.workflow.find(request_id)
        now = self.workflow.now()
        if request is None:
            # No request to point at: the id goes in the detail, so that it never joins the history
            # of a request filed later under that number.
            self.store.append_event(None, person_id, "refused:not_requester", now,
                                        detail=f"cancel #{request_id}: no such request")
            raise NotAllowed(Why.NOT_REQUESTER, request_id=request_id)
        if person_id != request.requester_id:
            self.store.append_event(request_id, person_id, "refused:not_requester", now, detail="cancel")
            raise NotAllowed(Why.NOT_REQUESTER, request_id=request_id)
        if request.state == storage.PENDING and is_expired(request, now, self.workflow.policy.request_ttl):
            request = self.workflow.expire(request_id) or self.store.get(request_id)
        won = None
        if request.state == storage.PENDING:
            won = move(self.store, WITHDRAW, request_id, actor_id=person_id, now=now,
                       detail="withdrawn by its requester", decider_id=person_id, decided_at=now,
                       jobs=[NewJob(Owed.CARD), thread(EVENT_WITHDRAWN, person_id)])
        if won is None:
            current = self.store.get(request_id)
            raise CommandError(Why.NOT_CANCELLABLE, request_id=request_id, state=current.state,
                               user_name=current.user_name)
        return won
