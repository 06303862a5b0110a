"""MFA made unavoidable: a console user the bot made is watched from its reveal until it has an
MFA device. After IAM_BOT_MFA_GRACE its owner is reminded by DM once a day; once AWS lists a
device, the card's thread says so and the reminders stop.

Run by one process at a time (a duty under the duties lease); what is decided is written in the
store with the DM it owes, conditional on what was read, so a restart, a second process or a
second pass in the same minute cannot send a reminder twice.

A watched user has a due entry (`Due.MFA`, set at its reveal for the end of the grace): a pass
reads only the entries whose time has come, which stay due (a device is looked for at every
pass) until MFA is on or the user is gone.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import storage
from storage import NewJob, Request, Store

from .errors import IamError
from .iam import IamGateway
from .lifecycle import MFA_NUDGED, MFA_ON, MFA_WATCH_STOPPED, Transition, move
from .scope import in_account
from .workflow import Due, Owed, Workflow, thread

log = logging.getLogger(__name__)

NUDGE_EVERY = dt.timedelta(days=1)


@dataclass
class MfaPass:
    """What one pass over the watched users did (request ids)."""

    nudged: list[int] = field(default_factory=list)
    turned_on: list[int] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)


class MfaWatch:
    """The MFA duty: the watched users, over the store and the gateway given."""

    def __init__(self, workflow: Workflow, store: Store, iam: IamGateway):
        self.workflow, self.store, self.iam = workflow, store, iam

    def watched(self, now: dt.datetime) -> list[Request]:
        """Console users the bot made whose password was revealed longer than the grace ago, not yet
        seen with MFA, whose check is due; an entry for anything else is cleared or moved on."""
        grace = self.workflow.policy.guardrails.mfa_grace
        found = []
        for r in self.store.each_due(Due.MFA, now=now):
            if r.state != storage.REVEALED or r.kind != storage.CREATE_USER or not r.console \
                    or r.revealed_at is None or r.details.get("mfa"):
                self.store.set_due(r.id, {Due.MFA: None})
            elif now < r.revealed_at + grace:  # IAM_BOT_MFA_GRACE grew since the entry was set
                self.store.set_due(r.id, {Due.MFA: r.revealed_at + grace})
            else:
                found.append(r)
        return found

    def check(self) -> MfaPass:
        """One ListMFADevices per watched user; a reminder for each that is due one."""
        done = MfaPass()
        now = self.workflow.now()
        for request in self.watched(now):
            try:
                with in_account(request.account):  # the user is in its request's AWS account
                    devices = self.iam.mfa_devices(request.user_name)
            except IamError as error:
                log.warning("could not check MFA of request #%s: %s", request.id, error.message)
                continue
            last = request.details.get("mfa_nudged_at")
            unchanged = lambda current, last=last: (  # noqa: E731
                not current.details.get("mfa") and current.details.get("mfa_nudged_at") == last)
            if devices is None:  # the user is gone (removed): nothing left to remind anyone of
                if self._mark(request, now, MFA_WATCH_STOPPED, {"mfa": {"gone_at": now.isoformat()}}, unchanged,
                              due=None):
                    done.gone.append(request.id)
            elif devices:
                if self._mark(request, now, MFA_ON, {"mfa": {"on_at": now.isoformat()}}, unchanged,
                              jobs=[thread("mfa_on")], due=None):
                    done.turned_on.append(request.id)
            elif last is None or now - dt.datetime.fromisoformat(last) >= NUDGE_EVERY:
                count = int(request.details.get("mfa_nudges") or 0) + 1
                if self._mark(request, now, MFA_NUDGED, {"mfa_nudged_at": now.isoformat(), "mfa_nudges": count},
                              unchanged, jobs=[NewJob(Owed.MFA_NUDGE, key=f"mfa-nudge:{request.id}:{count}")],
                              due=now):
                    done.nudged.append(request.id)
        return done

    def _mark(self, request: Request, now: dt.datetime, seen: Transition, changes: dict, guard, *,
              jobs: list[NewJob] = (), due: dt.datetime | None) -> bool:
        """Record what was seen, with the DM it owes and the user's next check (None: no more)."""
        won = move(self.store, seen, request.id, actor_id=None, now=now, details={**request.details, **changes},
                   guard=guard, jobs=jobs, due={Due.MFA: due})
        return won is not None
