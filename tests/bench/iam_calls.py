"""The IAM calls of the checks before `/iam create` files a request, as the account grows.

The checks run through the real `Creation.file` (commands/create.py) against moto made AWS-like
(names ignore case, ListUsers pages at 100 as AWS's do), in accounts of 100, 1,000 and 5,000 users. The same run
measures the strategy the gateway used before: GetUser, then a ListUsers scan of the whole
account when GetUser found nothing (as it does for every new name), so that a user whose name
differed only in case would be found even where GetUser compared with case.

Run it from the project root (a few seconds; the old strategy's pages are the slow part):

    .venv/bin/python -m tests.bench.iam_calls
    .venv/bin/python -m tests.bench.iam_calls --users 100 20000

It counts calls, the figure that AWS throttles and that grows with the account. It times
nothing: moto's speed says nothing about AWS's. It is a script, not a test.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import boto3

from bot.shell.aws import forget_aws_environment
from bot.shell.awslike import make_aws_like
from commands.create import CreateCommand, Creation
from commands.iam import IamGateway, IamUser
from commands.rules import Person
from commands.workflow import Policy, Workflow
from storage import Store

TEAM = "T0BENCH"
GROUPS = ("Developers", "ReadOnly")
SIZES = (100, 1000, 5000)


class ListingGateway(IamGateway):
    """The gateway's old user look-up: GetUser, then a scan of every user when it finds none."""

    def user(self, name: str, *, tags: bool = False) -> IamUser | None:
        found = super().user(name, tags=tags)
        if found is not None:
            return found
        wanted = name.lower()
        for page in self.client.get_paginator("list_users").paginate():
            for user in page["Users"]:
                if user["UserName"].lower() == wanted:
                    return IamUser(name=user["UserName"], user_id=user["UserId"], arn=user["Arn"], path=user["Path"])
        return None


def fill(account_id: str, users: int) -> None:
    """Users straight into moto's model: its HTTP API would take minutes for thousands."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["global"]
    for i in range(len(backend.users), users):
        backend.create_user("us-east-1", f"colleague.{i:06d}", path="/people/")


def checks_before_filing(gateway: IamGateway, store: Store, n: int) -> Counter:
    """The IAM calls of one `/iam create new.person.<n> Developers ReadOnly`, by operation."""
    calls: Counter = Counter()

    def count(model, **_):
        calls[model.name] += 1

    gateway.client.meta.events.register("before-call.iam", count)
    try:
        policy = Policy(team_id=TEAM)
        creation = Creation(Workflow(store, gateway, policy), store, gateway, policy)
        owner = Person(user_id=f"U0OWNER{n}", team_id=TEAM)
        creation.file(CreateCommand(user_name=f"new.person.{n}", groups=GROUPS), requester=Person("U0ASKER", TEAM),
                      owner=owner)
    finally:
        gateway.client.meta.events.unregister("before-call.iam", count)
    return calls


def describe_calls(calls: Counter) -> str:
    return " + ".join(f"{n} {op}" for op, n in calls.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=list(SIZES), help="account sizes to measure")
    sizes = sorted(parser.parse_args().users)

    forget_aws_environment()
    from moto import mock_aws

    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="bench",
                              aws_secret_access_key="bench")
        make_aws_like(client)
        for group in GROUPS:
            client.create_group(GroupName=group)
        account_id = client.create_user(UserName="colleague.000000")["User"]["Arn"].split(":")[4]
        store = Store(Path(tmp) / "bench.db")
        now, before = IamGateway(client), ListingGateway(client)
        print(f"IAM calls of the checks before `/iam create new.person {' '.join(GROUPS)}` files a request\n")
        print(f"{'users':>8}  {'now':>5}  {'before':>6}  {'before/now':>10}  calls now; before")
        for n, users in enumerate(sizes):
            fill(account_id, users)
            calls_now = checks_before_filing(now, store, 2 * n)
            calls_before = checks_before_filing(before, store, 2 * n + 1)
            total_now, total_before = sum(calls_now.values()), sum(calls_before.values())
            print(f"{users:>8,}  {total_now:>5}  {total_before:>6}  {total_before / total_now:>9.1f}x  "
                  f"{describe_calls(calls_now)}; {describe_calls(calls_before)}")
        store.close()


if __name__ == "__main__":
    main()
