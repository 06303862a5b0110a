"""Schema of the SQLite store, as sqlite-utils migrations applied at start-up. Never edit an
applied migration: add the next one."""

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("iam_bot")


@migrations()
def m001_requests_and_events(db: Database) -> None:
    db["requests"].create(
        {
            "id": int,
            "user_name": str,
            # IAM user names are unique ignoring case; this column lets SQLite say so.
            "user_name_key": str,
            "groups": str,  # JSON list
            "console": int,
            "owner_id": str,
            "requester_id": str,
            "team_id": str,
            "state": str,
            "created_at": str,
            "updated_at": str,
            "decider_id": str,
            "decided_at": str,
            "deny_reason": str,
            "steps_done": str,  # JSON list of provisioning steps finished
            "failure": str,
            "user_arn": str,
            "card_channel": str,
            "card_ts": str,
            "dm_channel": str,
            "dm_ts": str,
            "reveal_claimed_at": str,
            "revealed_at": str,
            "provisioned_at": str,
        },
        pk="id",
        not_null={"user_name", "user_name_key", "groups", "owner_id", "requester_id", "state", "created_at"},
    )
    db["requests"].create_index(["state"])
    db["requests"].create_index(["user_name_key"])
    # Two live requests for one IAM user would race to create it: refuse in the schema too.
    db.execute(
        "CREATE UNIQUE INDEX requests_one_live_per_user ON requests(user_name_key) "
        "WHERE state IN ('pending', 'approved', 'provisioned')"
    )
    db["events"].create(
        {"id": int, "request_id": int, "actor_id": str, "what": str, "detail": str, "at": str},
        pk="id",
        not_null={"what", "at"},
    )
    db["events"].create_index(["request_id"])
    # The event log is append-only: the database itself refuses to change or lose an event.
    db.execute(
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
    )


@migrations()
def m002_kinds_jobs_leases(db: Database) -> None:
    # Later request kinds keep what is particular to them in `details`.
    db.execute("ALTER TABLE requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'create_user'")
    db.execute("ALTER TABLE requests ADD COLUMN details TEXT NOT NULL DEFAULT '{}'")  # JSON object
    # Messages the bot owes a person and work that must survive a crash, written in the same
    # transaction as the change that owes them.
    db.execute(
        "CREATE TABLE jobs ("
        " id INTEGER PRIMARY KEY,"
        " kind TEXT NOT NULL,"
        " request_id INTEGER REFERENCES requests(id),"
        " key TEXT UNIQUE,"
        " payload TEXT NOT NULL DEFAULT '{}',"  # JSON object
        " due_at TEXT NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " claimed_by TEXT,"
        " claimed_until TEXT,"
        " done_at TEXT,"
        " last_error TEXT,"
        " created_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX jobs_due ON jobs(due_at, id) WHERE done_at IS NULL")
    db.execute("CREATE INDEX jobs_request_id ON jobs(request_id)")
    # Background duties that one process at a time should run.
    db.execute("CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until TEXT NOT NULL)")
    # The health check proves a write by bumping this one row.
    db.execute(
        "CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), beats INTEGER NOT NULL, at TEXT NOT NULL)"
    )


@migrations()
def m003_one_live_request_per_name_and_kind(db: Database) -> None:
    # Kinds must not block each other (a remove while the create that made the user is live), a
    # finished removal frees the name, and so does a create whose user was removed (state 'removed').
    db.execute("DROP INDEX IF EXISTS requests_one_live_per_user")
    db.execute(
        "CREATE UNIQUE INDEX requests_one_live_per_user_and_kind ON requests(user_name_key, kind) "
        "WHERE state IN ('pending', 'approved') OR (state = 'provisioned' AND kind <> 'remove')"
    )
    db.execute("CREATE INDEX requests_owner_id ON requests(owner_id)")


