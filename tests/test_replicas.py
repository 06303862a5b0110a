"""Exactly once across processes: two `iam-bot serve` replicas on one PostgreSQL database, and
one server with two workers on one SQLite file, under concurrent clicks and a SIGKILL.

Fifty Approve clicks spread over every worker create the IAM user once and say so once; twenty
Reveal clicks show the password once; when the process running the periodic duties dies, another
takes them over, and the expiry it owes happens, once.
"""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest

import storage
from bot.background import DUTIES_LEASE
from tests.support.harness import APPROVALS
from tests.support.stores import lease_holder
from tests.support.process import (
    answer, approve, dms, file_request, press_reveal, reveal_value, settled, thread_lines, wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.crash, pytest.mark.slow]

pytest_plugins = ["tests.support.process"]

APPROVE_CLICKS = 50
REVEAL_CLICKS = 20
REQUEST_TTL = dt.timedelta(seconds=12)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def spread(servers, clicks: int, click):
    """`click(server)` `clicks` times at once, taking turns over the servers; the acks."""
    with ThreadPoolExecutor(max_workers=clicks) as pool:
        return list(pool.map(lambda i: click(servers[i % len(servers)]), range(clicks)))


def approved_and_revealed_once(servers, slack, aws_proxy, store):
    """jane's request: fifty concurrent approvals, then twenty concurrent reveals."""
    first = servers[0]
    told = first.sender.said  # what came back through a click's response_url (one Slack for all)
    request = file_request(first, "U0ALICE", "create jane.doe Developers", "U0JANE")
    # Everyone clicks the button as their screen shows it: the card as first posted.
    acks = spread(servers, APPROVE_CLICKS, lambda served: approve(served, request))
    assert all(ack.status_code == 200 for ack in acks)
    # Every click but one is told the request was already decided; the one says nothing.
    wait_until(lambda: sum(1 for ack in acks if told(ack.response_url)) == APPROVE_CLICKS - 1,
               what=f"{APPROVE_CLICKS - 1} clicks to be told the request was decided", every=0.2)
    for ack in acks:
        said = told(ack.response_url)
        assert said == "" or (said.startswith(f"Request #{request.id} is already ") and "nothing changed" in said), said
    wait_until(lambda: store.get(request.id).state == storage.PROVISIONED, what="jane's user to be provisioned")
    settled(store, request.id)

    assert aws_proxy.forwarded("CreateUser", UserName="jane.doe") == 1
    assert [e.what for e in store.events(request.id)].count("approved") == 1
    [dm] = dms(slack, "U0JANE")
    created, delivered = thread_lines(slack, request)
    assert created.startswith(":white_check_mark: Created `arn:aws:iam::123456789012:user/jane.doe`")
    assert delivered == ":envelope: Sign-in details delivered to <@U0JANE> by DM."
    assert slack.message(APPROVALS, request.card_ts).text == f"Request #{request.id}: IAM user `jane.doe` for <@U0JANE>: provisioned"

    button = reveal_value(dm)
    acks = spread(servers, REVEAL_CLICKS, lambda served: press_reveal(served, "U0JANE", dm, button))
    said = [answer(first, ack) for ack in acks]
    shown = [s for s in said if s.startswith("Password for `jane.doe`: `")]
    assert len(shown) == 1, said
    assert all("already revealed" in s for s in said if s not in shown), said
    assert aws_proxy.forwarded("UpdateLoginProfile", UserName="jane.doe") == 1
    # The password is shown before the reveal is recorded, and what that owes written down.
    wait_until(lambda: store.get(request.id).state == storage.REVEALED, what="the reveal to be recorded")
    settled(store, request.id)
    assert thread_lines(slack, request) == [created, delivered, ":lock: <@U0JANE> revealed their first password."]
    return request


def holder_pid(store) -> int | None:
    holder = lease_holder(store, DUTIES_LEASE, now=now())
    return int(holder.split(":")[1]) if holder else None


