"""A bot with a year of history against an empty one, on SQLite and on PostgreSQL.

Grows a store through the store's own API, with the arguments the workflow passes (jobs owed,
due entries), to `--requests` past requests (100,000 by default) spread over a year: create_user
45%, access_key 23% (half of them rotations, run to their end), remove 12%, reset_password 10%,
`/iam add --for` 10% (approved by approvers, an auto_approve rule or break-glass, reviewed, some
after a reminder, some revoked at once; the grant warned and ended by the revoker, some after a
failed removal, some kept by a standing membership, some ended early by I'm done; written as
commands/groups.py writes them); final states revealed (MFA turned on a day later), provisioned
(removals, users without console, adds), denied, expired, cancelled, ~6% reveal_expired;
finished jobs pruned as the hourly duty would; and an access review a month, 300 memberships
each, decided by reviewers and closed by its deadline (as commands/reviews.py writes them). No
grant is live or ended in the history's last day (the reconciler has nothing to compare).
`svc.deploy` has 200 of those requests. Both stores then get the same work in flight, so that a
duty has the same work due in each: 200 pending requests, 50 provisioned not yet revealed, the
next scheduled review a month away, four App Homes followed from the log's head, and
`svc.deploy`'s newest 20 requests (what `/iam status` shows) in the empty one.

Then, alternating empty and grown, each repetition a fresh `iam-bot serve` (gunicorn, one
worker, as the Procfile runs it) against a fake Slack and moto:
- start -> /healthz;
- the ack of 80 sequential `/iam create` sent from the moment /healthz answers, while the first
  duty tick (every duty at once) runs;
- the worker's RSS after that first tick;
- `/iam status svc.deploy` by an approver, from the command to its answer;
and in this process, one tick of each duty (direct calls, nothing due, AWS a `NoAws` that fails
on any call), built as bot/features/*.py build them, and the database size.
x = median(grown) / median(empty) in the same run. Goal: every x within 1.2, RSS within +10%.

    .venv/bin/python -m tests.bench.store_growth                      # 100,000 requests (minutes)
    .venv/bin/python -m tests.bench.store_growth --requests 20000 --backends sqlite

It is a script, not a test: nothing here asserts on timings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import storage
from commands.approvals import Approvals
from commands.groups import DONE, KEPT, REMOVED, REVIEW_REMIND_EVERY, REVOKED, GroupOwed, Groups, group_step
from commands.home import HomeFollower
from commands.keys import ACCESS_KEY, KeyFlow, KeyOwed
from commands.lifecycle import APPROVED_BY_RULE, REVIEW_REMINDED, REVIEWED, REVOKED_NOW, move
from commands.mfa import MfaWatch
from commands.offboard import Protected
from commands.reconcile import LOOK_BACK, Reconciler
from commands.reminders import FIRST_REMINDER, Reminders
from commands.reviews import KEPT as REVIEW_KEPT, REMOVED as REVIEW_REMOVED, ReviewOwed, Reviews
from commands.ruleset import BREAK_GLASS
from commands.workflow import Due, Owed, Policy, thread
from storage import DUE_CAMPAIGN, GROUP_ADD, NewJob, open_store
from storage.store import Tx
from tests.support.domain import workflow_with_create
from tests.support.stores import lease_holder

# The history ends now: the servers' duties run on the real clock, and must find nothing due
# (the work in flight is due hours from now), as the direct calls do.
END = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
YEAR = dt.timedelta(days=365)
MINUTE, DAY = dt.timedelta(minutes=1), dt.timedelta(days=1)
TEAM = "T0TEAM"  # the harness's workspace
STATUS_NAME = "svc.deploy"
APPROVER, REQUESTER = "U0BOB", "U0ALICE"
GROUP = "Developers"
JOB_RETENTION = dt.timedelta(days=30)
HOUR = dt.timedelta(hours=1)
GRANT_GROUPS = ("Admins", "Prod-Deploy", GROUP)  # `/iam add --for`: Developers is also held for good by creates
GRANT_LENGTHS = (HOUR, 4 * HOUR, DAY, 3 * DAY)
WARNING = dt.timedelta(minutes=10)  # IAM_BOT_GRANT_WARNING's default
REVIEW_EVERY, REVIEW_DEADLINE = dt.timedelta(days=90), dt.timedelta(days=14)
CAMPAIGN_EVERY = dt.timedelta(days=30)  # a review campaign a month (scheduled, or started by hand)
REVIEWED_GROUPS, REVIEWED_MEMBERS = ("Admins", GROUP), 150
HOMES = ("U0BOB", "U0ALICE", "U00001", "U00002")  # people who opened their App Home


# -- growing a store -------------------------------------------------------------------------

@contextlib.contextmanager
def one_transaction_per(store, calls: int) -> Iterator[Callable[[], None]]:
    """Make the store's calls share a transaction (one per thread on PostgreSQL), committed every
    `calls` calls: the same SQL, the same logic, without a commit (and its fsync) per call.
    Yields a function that commits the calling thread's transaction: a thread commits when its
    share is done, or a thread still growing can wait on its locks for ever."""
    if hasattr(store, "_pool"):
        import psycopg
        from psycopg.rows import dict_row

        from storage.postgres_store import _run

        opened, local = [], threading.local()

        def conn():
            if not hasattr(local, "conn"):
                local.conn = psycopg.connect(store._pool.conninfo, row_factory=dict_row)
                local.count = 0
                opened.append(local.conn)
            return local.conn

        def commit_now():
            if hasattr(local, "conn"):
                local.conn.commit()

        def finish():
            for each in opened:
                each.commit()
                each.close()
    else:
        from storage.sqlite_store import _run

        shared = store._conn()
        shared.execute("BEGIN")
        local = threading.local()

        def conn():
            if not hasattr(local, "count"):
                local.count = 0
            return shared

        def commit_now():
            shared.execute("COMMIT")
            shared.execute("BEGIN")

        def finish():
            shared.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(*args, **kwargs):
        mine = conn()
        yield Tx(lambda sql, params: _run(mine, sql, params))
        local.count += 1
        if local.count % calls == 0:
            commit_now()

    store._write = store._read = transaction
    try:
        yield commit_now
    finally:
        del store._write, store._read
        finish()


class GrowerIam:
    """AWS as the history's domain calls saw it: every call done."""

    def add_user_to_group(self, name, group):
        pass

    def remove_user_from_group(self, name, group):
        pass

    def session_arn(self):
        return None

    def bot_identity(self):
        return "arn:aws:iam::123456789012:user/iam-bot"


