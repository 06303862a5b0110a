"""A bot with a year of history: its duties read only what can be due, its request paths use
indexes, and finished jobs go after a while (the event log stays whole)."""

import datetime as dt
import json
import re

import pytest

import storage
from bot import blocks
from commands.approvals import Approvals
from commands.audit import Audit
from commands.groups import Groups
from commands.home import HomeFollower
from commands.keys import ACCESS_KEY, KeyFlow
from commands.mfa import MfaWatch
from commands.iam import IamUser
from commands.offboard import Protected
from commands.reconcile import Reconciler
from commands.reminders import Reminders
from commands.reviews import Reviews
from commands.workflow import Due, Policy
from storage import migrations as sqlite_migrations, open_store, postgres_migrations
from tests.support.domain import workflow_with_create
from tests.support.store_spy import spying
from tests.support.stores import url  # noqa: F401 (a fixture)

T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
OWNER_DM = "D0JANE"


def reveal_value(slack):
    [dm] = [p for p in slack.of("chat.postMessage") if p.get("channel") == OWNER_DM]
    return [e for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]][0]["value"]


def run_every_duty(bot):
    for duty in bot.built.duties:
        duty.run()
    bot.settle()


# -- a finished request is left alone ----------------------------------------------------

def test_a_user_with_mfa_on_is_never_read_by_a_duty_again(make_bot, slack, aws):
    now = [T0]
    bot = make_bot(clock=lambda: now[0], iam_bot_mfa_grace="24h")
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    device = aws.create_virtual_mfa_device(VirtualMFADeviceName="jane.doe")["VirtualMFADevice"]
    aws.enable_mfa_device(UserName="jane.doe", SerialNumber=device["SerialNumber"],
                          AuthenticationCode1="123456", AuthenticationCode2="654321")
    now[0] = T0 + 2 * DAY
    run_every_duty(bot)
    assert "mfa_on" in [e.what for e in bot.store.events(1)]

    for later in (3 * DAY, 40 * DAY, 400 * DAY):  # months of ticks: Jane's request has nothing left to do
        now[0] = T0 + later
        with spying(bot.store) as asked:
            run_every_duty(bot)
        assert 1 not in asked.request_ids()
    assert bot.store.get(1).state == storage.REVEALED


# -- query plans -------------------------------------------------------------------------

HISTORY = 3000
LATER = T0 + 30 * DAY  # due entries come a minute apart from then


def grow(store, count=HISTORY):
    """`count` finished requests with their events and finished jobs, in one transaction (fast),
    plus due entries a month ahead: enough rows for PostgreSQL's planner to prefer an index."""
    kinds = ["create_user", ACCESS_KEY, "remove", "reset_password"]
    states = [storage.REVEALED, storage.DENIED, storage.EXPIRED, storage.PROVISIONED, storage.REVEAL_EXPIRED]
    at = store._time_in(T0 - 30 * DAY)
    with store._write() as tx:
        for n in range(1, count + 1):
            kind, state = kinds[n % 4], states[n % 5]
            details = {"key_id": f"AKIA{n:016d}", "replaces": f"AKIA{n + 1:016d}"} if kind == ACCESS_KEY else {}
            tx.count(
                "INSERT INTO requests (id, user_name, user_name_key, groups, console, owner_id, requester_id, "
                "team_id, state, created_at, updated_at, steps_done, kind, details, user_arn, provisioned_at, "
                "revealed_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'T0TEAM', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [n, f"user{n}", f"user{n}", store._json_in([]), True, f"U{n % 500}", f"U{n % 700}", state, at, at,
                 store._json_in([]), kind, store._json_in(details), f"arn:aws:iam::1:user/user{n}", at, at])
            for what in ("filed", "approved", state):
                tx.count("INSERT INTO events (request_id, actor_id, what, at) VALUES (?, 'U0BOB', ?, ?)", [n, what, at])
            for job in ("card", "thread", "dm_update"):
                tx.count("INSERT INTO jobs (kind, request_id, payload, due_at, created_at, done_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)", [job, n, store._json_in({}), at, at, at])
            if n % 3 == 0:
                for duty in (Due.REVEAL_EXPIRY, Due.MFA, Due.ROTATION):
                    tx.count("INSERT INTO duties_due (duty, request_id, due_at) VALUES (?, ?, ?)",
                             [duty, n, store._time_in(LATER + n * dt.timedelta(minutes=1))])
        if store.FOR_UPDATE:  # PostgreSQL: the planner needs statistics (SQLite's is never given any)
            tx.count("ANALYZE")


