"""STS calls for commands across several accounts (issue 23): the goal is one AssumeRole per
account per credential lifetime, however many commands run.

Three accounts (the default one, the bot's own, and two reached through roles with external
ids), moto's server on 127.0.0.1 made AWS-like (AssumeRole refused where AWS would refuse it). 50
commands, spread over the accounts and over `--hours` of the bot's clock, each looking its user
up through `AccountRegistry.gateway(account)` (what a command's AWS step does), 8 at a time.
Sessions last one hour (AssumeRole's default) and are renewed 5 minutes before they expire.

    .venv/bin/python -m tests.bench.sts
    .venv/bin/python -m tests.bench.sts --commands 500 --hours 3

It counts calls; it times nothing. It is a script, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3

from bot.shell.aws import forget_aws_environment
from bot.shell.awslike import make_aws_like, make_sts_like
from commands.accounts import AccountRegistry
from commands.iam import IamGateway
from commands.ruleset import Account

SPOKES = {"staging": "222222222222", "sandbox": "333333333333"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--hours", type=float, default=0.5, help="the bot's clock time the commands are spread over")
    args = parser.parse_args()
    forget_aws_environment()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = {"endpoint_url": f"http://{host}:{port}", "region_name": "us-east-1"}
    testing = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    try:
        run(args, endpoint, testing)
    finally:
        server.stop()


def run(args, endpoint: dict, testing: dict) -> None:
    if True:
        sts = boto3.client("sts", **endpoint, **testing)
        for name, account in SPOKES.items():
            peek = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup")["Credentials"]
            iam = boto3.client("iam", **endpoint, aws_access_key_id=peek["AccessKeyId"],
                               aws_secret_access_key=peek["SecretAccessKey"], aws_session_token=peek["SessionToken"])
            iam.create_role(RoleName="iam-bot", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": f"ext-{name}"}}}]}))
        make_sts_like(sts)
        calls: Counter = Counter()
        sts.meta.events.register("before-call.sts.*", lambda model, **_: calls.update([model.name]))

        building = threading.Lock()  # boto3's default session does not build clients safely from several threads

        def clients(credentials):
            with building:
                return _clients(credentials)

        def _clients(credentials):
            keys = {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
                    "aws_session_token": credentials["SessionToken"]}
            iam = boto3.client("iam", **endpoint, **keys)
            make_aws_like(iam)
            return iam, boto3.client("sts", **endpoint, **keys)

        own_iam = boto3.client("iam", **endpoint, **testing)
        make_aws_like(own_iam)
        accounts = (Account("prod", default=True),
                    *(Account(name, f"arn:aws:iam::{number}:role/iam-bot", f"ext-{name}") for name, number in SPOKES.items()))
        start = dt.datetime.now(dt.timezone.utc)
        now = [start]
        registry = AccountRegistry(accounts, own=IamGateway(own_iam, sts), sts=sts, clients=clients,
                                   clock=lambda: now[0])
        names = [account.name for account in accounts]
        step = dt.timedelta(hours=args.hours) / max(1, args.commands)
        per_account: Counter = Counter()
        with ThreadPoolExecutor(8) as pool:
            for batch in range(0, args.commands, 8):
                now[0] = start + step * batch
                count = min(8, args.commands - batch)
                chosen = [names[(batch + i) % len(names)] for i in range(count)]
                per_account.update(chosen)
                list(pool.map(lambda name: registry.gateway(name).user("jane.doe"), chosen))
        lifetimes = max(1, math.ceil(args.hours / (55 / 60)))
        print(f"{args.commands} commands over {args.hours:g} h across {len(names)} accounts "
              f"({', '.join(f'{n}: {per_account[n]}' for n in names)}), 8 at a time")
        print(f"AssumeRole calls: {calls['AssumeRole']} (goal: one per assumed account per credential "
              f"lifetime: {len(SPOKES)} x {lifetimes} = {len(SPOKES) * lifetimes}); "
              f"other STS calls: {sum(calls.values()) - calls['AssumeRole']}")


if __name__ == "__main__":
    main()
