"""How long after its end a grant is revoked, and the revoker's IAM calls per 100 ending grants.

The real revoker (`commands/groups.py` `Groups.revoke_due`) over a real store (SQLite, a temporary
file) and moto made AWS-like, in-process. Time is simulated the way `bot/background.py` runs a
duty: the duties thread ticks every TICK_SECONDS (10 s) and runs the revoker when
IAM_BOT_REVOKE_EVERY (30 s by default) has passed since its last run. 100 grants end at random
moments over ten minutes; a grant's lateness is the simulated time from its end to the pass that
ends it, plus the wall-clock time that pass took (an upper bound: the pass's last removal). The
goal is 90 s. A second run gives half the grants an overlapping later grant of the same group, so
that their end keeps the membership (no IAM call).

Run it from the project root (a few seconds):

    .venv/bin/python -m tests.bench.revoker
    .venv/bin/python -m tests.bench.revoker --grants 1000 --every 30s

It counts calls (what AWS throttles) and prints figures; it is a script, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import boto3

from bot.background import TICK_SECONDS
from bot.shell.aws import forget_aws_environment
from bot.shell.awslike import make_aws_like
from commands.approvals import Approvals
from commands.groups import Groups
from commands.iam import IamGateway
from commands.lifecycle import file
from commands.offboard import Protected
from commands.settings import parse_duration
from commands.workflow import Due, Policy, Workflow
from storage import GROUP_ADD, Store, open_store

TEAM = "T0BENCH"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
SPREAD = dt.timedelta(minutes=10)
GOAL = dt.timedelta(seconds=90)


def grant(store: Store, n: int, user: str, group: str, ends_at: dt.datetime) -> None:
    request = file(store, user_name=user, groups=(group,), console=False, owner_id="U0OWNER", requester_id="U0ASKER",
                   team_id=TEAM, now=T0 - dt.timedelta(hours=1), kind=GROUP_ADD,
                   details={"duration_seconds": int((ends_at - T0).total_seconds()) + 3600, "n": n})
    store.start_grant(request.id, user, group, started_at=T0 - dt.timedelta(hours=1), ends_at=ends_at,
                      due={Due.GRANT_END: ends_at})


def run(client, grants: int, every: dt.timedelta, overlapping: bool, seed: int) -> tuple[list[float], Counter, int]:
    """The lateness of each ended grant (seconds), the revoker's IAM calls by operation, and the grants ended."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        now = [T0]
        iam = IamGateway(client)
        workflow = Workflow(store, iam, Policy(team_id=TEAM), clock=lambda: now[0])
        groups = Groups(workflow, store, iam, workflow.policy, Approvals(), protected=Protected("/"))
        group = f"Bench{seed}"
        client.create_group(GroupName=group)
        ends = {}
        for n in range(grants):
            user = f"bench.{seed}.{n // 2 if overlapping else n}"
            if not overlapping or n % 2 == 0:
                client.create_user(UserName=user, Path="/")
                client.add_user_to_group(UserName=user, GroupName=group)
            end = T0 + SPREAD * rng.random()
            if overlapping and n % 2 == 1:
                end = max(end, ends[n - 1]) + dt.timedelta(minutes=1)  # the later grant of the pair
            ends[n] = end
            grant(store, n, user, group, end)

        calls: Counter = Counter()

        def count(model, **_):
            calls[model.name] += 1

        client.meta.events.register("before-call.iam", count)
        lateness: list[float] = []
        last = None
        tick = dt.timedelta(seconds=TICK_SECONDS)
        now[0] = T0 + tick * rng.random()  # the duties thread started at some moment
        try:
            while now[0] <= T0 + SPREAD + dt.timedelta(minutes=3) + every:
                if last is None or now[0] - last >= every:
                    last = now[0]
                    started = time.perf_counter()
                    ended = groups.revoke_due()
                    took = time.perf_counter() - started
                    lateness += [(now[0] - e.grant.ends_at).total_seconds() + took for e in ended]
                now[0] += tick
        finally:
            client.meta.events.unregister("before-call.iam", count)
        store.close()
        return lateness, calls, len(lateness)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=100)
    parser.add_argument("--every", default="30s", help="IAM_BOT_REVOKE_EVERY (default 30s)")
    args = parser.parse_args()
    every = parse_duration(args.every)

    forget_aws_environment()
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
        make_aws_like(client)
        print(f"The revoker: {args.grants} grants ending over {int(SPREAD.total_seconds() // 60)} minutes, "
              f"IAM_BOT_REVOKE_EVERY={args.every}, a duties tick every {TICK_SECONDS} s\n")
        print(f"{'run':<34} {'ended':>5} {'median':>7} {'p95':>7} {'max':>7} {'goal':>5}  IAM calls per 100 ending grants")
        for name, overlapping in (("each grant alone", False), ("half kept by a later grant", True)):
            lateness, calls, ended = run(client, args.grants, every, overlapping, seed=1 + overlapping)
            p95 = sorted(lateness)[max(0, int(len(lateness) * 0.95) - 1)]
            per_100 = {op: n * 100 / ended for op, n in calls.items()}
            said = " + ".join(f"{n:g} {op}" for op, n in sorted(per_100.items())) or "none"
            ok = "met" if max(lateness) <= GOAL.total_seconds() else "MISSED"
            print(f"{name:<34} {ended:>5} {statistics.median(lateness):>6.1f}s {p95:>6.1f}s {max(lateness):>6.1f}s "
                  f"{ok:>5}  {said} ({sum(calls.values()) * 100 / ended:g} in all)")


if __name__ == "__main__":
    main()
