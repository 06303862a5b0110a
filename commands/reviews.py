"""Access reviews (issue 22): who still needs which group, decided by people who see the usage.

A **campaign** covers groups (named by `/iam review start`, else every group with a rule in the
rules file, else every group the bot ever put someone in; never the MFA group) and holds one
**item** per (group, member), written whole when it starts, with the figures the reviewers will
see: the member's owner, how it got the membership, its console sign-in, MFA and each active key's
last use. All of that comes from AWS's credential report (GenerateCredentialReport until complete,
one GetCredentialReport), one GetGroup per 100 members of a group, and the store (which users the
bot made, its requests and grants, read by name in chunks): never an IAM call per member.

A **decision** is one conditional write on its item: Keep (after one ListGroupsForUser that says
whether the member is still in the group), or Remove (claimed first, then RemoveUserFromGroup,
then recorded): of two reviewers pressing at once, exactly one decides. A reviewer never decides
about a user they own. Every decision is an event.

At the **deadline** each undecided membership gets its group's `on_deadline`: `report` (listed in
the closing message), `remove`, or `disable` (the console password and keys, as `remove
--disable-only` does); protected users, the bot's own identity and users outside the bot's path
are listed, never touched. Then the campaign closes with a summary.

The duties read due entries only (`storage/reviews.py`): a group's next scheduled campaign, a
campaign's next reminder (1 h, then 2 h, 4 h ... as the approvals' reminders), its deadline.
Everything here returns data; `bot/features/reviews.py` says it in Slack.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

import storage
from storage import DUE_CAMPAIGN, DUE_DEADLINE, DUE_REMIND, Campaign, NewJob, Request, ReviewItem, Store

from .approvals import Approvals
from .audit import ReportRow, may_audit, parse_report
from .errors import CommandError, IamError, NotAllowed, Why
from .iam import IamGateway, IamUser
from .groups import REVIEW_REMOVED, GroupOwed
from .offboard import Protected, disable_user, live_grants_in
from .parse import REQUEST_NUMBER, Verb, check_group_name, plain, usage_of
from .reminders import FIRST_REMINDER
from .rules import Person
from .ruleset import Rule, Rules, rule_for
from .scope import current_account, in_account
from .workflow import Clock

log = logging.getLogger(__name__)

PAGE = 10  # members per card: "Admins: members 11-20 of 57"
_GLOB = set("*?[")
SCHEDULE_ALL = "*"  # the due entry of IAM_BOT_REVIEW_EVERY; a rule's own: "rule:<pattern>" (`schedule_key`)

# What a reviewer may press.
KEEP = "keep"
REMOVE = "remove"

# An item's decision, as stored (`review_items.decision`).
KEPT = "kept"
REMOVED = "removed"
ALREADY_REMOVED = "already_removed"      # it had left the group by the time someone decided
REMOVING = "removing"                    # a Remove under way: the claim before RemoveUserFromGroup
DEADLINE_REPORTED = "deadline_reported"  # undecided at the deadline, `report`: listed
DEADLINE_REMOVED = "deadline_removed"
DEADLINE_DISABLED = "deadline_disabled"
LEFT_ALONE = "left_alone"                # undecided, `remove`/`disable`, but the bot never touches it
DEADLINE_FAILED = "deadline_failed"      # AWS refused the deadline's action
BY_DEADLINE = (DEADLINE_REPORTED, DEADLINE_REMOVED, DEADLINE_DISABLED, LEFT_ALONE, DEADLINE_FAILED)
ON_DEADLINE = ("report", "remove", "disable")

EVENT_DECISION = "review_decision"  # one per decision, its detail the JSON of `decision_line`


class ReviewOwed:
    """Durable work a campaign owes (job kinds)."""
    POST = "review_post"        # post the cards not yet posted, at Slack's pace
    CARD = "review_card"        # redraw one card (payload: campaign_id, group, page)
    DM = "review_dm"            # tell a removed member's owner
    REMIND = "review_remind"    # remind the reviewers of the groups still undecided
    CLOSED = "review_closed"    # the closing summary


# -- the commands ------------------------------------------------------------------------------

class ReviewStartCommand(BaseModel):
    """`/iam review start [<group> ...]`
    Start an access review of those groups (else every group the rules name): a card per 10
    members in the approvals channel, Keep or Remove for each. For approvers."""

    model_config = ConfigDict(frozen=True)
    groups: tuple[str, ...] = ()


class ReviewReportCommand(BaseModel):
    """`/iam review report [<campaign>]`
    The evidence of an access review (the latest, or campaign N): totals per group and who
    decided what. For approvers; only you see it."""

    model_config = ConfigDict(frozen=True)
    campaign_id: int | None = None


def parse_review(args: list[str]) -> ReviewStartCommand | ReviewReportCommand:
    action, rest = (args[0].lower(), args[1:]) if args else ("", [])
    if action == "start":
        groups = tuple(check_group_name(plain(arg)) for arg in rest)
        seen: set[str] = set()
        for group in groups:
            if group.lower() in seen:
                raise CommandError(Why.GROUP_TWICE, group=group)
            seen.add(group.lower())
        return ReviewStartCommand(groups=groups)
    if action == "report":
        if not rest:
            return ReviewReportCommand()
        match = REQUEST_NUMBER.fullmatch(plain(rest[0])) if len(rest) == 1 else None
        if match is None or int(match[1]) == 0:
            raise CommandError(Why.REVIEW_WHICH)
        return ReviewReportCommand(campaign_id=int(match[1]))
    raise CommandError(Why.REVIEW_WHICH)


VERBS = (Verb("review", parse_review,
              usage_of(ReviewStartCommand) + "\n" + usage_of(ReviewReportCommand), position=135),)


# -- what a reviewer sees of a member (pure) -----------------------------------------------------

def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _days(now: dt.datetime, then: dt.datetime | None) -> int | None:
    return max(0, (now - then).days) if then else None


def usage_of_member(row: ReportRow | None, now: dt.datetime) -> dict:
    """The credential report's figures for one user: console sign-in, MFA, each active key's last use."""
    if row is None:
        return {"in_report": False}
    keys = [{"key": key.number, "last_used": _iso(key.last_used), "days": _days(now, key.last_used),
             "service": key.last_service} for key in row.keys if key.active]
    return {"in_report": True, "console": row.password_enabled, "signed_in": _iso(row.password_last_used),
            "signed_in_days": _days(now, row.password_last_used), "mfa": row.mfa_active, "keys": keys}


def how_member_got_it(group: str, requests: list[Request], live_grants: list) -> dict:
    """How the membership came about: a live grant (until when), a request of the bot's (which, who
    approved it, when), else outside the bot."""
    if live_grants:
        grant = max(live_grants, key=lambda g: g.ends_at)
        request = next((r for r in requests if r.id == grant.request_id), None)
        return {"by": "grant", "request_id": grant.request_id, "until": _iso(grant.ends_at),
                "approved_by": request.decider_id if request else None,
                "approved_at": _iso(request.decided_at) if request else None}
    for request in reversed(requests):
        if group.lower() not in (g.lower() for g in request.groups):
            continue
        made = request.kind == storage.CREATE_USER and request.state in storage.PROVISIONED_STATES
        added = request.kind == storage.GROUP_ADD and request.state == storage.PROVISIONED \
            and not request.details.get("duration_seconds")
        if made or added:
            return {"by": "request", "request_id": request.id, "approved_by": request.decider_id,
                    "approved_at": _iso(request.decided_at), "rule": request.details.get("approved_by_rule")}
    return {"by": "outside"}


def schedule_key(rule: Rule) -> str:
    """A rule's own schedule's due entry: "rule:<pattern>", "rule:<account>:<pattern>" for a rule of
    one `[[account]]` (a group's name holds no colon)."""
    pattern = (rule.pattern or "").lower()
    return f"rule:{rule.account.lower()}:{pattern}" if rule.account else f"rule:{pattern}"


def pages_of(total: int) -> int:
    """How many cards a group of `total` members is posted on (a group without members: one)."""
    return max(1, -(-total // PAGE))


def decision_line(campaign: Campaign, item: ReviewItem) -> dict:
    """One decision as evidence: the JSON line of the export and the detail of its event; `account`
    names the campaign's `[[account]]` when it is not the default."""
    line = {"campaign": campaign.id, "group": item.group, "user_name": item.user_name, "owner_id": item.owner_id,
            "decision": item.decision, "by": item.decider_id, "at": _iso(item.decided_at), "note": item.note,
            "seen": item.seen}
    if campaign.account:  # a campaign of a `[[account]]` other than the default
        line["account"] = campaign.account
    return line


# -- results --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decided:
    item: ReviewItem
    campaign: Campaign


@dataclass(frozen=True)
class GroupReport:
    group: str
    total: int
    counts: dict[str, int]  # decision (None: "undecided") -> how many
    decisions: tuple[ReviewItem, ...]


@dataclass(frozen=True)
class Report:
    campaign: Campaign
    groups: tuple[GroupReport, ...]


@dataclass
class Closing:
    """What the deadline did, per group: the undecided memberships and what befell each."""
    campaign_id: int
    groups: list[dict] = field(default_factory=list)


# -- the domain object ----------------------------------------------------------------------------

OwnersByEmail = Callable[[list[str]], dict[str, str]]  # IAM user names -> {name lower: Slack user id}


class Reviews:
    def __init__(self, store: Store, iam: IamGateway, approvals: Approvals, protected: Protected, *,
                 clock: Clock, team_id: str, mfa_group: str | None, every: dt.timedelta | None,
                 deadline: dt.timedelta):
        self.store, self.iam, self.approvals, self.protected = store, iam, approvals, protected
        self.clock, self.team_id, self.mfa_group = clock, team_id, mfa_group
        self.every, self.deadline = every, deadline

    @property
    def rules(self) -> Rules:
        return self.approvals.rules

    def now(self) -> dt.datetime:
        return self.clock()

    def _default_account(self) -> str | None:
        return self.rules.accounts[0].name if self.rules.accounts else None

    def account_here(self) -> str | None:
        """The `[[account]]` of the work in hand as the rules spell it; None: the default (or no accounts)."""
        named = current_account()
        if not named or not self.rules.accounts:
            return None
        found = next((a.name for a in self.rules.accounts if a.name.lower() == named.lower()), named)
        return None if found == self._default_account() else found

    def _rules_here(self) -> list[Rule]:
        """The `[[group]]` rules that apply in the account of the work in hand."""
        here = self.account_here() or self._default_account()
        return [rule for rule in self.rules.groups if rule.pattern and
                (rule.account is None or here is None or rule.account.lower() == here.lower())]

    # -- which groups -------------------------------------------------------------------------

    def _not_mfa(self, groups: Iterable[str]) -> list[str]:
        mfa = (self.mfa_group or "").lower()
        seen: dict[str, str] = {}
        for group in groups:
            if group.lower() != mfa:
                seen.setdefault(group.lower(), group)
        return list(seen.values())

    def _matching(self, pattern: str, listed: list[str] | None) -> list[str]:
        if not _GLOB & set(pattern):
            return [pattern]
        return [name for name in (listed or []) if rule_for(self.rules, name).pattern == pattern]

    def scope(self, named: Iterable[str] = ()) -> list[str]:
        """The groups a campaign covers: those named; else every group with a rule (globs matched
        against the account's groups: one ListGroups); else every group the bot ever granted into.
        Never the MFA group."""
        named = list(named)
        if named:
            groups = self._not_mfa(named)
        elif self.rules.source is not None:
            patterns = [rule.pattern for rule in self._rules_here()]
            listed = self.iam.list_groups() if any(_GLOB & set(p) for p in patterns) else None
            groups = self._not_mfa(name for p in patterns for name in self._matching(p, listed))
        else:
            groups = self._not_mfa(self.store.granted_groups())
        if not groups:
            raise CommandError(Why.REVIEW_NOTHING, named=named, mfa_group=self.mfa_group)
        return groups

    def reviewers_of(self, group: str) -> tuple[str, ...]:
        return rule_for(self.rules, group).who_reviews

    # -- a campaign starts ---------------------------------------------------------------------

    def may_run(self, caller: Person, *, listed: bool, what: str) -> None:
        """`/iam review start` and `report`: approvers only (the defaults'); a refusal is recorded."""
        if not may_audit(caller=caller, listed=listed, team_id=self.team_id):
            self.store.append_event(None, caller.user_id, f"refused:review_{what}", self.now())
            raise NotAllowed(Why.REVIEW_NOT_ALLOWED, what=what)

    def start(self, groups: list[str], *, started_by: str | None, owners_by_email: OwnersByEmail,
              schedule: dict[str, dt.datetime] | None = None, named: bool = True) -> Campaign:
        """Read the report and the groups' members, and write the campaign whole, with the job that
        posts its cards. A group named that AWS does not know is refused (named) before anything is
        written; one only a rule names (`named=False`) is left out. In the account of the work in
        hand (commands/scope.py), which the campaign keeps: its decisions and deadline act there."""
        content, generated_at = self.iam.credential_report()
        now = self.now()
        report = {row.user.lower(): row for row in parse_report(content)}
        members: dict[str, list[IamUser]] = {}
        missing = []
        for group in groups:
            found = self.iam.group_members(group)
            if found is None:
                missing.append(group)
            else:
                members[group] = sorted(found, key=lambda user: user.name.lower())
        if missing and (named or not members):
            raise CommandError(Why.REVIEW_NOTHING, named=missing, mfa_group=None, missing=True)
        names = sorted({user.name for users in members.values() for user in users}, key=str.lower)
        about = self.store.requests_about(names, (storage.CREATE_USER, storage.GROUP_ADD))
        made = {}  # name lower -> owner id, for users the bot made (the very user: same ARN)
        for group_users in members.values():
            for user in group_users:
                for request in about.get(user.name.lower(), []):
                    if request.kind == storage.CREATE_USER and request.user_arn == user.arn \
                            and request.state in storage.PROVISIONED_STATES:
                        made[user.name.lower()] = request.owner_id
        unowned = [name for name in names if name.lower() not in made]
        by_email = owners_by_email(unowned) if unowned else {}
        items, heads = [], []
        for group, users in members.items():
            grants = self.store.group_grants_since(group, now)
            rule = rule_for(self.rules, group)
            heads.append({"group": group, "reviewers": list(rule.who_reviews), "on_deadline": rule.on_deadline,
                          "total": len(users)})
            for user in users:
                key = user.name.lower()
                seen = {
                    "arn": user.arn, "path": user.path, "report_at": _iso(generated_at),
                    "how": how_member_got_it(group, about.get(key, []),
                                             [g for g in grants if g.live and g.user_name.lower() == key]),
                    **usage_of_member(report.get(key), now),
                }
                owner = made.get(key) or by_email.get(key)
                seen["owner_from"] = "bot" if key in made else "email" if owner else None
                items.append({"group": group, "user_name": user.name, "owner_id": owner, "seen": seen})
        deadline = max((rule_for(self.rules, g).review_deadline or self.deadline for g in members), default=self.deadline)
        return self.store.open_campaign(started_by=started_by, now=now, deadline_at=now + deadline, groups=heads,
                                        items=items, remind_at=now + FIRST_REMINDER, schedule=schedule,
                                        jobs=[NewJob(ReviewOwed.POST)], account=self.account_here())

    # -- decisions --------------------------------------------------------------------------------

    def item(self, item_id: int) -> tuple[ReviewItem, Campaign]:
        item = self.store.review_item(item_id)
        campaign = self.store.campaign(item.campaign_id) if item else None
        if item is None or campaign is None:
            raise CommandError(Why.REVIEW_UNKNOWN, campaign_id=None)
        return item, campaign

    def decide(self, item_id: int, person_id: str, choice: str) -> Decided:
        """Keep or Remove, by a reviewer of the item's group who does not own the user; exactly one
        decision per item however many press."""
        item, campaign = self.item(item_id)
        now = self.now()
        if campaign.closed_at is not None:
            raise CommandError(Why.REVIEW_CLOSED, campaign_id=campaign.id, closed_at=campaign.closed_at)
        head = campaign.group(item.group) or {}
        reviewers = tuple(head.get("reviewers") or ())
        if not self.approvals.among(person_id, reviewers):
            self.store.append_event(None, person_id, "refused:review", now,
                                    detail=f"campaign {campaign.id}, {item.group}: {item.user_name}")
            raise NotAllowed(Why.REVIEW_NOT_REVIEWER, group=item.group, reviewers=reviewers)
        if item.owner_id == person_id:
            self.store.append_event(None, person_id, "refused:review_own", now,
                                    detail=f"campaign {campaign.id}, {item.group}: {item.user_name}")
            raise NotAllowed(Why.REVIEW_OWN_USER, user_name=item.user_name, group=item.group)
        if item.decision is not None:
            raise CommandError(Why.REVIEW_DECIDED, **self._decided_facts(item))
        with in_account(campaign.account):  # the campaign's account, whatever the click ran in
            done = self._decide(campaign, item, person_id, choice, now)
        if done is None:
            raise CommandError(Why.REVIEW_DECIDED, **self._decided_facts(self.store.review_item(item.id)))
        return Decided(done, campaign)

    def _decide(self, campaign: Campaign, item: ReviewItem, person_id: str, choice: str,
                now: dt.datetime) -> ReviewItem | None:
        if choice == KEEP:
            groups = self.iam.groups_for_user(item.user_name)
            still = groups is not None and item.group.lower() in (g.lower() for g in groups)
            done = self._record(campaign, item, KEPT if still else ALREADY_REMOVED, person_id, now)
        else:
            if self.store.decide_review_item(item.id, decision=REMOVING, decider_id=person_id, now=now) is None:
                raise CommandError(Why.REVIEW_DECIDED, **self._decided_facts(self.store.review_item(item.id)))
            try:
                was_in = self.iam.take_out_of_group(item.user_name, item.group)
            except IamError:
                self.store.decide_review_item(item.id, decision=None, decider_id=None, now=now, expected=REMOVING)
                raise
            done = self._record(campaign, item, REMOVED if was_in else ALREADY_REMOVED, person_id, now,
                                expected=REMOVING)
            self._end_grants(campaign, item, person_id, now)
        return done

    def _end_grants(self, campaign: Campaign, item: ReviewItem, person_id: str | None, now: dt.datetime) -> None:
        """The membership is gone: the user's live grants of the group (`/iam add --for`) end with it,
        a line in each add's thread; the revoker has nothing left to remove, nor a second DM to send."""
        for grant in live_grants_in(self.store, item.user_name, campaign.account, item.group):
            self.store.end_grant(
                grant.id, now=now, reason=REVIEW_REMOVED, actor_id=person_id, what="grant_ended",
                detail=f"{grant.group}: {REVIEW_REMOVED} (access review #{campaign.id})",
                jobs=[NewJob(GroupOwed.NOTE, {"event": "grant_ended", "group": grant.group, "reason": REVIEW_REMOVED,
                                              "kept_by": None, "actor": person_id, "campaign": campaign.id})])

    @staticmethod
    def _decided_facts(item: ReviewItem | None) -> dict:
        if item is None:
            return {"user_name": "", "decision": None, "decider_id": None}
        return {"user_name": item.user_name, "group": item.group, "decision": item.decision,
                "decider_id": item.decider_id}

    def _record(self, campaign: Campaign, item: ReviewItem, decision: str, person_id: str | None,
                now: dt.datetime, *, expected: str | None = None, note: str | None = None,
                redraw: bool = True) -> ReviewItem | None:
        """One decision, its event (the figures seen) and what it owes: the card redrawn (and the
        group's first card, which carries the progress), the owner's DM after a removal. The
        deadline redraws each card once when it closes (`redraw=False` here)."""
        decided = ReviewItem(**{**item.__dict__, "decision": decision, "decider_id": person_id, "decided_at": now,
                                "note": note})
        page = item.position // PAGE
        jobs = []
        if redraw:
            jobs.append(NewJob(ReviewOwed.CARD, {"campaign_id": campaign.id, "group": item.group, "page": page}))
            if page != 0:
                jobs.append(NewJob(ReviewOwed.CARD, {"campaign_id": campaign.id, "group": item.group, "page": 0}))
        if decision in (REMOVED, DEADLINE_REMOVED, DEADLINE_DISABLED) and item.owner_id:
            jobs.append(NewJob(ReviewOwed.DM, {"item_id": item.id}))
        return self.store.decide_review_item(
            item.id, decision=decision, decider_id=person_id, now=now, expected=expected, note=note,
            what=EVENT_DECISION, detail=json.dumps(decision_line(campaign, decided), sort_keys=True), jobs=jobs)

    # -- reminders, the deadline, the schedule (duties: due entries only) ---------------------------

    def remind_due(self) -> int:
        """Each open campaign whose reminder is due, with groups still undecided: one reminder,
        counted by compare-and-set, the next one twice as far (1 h, 2 h, 4 h ...)."""
        now, sent = self.now(), 0
        for key in list(self.store.each_review_due(DUE_REMIND, now=now)):
            campaign = self.store.campaign(int(key))
            if campaign is None or campaign.closed_at is not None:
                self.store.set_review_due(DUE_REMIND, key, None)
                continue
            waiting = []
            for head in campaign.groups:
                decided, total = self.store.review_progress(campaign.id, head["group"])
                if decided < total:
                    waiting.append({"group": head["group"], "undecided": total - decided, "total": total})
            if not waiting:
                self.store.set_review_due(DUE_REMIND, key, None)
                continue
            next_at = now + FIRST_REMINDER * 2 ** (campaign.reminders + 1)
            if self.store.remind_campaign(campaign, now=now, next_at=next_at if next_at < campaign.deadline_at else None,
                                          jobs=[NewJob(ReviewOwed.REMIND, {"campaign_id": campaign.id,
                                                                          "groups": waiting})]):
                sent += 1
        return sent

    def close_due(self) -> list[int]:
        """Each campaign whose deadline has come: its undecided memberships get their group's
        `on_deadline`, then it closes with a summary. Safe to run again after a crash: what was
        decided stays decided."""
        closed = []
        for key in list(self.store.each_review_due(DUE_DEADLINE, now=self.now())):
            campaign = self.store.campaign(int(key))
            if campaign is None or campaign.closed_at is not None:
                self.store.set_review_due(DUE_DEADLINE, key, None)
                continue
            if self.close(campaign):
                closed.append(campaign.id)
        return closed

    def close(self, campaign: Campaign) -> bool:
        with in_account(campaign.account):  # the deadline acts in the campaign's account
            return self._close(campaign)

    def _close(self, campaign: Campaign) -> bool:
        try:
            bot_arn: str | None = self.iam.bot_identity()
        except IamError:
            bot_arn = None  # who the bot is is unknown: nobody is removed or disabled, everyone is listed
        for item in self.store.each_review_item(campaign.id):
            if item.decision not in (None, REMOVING):
                continue
            head = campaign.group(item.group) or {}
            self._at_deadline(campaign, item, head.get("on_deadline") or "report", bot_arn)
        summary = self.summary(campaign)
        redraws = [NewJob(ReviewOwed.CARD, {"campaign_id": campaign.id, "group": head["group"], "page": page})
                   for head in campaign.groups for page in range(pages_of(head["total"]))]
        return self.store.close_campaign(campaign.id, now=self.now(), summary=summary,
                                         jobs=[NewJob(ReviewOwed.CLOSED, {"campaign_id": campaign.id}), *redraws])

    def _at_deadline(self, campaign: Campaign, item: ReviewItem, action: str, bot_arn: str | None) -> None:
        now = self.now()
        expected = item.decision
        if action == "report":
            self._record(campaign, item, DEADLINE_REPORTED, None, now, expected=expected, redraw=False)
            return
        member = IamUser(name=item.user_name, user_id="", arn=str(item.seen.get("arn") or ""),
                         path=str(item.seen.get("path") or "/"))
        refused = self.protected.refusal(member, bot_arn) if bot_arn else ("identity_unknown", {})
        if refused is not None:
            why = refused[0] if isinstance(refused[0], str) else refused[0].value
            self._record(campaign, item, LEFT_ALONE, None, now, expected=expected, note=why, redraw=False)
            return
        try:
            if action == "remove":
                was_in = self.iam.take_out_of_group(item.user_name, item.group)
                self._record(campaign, item, DEADLINE_REMOVED if was_in else ALREADY_REMOVED, None, now,
                             expected=expected, redraw=False)
                self._end_grants(campaign, item, None, now)
            else:
                did = disable_user(self.store, self.iam, item.user_name, actor_id=None, request_id=None, now=now)
                self._record(campaign, item, DEADLINE_DISABLED, None, now, expected=expected, note=did, redraw=False)
        except IamError as error:
            self._record(campaign, item, DEADLINE_FAILED, None, now, expected=expected, note=error.for_approvers,
                         redraw=False)

    def summary(self, campaign: Campaign) -> dict:
        """Per group: counts by decision, and the memberships the deadline dealt with, by name."""
        groups = {head["group"].lower(): {"group": head["group"], "total": head["total"], "counts": {},
                                          "deadline": {}, "on_deadline": head.get("on_deadline", "report")}
                  for head in campaign.groups}
        for item in self.store.each_review_item(campaign.id):
            entry = groups.setdefault(item.group.lower(), {"group": item.group, "total": 0, "counts": {},
                                                           "deadline": {}, "on_deadline": "report"})
            decision = item.decision or "undecided"
            entry["counts"][decision] = entry["counts"].get(decision, 0) + 1
            if decision in BY_DEADLINE:
                entry["deadline"].setdefault(decision, []).append(
                    [item.user_name, item.note if decision in (LEFT_ALONE, DEADLINE_FAILED) else None])
        return {"groups": list(groups.values())}

    def scheduled(self) -> dict[str, dt.timedelta]:
        """The schedule's due keys and their periods: IAM_BOT_REVIEW_EVERY ("*") and each rule's own
        `review_every` (`schedule_key`). No I/O."""
        plan = {SCHEDULE_ALL: self.every} if self.every else {}
        for rule in self.rules.groups:
            if rule.review_every and rule.pattern:
                plan[schedule_key(rule)] = rule.review_every
        return plan

    def _scheduled_rule(self, key: str) -> Rule:
        return next(r for r in self.rules.groups if r.pattern and r.review_every and schedule_key(r) == key)

    def _account_of(self, key: str) -> str | None:
        """Where a due entry's campaign runs: a rule's that names an `[[account]]` in that account;
        IAM_BOT_REVIEW_EVERY's and a rule's naming none in the default account (None)."""
        if key == SCHEDULE_ALL:
            return None
        account = self._scheduled_rule(key).account
        if not account or not self.rules.accounts:
            return None
        with in_account(account):
            return self.account_here()

    def schedule_due(self, owners_by_email: OwnersByEmail) -> Campaign | None:
        """Start the scheduled campaign now due, if any: one read of the schedule's entries (by key);
        only when one is due (or was never written) are the groups looked up. The entries move to
        their next period in the campaign's own transaction."""
        plan = self.scheduled()
        if not plan:
            return None
        now = self.now()
        entries = self.store.review_due_at(DUE_CAMPAIGN, plan)
        due = [key for key in plan if key not in entries or entries[key] <= now]
        if not due:
            return None
        per_account: dict[str | None, list[str]] = {}
        for key in due:
            per_account.setdefault(self._account_of(key), []).append(key)
        started = None
        for account, keys in per_account.items():  # one campaign per account, in that account
            try:
                with in_account(account):
                    started = self._start_scheduled(keys, plan, now, owners_by_email) or started
            except IamError:
                if len(per_account) == 1:
                    raise
                # this account's entries stay due: the next pass tries again; the others go on
                log.warning("the scheduled access review of account %s could not start", account or "(default)",
                            exc_info=True)
        return started

    def _start_scheduled(self, due: list[str], plan: dict[str, dt.timedelta], now: dt.datetime,
                         owners_by_email: OwnersByEmail) -> Campaign | None:
        groups: list[str] = []
        listed = None
        for key in due:
            if key == SCHEDULE_ALL:
                try:
                    everything = self.scope()
                except CommandError:
                    everything = []
                # a group whose rule has its own schedule is reviewed on that one
                groups += [g for g in everything
                           if not ((rule := rule_for(self.rules, g)).pattern and rule.review_every)]
            else:
                pattern = self._scheduled_rule(key).pattern or ""
                if _GLOB & set(pattern) and listed is None:
                    listed = self.iam.list_groups()
                groups += self._matching(pattern, listed)
        groups = self._not_mfa(groups)
        moves = {key: now + plan[key] for key in due}
        if not groups:
            for key, when in moves.items():
                self.store.set_review_due(DUE_CAMPAIGN, key, when)
            return None
        try:
            return self.start(groups, started_by=None, owners_by_email=owners_by_email, schedule=moves, named=False)
        except CommandError as error:
            if error.why != Why.REVIEW_NOTHING:
                raise
            for key, when in moves.items():  # none of the groups exists (yet): look again next period
                self.store.set_review_due(DUE_CAMPAIGN, key, when)
            return None

    # -- evidence -----------------------------------------------------------------------------------

    def report(self, campaign_id: int | None) -> Report:
        campaign = self.store.campaign(campaign_id) if campaign_id else self.store.latest_campaign()
        if campaign is None:
            raise CommandError(Why.REVIEW_UNKNOWN, campaign_id=campaign_id)
        per: dict[str, list[ReviewItem]] = {}
        for item in self.store.each_review_item(campaign.id):
            per.setdefault(item.group.lower(), []).append(item)
        groups = []
        for head in campaign.groups:
            items = sorted(per.get(head["group"].lower(), []), key=lambda i: i.position)
            counts: dict[str, int] = {}
            for item in items:
                counts[item.decision or "undecided"] = counts.get(item.decision or "undecided", 0) + 1
            groups.append(GroupReport(head["group"], head["total"], counts,
                                      tuple(i for i in items if i.decision not in (None, REMOVING))))
        return Report(campaign, tuple(groups))


def export_lines(store: Store, campaign_id: int | None = None) -> Iterator[dict]:
    """`iam-bot export --reviews`: one JSON-ready line per decision with the figures seen, campaign
    by campaign, each read in batches."""
    ids = [campaign_id] if campaign_id is not None else store.campaign_ids()
    for cid in ids:
        campaign = store.campaign(cid)
        if campaign is None:
            raise CommandError(Why.REVIEW_UNKNOWN, campaign_id=cid)
        for item in store.each_review_item(cid):
            if item.decision not in (None, REMOVING):
                yield decision_line(campaign, item)
