"""Access reviews (issue 22) in Slack: `/iam review start [<group> ...]`, `/iam review report
[<campaign>]`, the cards with **Keep** and **Remove**, the reminders, the deadline and the summary.

A campaign's cards are posted per group in the approvals channel, one message per 10 members,
mentioning the group's reviewers. They are posted by one durable job (`ReviewOwed.POST`) that
posts what is not posted yet, at Slack's pace for `chat.postMessage` (about one a second per
channel, a short burst first: `Pacer`), so a crash resumes where it stopped and a 429 is waited
out (Retry-After, once, by the client), then tried again later: never in a loop. A decision
redraws its card in place, and the group's first card, which carries the progress.

The domain's side is `commands/reviews.py` (`Reviews`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from commands.accounts import in_account
from commands.offboard import Protected
from commands.reviews import (
    ALREADY_REMOVED, DEADLINE_DISABLED, DEADLINE_FAILED, DEADLINE_REMOVED, DEADLINE_REPORTED, KEEP, KEPT,
    LEFT_ALONE, PAGE, REMOVE, REMOVED, REMOVING, VERBS, pages_of, Report, ReviewOwed, ReviewReportCommand, Reviews,
    ReviewStartCommand,
)
from storage import Campaign, Job, ReviewItem

from ..blocks import MESSAGE_TEXT, SECTION_TEXT, button, confirmation, context, message, section
from ..feature import Command, Duty, Feature
from ..mrkdwn import approver, channel, clip, code, escape, listing, mention, when
from ..people import people_by_email_name
from ..replies import answering, ephemeral
from ..router import Asked
from ..services import Services
from ..words import decision_words

log = logging.getLogger(__name__)

ACTION_KEEP = "review_keep"
ACTION_REMOVE = "review_remove"
CHECK_EVERY = dt.timedelta(minutes=1)
NAMED = 30  # the summary and the report name this many members per line, then "and N more"


class Pacer:
    """chat.postMessage at Slack's pace in one channel: a burst of `burst`, then one every `every`
    seconds (Slack allows about one a second per channel, with short bursts)."""

    def __init__(self, every: float = 1.0, burst: int = 4, *, clock=time.monotonic, sleep=time.sleep):
        self.every, self.burst, self.clock, self.sleep = every, burst, clock, sleep
        self._tokens, self._at = float(burst), clock()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) / self.every)
            self._at = now
            if self._tokens < 1:
                self.sleep((1 - self._tokens) * self.every)
                self._at = self.clock()
                self._tokens = 1
            self._tokens -= 1


# -- the cards -------------------------------------------------------------------------------------

_LEFT_ALONE_WHY = {"user_protected": "protected", "user_outside_path": "outside the bot's path",
                   "user_is_the_bot": "the bot itself", "identity_unknown": "the bot could not tell who it is"}

def _ago(days: int | None) -> str:
    if days is None:
        return "never"
    return "today" if days == 0 else "yesterday" if days == 1 else f"{days} days ago"


def _how(how: dict) -> str:
    by = how.get("by")
    approved = ""
    if how.get("approved_by"):
        approved = f", approved by {mention(how['approved_by'])}"
        if how.get("approved_at"):
            approved += f" {when(dt.datetime.fromisoformat(how['approved_at']))}"
    if by == "grant":
        return f"a grant until {when(dt.datetime.fromisoformat(how['until']))} (request #{how['request_id']}{approved})"
    if by == "request":
        rule = f" by rule {escape(how['rule'])}" if how.get("rule") else ""
        return f"bot request #{how['request_id']}{approved}{rule}"
    return "outside the bot"


def _usage(seen: dict) -> str:
    if not seen.get("in_report"):
        return "not in AWS's credential report yet (a user made since it was generated)"
    console = (f"console last sign-in {_ago(seen.get('signed_in_days'))}" if seen.get("console")
               else "no console password")
    mfa = "MFA on" if seen.get("mfa") else "MFA *off*"
    keys = seen.get("keys") or []
    if keys:
        shown = []
        for key in keys:
            used = _ago(key.get("days"))
            service = f" ({escape(key['service'])})" if key.get("service") and key.get("days") is not None else ""
            shown.append(f"key {key['key']} used {used}{service}" if key.get("days") is not None
                         else f"key {key['key']} never used")
        key_words = ", ".join(shown)
    else:
        key_words = "no active keys"
    return f"{console} · {mfa} · {key_words}"


def _decided(item: ReviewItem) -> str:
    if item.decision == REMOVING:
        return f":hourglass_flowing_sand: {mention(item.decider_id)} is removing it…"
    mark = {KEPT: ":white_check_mark:", REMOVED: ":no_entry:", ALREADY_REMOVED: ":heavy_minus_sign:",
            DEADLINE_REMOVED: ":no_entry:", DEADLINE_DISABLED: ":lock:", DEADLINE_REPORTED: ":grey_question:",
            LEFT_ALONE: ":shield:", DEADLINE_FAILED: ":x:"}.get(item.decision or "", "")
    if item.decider_id is None:  # the deadline's
        what = {DEADLINE_REPORTED: "reported", DEADLINE_REMOVED: "removed from the group",
                DEADLINE_DISABLED: "disabled", ALREADY_REMOVED: "already out of the group",
                LEFT_ALONE: f"left alone ({escape(_LEFT_ALONE_WHY.get(item.note or '', item.note or ''))})",
                DEADLINE_FAILED: "AWS refused the change"}.get(item.decision or "", decision_words(item.decision))
        return f"{mark} Nobody decided by the deadline ({when(item.decided_at)}): {what}"
    return f"{mark} {mention(item.decider_id)} {decision_words(item.decision)} it {when(item.decided_at)}"


def member_blocks(item: ReviewItem) -> list[dict]:
    seen = item.seen
    owner = mention(item.owner_id) if item.owner_id else "no owner known"
    text = (f"*{code(item.user_name, 64)}* · owner {owner}\n"
            f"How: {_how(seen.get('how') or {})}\n{_usage(seen)}")
    if item.decision is not None:
        return [section(text + "\n" + _decided(item))]
    value = str(item.id)
    remove = button("Remove", ACTION_REMOVE, value, "danger", confirm=confirmation(
        "Remove now?", f"The bot takes {code(item.user_name, 64)} out of {code(item.group, 64)} now, and tells its owner.",
        "Remove"))
    return [section(text), {"type": "actions", "block_id": f"review_{item.id}",
                            "elements": [button("Keep", ACTION_KEEP, value, "primary"), remove]}]


def _range(page: int, total: int) -> str:
    if total == 0:
        return "no members"
    first, last = page * PAGE + 1, min(total, (page + 1) * PAGE)
    return f"members {first}-{last} of {total}" if total > PAGE else f"{total} member{'s' if total != 1 else ''}"


_AT_DEADLINE = {"report": "listed in a message", "remove": "removed", "disable": "disabled (console password and keys)"}


def _in(account: str) -> str:
    """" in AWS account *staging*" when the rules name accounts ('' otherwise)."""
    return f" in AWS account *{escape(account)}*" if account else ""


def review_card(campaign: Campaign, head: dict, page: int, items: list[ReviewItem],
                progress: tuple[int, int] | None, account: str = "") -> dict:
    """One message of a group's review: its members `page*10+1`..; the first carries the progress.
    `account`: the campaign's account's name, when the rules name accounts."""
    group, total = head["group"], head["total"]
    title = f":mag: *Access review #{campaign.id} · {code(group)}*{_in(account)}: {_range(page, total)}"
    blocks = [section(title)]
    if progress is not None:
        decided, _ = progress
        reviewers = listing([approver(r) for r in head.get("reviewers") or ()], budget=600, show=str) or "nobody"
        blocks.append(section(
            f"*{decided} of {total} reviewed.* Reviewers: {reviewers}. Decide by {when(campaign.deadline_at)}; "
            f"memberships still undecided then are {_AT_DEADLINE.get(head.get('on_deadline'), 'listed')}."
            + (" :tada: All decided." if total and decided == total else "")))
    for item in items:
        blocks += member_blocks(item)
    report_at = next((i.seen.get("report_at") for i in items if i.seen.get("report_at")), None)
    if report_at:
        blocks.append(context(f"Sign-ins, MFA and key use from AWS's credential report of "
                              f"{when(dt.datetime.fromisoformat(report_at))}. Remove acts at once; no second person."))
    text = f"Access review #{campaign.id}: {group}" + (f" in {account}" if account else "") + f", {_range(page, total)}"
    return {"text": clip(text, MESSAGE_TEXT), "blocks": blocks}


# -- the reminder, the summary, the report ---------------------------------------------------------

def reminder_text(campaign: Campaign, entry: dict, head: dict, account: str = "") -> str:
    reviewers = listing([approver(r) for r in head.get("reviewers") or ()], budget=600, show=str)
    return (f":bell: {reviewers}: {entry['undecided']} of {entry['total']} members of {code(entry['group'])}"
            f"{_in(account)} are "
            f"still to review in access review #{campaign.id}; decide by {when(campaign.deadline_at)}.")


_COUNT_ORDER = (KEPT, REMOVED, ALREADY_REMOVED, DEADLINE_REPORTED, DEADLINE_REMOVED, DEADLINE_DISABLED, LEFT_ALONE,
                DEADLINE_FAILED, "undecided")


def _counts(counts: dict[str, int]) -> str:
    shown = [f"{counts[d]} {decision_words(d) if d != 'undecided' else 'undecided'}"
             for d in _COUNT_ORDER if counts.get(d)]
    return ", ".join(shown) or "nothing decided"


def _named(entry) -> str:
    """A member the deadline dealt with: [name, why] (why: a Why's value, or AWS's words)."""
    name, why = entry
    return code(name, 64) + (f" ({escape(_LEFT_ALONE_WHY.get(why, clip(why, 200)))})" if why else "")


def closed_message(campaign: Campaign, account: str = "") -> dict:
    summary = campaign.summary or {"groups": []}
    blocks = [section(f":checkered_flag: *Access review #{campaign.id}{_in(account)} closed* {when(campaign.closed_at)} "
                      f"(started {when(campaign.started_at)}"
                      + (f" by {mention(campaign.started_by)}" if campaign.started_by else " on schedule") + ").")]
    lines = {DEADLINE_REPORTED: "Undecided, reported here (nobody decided; nothing was changed)",
             DEADLINE_REMOVED: "Undecided, removed from the group", DEADLINE_DISABLED: "Undecided, disabled",
             LEFT_ALONE: "Undecided, left alone (protected, the bot itself, or outside the bot's path)",
             DEADLINE_FAILED: "Undecided, AWS refused the deadline's action"}
    for entry in summary.get("groups", [])[:40]:
        text = f"*{code(entry['group'])}* ({entry['total']}): {_counts(entry.get('counts') or {})}."
        for decision, label in lines.items():
            names = (entry.get("deadline") or {}).get(decision)
            if names:
                text += f"\n{label}: " + listing(names, budget=900, most=NAMED, show=_named)
        blocks.append(section(text))
    blocks.append(context(f"`/iam review report {campaign.id}` shows who decided what; "
                          f"`iam-bot export --reviews --campaign {campaign.id}` writes the evidence."))
    return {"text": f"Access review #{campaign.id} closed", "blocks": blocks[:50]}


def report_message(report: Report, account: str = "") -> dict:
    campaign = report.campaign
    state = f"closed {when(campaign.closed_at)}" if campaign.closed_at else f"open until {when(campaign.deadline_at)}"
    blocks = [section(f":clipboard: *Access review #{campaign.id}*{_in(account)}, started {when(campaign.started_at)}"
                      + (f" by {mention(campaign.started_by)}" if campaign.started_by else " on schedule")
                      + f", {state}.")]
    for group in report.groups[:45]:
        lines = [f"*{code(group.group)}* ({group.total}): {_counts(group.counts)}."]
        for item in group.decisions[:NAMED]:
            who = mention(item.decider_id) if item.decider_id else "the bot"
            lines.append(f"• {code(item.user_name, 64)}: {decision_words(item.decision)} by {who} {when(item.decided_at)}")
        if len(group.decisions) > NAMED:
            lines.append(f"• and {len(group.decisions) - NAMED} more (`iam-bot export --reviews --campaign {campaign.id}`)")
        blocks.append(section(clip("\n".join(lines), SECTION_TEXT)))
    return {"text": f"Access review #{campaign.id}", "blocks": blocks[:50]}


def removed_dm(campaign: Campaign, item: ReviewItem, account: str = "") -> dict:
    if item.decision == DEADLINE_DISABLED:
        text = (f":lock: Your IAM user {code(item.user_name)}{_in(account)} was disabled (its console password deleted, its access "
                f"keys deactivated): nobody confirmed in access review #{campaign.id} that it still needs "
                f"{code(item.group)} by the deadline. Ask an approver (`/iam enable {item.user_name}`) if it does.")
    else:
        by = f"by {mention(item.decider_id)}" if item.decider_id else "at the review's deadline"
        text = (f":no_entry: Your IAM user {code(item.user_name)}{_in(account)} was removed from {code(item.group)} {by} in access "
                f"review #{campaign.id}. If it still needs it, ask with `/iam add {item.user_name} {item.group}`.")
    return message(text)


# -- the feature -----------------------------------------------------------------------------------

def feature(svc: Services) -> Feature:
    settings, notifier, runner, store = svc.settings, svc.notifier, svc.runner, svc.store
    reviews = Reviews(store, svc.iam, svc.workflow.approvals,
                      Protected(settings.iam_bot_user_path, settings.iam_bot_protected_users, path_of=svc.iam.user_path_or),
                      clock=svc.clock, team_id=svc.team_id, mfa_group=settings.iam_bot_mfa_group,
                      every=settings.iam_bot_review_every, deadline=settings.iam_bot_review_deadline)
    pacer = Pacer()

    def owners_by_email(names: list[str]) -> dict[str, str]:
        return people_by_email_name(svc.client, names, settings.iam_bot_email_domain)

    def account_of(campaign: Campaign) -> str:
        """The campaign's account's name to show: '' when the rules name no accounts."""
        if svc.accounts is None:
            return ""
        return campaign.account or svc.accounts.names[0]

    def in_campaign(work):
        """A job of a campaign runs in its account: its channel is that account's (`approvals_channel`)."""
        def run(job: Job) -> None:
            cid = job.payload.get("campaign_id")
            if cid is None and job.payload.get("item_id") is not None:
                item = store.review_item(job.payload["item_id"])
                cid = item.campaign_id if item else None
            campaign = store.campaign(cid) if cid is not None else None
            with in_account(campaign.account if campaign else None):
                work(job)
        run.__name__ = run.__qualname__ = work.__name__
        run.__doc__ = work.__doc__
        return run

    def start(asked: Asked, parsed: ReviewStartCommand) -> None:
        caller = svc.asker(asked.user_id)
        reviews.may_run(caller, listed=svc.listed(asked.user_id), what="start")
        groups = reviews.scope(parsed.groups)
        campaign = reviews.start(groups, started_by=asked.user_id, owners_by_email=owners_by_email,
                                 named=bool(parsed.groups))
        runner.kick()
        heads = listing([f"{code(h['group'])} ({h['total']})" for h in campaign.groups], budget=1500, show=str)
        asked.reply(f":mag: Access review #{campaign.id}{_in(account_of(campaign))} started: {heads}. Its cards are "
                    f"being posted in {channel(notifier.approvals_channel())}; decide by {when(campaign.deadline_at)}.")

    def report(asked: Asked, parsed: ReviewReportCommand) -> None:
        if asked.interrupted("/iam review report"):
            return
        caller = svc.asker(asked.user_id)
        reviews.may_run(caller, listed=svc.listed(asked.user_id), what="report")
        found = reviews.report(parsed.campaign_id)
        asked.ephemeral_blocks(report_message(found, account_of(found.campaign)))

    def decide(choice: str, label: str):
        def press(body, action, respond):
            reply = ephemeral(respond)
            with answering(reply, label):
                try:
                    item_id = int(action.get("value") or "")
                except ValueError:
                    item_id = 0
                decided = reviews.decide(item_id, body["user"]["id"], choice)
                runner.kick()
                item = decided.item
                reply(f"{code(item.user_name)} in {code(item.group)}: you {decision_words(item.decision)} it."
                      + (" It had already left the group." if item.decision == ALREADY_REMOVED else ""))
        return press

    def post_cards(job: Job) -> None:
        """Every card of the campaign not posted yet, in order, at Slack's pace."""
        campaign = store.campaign(job.payload["campaign_id"])
        if campaign is None:
            return
        posted = store.review_cards(campaign.id)
        for head in campaign.groups:
            for page in range(pages_of(head["total"])):
                if (head["group"].lower(), page) in posted:
                    continue
                items = store.review_items(campaign.id, head["group"], first=page * PAGE, count=PAGE)
                progress = store.review_progress(campaign.id, head["group"]) if page == 0 else None
                pacer.wait()
                answer, refused = notifier.attempt(
                    f"post the review card of {head['group']} ({page + 1})", svc.client.chat_postMessage,
                    channel=notifier.approvals_channel(), unfurl_links=False, unfurl_media=False,
                    **review_card(campaign, head, page, items, progress, account_of(campaign)))
                if answer is not None:
                    store.set_review_card(campaign.id, head["group"], page, answer["channel"], answer["ts"])

    def redraw(job: Job) -> None:
        campaign = store.campaign(job.payload["campaign_id"])
        if campaign is None:
            return
        head, page = campaign.group(job.payload["group"]), int(job.payload["page"])
        place = store.review_cards(campaign.id).get((job.payload["group"].lower(), page))
        if head is None or place is None:
            return  # not posted yet: the posting draws it as it is then
        items = store.review_items(campaign.id, head["group"], first=page * PAGE, count=PAGE)
        progress = store.review_progress(campaign.id, head["group"]) if page == 0 else None
        pacer.wait()  # a deadline redraws every card of a campaign: at Slack's pace too
        notifier.call(f"update the review card of {head['group']} ({page + 1})", svc.client.chat_update,
                      channel=place[0], ts=place[1],
                      **review_card(campaign, head, page, items, progress, account_of(campaign)))

    def owner_dm(job: Job) -> None:
        item = store.review_item(job.payload["item_id"])
        campaign = store.campaign(item.campaign_id) if item else None
        if item is not None and campaign is not None and item.owner_id:
            notifier.dm(item.owner_id, removed_dm(campaign, item, account_of(campaign)))

    def remind(job: Job) -> None:
        campaign = store.campaign(job.payload["campaign_id"])
        if campaign is None or campaign.closed_at is not None:
            return
        cards = store.review_cards(campaign.id)
        for entry in job.payload.get("groups") or []:
            head = campaign.group(entry["group"]) or {"reviewers": []}
            place = cards.get((entry["group"].lower(), 0))
            where = {"channel": place[0], "thread_ts": place[1]} if place else \
                {"channel": notifier.approvals_channel()}
            notifier.call(f"remind the reviewers of {entry['group']}", svc.client.chat_postMessage,
                          unfurl_links=False, **where,
                          **message(reminder_text(campaign, entry, head, account_of(campaign))))

    def closed(job: Job) -> None:
        campaign = store.campaign(job.payload["campaign_id"])
        if campaign is not None:
            notifier.to_approvers(f"sum up access review #{campaign.id}", closed_message(campaign, account_of(campaign)))

    def duty() -> None:
        """The schedule, the reminders and the deadlines: due entries only."""
        try:
            reviews.schedule_due(owners_by_email)
        except Exception:  # AWS or Slack not ready: the entry stays due, the next pass tries again
            log.warning("the scheduled access review could not start; the next pass tries again", exc_info=True)
        reviews.remind_due()
        reviews.close_due()
        runner.kick()

    return Feature(
        name="reviews",
        verbs=VERBS,
        domain=reviews,
        commands={
            ReviewStartCommand: Command(lambda c: "Reading AWS's credential report and the groups' members for an "
                                                  "access review…", start),
            ReviewReportCommand: Command(lambda c: "Gathering the access review's decisions…", report),
        },
        actions={ACTION_KEEP: decide(KEEP, "Keep"), ACTION_REMOVE: decide(REMOVE, "Remove")},
        work={ReviewOwed.POST: in_campaign(post_cards), ReviewOwed.CARD: in_campaign(redraw),
              ReviewOwed.DM: in_campaign(owner_dm), ReviewOwed.REMIND: in_campaign(remind),
              ReviewOwed.CLOSED: in_campaign(closed)},
        duties=(Duty("reviews", CHECK_EVERY, duty),),
    )