# Partial indexes that hold only live rows (open jobs, live grants, the homes of approvers, read with
# a LIMIT): reading one whole reads no history.
LIVE_ONLY = ("USING INDEX jobs_open", "USING INDEX jobs_due", "USING INDEX grants_live",
             "USING INDEX homes_approvers", "USING COVERING INDEX homes_approvers")


def whole_table_scans(store, sql: str, params: list) -> list[str]:
    """The plan lines of `sql` that read a whole table (or a whole index) of the store."""
    if store.FOR_UPDATE:
        with store._read() as tx:
            plan = [row["QUERY PLAN"] for row in tx.rows(f"EXPLAIN {sql}", params)]
        return [line for line in plan if re.search(r"Seq Scan on (requests|events|jobs|duties_due|grants|review_items|homes)\b", line)]
    with store._read() as tx:
        plan = [row["detail"] for row in tx.rows(f"EXPLAIN QUERY PLAN {sql}", params)]
    return [line for line in plan if line.startswith("SCAN ") and not line.startswith("SCAN CONSTANT")
            and not line.endswith(LIVE_ONLY)]


def assert_no_scans(store, asked):
    statements = [(sql, params) for sql, params, _ in asked.statements
                  if not sql.lstrip().upper().startswith(("INSERT", "ANALYZE"))]
    assert statements
    scans = {sql: lines for sql, params in statements if (lines := whole_table_scans(store, sql, params))}
    assert scans == {}


def test_no_duty_query_reads_a_whole_table(url):
    store = open_store(url)
    grow(store)
    workflow = workflow_with_create(store, None, Policy(team_id="T0TEAM"), clock=lambda: T0)
    keys = KeyFlow(workflow, store, None)
    with spying(store) as asked:
        workflow.sweep()
        keys.check_rotations()
        MfaWatch(workflow, store, None).check()
        Reminders(workflow, store).remind_due()
        Audit(workflow, store, None).schedule(dt.timedelta(days=7))
        workflow.forget_done_work(dt.timedelta(days=7), batch=10, batches=1)
        for duty in (Due.REVEAL_EXPIRY, Due.MFA, Due.ROTATION):  # a pass of more than one batch
            assert len(list(store.each_due(duty, now=LATER + dt.timedelta(minutes=99), batch=10))) == 33
        workflow.claim_due("worker", 10)
    assert_no_scans(store, asked)
    store.close()


class Removals:
    """The IAM gateway as the revoker uses it: every removal done."""

    def __init__(self):
        self.removed = []

    def remove_user_from_group(self, name, group):
        self.removed.append((name, group))


def grow_grants(store, count=HISTORY, live=30):
    """A grant per past request, all ended, and `live` grants of requests 1.. that end at T0 (due)."""
    at = store._time_in(T0 - 30 * DAY)
    with store._write() as tx:
        for n in range(1, count + 1):
            ended = n > live
            tx.count("INSERT INTO grants (request_id, user_name, user_key, group_name, group_key, started_at, "
                     "ends_at, ended_at, end_reason) VALUES (?, ?, ?, 'Admins', 'admins', ?, ?, ?, ?)",
                     [n, f"user{n}", f"user{n}", at, at if ended else store._time_in(T0),
                      at if ended else None, "removed" if ended else None])
            if not ended:
                tx.count("INSERT INTO duties_due (duty, request_id, due_at) VALUES (?, ?, ?)",
                         [Due.GRANT_END, n, store._time_in(T0)])
        if store.FOR_UPDATE:
            tx.count("ANALYZE")


def test_the_revoker_reads_only_due_grants(url):
    store = open_store(url)
    grow(store)
    grow_grants(store)
    for n in range(1, 11):  # break-glass reviews due: requests 3 and 8 are provisioned, the rest moved on
        store.set_due(n, {Due.GLASS_REVIEW: T0})
    workflow = workflow_with_create(store, None, Policy(team_id="T0TEAM"), clock=lambda: T0)
    iam = Removals()
    groups = Groups(workflow, store, iam, workflow.policy, Approvals(), protected=Protected("/"))
    with spying(store) as asked:
        ended = groups.revoke_due()
        groups.warn_due()
        reminded = groups.review_due()
        store.live_grants("user9", "Admins")
        store.grant(1)
    assert len(ended) == 30 and len(iam.removed) == 30
    assert reminded == 2
    assert_no_scans(store, asked)
    assert list(store.each_due(Due.GRANT_END, now=T0 + 365 * DAY)) == []  # nothing left due
    assert [r.id for r in store.each_due(Due.GLASS_REVIEW, now=T0 + 365 * DAY)] == [3, 8]  # the next reminders
    store.close()


