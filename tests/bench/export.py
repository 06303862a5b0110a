"""`iam-bot export` over a store with 100,000 events against a small one, on SQLite and PostgreSQL.

Grows each store through the store's own API (requests filed and approved, steps, refusals, a
failure's words; committed in shared transactions as tests/bench/store_growth.py does), then runs
`iam-bot export` as its own process, reading its output through a pipe, and prints per store:
events, seconds, events per second, and the export process's peak RSS (from wait4). The export
streams when the peak RSS of the grown store stays that of the small one.

    .venv/bin/python -m tests.bench.export                       # 100,000 events (about a minute)
    .venv/bin/python -m tests.bench.export --events 1000000 --backends sqlite

It is a script, not a test: nothing here asserts on timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import storage
from storage import open_store
from tests.bench.store_growth import one_transaction_per

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
SMALL = 1_000
EVENTS_PER_REQUEST = 5  # filed, approved, a step, provisioned, a refusal elsewhere


def grow(url: str, events: int) -> int:
    """About `events` events through the store's API; how many the log holds."""
    store = open_store(url)
    try:
        with one_transaction_per(store, 200) as commit_now:
            now, n = START, 0
            while n < events:
                now += dt.timedelta(minutes=1)
                request = store.file_request(user_name=f"user{n}", groups=["Developers"], console=True,
                                             owner_id=f"U{n:08d}", requester_id="U0ALICE", team_id="T0TEAM", now=now)
                store.transition(request.id, from_states=[storage.PENDING], to_state=storage.APPROVED,
                                 actor_id="U0BOB", what="approved", now=now, decider_id="U0BOB", decided_at=now)
                store.append_event(request.id, None, "step:create_user", now,
                                   detail=f"arn:aws:iam::123456789012:user/user{n}")
                store.transition(request.id, from_states=[storage.APPROVED], to_state=storage.PROVISIONED,
                                 actor_id=None, what="provisioned", now=now, provisioned_at=now)
                store.append_event(None, "U0CAROL", "refused:status", now, detail=f"user{n}")
                n += EVENTS_PER_REQUEST
            commit_now()
        return sum(1 for _ in store.trail())
    finally:
        store.close()


def export(url: str) -> tuple[int, float, int]:
    """Run `iam-bot export`: lines read, seconds, peak RSS of the process in KiB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IAM_BOT_", "SLACK_"))}
    env["DATABASE_URL"] = url
    began = time.monotonic()
    child = subprocess.Popen([str(Path(sys.executable).parent / "iam-bot"), "export"], env=env,
                             stdout=subprocess.PIPE)
    lines = 0
    while chunk := child.stdout.read(1 << 16):
        lines += chunk.count(b"\n")
    child.stdout.close()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - began
    if child.returncode != 0:
        raise SystemExit(f"iam-bot export exited with {child.returncode}")
    return lines, seconds, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    postgres = None
    print(f"{'store':<22}{'events':>10}{'seconds':>10}{'events/s':>11}{'peak RSS':>12}")
    try:
        with tempfile.TemporaryDirectory(prefix="iam-bot-export-") as tmp:
            for backend in args.backends.split(","):
                for name, size in (("small", SMALL), ("grown", args.events)):
                    if backend == "sqlite":
                        url = f"sqlite:///{tmp}/{name}.db"
                    else:
                        from tests.support.postgres import PostgresServer

                        postgres = postgres or PostgresServer().start()
                        url = postgres.create_database()
                    held = grow(url, size)
                    lines, seconds, rss = export(url)
                    assert lines == held, (lines, held)
                    print(f"{backend + ' ' + name:<22}{lines:>10,}{seconds:>10.2f}{lines / seconds:>11,.0f}"
                          f"{rss / 1024:>9.1f} MiB", flush=True)
    finally:
        if postgres is not None:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