def test_two_replicas_on_postgres_act_once_and_take_over_the_duties(serve, slack, aws_proxy, aws, postgres_url):
    ttl = f"{int(REQUEST_TTL.total_seconds())}s"
    servers = [serve(name, database_url=postgres_url, WEB_CONCURRENCY="2", IAM_BOT_REQUEST_TTL=ttl)
               for name in ("one", "two")]
    store = servers[0].store
    # dan's request is left waiting: it expires while the replicas are busy with jane's.
    waiting = file_request(servers[1], "U0ALICE", "create dan Developers", "U0DAN")

    approved_and_revealed_once(servers, slack, aws_proxy, store)

    # Kill -9 the replica whose worker holds the duties lease: the other takes them over, and
    # the expiry of dan's request, owed since a while, is done by it, once.
    pid = wait_until(lambda: holder_pid(store), what="a worker to hold the duties lease")
    [victim] = [served for served in servers if pid in served.pids()]
    [survivor] = [served for served in servers if served is not victim]
    wait_until(lambda: now() - waiting.created_at > REQUEST_TTL, REQUEST_TTL.total_seconds() + 5,
               "dan's request to be older than IAM_BOT_REQUEST_TTL")
    victim.kill()
    wait_until(lambda: holder_pid(store) in survivor.pids(), 20, "the other replica to take the duties lease")
    # Within a minute at most: a worker that held the lease before sweeps a minute after its last sweep.
    wait_until(lambda: store.get(waiting.id).state == storage.EXPIRED, 75, "dan's request to expire")
    settled(store, waiting.id)
    updates = [p for p in slack.of("chat.update") if p.get("ts") == waiting.card_ts]
    assert len(updates) == 1 and updates[0]["text"] == f"Request #{waiting.id}: IAM user `dan` for <@{waiting.owner_id}>: expired"
    assert thread_lines(slack, waiting) == [f"Request #{waiting.id} expired: nobody decided within 12 seconds."]
    assert [e.what for e in store.events(waiting.id)].count("expired") == 1
    assert "Traceback" not in survivor.log()


def test_two_workers_on_sqlite_act_once_after_a_restart(serve, slack, aws_proxy, aws):
    served = serve("bot", WEB_CONCURRENCY="2")
    store = served.store
    # dan's request approved, and the process killed before AWS saw CreateUser.
    dan = file_request(served, "U0ALICE", "create dan Developers", "U0DAN")
    creating = aws_proxy.hold("CreateUser", where=lambda f: f.get("UserName") == "dan")
    approve(served, dan)
    creating.wait_reached()
    assert store.get(dan.id).state == storage.APPROVED

    # Both workers of the new process look for owed work: one of them provisions dan, once.
    served.restart()
    wait_until(lambda: store.get(dan.id).state == storage.PROVISIONED, what="dan's user to be provisioned")
    settled(store, dan.id)
    assert aws_proxy.forwarded("CreateUser", UserName="dan") == 1
    assert [u["UserName"] for u in aws.list_users()["Users"]] == ["dan"]
    assert [e.what for e in store.events(dan.id)].count("provisioned") == 1
    assert len(dms(slack, "U0DAN")) == 1
    created, delivered = thread_lines(slack, dan)
    assert created.startswith(":white_check_mark: Created `arn:aws:iam::123456789012:user/dan`")
    assert delivered == ":envelope: Sign-in details delivered to <@U0DAN> by DM."

    approved_and_revealed_once([served], slack, aws_proxy, store)
    assert "Traceback" not in served.log()


def test_a_worker_stalled_past_the_work_hold_sends_one_sign_in_dm(serve, slack, aws_proxy, aws):
    """A live worker renews its claims: a call stalled past IAM_BOT_WORK_HOLD (Slack's or AWS's
    retries) is not started a second time beside it."""
    served = serve("bot")
    store = served.store
    jane = file_request(served, "U0ALICE", "create jane.doe Developers", "U0JANE")
    # The DM's conversations.open stalls in a live process for longer than the work hold.
    stalled = slack.hold("conversations.open", where=lambda p: p.get("users") == "U0JANE")
    approve(served, jane)
    stalled.wait_reached()
    token = store.get(jane.id).details["reveal_button"]  # the button the stalled attempt will send
    try:
        wait_until(lambda: dms(slack, "U0JANE"), 10, "a second attempt at the DM")
    except AssertionError:
        pass  # none: the stalled attempt kept its claim
    stalled.release()
    try:
        wait_until(lambda: any((reveal_value(m) or "").endswith(f":{token}") for m in dms(slack, "U0JANE")),
                   10, "the stalled attempt to send its DM")
    except AssertionError:
        pass  # it did not: its button had been retired meanwhile
    settled(store, jane.id)

    [dm] = dms(slack, "U0JANE")
    assert thread_lines(slack, jane).count(":envelope: Sign-in details delivered to <@U0JANE> by DM.") == 1
    said = answer(served, press_reveal(served, "U0JANE", dm))
    assert said.startswith("Password for `jane.doe`: `")