class Members:
    """The IAM gateway as the reconciler uses it: Admins holds the live grants' users and one more."""

    def __init__(self, live=30):
        self.members = [IamUser(f"user{n}", f"AIDA{n}", f"arn:aws:iam::1:user/user{n}", "/")
                        for n in (*range(1, live + 1), 99999)]
        self.removed = []

    def bot_identity(self):
        return "arn:aws:iam::1:user/iam-bot"

    def group_members(self, group):
        return self.members if group.lower() == "admins" else []

    def remove_user_from_group(self, name, group):
        self.removed.append((name, group))


def test_the_reconciler_reads_only_the_days_grants(url):
    store = open_store(url)
    grow(store)
    grow_grants(store)
    workflow = workflow_with_create(store, None, Policy(team_id="T0TEAM"), clock=lambda: T0 - dt.timedelta(minutes=1))
    iam = Members()
    groups = Groups(workflow, store, iam, workflow.policy, Approvals(), protected=Protected("/"))
    with spying(store) as asked:
        done = Reconciler(groups, store, iam, Protected("/")).reconcile()
    assert done.groups == ["Admins"] and done.removed == [] and done.reported == []  # a standing group
    assert_no_scans(store, asked)
    store.close()


class NoAws:
    """Nothing of the last day: a reconciler pass that calls AWS is a bug."""

    def __getattr__(self, name):
        raise AssertionError(f"the reconciler called AWS ({name}) with nothing to compare")


def test_the_reconciler_with_nothing_of_the_last_day_reads_two_indexes_and_asks_aws_nothing(url):
    store = open_store(url)
    grow(store)
    grow_grants(store, live=0)  # every grant ended a month ago
    workflow = workflow_with_create(store, None, Policy(team_id="T0TEAM"), clock=lambda: T0)
    groups = Groups(workflow, store, NoAws(), workflow.policy, Approvals(), protected=Protected("/"))
    with spying(store) as asked:
        done = Reconciler(groups, store, NoAws(), Protected("/")).reconcile()
    assert done.groups == [] and done.removed == [] and done.reported == []
    assert len(asked.statements) == 2  # the live grants' groups, the groups of grants ended since yesterday
    assert_no_scans(store, asked)
    store.close()


def test_the_app_home_follower_reads_only_the_events_after_its_cursor(url):
    store = open_store(url)
    grow(store)
    for n in range(HISTORY):  # people who opened their App Home, a few of them approvers
        store.home_opened(f"U{n}", now=T0)
    store.home_published("U0BOB", digest="d", approver=True, now=T0)
    if store.FOR_UPDATE:
        with store._write() as tx:
            tx.count("ANALYZE")
    follower = HomeFollower(store, lambda: T0)
    follower.start()
    store.append_event(7, "U0BOB", "approved", T0)  # request 7: owner U7, requester U7
    with spying(store) as asked:
        written = follower.follow()
        assert follower.follow() == 0  # nothing new: the cursor's row and one empty read
    assert written == 2  # U7 and U0BOB, whose homes are open (approvers care about "approved")
    assert_no_scans(store, asked)
    store.close()


class Identity:
    """The IAM gateway as a review's deadline uses it with `report`: who the bot is, nothing else."""

    def bot_identity(self):
        return "arn:aws:iam::1:user/iam-bot"


def grow_reviews(store, campaigns=40, members=60):
    """`campaigns` closed access reviews of `members` decided memberships each, and one open one
    whose reminder and deadline are due at T0."""
    for n in range(campaigns + 1):
        items = [{"group": "Admins", "user_name": f"user{m}", "owner_id": None, "seen": {"in_report": False}}
                 for m in range(members)]
        campaign = store.open_campaign(started_by="U0BOB", now=T0 - (campaigns - n + 1) * 30 * DAY,
                                       deadline_at=T0, groups=[{"group": "Admins", "reviewers": ["U0BOB"],
                                                                 "on_deadline": "report", "total": members}],
                                       items=items, remind_at=T0)
        if n < campaigns:
            for item in store.review_items(campaign.id):
                store.decide_review_item(item.id, decision="kept", decider_id="U0BOB", now=T0)
            store.close_campaign(campaign.id, now=T0, summary={})
    store.set_review_due("campaign", "*", LATER)
    if store.FOR_UPDATE:
        with store._write() as tx:
            tx.count("ANALYZE")
    return campaign