class Grower:
    """Requests lived through, as the workflow stores them, on a moving clock."""

    def __init__(self, store):
        self.store = store
        self.now = END - YEAR
        self.workflow = workflow_with_create(store, GrowerIam(), Policy(team_id=TEAM), clock=lambda: self.now)
        self.policy = self.workflow.policy
        self.groups = Groups(self.workflow, store, GrowerIam(), self.policy, Approvals(), protected=Protected("/"),
                             warning=WARNING)
        self.reviews = Reviews(store, GrowerIam(), Approvals(), Protected("/"), clock=lambda: self.now, team_id=TEAM,
                               mfa_group=None, every=REVIEW_EVERY, deadline=REVIEW_DEADLINE)

    def _t(self, request, what, to_state, t, from_states=None, jobs=(), due=None, **changes):
        return self.store.transition(request.id, from_states=from_states or [request.state], to_state=to_state,
                                     actor_id=None, what=what, now=t, jobs=jobs, due=due, **changes)

    def _done(self, t):
        """The runner does what was owed at once."""
        for job in self.store.claim_due_jobs("grower", now=t, hold=MINUTE, limit=50):
            self.store.finish_job(job.id, "grower", now=t)

    def _unapproved(self, request, outcome: str, t: dt.datetime) -> None:
        m = MINUTE
        if outcome == "cancelled":
            self._t(request, "cancelled", storage.CANCELLED, t + m, jobs=[NewJob(Owed.CARD)])
            return self._done(t + m)
        if outcome == "denied":
            self._t(request, storage.DENIED, storage.DENIED, t + m, jobs=[NewJob(Owed.CARD), NewJob(Owed.DENIED_DM)],
                    decider_id=APPROVER, decided_at=t + m, deny_reason="no")
            return self._done(t + m)
        self._t(request, "expired", storage.EXPIRED, t + DAY, jobs=[NewJob(Owed.CARD), NewJob(Owed.THREAD)])
        return self._done(t + DAY)

    def life(self, n: int, t: dt.datetime, *, name: str | None = None, kind: str | None = None,
             outcome: str | None = None) -> None:
        r, u = n % 100, (n // 100) % 50
        if kind is None and r >= 90 and t + max(GRANT_LENGTHS) + LOOK_BACK + DAY < END:
            return self.add_life(n, t)  # its grant has ended more than a day before the history ends
        kind = kind or ("create_user" if r < 45 else ACCESS_KEY if r < 68 else "remove" if r < 80 else "reset_password")
        outcome = outcome or ("denied" if u < 4 else "expired" if u < 7 else "cancelled" if u < 9
                              else "reveal_expired" if u < 12 else "done")
        name = name or f"user{n}"
        console = kind == "create_user" and u % 5 != 0
        rotation = kind == ACCESS_KEY and u % 2 == 0
        details = {"reason": "bench"}
        if kind == ACCESS_KEY:
            details.update(user_arn=f"arn:aws:iam::123456789012:user/{name}")
            if rotation:
                details["replaces"] = f"AKIAOLD{n:013d}"
        store, m = self.store, MINUTE
        request = store.file_request(user_name=name, groups=[GROUP] if kind == "create_user" else [],
                                     console=console, owner_id=f"U{n % 5000:05d}", requester_id=f"U{n % 3000:05d}",
                                     team_id=TEAM, now=t, kind=kind, details=details,
                                     jobs=[NewJob(Owed.COMMAND, {"text": "bench"})])
        if kind != "remove" or n % 2:
            request = store.revise(request.id, state=storage.PENDING, expected=request.details,
                                   details={**request.details, "card_token": "0f0f"}, actor_id=None,
                                   what="card_sent", now=t) or request
            store.set_card(request.id, "C0APPROVALS", f"{n}.0001")
        if outcome in ("cancelled", "denied", "expired"):
            return self._unapproved(request, outcome, t)
        request = self._t(request, storage.APPROVED, storage.APPROVED, t + m, jobs=[NewJob(Owed.CARD),
                          NewJob(Owed.PROVISION)], decider_id=APPROVER, decided_at=t + m)
        steps = ["create_user", *(["login_profile"] if console else []), *[f"group:{GROUP}"] * (kind == "create_user")]
        if kind == "remove":
            steps = ["remove_from_groups", "delete_user"]
        for step in steps:
            request = store.record_step(request.id, step, now=t + m, user_arn=(
                f"arn:aws:iam::123456789012:user/{name}" if step == "create_user" else None))
        reveals = console or kind in (ACCESS_KEY, "reset_password")
        request = self._t(request, "provisioned", storage.PROVISIONED, t + 2 * m, provisioned_at=t + 2 * m,
                          jobs=[NewJob(Owed.CARD), NewJob(Owed.THREAD)] + [NewJob(Owed.SIGN_IN_DM)] * reveals,
                          due={Due.REVEAL_EXPIRY: t + 2 * m + self.policy.reveal_ttl} if reveals else None)
        self._done(t + 2 * m)
        if not reveals:
            return
        request = self._t(request, "reveal_button_sent", storage.PROVISIONED, t + 2 * m,
                          details={**request.details, "reveal_button": "abcd"})
        store.append_event(request.id, None, "sign_in_delivered", t + 3 * m, jobs=[NewJob(Owed.THREAD)])
        if outcome == "reveal_expired":
            end = t + 2 * m + self.policy.reveal_ttl
            self._t(request, "reveal_expired", storage.REVEAL_EXPIRED, end,
                    jobs=[NewJob(Owed.DM_UPDATE), NewJob(Owed.THREAD)], due={Due.REVEAL_EXPIRY: None})
            return self._done(end)
        at = t + 4 * m
        request = self._t(request, "reveal_claimed", storage.REVEALING, at, reveal_claimed_at=at)
        if kind == ACCESS_KEY:
            key_id = f"AKIANEW{n:013d}"
            request = self._t(request, "key_attempt", storage.REVEALING, at,
                              details={**request.details, "key_attempted": at.isoformat(), "keys_before": []})
            request = self._t(request, "key_created", storage.REVEALING, at, details={**request.details,
                              "key_id": key_id}, due={Due.ROTATION: at + 2 * m})
        after = ({Due.MFA: at + self.policy.guardrails.mfa_grace} if console else
                 {Due.ROTATION: at if rotation else None} if kind == ACCESS_KEY else {})
        request = self._t(request, "revealed", storage.REVEALED, at, revealed_at=at,
                          jobs=[NewJob(Owed.DM_UPDATE), NewJob(Owed.THREAD)], due={Due.REVEAL_EXPIRY: None, **after})
        self._done(at)
        if console:
            self._t(request, "mfa_on", storage.REVEALED, at + DAY, details={**request.details, "mfa": {"on": 1}},
                    jobs=[NewJob(Owed.THREAD)], due={Due.MFA: None})
            self._done(at + DAY)
        if rotation:
            note = {"event": "rotation", "key_id": details["replaces"], "user_name": name}
            steps = (("rotation_deactivated", at + DAY, at + 8 * DAY), ("rotation_deleted", at + 8 * DAY, None))
            for what, when, due in steps:
                store.append_event(request.id, None, what, when, detail=f"{details['replaces']} {name}: bench",
                                   jobs=[NewJob(KeyOwed.NOTE, note), NewJob(KeyOwed.DM, note)], due={Due.ROTATION: due})
                self._done(when)

    def add_life(self, n: int, t: dt.datetime) -> None:
        """`/iam add <user> <group> --for ...` lived through, as commands/groups.py writes it: approved by
        approvers, by an auto_approve rule or break-glass (reviewed by a second person, after a
        reminder, or revoked at once); the grant started, its owner warned, ended by the revoker
        (after a failed removal now and then; kept by a standing membership in Developers), or
        early by its owner's I'm done."""
        u = (n // 100) % 50
        store, m, groups = self.store, MINUTE, self.groups
        group, length = GRANT_GROUPS[n % 3], GRANT_LENGTHS[(n // 3) % 4]
        name = f"user{max(n - 100, 1)}"
        how = "denied" if u < 3 else "expired" if u < 5 else "cancelled" if u < 6 else \
            "approvers" if u < 25 else "auto" if u < 44 else "glass"
        details = {"reason": "bench", "user_arn": f"arn:aws:iam::123456789012:user/{name}", "user_id": f"AIDA{n}",
                   "duration_seconds": int(length.total_seconds()), "sensitive": {}}
        if how == "glass":  # reviewed (or reminded, then reviewed) while its grant is live
            length = max(length, 4 * HOUR)
            details.update(duration_seconds=int(length.total_seconds()), break_glass_review_by=(t + HOUR).isoformat())
        request = store.file_request(user_name=name, groups=[group], console=False, owner_id=f"U{n % 5000:05d}",
                                     requester_id=f"U{n % 3000:05d}", team_id=TEAM, now=t, kind=GROUP_ADD,
                                     details=details, jobs=[NewJob(Owed.COMMAND, {"text": "bench"})])
        if how in ("auto", "glass"):
            rule = BREAK_GLASS if how == "glass" else f"group {group} auto_approve"
            request = move(store, APPROVED_BY_RULE, request.id, actor_id=None, now=t, decided_at=t, detail=rule,
                              details={**request.details, "approved_by_rule": rule},
                              due={Due.GLASS_REVIEW: t + HOUR} if how == "glass" else None,
                              jobs=[NewJob(GroupOwed.RULE_CARD), NewJob(Owed.PROVISION)])
            store.set_card(request.id, "C0APPROVALS", f"{n}.0001")
        else:
            request = store.revise(request.id, state=storage.PENDING, expected=request.details,
                                   details={**request.details, "card_token": "0f0f"}, actor_id=None,
                                   what="card_sent", now=t) or request
            store.set_card(request.id, "C0APPROVALS", f"{n}.0001")
            if how in ("denied", "expired", "cancelled"):
                return self._unapproved(request, how, t)
            request = self._t(request, storage.APPROVED, storage.APPROVED, t + m, jobs=[NewJob(Owed.CARD),
                              NewJob(Owed.PROVISION)], decider_id=APPROVER, decided_at=t + m)
        self.now = start = t + 2 * m
        step = group_step(group)
        groups._run_step(request, step)  # AddUserToGroup (no-op), and the grant with its due entries
        request = store.record_step(request.id, step, now=start)
        request = self._t(request, "provisioned", storage.PROVISIONED, start, provisioned_at=start,
                          jobs=[NewJob(Owed.CARD), thread("provisioned"), NewJob(GroupOwed.DM, {"event": "granted"})])
        self._done(start)
        [grant] = store.grants_of(request.id)
        ends = grant.ends_at
        if how == "glass":
            reviewer = {"reviewed_by": APPROVER, "reviewed_at": (start + 10 * m).isoformat()}
            if n % 4 == 0:  # revoked at once by an approver: also its review
                self.now = start + 10 * m
                groups._end(grant, REVOKED, self.now, actor_id=APPROVER)
                store.set_due(request.id, {Due.GRANT_END: None, Due.GRANT_WARNING: None})
                move(store, REVOKED_NOW, request.id, actor_id=APPROVER, now=self.now, detail=BREAK_GLASS,
                        details={**request.details, **reviewer, "revoked_by": APPROVER,
                                 "revoked_at": self.now.isoformat()}, due={Due.GLASS_REVIEW: None},
                        jobs=[NewJob(Owed.CARD), thread("revoked", APPROVER), NewJob(GroupOwed.SECURITY_COPY)])
                return self._done(self.now)
            when = start + 10 * m
            if n % 4 == 1:  # nobody looked within the hour: a reminder, then the review
                request = move(store, REVIEW_REMINDED, request.id, actor_id=None, now=t + HOUR, detail=BREAK_GLASS,
                                  due={Due.GLASS_REVIEW: t + HOUR + REVIEW_REMIND_EVERY},
                                  jobs=[thread("review_overdue")])
                when = t + HOUR + 20 * m
            reviewer["reviewed_at"] = when.isoformat()
            move(store, REVIEWED, request.id, actor_id=APPROVER, now=when, detail=BREAK_GLASS,
                    details={**request.details, **reviewer}, due={Due.GLASS_REVIEW: None},
                    jobs=[NewJob(Owed.CARD), NewJob(GroupOwed.SECURITY_COPY), thread("reviewed", APPROVER)])
            self._done(when)
        if n % 10 == 7:  # I'm done, before the warning
            self.now = start + (ends - start) / 2
            groups._end(grant, DONE, self.now, actor_id=request.owner_id)
            store.set_due(request.id, {Due.GRANT_END: None, Due.GRANT_WARNING: None})
            return self._done(self.now)
        self.now = ends - WARNING
        store.revise_grant(grant.id, now=self.now, actor_id=None, what="grant_warned", detail=group, warned=True,
                           jobs=[NewJob(GroupOwed.DM, {"event": "warning", "group": group, "grant_id": grant.id})])
        store.set_due(request.id, {Due.GRANT_WARNING: None})
        self._done(self.now)
        self.now = ends
        if n % 10 == 3:  # RemoveUserFromGroup failed once: retried a minute later
            store.grant_attempt_failed(grant, now=ends, next_try_at=ends + m, detail=f"{group}: Throttling")
            store.set_due(request.id, {Due.GRANT_END: ends + m})
            self.now = ends + m
        if group == GROUP and n % 2:
            groups._end(grant, KEPT, self.now, actor_id=None, kept_by=f"standing:{max(n - 100, 1)}")
        else:
            groups._end(grant, REMOVED, self.now, actor_id=None)
        store.set_due(request.id, {Due.GRANT_END: None})
        self._done(self.now)

    def campaign(self, t: dt.datetime, scheduled: bool) -> None:
        """An access review as commands/reviews.py writes it: opened whole, reminded once, most
        memberships decided by the reviewers (kept, a few removed), the rest by the deadline."""
        self.now = t
        items = [{"group": group, "user_name": f"user{i}", "owner_id": f"U{i % 5000:05d}" if i % 3 else None,
                  "seen": {"arn": f"arn:aws:iam::123456789012:user/user{i}", "path": "/", "owner_from": "bot",
                           "how": {"requests": [i]}, "last_used_days": i % 90}}
                 for group in REVIEWED_GROUPS for i in range(1, REVIEWED_MEMBERS + 1)]
        heads = [{"group": group, "reviewers": [APPROVER], "on_deadline": "report", "total": REVIEWED_MEMBERS}
                 for group in REVIEWED_GROUPS]
        campaign = self.store.open_campaign(started_by=None if scheduled else APPROVER, now=t,
                                            deadline_at=t + REVIEW_DEADLINE, groups=heads, items=items,
                                            remind_at=t + FIRST_REMINDER,
                                            schedule={"*": t + REVIEW_EVERY} if scheduled else None,
                                            jobs=[NewJob(ReviewOwed.POST)])
        self.now = t + FIRST_REMINDER
        self.store.remind_campaign(campaign, now=self.now, next_at=self.now + 2 * FIRST_REMINDER,
                                   jobs=[NewJob(ReviewOwed.REMIND, {"campaign_id": campaign.id, "groups": []})])
        self._done(self.now)
        for k, item in enumerate(self.store.each_review_item(campaign.id)):
            if k % 10 == 9:
                continue  # left to the deadline
            self.now = t + DAY + k * MINUTE
            self.reviews._record(campaign, item, REVIEW_REMOVED if k % 25 == 0 else REVIEW_KEPT, APPROVER, self.now)
        self.now = t + REVIEW_DEADLINE
        self.reviews.close(self.store.campaign(campaign.id))
        self._done(self.now)

    def in_flight(self) -> None:
        """The same work in flight in both stores: 200 pending (their cards not yet posted: no
        reminder falls due during the run), 50 provisioned not yet revealed; the next scheduled
        access review a month away; four people with an App Home, followed from the log's head."""
        for i in range(200):
            t = END - dt.timedelta(minutes=50) + i * dt.timedelta(seconds=10)
            self.store.file_request(user_name=f"pending{i}", groups=[GROUP], console=True,
                                    owner_id=f"UP{i:04d}", requester_id=REQUESTER, team_id=TEAM, now=t)
        for i in range(50):
            t = END - dt.timedelta(hours=1) + i * MINUTE
            request = self.store.file_request(user_name=f"unrevealed{i}", groups=[GROUP], console=True,
                                              owner_id=f"UR{i:04d}", requester_id=REQUESTER, team_id=TEAM, now=t)
            request = self._t(request, storage.APPROVED, storage.APPROVED, t, decider_id=APPROVER, decided_at=t)
            request = self.store.record_step(request.id, "create_user", now=t, user_arn=in_flight_arn(i))
            self._t(request, "provisioned", storage.PROVISIONED, t, provisioned_at=t,
                    jobs=[NewJob(Owed.SIGN_IN_DM)], due={Due.REVEAL_EXPIRY: t + self.policy.reveal_ttl})
            self._done(t)
        self.store.set_review_due(DUE_CAMPAIGN, "*", END + CAMPAIGN_EVERY)
        for user_id in HOMES:
            self.store.home_opened(user_id, now=END - HOUR)
        HomeFollower(self.store, lambda: END - HOUR).start()

    def grow(self, count: int, status_requests: int, progress: Callable[[int], None] = lambda n: None,
             part: tuple[int, int] = (0, 1), campaigns: bool = True) -> None:
        """Requests 1..count; with `part` (i, k), only this thread's share: every k-th from i, and
        all of `STATUS_NAME`'s (one after the other, in thread 0); with `campaigns`, thread 0 also
        runs an access review a month (two of three scheduled), each closed before the history ends."""
        step = YEAR / max(count, 1)
        campaign_at, held = END - YEAR + CAMPAIGN_EVERY, 0
        status_every = max(1, count // status_requests) if status_requests else 0
        pruned = self.now
        for n in range(1, count + 1):
            status = bool(status_every) and n % status_every == 0 and n // status_every <= status_requests
            if (part[0] != 0 or not status) and (status or n % part[1] != part[0]):
                continue
            self.now = END - YEAR + n * step
            if campaigns and part[0] == 0 and self.now >= campaign_at and campaign_at + REVIEW_DEADLINE + DAY < END:
                self.campaign(campaign_at, scheduled=held % 3 != 2)
                campaign_at, held = campaign_at + CAMPAIGN_EVERY, held + 1
                self.now = END - YEAR + n * step
            if status:
                self.life(n, self.now, name=STATUS_NAME, kind=ACCESS_KEY, outcome="done")
            else:
                self.life(n, self.now)
            if part[0] == 0 and self.now - pruned >= DAY:  # the hourly duty, once a simulated day, in one thread
                self.workflow.forget_done_work(JOB_RETENTION, batches=1000)
                pruned = self.now
            if n % 5000 == 0:
                progress(n)
        self.now = END
        if part[0] == 0:  # one pruner: two would wait on each other's rows
            self.workflow.forget_done_work(JOB_RETENTION, batches=1000)


def in_flight_arn(i: int) -> str:
    return f"arn:aws:iam::123456789012:user/unrevealed{i}"


def make_store(url: str, count: int) -> None:
    store = open_store(url)
    started = time.monotonic()
    # PostgreSQL answers each statement over a socket: three threads keep it busy.
    threads = 3 if hasattr(store, "_pool") and count else 1
    with one_transaction_per(store, 2000) as commit_mine:
        def grow(part):
            Grower(store).grow(count or 20, 200 if count else 20, part=(part, threads), campaigns=bool(count),
                               progress=lambda n: print(
                f"  grown {n:,} requests in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True))
            commit_mine()

        workers = [threading.Thread(target=grow, args=(part,)) for part in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        Grower(store).in_flight()
    if hasattr(store, "_pool"):
        import psycopg

        # As autovacuum would have, over a year: the updates of a year in a few long transactions
        # left dead index entries (every request was once pending, and once due) that a vacuum removes.
        with psycopg.connect(store._pool.conninfo, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    store.close()


# -- measuring -------------------------------------------------------------------------------

def median_row(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


class NoAws:
    """Nothing is due in either store: a duty that calls AWS is a bug in the benchmark."""

    def __getattr__(self, name):
        raise AssertionError(f"a duty called AWS ({name}) though nothing was due")


def duty_ticks(url: str) -> dict[str, Callable[[], object]]:
    store = open_store(planned_each_call(url))
    aws = NoAws()
    workflow = workflow_with_create(store, aws, Policy(team_id=TEAM), clock=lambda: END)
    keys = KeyFlow(workflow, store, aws)
    # The credential report's users: the 50 in flight the bot made, 950 made outside it (the same
    # answer from either store: what the audit costs depends on AWS's users, not on the history).
    arns = [in_flight_arn(i) for i in range(50)] + [f"arn:aws:iam::123456789012:user/outside{i}" for i in range(950)]
    # As bot/features/groups.py, reconcile.py, reviews.py and home.py build their duties (settings' defaults).
    groups = Groups(workflow, store, aws, workflow.policy, workflow.approvals, protected=Protected("/"),
                    warning=WARNING)
    reconciler = Reconciler(groups, store, aws, groups.protected)
    reviews = Reviews(store, aws, workflow.approvals, Protected("/"), clock=lambda: END, team_id=TEAM,
                      mfa_group=None, every=REVIEW_EVERY, deadline=REVIEW_DEADLINE)
    follower = HomeFollower(store, lambda: END)

    def reviews_duty():
        reviews.schedule_due(lambda names: {})
        reviews.remind_due()
        reviews.close_due()

    return {
        "sweep (60 s)": workflow.sweep,
        "rotations (5 min)": keys.check_rotations,
        "reminders (60 s)": Reminders(workflow, store).remind_due,
        "mfa (1 h)": MfaWatch(workflow, store, aws).check,
        "the audit's users_made (1,000 ARNs)": lambda: store.users_made(arns),
        "prune_jobs (1 h)": lambda: workflow.forget_done_work(JOB_RETENTION),
        "revoker: grant ends (30 s)": groups.revoke_due,
        "revoker: grant warnings (30 s)": groups.warn_due,
        "revoker: break-glass reviews (30 s)": groups.review_due,
        "reconciler, nothing of the last day (1 h)": reconciler.reconcile,
        "reviews: schedule, reminders, deadlines (60 s)": reviews_duty,
        "app_home follower (each tick)": follower.follow,
        "_store": store,
    }


def planned_each_call(url: str) -> str:
    """On PostgreSQL, the URL with every statement planned for its parameters (custom plans).
    psycopg prepares a statement run five times on a connection; PostgreSQL then reuses a generic
    plan only if it looks no dearer than planning each call, which on the empty store's tiny
    tables it does and on any store past its first few hundred rows it does not. Left alone, the
    empty store skips the ~0.3 ms of planning that the grown one pays, and a sub-millisecond tick
    looks 1.5-2x dearer for what is a flip of the plan cache, not a cost of history (with both
    stores planned the same way, either way, the ticks are within a few per cent)."""
    if url.startswith("sqlite"):
        return url
    return f"{url}{'&' if '?' in url else '?'}options=-c%20plan_cache_mode%3Dforce_custom_plan"


def rss_mb(pids: set[int]) -> float:
    best = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    best = max(best, int(line.split()[1]) / 1024)
    return best


class Web:
    """`iam-bot serve` on a store, with a fake Slack and moto."""

    def __init__(self, slack, moto_url: str, workdir: Path):
        self.slack, self.moto_url, self.workdir = slack, moto_url, workdir
        self.n = 0

    def once(self, name: str, url: str, acks: int = 80, statuses: int = 10) -> dict[str, list[float]]:
        import requests as http

        from tests.support.fake_slack import user
        from tests.support.process import Served, answer, base_env

        env = base_env(self.slack, self.moto_url, url)
        self.n += 1
        served = Served(f"{name}-{self.n}", self.workdir, self.slack, env)
        began = time.monotonic()
        served.start()
        out = {"start -> /healthz, s": [time.monotonic() - began]}
        latencies = []
        for _ in range(acks):
            self.n += 1
            uid = f"U0BENCH{self.n}"
            self.slack.users[uid] = user(uid, f"bench{self.n}", email=f"bench.u{self.n}@example.com")
            sent = time.monotonic()
            ack = served.slash(uid, f"create bench.u{self.n} {GROUP}")
            latencies.append((time.monotonic() - sent) * 1000)
            assert ack.status_code == 200, ack.text
        out["ack during the first duty tick, p95 ms"] = [p95(latencies)]
        out["ack during the first duty tick, max ms"] = [max(latencies)]
        deadline = time.monotonic() + 30
        while lease_holder(served.store, "duties", now=dt.datetime.now(dt.timezone.utc)) is None:
            assert time.monotonic() < deadline, "no process took the duties lease"
            time.sleep(0.05)
        time.sleep(1.0)  # the first tick (every duty at once) has run: the lease holder ticks each 0.5 s
        out["worker RSS after the first tick, MB"] = [rss_mb(served.pids())]
        took = []
        for _ in range(statuses):
            sent = time.monotonic()
            ack = served.slash(APPROVER, f"status {STATUS_NAME}")
            said = answer(served, ack)
            took.append((time.monotonic() - sent) * 1000)
            assert STATUS_NAME in said, said
        out["/iam status of a name with 200 requests, ms"] = took
        served.stop()
        with contextlib.suppress(Exception):
            served.store.close()
        http.Session().close()
        return out


def database_size_mb(url: str) -> float:
    if url.startswith("sqlite"):
        return os.path.getsize(url.removeprefix("sqlite:///")) / 1e6
    store = open_store(url)
    with store._read() as tx:
        size = tx.one("SELECT pg_database_size(current_database()) AS n")["n"]
    store.close()
    return size / 1e6


def measure(backend: str, urls: dict[str, str], web: Web, reps: int, ticks: int) -> list[tuple]:
    found: dict[str, dict[str, list[float]]] = {"empty": {}, "grown": {}}
    for rep in range(reps):
        for which in ("empty", "grown") if rep % 2 == 0 else ("grown", "empty"):
            for key, values in web.once(f"{backend}-{which}", urls[which]).items():
                found[which].setdefault(key, []).extend(values)
            print(f"  {backend} {which}: repetition {rep + 1} of {reps}", file=sys.stderr, flush=True)
    calls = {which: duty_ticks(urls[which]) for which in found}
    for rep in range(ticks):
        for which in ("empty", "grown") if rep % 2 == 0 else ("grown", "empty"):
            for key, call in calls[which].items():
                if key.startswith("_"):
                    continue
                began = time.perf_counter()
                call()
                found[which].setdefault(f"one tick: {key}, ms", []).append((time.perf_counter() - began) * 1000)
    for which in found:
        calls[which]["_store"].close()
        found[which]["database size, MB"] = [database_size_mb(urls[which])]
    return [(key, median_row(found["empty"][key]), median_row(found["grown"][key])) for key in found["empty"]]


def report(backend: str, count: int, rows: list[tuple]) -> None:
    print(f"\n{backend}: empty store against {count:,} past requests (min / median / max; x = median ratio)")
    width = max(len(key) for key, _, _ in rows)
    print(f"| {'':<{width}} | {'empty':>22} | {'grown':>22} | {'x':>5} |")
    print(f"|{'-' * (width + 2)}|{'-' * 24}|{'-' * 24}|{'-' * 7}|")
    for key, empty, grown in rows:
        ratio = grown[1] / empty[1] if empty[1] else float("inf")
        fmt = lambda v: "/".join(f"{x:.3g}" for x in v)  # noqa: E731
        print(f"| {key:<{width}} | {fmt(empty):>22} | {fmt(grown):>22} | {ratio:>5.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="past requests in the grown store")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--reps", type=int, default=4, help="web-process repetitions of each store")
    parser.add_argument("--ticks", type=int, default=25, help="direct calls of each duty on each store")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from tests.bench.ack_latency import fakes

    workdir = Path(tempfile.mkdtemp(prefix="iam-bot-growth-"))
    postgres = None
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        cleanup.callback(lambda: postgres.stop() if postgres is not None else None)
        slack, moto_url = cleanup.enter_context(fakes())
        web = Web(slack, moto_url, workdir)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                urls = {which: f"sqlite:///{workdir}/{which}.db" for which in ("empty", "grown")}
            else:
                from tests.support.postgres import PostgresServer

                postgres = postgres or PostgresServer().start()
                urls = {which: postgres.create_database() for which in ("empty", "grown")}
            began = time.monotonic()
            make_store(urls["empty"], 0)
            make_store(urls["grown"], args.requests)
            print(f"  {backend}: stores grown in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
            report(backend, args.requests, measure(backend, urls, web, args.reps, args.ticks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