@migrations()
def m004_key_holds(db: Database) -> None:
    # A key made inactive by an approver or by its user's disable, read by primary key when its
    # owner tries to activate or rotate it (not from the event log, which grows without end).
    db.execute(
        "CREATE TABLE key_holds ("
        " key_id TEXT PRIMARY KEY,"
        " user_name_key TEXT NOT NULL,"
        " cause TEXT NOT NULL,"
        " actor_id TEXT,"
        " request_id INTEGER REFERENCES requests(id),"
        " held_at TEXT NOT NULL)"
    )
    # An approved `enable` lifts the holds of its user's disable.
    db.execute("CREATE INDEX key_holds_user_name_key ON key_holds(user_name_key)")


@migrations()
def m005_key_attempts(db: Database) -> None:
    # When CreateAccessKey was attempted for a request whose key id is not yet written down; NULL
    # otherwise. The index holds only such attempts, so the duty that settles those a crash left
    # reads them and nothing else.
    db.execute("ALTER TABLE requests ADD COLUMN key_attempt_at TEXT")
    db.execute("CREATE INDEX requests_key_attempts ON requests(key_attempt_at) WHERE key_attempt_at IS NOT NULL")
    # Attempts a crash left before this column existed: their keys are found and deleted too.
    db.execute(
        "UPDATE requests SET key_attempt_at = json_extract(details, '$.key_attempted') "
        "WHERE kind = 'access_key' AND json_extract(details, '$.key_attempted') IS NOT NULL "
        "AND json_extract(details, '$.key_id') IS NULL AND json_extract(details, '$.key_lost') IS NULL"
    )


@migrations()
def m006_leavers(db: Database) -> None:
    # One row per person Slack said left, while the bot is handling it or the removals it filed
    # are open: every further event about that person is answered from this row alone, with no
    # Slack or AWS call, on any replica. `removals` is a JSON list of request ids.
    db.execute(
        "CREATE TABLE leavers ("
        " person_id TEXT PRIMARY KEY,"
        # Not a foreign key: finished jobs are pruned, and a leaving whose job is gone is done.
        " job_id INTEGER NOT NULL,"
        " removals TEXT NOT NULL DEFAULT '[]',"
        " since TEXT NOT NULL)"
    )


@migrations()
def m007_due_work_and_request_path_indexes(db: Database) -> None:
    # A duty reads only what is due: each transition that makes a request due for a duty writes
    # (duty, request, when) here, and the duty reads `due_at <= now` from the index, in batches.
    db.execute(
        "CREATE TABLE duties_due ("
        " duty TEXT NOT NULL,"
        " request_id INTEGER NOT NULL REFERENCES requests(id),"
        " due_at TEXT NOT NULL,"
        " PRIMARY KEY (duty, request_id))"
    )
    db.execute("CREATE INDEX duties_due_when ON duties_due(duty, due_at, request_id)")
    # What was due before this migration stays due: each duty looks at these once, at once, and
    # moves or clears them (names as in commands/workflow.py Due).
    db.execute(
        "INSERT INTO duties_due (duty, request_id, due_at) SELECT 'reveal_expiry', id, provisioned_at "
        "FROM requests WHERE state IN ('provisioned', 'revealing') AND provisioned_at IS NOT NULL "
        "AND kind <> 'remove' AND NOT (kind = 'create_user' AND console = 0)"
    )
    db.execute(
        "INSERT INTO duties_due (duty, request_id, due_at) SELECT 'mfa', id, revealed_at FROM requests "
        "WHERE state = 'revealed' AND kind = 'create_user' AND console = 1 AND revealed_at IS NOT NULL "
        "AND json_extract(details, '$.mfa') IS NULL"
    )
    db.execute(
        "INSERT INTO duties_due (duty, request_id, due_at) SELECT 'rotation', id, updated_at FROM requests "
        "WHERE kind = 'access_key' AND ("
        " (state = 'revealed' AND json_extract(details, '$.replaces') IS NOT NULL)"
        " OR (state IN ('provisioned', 'revealing', 'reveal_expired') AND json_extract(details, '$.key_id') IS NOT NULL"
        "     AND json_extract(details, '$.key_lost') IS NULL))"
    )
    # Request paths: a leaver's requests, the bot's own users among the audit's, a key's request.
    db.execute("CREATE INDEX requests_requester_id ON requests(requester_id)")
    db.execute("CREATE INDEX requests_user_arn ON requests(user_arn)")
    db.execute("CREATE INDEX requests_key_id ON requests(json_extract(details, '$.key_id'))")
    # Open jobs by id (the shell, the tests) and finished jobs by age (pruning).
    db.execute("CREATE INDEX jobs_open ON jobs(id) WHERE done_at IS NULL")
    db.execute("CREATE INDEX jobs_done_at ON jobs(done_at) WHERE done_at IS NOT NULL")


