"""How `iam-bot serve` answers while its PostgreSQL server is down: acks and /healthz, timed.

Starts a PostgreSQL server, the stand-in for Slack, moto and one `iam-bot serve` on PostgreSQL;
then stops PostgreSQL for `--outage` seconds while people type `/iam create`, `--rate` commands a
second, each on its own (nobody waits for someone else's ack; each ack is waited for up to 40 s),
and a load balancer probes /healthz every half second. It prints how many acks took longer
than Slack's 3 seconds, the slowest ack and probe, and how long after PostgreSQL came back the
first command was acked as usual.

    .venv/bin/python -m tests.bench.outage_acks
    .venv/bin/python -m tests.bench.outage_acks --outage 10 --rate 5

It is a script, not a test: nothing here asserts on timings.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests
from moto.server import ThreadedMotoServer

SLACK_WAITS = 3.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outage", type=float, default=10.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--rate", type=float, default=5.0, help="commands typed per second")
    args = parser.parse_args()

    from tests.support.aws_proxy import AwsProxy
    from tests.support.fake_slack import FakeSlack
    from tests.support.harness import iam_client
    from tests.support.postgres import PostgresServer
    from tests.support.process import Served, base_env

    postgres = PostgresServer().start()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    iam_client(f"http://{host}:{port}").create_group(GroupName="Developers")
    proxy = AwsProxy(f"http://{host}:{port}").start()
    slack = FakeSlack().start()
    served = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = base_env(slack, proxy.url, postgres.create_database())
            served = Served("bench", Path(tmp), slack, env).start()
            acks, probes = [], []  # (sent at, seconds, what came back)
            names = itertools.count(1)
            stop = threading.Event()

            def command():
                sent = time.monotonic()
                try:
                    said = served.slash("U0ALICE", f"create bench{next(names)} Developers <@U0JANE>",
                                        timeout=40).json().get("text", "")
                except requests.RequestException as error:
                    said = type(error).__name__
                acks.append((sent, time.monotonic() - sent, said))

            def typing():
                commands = []
                while not stop.wait(1 / args.rate):
                    commands.append(threading.Thread(target=command))
                    commands[-1].start()
                for thread in commands:
                    thread.join()

            def probing():
                while not stop.is_set():
                    sent = time.monotonic()
                    try:
                        status = requests.get(f"{served.base}/healthz", timeout=40).status_code
                    except requests.RequestException as error:
                        status = type(error).__name__
                    probes.append((sent, time.monotonic() - sent, status))
                    stop.wait(0.5)

            threads = [threading.Thread(target=typing), threading.Thread(target=probing)]
            for thread in threads:
                thread.start()
            time.sleep(2)
            down = time.monotonic()
            postgres.halt()
            time.sleep(args.outage)
            up = time.monotonic()
            postgres.resume()
            time.sleep(10)
            stop.set()
            for thread in threads:
                thread.join()

            during = [a for a in acks if down <= a[0] < up]
            slow = [a for a in during if a[1] > SLACK_WAITS]
            print(f"acks sent during the {args.outage:g} s outage: {len(during)}, over {SLACK_WAITS:g} s: {len(slow)}")
            if during:
                print(f"  slowest {max(a[1] for a in during):.2f} s, median {statistics.median(a[1] for a in during):.2f} s")
                print(f"  said: {sorted(set(a[2][:30] for a in during))}")
            during_probes = [p for p in probes if down <= p[0] < up]
            if during_probes:
                print(f"/healthz probes during the outage: {len(during_probes)}, slowest "
                      f"{max(p[1] for p in during_probes):.2f} s, answers {sorted(set(map(str, (p[2] for p in during_probes))))}")
            healed = [a for a in acks if a[0] >= up and a[2].startswith("Checking")]
            if healed:
                print(f"first ordinary ack sent {healed[0][0] - up:.2f} s after PostgreSQL was back")
            healthy = [p for p in probes if p[0] >= up and p[2] == 200]
            if healthy:
                print(f"first 200 from /healthz sent {healthy[0][0] - up:.2f} s after PostgreSQL was back")
            after = [a for a in acks if a[0] >= up]
            print(f"acks after: {len(after)}, over {SLACK_WAITS:g} s: {sum(1 for a in after if a[1] > SLACK_WAITS)}")
    finally:
        if served is not None:
            served.stop()
        with contextlib.suppress(Exception):
            slack.stop()
        proxy.stop()
        moto.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
