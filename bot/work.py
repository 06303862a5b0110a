"""Durable work: what the bot owes people, done by a pool of its own, again after a crash.

Every transition writes what it owes (a card update, a thread line, a DM, provisioning) as
jobs in the same transaction (see `commands.workflow.Owed`). A `Runner` in each process
claims due jobs (a claim is exclusive across processes and lapses after IAM_BOT_WORK_HOLD, so a
job of a process killed mid-way is taken over by another) and runs them on threads that no
ack ever waits for. A job that fails for a passing reason is tried again later; one that
can never succeed is logged and closed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from storage import Job, NewJob

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
# How long work waits for the requests this process is answering before it starts anyway.
ACKS_FIRST_SECONDS = 1.0
MAX_ATTEMPTS = 8
BACKOFF = (dt.timedelta(seconds=5), dt.timedelta(seconds=30), dt.timedelta(minutes=2), dt.timedelta(minutes=10))

Handler = Callable[[Job], None]


class TryLater(Exception):
    "A passing failure (Slack or AWS busy or unreachable): the job is tried again later"


def worker_id() -> str:
    """Names this process in claims and leases: host, pid and a random part."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Runner:
    def __init__(self, workflow, handlers: dict[str, Handler], *, threads: int = 8,
                 poll_seconds: float = POLL_SECONDS, worker: str | None = None,
                 in_flight: InFlight | None = None):
        self.workflow = workflow
        # Acks first: work waits while this process's server is answering requests (see InFlight).
        self.in_flight = in_flight
        self.handlers = handlers
        self.worker = worker or worker_id()
        self.poll_seconds = poll_seconds
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="work")
        self._slots = threads
        self._busy = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # What only this process can do for a job: answer through the command's response_url
        # (Bolt's `respond`). Kept in memory, never in the store; after a crash, a DM instead.
        self.replies: dict[int, Callable] = {}
        # Around each job: the context it runs in (with several AWS accounts, its request's account).
        self.scope: Callable[[Job], contextlib.AbstractContextManager] = lambda job: contextlib.nullcontext()
        self._inbox = Inbox(lambda jobs: workflow.take_in(jobs, self.worker))
        self._running: set[int] = set()  # ids of the jobs this process is doing now
        self._renewed = time.monotonic()

    # -- life ---------------------------------------------------------------------------

    def start(self) -> Runner:
        self._thread = threading.Thread(target=self._loop, name="work-dispatch", daemon=True)
        self._thread.start()
        return self

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def kick(self) -> None:
        """Look for due work now instead of at the next poll."""
        self._wake.set()

    def accept(self, job: NewJob) -> Job:
        """Write down work this process starts at once (a slash command, before its ack)."""
        return self._inbox.take(job)

    def run_now(self, job: Job, reply: Callable | None = None) -> None:
        """Run accepted work on the pool (a listener's slow part), answering through `reply`."""
        if reply is not None:
            self.replies[job.id] = reply
        with self._lock:
            self._busy += 1
        self._pool.submit(self._run_batch, [job])

    # -- the loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._renew()
                self._dispatch()
            except Exception:
                log.exception("looking for due work failed; trying again in %ss", self.poll_seconds)
            self._wake.wait(min(self.poll_seconds, self.workflow.policy.work_hold.total_seconds() / 4))
            self._wake.clear()

    def _dispatch(self) -> None:
        with self._lock:
            free = self._slots - self._busy
        if free <= 0:
            return
        jobs = self.workflow.claim_due(self.worker, limit=free)
        # One request's jobs run one after another, in the order they were owed.
        batches: dict[object, list[Job]] = defaultdict(list)
        for job in sorted(jobs, key=lambda j: j.id):
            batches[job.request_id if job.request_id is not None else ("job", job.id)].append(job)
        for batch in batches.values():
            with self._lock:
                self._busy += 1
            self._pool.submit(self._run_batch, batch)

    def _run_batch(self, jobs: list[Job]) -> None:
        try:
            if self.in_flight is not None:
                self.in_flight.wait_quiet(ACKS_FIRST_SECONDS)
            for job in jobs:
                self._run(job)
        finally:
            with self._lock:
                self._busy -= 1
            self.kick()  # what these jobs owed in turn is due now

    def _renew(self) -> None:
        """Renew the claims of the work in hand a few times per hold: a call stalled by Slack's or
        AWS's retries must not let another process start the same work beside it."""
        every = self.workflow.policy.work_hold.total_seconds() / 4
        if time.monotonic() - self._renewed < every:
            return
        self._renewed = time.monotonic()
        with self._lock:
            running = sorted(self._running)
        if running:
            self.workflow.still_doing(running, self.worker)

    def _run(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        with self._lock:
            self._running.add(job.id)
        try:
            if handler is None:
                raise LookupError(f"no handler for work of kind {job.kind!r}")
            with self.scope(job):
                handler(job)
        except TryLater as error:
            self._again(job, f"try later: {error}")
        except Exception as error:
            reference = secrets.token_hex(4)
            log.exception("work #%s (%s) failed (reference %s)", job.id, job.kind, reference)
            self._again(job, f"{type(error).__name__} (reference {reference})")
        else:
            self.workflow.done(job, self.worker)
        finally:
            self.replies.pop(job.id, None)
            with self._lock:
                self._running.discard(job.id)

    def _again(self, job: Job, error: str) -> None:
        if job.attempts >= MAX_ATTEMPTS:
            log.error("work #%s (%s) gave up after %s attempts: %s", job.id, job.kind, job.attempts, error)
            self.workflow.done(job, self.worker)
            return
        delay = BACKOFF[min(job.attempts, len(BACKOFF)) - 1]
        self.workflow.later(job, self.worker, delay, error)

    # -- for tests and the shell --------------------------------------------------------

    def idle(self) -> bool:
        with self._lock:
            busy = self._busy
        return busy == 0 and not self.workflow.owed()


class InFlight:
    """The HTTP requests this process is answering now, so that work can let them go first.

    Python runs one thread at a time. Forty commands arriving together were acked while the
    work of the first ones (boto3, slack_sdk, JSON) already ran beside them, and the acks
    waited for the interpreter; the work has no deadline, an ack has Slack's 3 seconds. The
    server counts each request from the moment it has been read until it is answered (queued
    ones included); work about to start waits until none is left, or ACKS_FIRST_SECONDS.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._count = 0

    def __enter__(self) -> InFlight:
        with self._cond:
            self._count += 1
        return self

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._count -= 1
            if self._count == 0:
                self._cond.notify_all()

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until no request is being answered, at most `timeout` seconds; True if none is."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout=timeout)


class Inbox:
    """Group commit: work written down while another write is under way goes in the next write,
    together. 40 slash commands arriving at once cost a few writes, not 40 in a row, so none of
    their acks waits long."""

    def __init__(self, write: Callable[[list[NewJob]], list[Job]]):
        self._write = write
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._writing = False

    def take(self, job: NewJob) -> Job:
        mine = _Waiting(job)
        with self._lock:
            self._queue.append(mine)
            lead = not self._writing
            self._writing = True
        if lead:
            self._write_until_empty()
        mine.done.wait()
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _write_until_empty(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._writing = False
                    return
            try:
                written = self._write([w.job for w in batch])
                for waiting, job in zip(batch, written, strict=True):
                    waiting.result = job
            except BaseException as error:  # each waiting command answers its person itself
                for waiting in batch:
                    waiting.error = error
            finally:
                for waiting in batch:
                    waiting.done.set()


class _Waiting:
    def __init__(self, job: NewJob):
        self.job = job
        self.result: Job | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def settle(runner: Runner, listeners_idle: Callable[[float], bool], timeout: float) -> bool:
    """Wait until the listeners and all the work they set off are done (the shell and tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = max(0.0, deadline - time.monotonic())
        if listeners_idle(left) and runner.idle() and listeners_idle(left) and runner.idle():
            return True
        runner.kick()
        time.sleep(0.01)
    return False