@migrations()
def m008_audit_stream(db: Database) -> None:
    # The live audit stream's cursor per stream name (storage/trail.py), moved by compare-and-swap
    # after the lines it covers are written. SQLite commits ids in order: the last id is enough
    # (`txid` stays 0; PostgreSQL needs it).
    db.execute(
        "CREATE TABLE audit_stream ("
        " name TEXT PRIMARY KEY,"
        " txid INTEGER NOT NULL DEFAULT 0,"
        " last_id INTEGER NOT NULL,"
        " at TEXT NOT NULL)"
    )


@migrations()
def m009_grants(db: Database) -> None:
    # Group membership asked for with `/iam add` (issue 20): two adds of one user may be open at
    # once (each approved one is a grant of its own), so the one-live-request rule skips them.
    db.execute("DROP INDEX IF EXISTS requests_one_live_per_user_and_kind")
    db.execute(
        "CREATE UNIQUE INDEX requests_one_live_per_user_and_kind ON requests(user_name_key, kind) "
        "WHERE (state IN ('pending', 'approved') OR (state = 'provisioned' AND kind <> 'remove')) "
        "AND kind NOT IN ('group_add', 'group_extend')"
    )
    # A grant: one group of one approved add, from AddUserToGroup until it ends (ended_at), with
    # the revoker's attempts at RemoveUserFromGroup. Read by request (the due entry) and, while
    # live, by user and group (does another grant still need the membership?).
    db.execute(
        "CREATE TABLE grants ("
        " id INTEGER PRIMARY KEY,"
        " request_id INTEGER NOT NULL REFERENCES requests(id),"
        " user_name TEXT NOT NULL,"
        " user_key TEXT NOT NULL,"
        " group_name TEXT NOT NULL,"
        " group_key TEXT NOT NULL,"
        " started_at TEXT NOT NULL,"
        " ends_at TEXT NOT NULL,"
        " ended_at TEXT,"
        " end_reason TEXT,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " next_try_at TEXT,"
        " told INTEGER NOT NULL DEFAULT 0,"
        " stopped INTEGER NOT NULL DEFAULT 0,"
        " warned INTEGER NOT NULL DEFAULT 0,"
        " UNIQUE (request_id, group_key))"
    )
    db.execute("CREATE INDEX grants_live ON grants(user_key, group_key) WHERE ended_at IS NULL")


@migrations()
def m010_reconciler(db: Database) -> None:
    # The reconciler (issue 20) reads, each pass, the groups with a grant live or ended in the last
    # day, and a group's grants of that day; and remembers which member added outside the bot it
    # has reported, so that each is reported once.
    db.execute("CREATE INDEX grants_ended ON grants(ended_at) WHERE ended_at IS NOT NULL")
    db.execute("CREATE INDEX grants_by_group ON grants(group_key, ended_at)")
    db.execute(
        "CREATE TABLE outside_members ("
        " group_key TEXT NOT NULL,"
        " user_key TEXT NOT NULL,"
        " reported_at TEXT NOT NULL,"
        " PRIMARY KEY (group_key, user_key))"
    )


@migrations()
def m011_homes(db: Database) -> None:
    # The App Home (issue 21): who opened theirs (only they are published to when something of
    # theirs changes), whether it showed them requests to approve, and what was last published
    # (a digest: an unchanged home is not published again).
    db.execute(
        "CREATE TABLE homes ("
        " user_id TEXT PRIMARY KEY,"
        " opened_at TEXT NOT NULL,"
        " approver INTEGER NOT NULL DEFAULT 0,"
        " digest TEXT,"
        " published_at TEXT)"
    )
    db.execute("CREATE INDEX homes_approvers ON homes(user_id) WHERE approver = 1")


