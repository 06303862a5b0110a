"""Access reviews in the store (issue 22): campaigns, their items and cards, and the review duties'
due entries. `ReviewMethods` is mixed into `Store`.

A campaign is written whole in one transaction (its items with the figures the reviewers will
see, its due entries, the job that posts its cards). An item's decision is one conditional write
(`decision IS NULL`, or a claim on it): of two reviewers pressing at once exactly one decides.
Every decision writes its event in the same transaction, so the event log has each one.

The review duties read due entries only (`review_due (what, key, due_at)`, its index on
`(what, due_at, key)`): a campaign to start per group, a campaign's reminder, its deadline; each
pass moves the entry later or clears it, as `duties_due` is read (docs/duties.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

REVIEW_BATCH = 200  # rows a review read takes at a time

# What a review due entry is for (`review_due.what`); stored: never rename one without a migration.
DUE_CAMPAIGN = "campaign"  # key: a group's name in lower case: its next scheduled campaign
DUE_REMIND = "remind"      # key: a campaign id: its reviewers' next reminder
DUE_DEADLINE = "deadline"  # key: a campaign id: its deadline


@dataclass(frozen=True)
class Campaign:
    id: int
    started_at: dt.datetime
    started_by: str | None  # None: started by the schedule
    deadline_at: dt.datetime
    groups: tuple[dict, ...]  # [{"group", "reviewers", "on_deadline", "total"}], in card order
    reminders: int = 0
    closed_at: dt.datetime | None = None
    summary: dict | None = None
    account: str | None = None  # the `[[account]]` whose groups it reviews; None: the default

    def group(self, key: str) -> dict | None:
        return next((g for g in self.groups if g["group"].lower() == key.lower()), None)


@dataclass(frozen=True)
class ReviewItem:
    """One member of one group in one campaign: what the reviewers saw, and its one decision."""

    id: int
    campaign_id: int
    group: str
    position: int  # 0-based, in the group's card order
    user_name: str
    owner_id: str | None
    seen: dict = field(default_factory=dict)
    decision: str | None = None
    decider_id: str | None = None
    decided_at: dt.datetime | None = None
    note: str | None = None


class ReviewMethods:
    """The store's review part; the backend supplies `_read`, `_write`, time and JSON."""

    # -- a campaign ----------------------------------------------------------------------

    def open_campaign(self, *, started_by: str | None, now: dt.datetime, deadline_at: dt.datetime,
                      groups: list[dict], items: list[dict], remind_at: dt.datetime | None,
                      schedule: dict[str, dt.datetime] | None = None, jobs: Iterable = (),
                      account: str | None = None) -> Campaign:
        """Write a campaign, its items ({"group", "user_name", "owner_id", "seen"}, in card order per
        group), its reminder and deadline entries, its event and `jobs`, in one transaction; a
        scheduled campaign moves the schedule's entries (`schedule`: key -> next time) with it.
        `account`: the `[[account]]` whose groups it reviews (None: the default)."""
        with self._write() as tx:
            row = tx.one("INSERT INTO review_campaigns (started_at, started_by, deadline_at, groups, account) "
                         "VALUES (?, ?, ?, ?, ?) RETURNING *",
                         [self._time_in(now), started_by, self._time_in(deadline_at), self._json_in(groups),
                          account or ""])
            campaign_id = row["id"]
            positions: dict[str, int] = {}
            for item in items:
                key = item["group"].lower()
                position = positions.get(key, 0)
                positions[key] = position + 1
                tx.count("INSERT INTO review_items (campaign_id, group_name, group_key, position, user_name, "
                         "user_key, owner_id, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [campaign_id, item["group"], key, position, item["user_name"], item["user_name"].lower(),
                          item.get("owner_id"), self._json_in(item.get("seen") or {})])
            self._set_review_due(tx, DUE_DEADLINE, str(campaign_id), deadline_at)
            if remind_at is not None:
                self._set_review_due(tx, DUE_REMIND, str(campaign_id), remind_at)
            for key, when in (schedule or {}).items():
                self._set_review_due(tx, DUE_CAMPAIGN, key, when)
            self._insert_event(tx, None, started_by, "review_started",
                               f"campaign {campaign_id}" + (f" in account {account}" if account else "") + ": "
                               + ", ".join(f"{g['group']} ({g['total']})" for g in groups),
                               now)
            self._insert_jobs(tx, [_with(job, campaign_id) for job in jobs], now=now, request_id=None)
        return self._campaign(row)

    def campaign(self, campaign_id: int) -> Campaign | None:
        with self._read() as tx:
            row = tx.one("SELECT * FROM review_campaigns WHERE id = ?", [campaign_id])
        return self._campaign(row) if row else None

    def latest_campaign(self) -> Campaign | None:
        with self._read() as tx:
            row = tx.one("SELECT * FROM review_campaigns ORDER BY id DESC LIMIT 1", [])
        return self._campaign(row) if row else None

    def campaign_ids(self) -> list[int]:
        """Every campaign's id, oldest first (the export of every campaign; one small row each)."""
        with self._read() as tx:
            return [row["id"] for row in tx.rows("SELECT id FROM review_campaigns ORDER BY id", [])]

    def remind_campaign(self, campaign: Campaign, *, now: dt.datetime, next_at: dt.datetime | None,
                        jobs: Iterable = ()) -> bool:
        """Count a reminder if nobody counted it first (compare-and-set on the count), moving the entry."""
        with self._write() as tx:
            done = tx.count("UPDATE review_campaigns SET reminders = reminders + 1 "
                            "WHERE id = ? AND reminders = ? AND closed_at IS NULL", [campaign.id, campaign.reminders])
            if not done:
                return False
            self._set_review_due(tx, DUE_REMIND, str(campaign.id), next_at)
            self._insert_event(tx, None, None, "review_reminded", f"campaign {campaign.id}", now)
            self._insert_jobs(tx, jobs, now=now, request_id=None)
        return True

    def close_campaign(self, campaign_id: int, *, now: dt.datetime, summary: dict, jobs: Iterable = ()) -> bool:
        """Close an open campaign once, with its summary, event and jobs; its due entries go."""
        with self._write() as tx:
            done = tx.count("UPDATE review_campaigns SET closed_at = ?, summary = ? WHERE id = ? AND closed_at IS NULL",
                            [self._time_in(now), self._json_in(summary), campaign_id])
            if not done:
                return False
            self._set_review_due(tx, DUE_REMIND, str(campaign_id), None)
            self._set_review_due(tx, DUE_DEADLINE, str(campaign_id), None)
            self._insert_event(tx, None, None, "review_closed", f"campaign {campaign_id}", now)
            self._insert_jobs(tx, jobs, now=now, request_id=None)
        return True

    # -- its items -------------------------------------------------------------------------

    def review_items(self, campaign_id: int, group: str | None = None, *, first: int = 0,
                     count: int | None = None) -> list[ReviewItem]:
        """A campaign's items (of one group, from position `first`, `count` of them), in card order."""
        where, params = "campaign_id = ?", [campaign_id]
        if group is not None:
            where += " AND group_key = ? AND position >= ?"
            params += [group.lower(), first]
            if count is not None:
                where += " AND position < ?"
                params.append(first + count)
        with self._read() as tx:
            rows = tx.rows(f"SELECT * FROM review_items WHERE {where} ORDER BY campaign_id, group_key, position",
                           params)
        return [self._review_item(row) for row in rows]

    def each_review_item(self, campaign_id: int, batch: int = REVIEW_BATCH) -> Iterator[ReviewItem]:
        """A campaign's items in id order, `batch` per read (the export, the deadline)."""
        after = 0
        while True:
            with self._read() as tx:
                rows = tx.rows("SELECT * FROM review_items WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT ?",
                               [campaign_id, after, int(batch)])
            for row in rows:
                yield self._review_item(row)
            if len(rows) < batch:
                return
            after = rows[-1]["id"]

    def review_item(self, item_id: int) -> ReviewItem | None:
        with self._read() as tx:
            row = tx.one("SELECT * FROM review_items WHERE id = ?", [item_id])
        return self._review_item(row) if row else None

    def review_progress(self, campaign_id: int, group: str) -> tuple[int, int]:
        """(decided, total) of one group of a campaign (its items by place: as many rows as members)."""
        with self._read() as tx:
            row = tx.one("SELECT COUNT(*) AS total, COUNT(decision) AS decided FROM review_items "
                         "WHERE campaign_id = ? AND group_key = ?", [campaign_id, group.lower()])
        return int(row["decided"] or 0), int(row["total"] or 0)

    def decide_review_item(self, item_id: int, *, decision: str, decider_id: str | None, now: dt.datetime,
                           expected: str | None = None, note: str | None = None, what: str | None = None,
                           detail: str | None = None, jobs: Iterable = ()) -> ReviewItem | None:
        """Set an item's decision if it is still `expected` (None: undecided): of two writers exactly
        one wins. Its event (`what`, when given) and jobs are written with it; None if it lost."""
        condition = "decision IS NULL" if expected is None else "decision = ?"
        with self._write() as tx:
            row = tx.one(f"UPDATE review_items SET decision = ?, decider_id = ?, decided_at = ?, note = ? "
                         f"WHERE id = ? AND {condition} RETURNING *",
                         [decision, decider_id, self._time_in(now), note, item_id,
                          *([] if expected is None else [expected])])
            if row is None:
                return None
            if what is not None:
                self._insert_event(tx, None, decider_id, what, detail, now)
            self._insert_jobs(tx, jobs, now=now, request_id=None)
        return self._review_item(row)

    # -- its cards -----------------------------------------------------------------------

    def set_review_card(self, campaign_id: int, group: str, page: int, channel: str, ts: str) -> None:
        with self._write() as tx:
            tx.count("INSERT INTO review_cards (campaign_id, group_key, page, channel, ts) VALUES (?, ?, ?, ?, ?) "
                     "ON CONFLICT (campaign_id, group_key, page) DO NOTHING",
                     [campaign_id, group.lower(), page, channel, ts])

    def review_cards(self, campaign_id: int) -> dict[tuple[str, int], tuple[str, str]]:
        """(group key, page) -> (channel, ts) of the cards posted so far."""
        with self._read() as tx:
            rows = tx.rows("SELECT group_key, page, channel, ts FROM review_cards WHERE campaign_id = ?", [campaign_id])
        return {(row["group_key"], row["page"]): (row["channel"], row["ts"]) for row in rows}

    # -- due entries -------------------------------------------------------------------------

    def each_review_due(self, what: str, *, now: dt.datetime, batch: int = REVIEW_BATCH) -> Iterator[str]:
        """The keys whose `what` entry is due by `now`, earliest first, `batch` per read."""
        after: tuple[Any, str] | None = None
        while True:
            where, params = "what = ? AND due_at <= ?", [what, self._time_in(now)]
            if after is not None:
                where += " AND (due_at > ? OR (due_at = ? AND key > ?))"
                params += [after[0], after[0], after[1]]
            with self._read() as tx:
                rows = tx.rows(f"SELECT due_at, key FROM review_due WHERE {where} ORDER BY due_at, key LIMIT ?",
                               [*params, int(batch)])
            for row in rows:
                yield row["key"]
            if len(rows) < batch:
                return
            after = (rows[-1]["due_at"], rows[-1]["key"])

    def review_due_at(self, what: str, keys: Iterable[str]) -> dict[str, dt.datetime]:
        """The `what` entries of these keys (by primary key)."""
        keys, found = sorted(set(keys)), {}
        for start in range(0, len(keys), REVIEW_BATCH):
            chunk = keys[start:start + REVIEW_BATCH]
            with self._read() as tx:
                rows = tx.rows(f"SELECT key, due_at FROM review_due WHERE what = ? AND key IN "
                               f"({', '.join('?' for _ in chunk)})", [what, *chunk])
            found.update({row["key"]: self._time_out(row["due_at"]) for row in rows})
        return found

    def set_review_due(self, what: str, key: str, when: dt.datetime | None) -> None:
        with self._write() as tx:
            self._set_review_due(tx, what, key, when)

    def _set_review_due(self, tx, what: str, key: str, when: dt.datetime | None) -> None:
        if when is None:
            tx.count("DELETE FROM review_due WHERE what = ? AND key = ?", [what, key])
        else:
            tx.count("INSERT INTO review_due (what, key, due_at) VALUES (?, ?, ?) "
                     "ON CONFLICT (what, key) DO UPDATE SET due_at = excluded.due_at",
                     [what, key, self._time_in(when)])

    # -- what a campaign is told about its members ---------------------------------------------

    def requests_about(self, names: Iterable[str], kinds: Iterable[str]) -> dict[str, list]:
        """The requests of these kinds about these IAM user names (lower case -> oldest first), read
        by the user-name index in chunks: one read per 200 names, never a read per member."""
        names, kinds = sorted({n.lower() for n in names}), list(kinds)
        found: dict[str, list] = {}
        for start in range(0, len(names), REVIEW_BATCH):
            chunk = names[start:start + REVIEW_BATCH]
            with self._read() as tx:
                rows = tx.rows(f"SELECT * FROM requests WHERE user_name_key IN ({', '.join('?' for _ in chunk)}) "
                               f"AND kind IN ({', '.join('?' for _ in kinds)}) ORDER BY id", [*chunk, *kinds])
            for row in rows:
                found.setdefault(row["user_name_key"], []).append(self._request(row))
        return found

    def granted_groups(self) -> list[str]:
        """Every group the bot ever put someone in: its grants and the groups of its create and add
        requests that were carried out. (`/iam review start` without a rules file; not a duty.)"""
        with self._read() as tx:
            rows = tx.rows("SELECT DISTINCT group_name FROM grants", [])
            requests = tx.rows("SELECT groups FROM requests WHERE kind IN ('create_user', 'group_add') "
                               "AND provisioned_at IS NOT NULL", [])
        seen: dict[str, str] = {}
        for name in [row["group_name"] for row in rows] + [g for row in requests for g in self._json_out(row["groups"])]:
            seen.setdefault(name.lower(), name)
        return sorted(seen.values(), key=str.lower)

    # -- rows ------------------------------------------------------------------------------

    def _campaign(self, row: dict) -> Campaign:
        time = self._time_out
        return Campaign(id=row["id"], started_at=time(row["started_at"]), started_by=row["started_by"],
                        deadline_at=time(row["deadline_at"]), groups=tuple(self._json_out(row["groups"]) or ()),
                        reminders=int(row["reminders"] or 0), closed_at=time(row["closed_at"]),
                        summary=self._json_out(row["summary"]) if row["summary"] is not None else None,
                        account=row.get("account") or None)

    def _review_item(self, row: dict) -> ReviewItem:
        return ReviewItem(id=row["id"], campaign_id=row["campaign_id"], group=row["group_name"],
                          position=row["position"], user_name=row["user_name"], owner_id=row["owner_id"],
                          seen=dict(self._json_out(row["seen"]) or {}), decision=row["decision"],
                          decider_id=row["decider_id"], decided_at=self._time_out(row["decided_at"]),
                          note=row["note"])


def _with(job, campaign_id: int):
    """A job owed by a campaign not yet written: its payload names the campaign."""
    return replace(job, payload={**job.payload, "campaign_id": campaign_id},
                   key=f"{job.key}:{campaign_id}" if job.key else None)