def test_the_review_duties_read_only_what_is_due(url):
    store = open_store(url)
    grow(store)
    open_one = grow_reviews(store)
    reviews = Reviews(store, Identity(), Approvals(), Protected("/"), clock=lambda: T0, team_id="T0TEAM",
                      mfa_group=None, every=dt.timedelta(days=90), deadline=dt.timedelta(days=14))
    with spying(store) as asked:
        assert reviews.schedule_due(lambda names: {}) is None  # not due: one read by key
        assert reviews.remind_due() == 1
        assert reviews.close_due() == [open_one.id]
        store.review_progress(open_one.id, "Admins")
        store.review_items(open_one.id, "Admins", first=10, count=10)
        store.review_cards(open_one.id)
    assert_no_scans(store, asked)
    assert list(store.each_review_due("deadline", now=T0 + 365 * DAY)) == []
    assert list(store.each_review_due("remind", now=T0 + 365 * DAY)) == []
    store.close()


def test_no_request_path_query_reads_a_whole_table(url):
    store = open_store(url)
    grow(store)
    with spying(store) as asked:
        assert len(store.for_requester("U7")) == 5  # requests 7, 707 ... 2807
        assert len(store.for_owner("U7")) == 6
        assert [r.id for r in store.about_user("USER8", newest=20)] == [8]
        assert store.count_about_user("user8") == 1
        assert store.key_issued(f"AKIA{1:016d}").id == 1
        assert store.users_made(["arn:aws:iam::1:user/user4", "arn:aws:iam::1:user/user3"]) == {
            "arn:aws:iam::1:user/user4"}
        assert [len(events) for events in store.events_of([1, 2]).values()] == [3, 3]
        assert store.jobs(done=False) == []
        store.for_user_name("user9")
        store.get(9)
        # `/iam add --for` (and Extend) count the requester's auto-approvals of the day.
        assert [r.id for r in store.requested_since("U7", T0 - 60 * DAY, kind="reset_password")] == [7, 707, 1407, 2107, 2807]
        assert store.requested_since("U7", T0 - 60 * DAY, kind="group_add") == []
        assert [r.id for r in store.holding_requests("USER8")] == [8]  # /iam status: standing memberships
        assert store.holding_requests("user10") == []  # denied
    assert_no_scans(store, asked)
    store.close()


# -- finished jobs go, the trail stays ---------------------------------------------------

def test_finished_jobs_go_after_the_retention_and_their_events_stay(url):
    store = open_store(url)
    request = store.file_request(user_name="jane.doe", groups=[], console=True, owner_id="U0JANE",
                                 requester_id="U0ALICE", team_id="T0TEAM", now=T0,
                                 jobs=[storage.NewJob("card"), storage.NewJob("thread"), storage.NewJob("dm")])
    first, second, third = store.claim_due_jobs("w", now=T0, hold=dt.timedelta(minutes=1))
    store.finish_job(first.id, "w", now=T0)
    store.finish_job(second.id, "w", now=T0 + 20 * DAY)
    workflow = workflow_with_create(store, None, Policy(team_id="T0TEAM"), clock=lambda: T0 + 31 * DAY)

    assert workflow.forget_done_work(dt.timedelta(days=30)) == 1
    assert [j.id for j in store.jobs(request_id=request.id)] == [second.id, third.id]  # newer, and not done
    assert [e.what for e in store.events(request.id)] == ["filed"]
    store.close()


# -- an upgraded store keeps its due work -------------------------------------------------

