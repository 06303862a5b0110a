"""Duties no click starts (expiring stale requests and reveals, releasing stuck claims, and
whatever periodic checks a flow adds to `DUTIES`), run by one process at a time.

Every process tries to hold the `duties` lease; the holder renews it every tick and runs what
is due. If it dies, its lease lapses (half of IAM_BOT_WORK_HOLD) and another process takes
over within that plus a tick. Work the duties owe (cards, threads, DMs) is durable and done by any process's Runner.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .audit_log import stream_once
from .audit_work import CHECK_EVERY, audit_once, remind_once
from .mfa import CHECK_EVERY as MFA_CHECK_EVERY, mfa_duty
from .services import Services
from .work import ACKS_FIRST_SECONDS

log = logging.getLogger(__name__)

DUTIES_LEASE = "duties"
TICK_SECONDS = 10
SWEEP_EVERY = dt.timedelta(seconds=60)


def sweep_once(services: Services) -> None:
    """Expire what waited too long; what that owes people is written down with it."""
    services.workflow.sweep()
    services.runner.kick()


@dataclass(frozen=True)
class Duty:
    """A periodic check. It must be safe to run again (a new lease holder runs it at once): it
    decides from the store what is due, and its transitions write what they owe."""

    name: str
    every: dt.timedelta
    run: Callable[[Services], None]


ROTATIONS_EVERY = dt.timedelta(minutes=5)


def check_rotations_once(services: Services) -> None:
    """Move key rotations on (deactivate on first use or after the grace, delete a grace later), and
    delete keys a crash left unseen."""
    services.keys.check_rotations()
    services.keys.settle_key_attempts()
    services.runner.kick()


PRUNE_EVERY = dt.timedelta(hours=1)
# Finished jobs are kept this long (for the shell and for reading what was done lately), then
# deleted; the event log keeps the trail for ever. A job's key stops guarding against doing it
# twice when the job goes, so a key that can come again (the scheduled audit's period) keeps
# its job for two periods at least.
JOB_RETENTION = dt.timedelta(days=30)


def prune_jobs_once(services: Services) -> None:
    every = services.settings.iam_bot_audit_every
    retention = max(JOB_RETENTION, 2 * every) if every is not None else JOB_RETENTION
    services.workflow.forget_done_work(retention)


# A flow with a periodic check adds a line here (docs/duties.md: how to keep it cheap).
DUTIES: list[Duty] = [
    Duty("sweep", SWEEP_EVERY, sweep_once),
    Duty("rotations", ROTATIONS_EVERY, check_rotations_once),
    Duty("reminders", CHECK_EVERY, remind_once),
    Duty("scheduled_audit", CHECK_EVERY, audit_once),
    Duty("mfa", MFA_CHECK_EVERY, mfa_duty),
    Duty("prune_jobs", PRUNE_EVERY, prune_jobs_once),
    Duty("audit_log", dt.timedelta(0), stream_once),  # every tick (issue 21: bot/audit_log.py)
]


class Duties:
    def __init__(self, services: Services, duties: list[Duty] | None = None):
        self.services = services
        self.duties = list(DUTIES if duties is None else duties)
        self.lease_ttl = services.workflow.policy.work_hold / 2
        self.tick_seconds = min(TICK_SECONDS, self.lease_ttl.total_seconds() / 3)
        self._last_run: dict[str, dt.datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def holder(self) -> str:
        return self.services.runner.worker

    def tick(self) -> bool:
        """Run what is due if this process holds the lease; True if it does."""
        workflow = self.services.workflow
        if not workflow.lead(DUTIES_LEASE, self.holder, self.lease_ttl):
            return False
        in_flight, waited = self.services.runner.in_flight, False
        for duty in self.duties:
            now = workflow.now()
            last = self._last_run.get(duty.name)
            if last is None or now - last >= duty.every:
                if in_flight is not None and not waited:
                    # A duty has no deadline; acks have Slack's 3 s. Once a tick: the lease lasts.
                    in_flight.wait_quiet(ACKS_FIRST_SECONDS)
                    waited = True
                    now = workflow.now()
                self._last_run[duty.name] = now
                try:
                    duty.run(self.services)
                except Exception:
                    log.exception("the %s duty failed; it runs again in %s", duty.name, duty.every)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("background duties failed; trying again in %ss", self.tick_seconds)
            self._stop.wait(self.tick_seconds)

    def start(self) -> Duties:
        self._thread = threading.Thread(target=self._run, name="iam-bot-duties", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.services.workflow.step_down(DUTIES_LEASE, self.holder)
        except Exception:
            log.warning("could not give the duties lease back; it lapses by itself")
