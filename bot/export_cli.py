"""`iam-bot export [--since WHEN] [--until WHEN] [--kind KIND ...]`: the event log as JSON lines
on stdout, in the schema of commands/trail.py, oldest first. `iam-bot export --reviews
[--campaign N]`: the access reviews' decisions instead, one JSON line each with the figures the
reviewer saw (commands/reviews.py `decision_line`).

It reads DATABASE_URL only (no Slack or AWS settings), streams (the store reads in keyset
batches, or one server-side cursor on PostgreSQL; each line is written as it comes), and
exits 0 when done, 2 on a malformed argument, 1 when the database cannot be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from commands.errors import CommandError
from commands.reviews import export_lines
from commands.settings import parse_duration
from commands.trail import json_line
from storage import StoreError, open_store, parse_database_url

from .logs import redact

DEFAULT_DATABASE_URL = "sqlite:///iam-bot.db"
FLUSH_BYTES = 64 * 1024


def when(value: str, now: dt.datetime | None = None) -> dt.datetime:
    """`7d`/`12h`/`30m` (that long ago), `2026-11-28` (midnight UTC) or an ISO 8601 time (UTC if no zone)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    text = value.strip()
    try:
        return now - parse_duration(text)
    except (ValueError, TypeError):
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither a duration (7d, 12h) nor a date or time (2026-11-28, 2026-11-28T10:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="iam-bot export",
                                description="Write the event log as JSON lines to stdout (docs/operations.md).")
    p.add_argument("--since", type=when, help="events at or after: a date, an ISO 8601 time, or a duration ago (7d)")
    p.add_argument("--until", type=when, help="events before: a date, an ISO 8601 time, or a duration ago")
    p.add_argument("--kind", action="append", default=[],
                   help="only events of requests of this kind (create_user, access_key, remove, ...); repeatable")
    p.add_argument("--reviews", action="store_true",
                   help="the access reviews' decisions instead: one line per decision, with the figures seen")
    p.add_argument("--campaign", type=int, help="with --reviews: only this campaign")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.campaign is not None and not args.reviews:
        print("iam-bot export: --campaign goes with --reviews", file=sys.stderr)
        return 2
    kinds = [kind.strip() for given in args.kind for kind in given.split(",") if kind.strip()]
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    try:
        kind, target = parse_database_url(url)
    except ValueError as error:
        print(f"iam-bot export: DATABASE_URL is malformed: {error}", file=sys.stderr)
        return 2
    if kind == "sqlite" and not os.path.exists(target):
        print(f"iam-bot export: there is no database at {target}", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    try:
        store = open_store(url, pool_size=1)
    except StoreError as error:
        print(f"iam-bot export: {error}", file=sys.stderr)
        return 1
    try:
        pending: list[bytes] = []
        size = 0
        if args.reviews:
            lines = (json.dumps(decision, sort_keys=True) + "\n" for decision in export_lines(store, args.campaign))
        else:
            lines = (json_line(event, redact) for event in store.trail(since=args.since, until=args.until, kinds=kinds))
        for text in lines:
            line = text.encode()
            pending.append(line)
            size += len(line)
            if size >= FLUSH_BYTES:
                out.write(b"".join(pending))
                pending, size = [], 0
        out.write(b"".join(pending))
        out.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except StoreError as error:
        print(f"iam-bot export: {error}", file=sys.stderr)
        return 1
    except CommandError:
        print(f"iam-bot export: there is no access review #{args.campaign}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0