def test_an_upgraded_store_keeps_what_was_due(url, monkeypatch):
    """A store made before due entries existed: its reveal still expires, its MFA watch and its
    open rotation still run, and its finished requests get no entry."""
    if url.startswith("sqlite"):
        names = [m.name for m in sqlite_migrations.migrations._migrations]
        before = sqlite_migrations.migrations._migrations[:names.index("m007_due_work_and_request_path_indexes")]
        monkeypatch.setattr(sqlite_migrations.migrations, "_migrations", before)
    else:
        names = [name for name, _ in postgres_migrations.MIGRATIONS]
        monkeypatch.setattr(postgres_migrations, "MIGRATIONS",
                            postgres_migrations.MIGRATIONS[:names.index("0006_due_work_and_request_path_indexes")])
    old = open_store(url)

    def made(name, state, kind="create_user", console=True, details=None):
        request = old.file_request(user_name=name, groups=[], console=console, owner_id="U0JANE",
                                   requester_id="U0ALICE", team_id="T0TEAM", now=T0, kind=kind, details=details)
        return old.transition(request.id, from_states=[storage.PENDING], to_state=state, actor_id=None,
                              what=state, now=T0, provisioned_at=T0, revealed_at=T0)

    unrevealed = made("unrevealed", storage.PROVISIONED)
    watched = made("watched", storage.REVEALED)
    rotating = made("rotating", storage.REVEALED, kind=ACCESS_KEY, details={"replaces": "AKIAOLD", "key_id": "AKIANEW"})
    finished = [made("removal", storage.PROVISIONED, kind="remove", console=False),
                made("no.console", storage.PROVISIONED, console=False),
                made("mfa.on", storage.REVEALED, details={"mfa": {"on_at": T0.isoformat()}}),
                made("plain.key", storage.REVEALED, kind=ACCESS_KEY, details={"key_id": "AKIAPLAIN"})]
    old.close()
    monkeypatch.undo()

    store = open_store(url)
    assert store.due_at(unrevealed.id) == {Due.REVEAL_EXPIRY: T0}
    assert store.due_at(watched.id) == {Due.MFA: T0}
    assert store.due_at(rotating.id) == {Due.ROTATION: T0}
    assert [store.due_at(r.id) for r in finished] == [{}] * len(finished)
    workflow = workflow_with_create(store, None, Policy(team_id="T0TEAM"), clock=lambda: T0 + 2 * DAY)
    [expired] = workflow.sweep()
    assert (expired.id, expired.state) == (unrevealed.id, storage.REVEAL_EXPIRED)
    assert store.due_at(unrevealed.id) == {}
    store.close()


def test_details_are_json_objects_in_the_grown_rows(url):
    """The plan tests' rows read back as the store's own (so their plans are the real ones)."""
    store = open_store(url)
    grow(store, count=8)
    assert json.dumps(store.get(1).details) == json.dumps({"key_id": f"AKIA{1:016d}", "replaces": f"AKIA{2:016d}"})
    assert store.get(8).kind == "create_user"
    store.close()


# -- /iam status reads what it shows -----------------------------------------------------

def test_status_of_a_name_with_many_requests_reads_the_newest_twenty_in_three_reads(url):
    from bot.feature import Looks
    from bot.features.audit import status_message
    from commands.rules import Person

    store = open_store(url)
    for n in range(25):
        request = store.file_request(user_name="svc.deploy", groups=[], console=False, owner_id="U0SVC",
                                     requester_id="U0ALICE", team_id="T0TEAM", now=T0 + n * DAY)
        store.transition(request.id, from_states=[storage.PENDING], to_state=storage.DENIED, actor_id="U0BOB",
                         what=storage.DENIED, now=T0 + n * DAY, detail="no")
    workflow = workflow_with_create(store, None, Policy(team_id="T0TEAM"), clock=lambda: T0 + 30 * DAY)
    with spying(store) as asked:
        shown = Audit(workflow, store, None).status("SVC.deploy", Person("U0BOB", team_id="T0TEAM"), listed=True)
    # Three reads, and a fourth because older requests are not shown: they may hold standing memberships.
    assert len(asked.statements) == 4
    assert [t.request.id for t in shown.trails] == list(range(25, 5, -1)) and shown.older == 5
    assert [e.what for e in shown.trails[0].events] == ["filed", storage.DENIED]
    message = status_message(shown, Looks())
    assert "and 5 older requests" in str(message["blocks"][-1])
    store.close()


def test_finished_work_of_a_leaver_goes_too_and_their_leaving_stays_closed(url):
    """A leaver's row points at the job that handled them: pruning that job must neither fail
    (the row's reference) nor reopen the leaving (a later event is handled anew, as it was)."""
    store = open_store(url)
    job = store.open_leaver("U0JANE", storage.NewJob("leaver", key="Ev1"), now=T0, worker="w",
                            hold=dt.timedelta(minutes=1))
    store.finish_job(job.id, "w", now=T0)
    workflow = workflow_with_create(store, None, Policy(team_id="T0TEAM"), clock=lambda: T0 + 31 * DAY)

    store.enqueue([storage.NewJob("card")], now=T0 + 31 * DAY)  # the newest job always stays
    assert workflow.forget_done_work(dt.timedelta(days=30)) == 1
    assert [j.kind for j in store.jobs()] == ["card"]
    again = store.open_leaver("U0JANE", storage.NewJob("leaver", key="Ev2"), now=T0 + 31 * DAY, worker="w",
                              hold=dt.timedelta(minutes=1))
    assert again is not None and again.id != job.id
    store.close()
