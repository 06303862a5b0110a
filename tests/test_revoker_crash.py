"""The revoker across processes (issue 20): `iam-bot serve` killed with SIGKILL while AWS is
taking a user out of a group (removed once, recorded once), and two replicas on one PostgreSQL
database (each grant revoked exactly once). Real processes, real clocks: the grants last the
shortest time IAM_BOT_GRANT_MIN allows here, one minute."""

import datetime as dt

import pytest

import storage
from tests.support.process import approve, dms, file_request, settled, thread_lines, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.crash, pytest.mark.slow]

pytest_plugins = ["tests.support.process"]

FAST = dict(IAM_BOT_GRANT_MIN="1m", IAM_BOT_GRANT_WARNING="10m", IAM_BOT_REVOKE_EVERY="1s",
            IAM_BOT_REVOKE_RETRY="1m")
GROUPS = ("Ops", "Oncall", "Billing", "Support", "Deploy")


def groups_of(aws, user_name: str) -> set[str]:
    return {g["GroupName"] for g in aws.list_groups_for_user(UserName=user_name)["Groups"]}


def with_sts(aws_proxy) -> dict[str, str]:
    """The bot asks STS who it is before it touches a user (the proxy passes STS on to moto)."""
    return {**FAST, "AWS_ENDPOINT_URL_STS": aws_proxy.url}


def jane_with(served, aws, groups: tuple[str, ...]):
    """jane.doe made (Developers), then `/iam add jane.doe <groups> --for 1m` approved: its grants."""
    for group in groups:
        aws.create_group(GroupName=group)
    jane = file_request(served, "U0ALICE", "create jane.doe Developers", "U0JANE")
    approve(served, jane)
    wait_until(lambda: served.store.get(jane.id).state == storage.PROVISIONED, what="jane's user")
    ack = served.slash("U0ALICE", f"add jane.doe {' '.join(groups)} --for 1m --reason incident 42")
    assert ack.status_code == 200, ack.text

    def carded():
        return next((r for r in served.store.for_owner("U0JANE") if r.kind == storage.GROUP_ADD and r.card_ts), None)

    add = wait_until(carded, what="the add's approval card")
    approve(served, add)
    wait_until(lambda: len(served.store.grants_of(add.id)) == len(groups), what="the grants")
    assert groups_of(aws, "jane.doe") >= set(groups)
    return add


def test_killed_during_a_revocation_removes_once_and_records_once(serve, slack, aws_proxy, aws):
    served = serve("bot", **with_sts(aws_proxy))
    add = jane_with(served, aws, ("Ops",))
    # AWS takes jane out of Ops; the answer never reaches the bot, which dies waiting for it.
    removing = aws_proxy.hold_answer("RemoveUserFromGroup", where=lambda f: f.get("GroupName") == "Ops")
    removing.wait_reached(timeout=90)
    assert "Ops" not in groups_of(aws, "jane.doe")
    [grant] = served.store.grants_of(add.id)
    assert grant.live  # AWS did it; the bot has not written it down
    served.kill()

    served.restart()
    wait_until(lambda: not served.store.grants_of(add.id)[0].live, 30, "the grant to end")
    settled(served.store)
    [grant] = served.store.grants_of(add.id)
    assert grant.end_reason == "removed" and grant.attempts == 0
    assert [e.what for e in served.store.events(add.id)].count("grant_ended") == 1
    # Asked again after the restart, AWS found nothing to remove (NoSuchEntity: done): no second removal.
    assert aws_proxy.forwarded("RemoveUserFromGroup", UserName="jane.doe", GroupName="Ops") == 2
    assert groups_of(aws, "jane.doe") == {"Developers"}
    assert len([line for line in thread_lines(slack, add) if "membership of `Ops` ended" in line]) == 1
    assert len([m for m in dms(slack, "U0JANE") if "membership of `Ops` ended" in m.text]) == 1
    assert "Traceback" not in served.log()


def test_two_replicas_on_postgres_revoke_each_grant_once(serve, slack, aws_proxy, aws, postgres_url):
    servers = [serve(name, database_url=postgres_url, WEB_CONCURRENCY="2", **with_sts(aws_proxy)) for name in ("one", "two")]
    store = servers[0].store
    add = jane_with(servers[1], aws, GROUPS)
    wait_until(lambda: not any(g.live for g in store.grants_of(add.id)), 120, "every grant to end")
    settled(store)
    late = max(g.ended_at - g.ends_at for g in store.grants_of(add.id))
    assert late < dt.timedelta(seconds=10), late
    for grant in store.grants_of(add.id):
        assert grant.end_reason == "removed" and grant.attempts == 0, grant
        assert aws_proxy.forwarded("RemoveUserFromGroup", UserName="jane.doe", GroupName=grant.group) == 1, grant
    assert [e.what for e in store.events(add.id)].count("grant_ended") == len(GROUPS)
    assert groups_of(aws, "jane.doe") == {"Developers"}
    for group in GROUPS:
        assert len([m for m in dms(slack, "U0JANE") if f"membership of `{group}` ended" in m.text]) == 1, group
    assert all("Traceback" not in served.log() for served in servers)
