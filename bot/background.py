"""Duties no click starts (expiring stale requests and reveals, the features' periodic checks,
forgetting finished work), run by one process at a time.

Every process tries to hold the `duties` lease; the holder renews it every tick and runs what
is due. If it dies, its lease lapses (half of IAM_BOT_WORK_HOLD) and another process takes
over within that plus a tick. Work the duties owe (cards, threads, DMs) is durable and done by
any process's Runner. The duties come from the features (`Feature.duties`, docs/duties.md: how
to keep one cheap), in their order, and `prune_jobs` last.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable

from .feature import Duty
from .metrics import duty_ran
from .services import Services
from .work import ACKS_FIRST_SECONDS

log = logging.getLogger(__name__)

DUTIES_LEASE = "duties"
TICK_SECONDS = 10
PRUNE_EVERY = dt.timedelta(hours=1)
# Finished jobs are kept this long (for the shell and for reading what was done lately), then
# deleted; the event log keeps the trail for ever. A job's key stops guarding against doing it
# twice when the job goes, so a key that can come again (the scheduled audit's period) keeps
# its job for two periods at least.
JOB_RETENTION = dt.timedelta(days=30)


def prune_jobs(services: Services) -> Duty:
    def prune() -> None:
        every = services.settings.iam_bot_audit_every
        retention = max(JOB_RETENTION, 2 * every) if every is not None else JOB_RETENTION
        services.workflow.forget_done_work(retention)

    return Duty("prune_jobs", PRUNE_EVERY, prune)


class Duties:
    def __init__(self, services: Services, duties: Iterable[Duty]):
        self.services = services
        self.duties = list(duties)
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
                late = now - (last + duty.every) if last is not None else dt.timedelta(0)
                ok = False
                try:
                    duty.run()
                    ok = True
                except Exception:
                    log.exception("the %s duty failed; it runs again in %s", duty.name, duty.every)
                duty_ran(duty.name, duty.every, now, late, ok)
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
