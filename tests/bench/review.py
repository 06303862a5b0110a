"""An access review of 10, 100 and 1,000 memberships: the IAM and Slack calls it makes, and the
time until its first card and its last card are in the approvals channel.

The whole bot runs as the tests run it (tests/support/harness.py: signed HTTP, the strict Slack
stand-in, moto's server made AWS-like, GetGroup paged at 100): `/iam review start Team` is typed
by an approver, and the clock runs until every card is posted. The members are written straight
into moto's model (its HTTP API would take minutes for thousands).

The goal: the credential report's calls (GenerateCredentialReport, GetCredentialReport) plus one
GetGroup per 100 members, never an IAM call per member; one chat.postMessage per 10 members, at
Slack's pace for a channel (a burst of 4, then one a second), so 1,000 memberships take about
100 seconds to post and the first card is there in well under a second.

    .venv/bin/python -m tests.bench.review
    .venv/bin/python -m tests.bench.review --sizes 10 100

It is a script, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests
from moto.server import ThreadedMotoServer

from bot.shell.aws import forget_aws_environment
from tests.support.fake_slack import FakeSlack
from tests.support.harness import APPROVALS, Bot, iam_client

SIZES = (10, 100, 1000)
ACCOUNT = "123456789012"


def fill(members: int) -> None:
    from moto.iam.models import iam_backends

    backend = iam_backends[ACCOUNT]["global"]
    group = backend.create_group("Team", "/")
    for i in range(members):
        user = backend.create_user("us-east-1", f"member.{i:05d}", path="/people/")
        group.users.append(user)


def campaign(moto_url: str, members: int) -> dict:
    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    fill(members)
    iam_client(moto_url)  # the AWS-like hooks on a client of its own: the bot's is counted below
    slack = FakeSlack().start()
    with tempfile.TemporaryDirectory() as tmp:
        bot = Bot(Path(tmp), slack, moto_url)
        iam: Counter = Counter()
        bot.client.meta.events.register("before-call.iam", lambda model, **_: iam.update([model.name]))
        started = time.monotonic()
        bot.slash("U0BOB", "review start Team", settle=False)
        slack.wait_for(lambda calls: any(c.method == "chat.postMessage" and c.params.get("channel") == APPROVALS
                                         for c in calls), timeout=120, what="the first card")
        first = time.monotonic() - started
        pages = -(-members // 10)
        slack.wait_for(lambda calls: sum(1 for c in calls if c.method == "chat.postMessage"
                                         and c.params.get("channel") == APPROVALS) >= pages,
                       timeout=pages * 2 + 30, what="every card")
        last = time.monotonic() - started
        bot.settle(timeout=60)
        slack_calls = Counter(c.method for c in slack.calls)
        bot.stop()
    slack.stop()
    return {"members": members, "iam": iam, "slack": slack_calls, "first": first, "last": last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    forget_aws_environment()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request would bury the figures
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        print(f"{'members':>8} {'IAM calls':<70} {'Slack calls':<60} {'first card':>10} {'all cards':>10}")
        for size in args.sizes:
            done = campaign(f"http://{host}:{port}", size)
            iam = ", ".join(f"{name} {n}" for name, n in sorted(done["iam"].items()))
            slack = ", ".join(f"{name} {n}" for name, n in sorted(done["slack"].items()))
            print(f"{done['members']:>8} {iam:<70} {slack:<60} {done['first']:>9.2f}s {done['last']:>9.2f}s",
                  flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