@migrations()
def m012_reviews(db: Database) -> None:
    # Access reviews (issue 22): a campaign, one item per (group, member) with the figures its
    # reviewers saw and its one decision (a compare-and-set on `decision IS NULL`), the cards it
    # was posted on, and the review duties' due entries (a scheduled campaign per group, a
    # campaign's reminder and deadline), read by (what, due_at) as duties_due is.
    db.execute(
        "CREATE TABLE review_campaigns ("
        " id INTEGER PRIMARY KEY,"
        " started_at TEXT NOT NULL,"
        " started_by TEXT,"
        " deadline_at TEXT NOT NULL,"
        " groups TEXT NOT NULL,"
        " reminders INTEGER NOT NULL DEFAULT 0,"
        " closed_at TEXT,"
        " summary TEXT)"
    )
    db.execute(
        "CREATE TABLE review_items ("
        " id INTEGER PRIMARY KEY,"
        " campaign_id INTEGER NOT NULL REFERENCES review_campaigns(id),"
        " group_name TEXT NOT NULL,"
        " group_key TEXT NOT NULL,"
        " position INTEGER NOT NULL,"
        " user_name TEXT NOT NULL,"
        " user_key TEXT NOT NULL,"
        " owner_id TEXT,"
        " seen TEXT NOT NULL,"
        " decision TEXT,"
        " decider_id TEXT,"
        " decided_at TEXT,"
        " note TEXT,"
        " UNIQUE (campaign_id, group_key, user_key))"
    )
    db.execute("CREATE INDEX review_items_by_place ON review_items(campaign_id, group_key, position)")
    db.execute("CREATE INDEX review_items_by_campaign ON review_items(campaign_id, id)")
    db.execute(
        "CREATE TABLE review_cards ("
        " campaign_id INTEGER NOT NULL REFERENCES review_campaigns(id),"
        " group_key TEXT NOT NULL,"
        " page INTEGER NOT NULL,"
        " channel TEXT NOT NULL,"
        " ts TEXT NOT NULL,"
        " PRIMARY KEY (campaign_id, group_key, page))"
    )
    db.execute(
        "CREATE TABLE review_due ("
        " what TEXT NOT NULL,"
        " key TEXT NOT NULL,"
        " due_at TEXT NOT NULL,"
        " PRIMARY KEY (what, key))"
    )
    db.execute("CREATE INDEX review_due_when ON review_due(what, due_at, key)")


@migrations()
def m013_group_drops(db: Database) -> None:
    # `/iam drop` of a group whose policies hold a Deny is a request approved like an add (issue 20):
    # drops of one user's groups may be open at once, and a done one holds no name, so the
    # one-live-request rule skips them as it skips adds.
    db.execute("DROP INDEX IF EXISTS requests_one_live_per_user_and_kind")
    db.execute(
        "CREATE UNIQUE INDEX requests_one_live_per_user_and_kind ON requests(user_name_key, kind) "
        "WHERE (state IN ('pending', 'approved') OR (state = 'provisioned' AND kind <> 'remove')) "
        "AND kind NOT IN ('group_add', 'group_extend', 'group_drop')"
    )


@migrations()
def m014_request_account(db: Database) -> None:
    # Several AWS accounts (issue 23): a request is about a user in one account ('' the default,
    # the bot's own); one live request per name and kind holds per account.
    db.execute("ALTER TABLE requests ADD COLUMN account TEXT NOT NULL DEFAULT ''")
    db.execute("DROP INDEX IF EXISTS requests_one_live_per_user_and_kind")
    db.execute(
        "CREATE UNIQUE INDEX requests_one_live_per_user_and_kind ON requests(user_name_key, kind, account) "
        "WHERE (state IN ('pending', 'approved') OR (state = 'provisioned' AND kind <> 'remove')) "
        "AND kind NOT IN ('group_add', 'group_extend', 'group_drop')"
    )


@migrations()
def m015_campaign_account(db: Database) -> None:
    # An access review is of one AWS account's groups (issue 23 after issue 22): '' the default.
    db.execute("ALTER TABLE review_campaigns ADD COLUMN account TEXT NOT NULL DEFAULT ''")
