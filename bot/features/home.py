"""The App Home (issue 21): one person's IAM users (groups, console and MFA, access keys with their
age and last use, live grants with their end), their open requests, and what waits for them as
an approver (with a link to each card and how many approvals it still needs).

Its buttons are the existing actions (the keys' Rotate, Deactivate or Activate and Delete; a
grant's Extend and I'm done; Cancel of one's own request), with their own rules and checks: the
router answers a press from the home by DM (a home has no response_url) and refreshes the home
(`Feature.home_actions`, `home_refresh`, bot/router.py).

When it is published, always as durable work (`HOME_JOB`, one person a job, keyed per window so a
burst of changes is one views.publish, on whichever replica takes it):
- when the person opens the tab (`app_home_opened`): at once, AWS's facts from a short cache;
- when something of theirs changes: the duty `app_home` follows the event log (its own cursor)
  and writes a refresh for each person with a home an event touches, due at the end of the
  window (commands/home.py `WINDOW`), read afresh;
- after they press one of its buttons.
A person's renders take a lease (`home:<user>`), so two replicas never publish out of order, and
a home equal to the last one published is not sent again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading

from commands.accounts import in_account
from commands.home import HOME_JOB, HomeFacts, HomeFollower, HomeReader, UserFacts, Waiting, changed_job, opened_job
from storage import PENDING, Job, Request

from .. import blocks
from ..blocks import button, confirmation, context, section
from ..feature import Duty, Feature
from ..mrkdwn import clip, code, escape, listing, when
from ..services import Services
from ..work import TryLater
from .groups import ACTION_GRANT_DONE, ACTION_GRANT_EXTEND
from .keys import (
    ACTION_KEY_ACTIVATE, ACTION_KEY_DEACTIVATE, ACTION_KEY_DELETE, ACTION_KEY_ROTATE, key_buttons, key_line,
)

log = logging.getLogger(__name__)

HOME_CALLBACK = "iam_home"
MAX_BLOCKS = 100  # Slack's limit for a home view
HOME_LEASE_HOLD = dt.timedelta(seconds=60)
# What each part of the home may take at most, so that the later parts always show.
USERS_BLOCKS = 60
OPEN_BLOCKS = 16
PERMALINKS_KEPT = 2000
HOME_ACTIONS = (ACTION_KEY_ROTATE, ACTION_KEY_DEACTIVATE, ACTION_KEY_ACTIVATE, ACTION_KEY_DELETE,
                ACTION_GRANT_EXTEND, ACTION_GRANT_DONE, blocks.ACTION_CANCEL)


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, 150)}}


def divider() -> dict:
    return {"type": "divider"}


# -- the view --------------------------------------------------------------------------------------

def user_blocks(user: UserFacts, now: dt.datetime) -> list[dict]:
    """One IAM user: a line of facts, each key with its buttons, each live grant with Extend and I'm done."""
    timed = {g.group.lower(): g for g in user.grants}
    shown_groups = listing(user.groups, budget=900, show=lambda g: code(g) + (
        f" (until {when(timed[str(g).lower()].ends_at)})" if str(g).lower() in timed else ""))
    mfa = f"MFA: {user.mfa_devices} device{'s' if user.mfa_devices != 1 else ''}" if user.mfa_devices else \
        (":warning: no MFA device" if user.console else "no MFA device")
    where = f" in AWS account *{escape(user.shown_account)}*" if user.shown_account else ""
    facts = [f"*{code(user.name)}*{where}", f"groups: {shown_groups}" if user.groups else "in no group",
             "console sign-in: on" if user.console else "no console sign-in", mfa,
             f"{len(user.keys)} access key{'s' if len(user.keys) != 1 else ''}"]
    out = [section(" · ".join(facts))]
    for key in user.keys:
        out.append(section(key_line(key, now)))
        with in_account(user.account):  # the buttons carry the user's account, as /iam keys' do
            out.append(key_buttons(user.name, key.key_id, key.status))
    for grant in user.grants:
        out.append(section(f":hourglass_flowing_sand: In {code(grant.group)} until {when(grant.ends_at)} "
                           f"(request #{grant.request_id})."))
        out.append({"type": "actions", "block_id": f"grant_{grant.id}", "elements": [
            button("Extend", ACTION_GRANT_EXTEND, str(grant.id)),
            button("I'm done", ACTION_GRANT_DONE, str(grant.id), confirm=confirmation(
                "Done with it?", f"The bot takes {code(user.name)} out of {code(grant.group)} now.", "I'm done")),
        ]})
    return out


def open_blocks(request: Request, summary: str) -> list[dict]:
    if request.state == PENDING:
        text = f"*#{request.id}* {summary}: waiting for approval since {when(request.created_at)}."
        block = section(text)
        block["accessory"] = button("Cancel", blocks.ACTION_CANCEL, str(request.id), confirm=confirmation(
            "Withdraw this request?", f"Request #{request.id} is withdrawn; nothing is created or changed.",
            "Withdraw", "Keep it"))
        return [block]
    return [section(f"*#{request.id}* {summary}: approved, the bot is carrying it out.")]


def waiting_blocks(waiting: Waiting, summary: str, link: str | None) -> list[dict]:
    request = waiting.request
    more = f"needs {waiting.still} more approval{'s' if waiting.still != 1 else ''}"
    card = f" · <{link}|Open its card>" if link else ""
    return [section(f"*#{request.id}* {summary} · {more} · waiting since {when(request.created_at)}{card}")]


def _fill(out: list[dict], items: list[list[dict]], budget: int, more: str) -> None:
    """Whole items while they fit in `budget` blocks, keeping one for "and N more <more>"."""
    used = 0
    for index, item in enumerate(items):
        left = len(items) - index - 1
        if used + len(item) + (1 if left else 0) > budget:
            out.append(context(f"…and {len(items) - index} more {more}."))
            return
        out.extend(item)
        used += len(item)


def home_view(facts: HomeFacts, summary, links: dict[int, str]) -> dict:
    """The home view within Slack's 100 blocks: each part takes what it needs up to its share, the
    rest say "and N more"."""
    now = facts.as_of
    out: list[dict] = [header("Your IAM users")]
    if facts.users:
        _fill(out, [user_blocks(user, now) for user in facts.users], USERS_BLOCKS, "of your IAM users")
    else:
        out.append(section("You own no IAM user the bot made or changed. Ask for one with `/iam create`."))
    if facts.more_users:
        out.append(context(f"…and {facts.more_users} more IAM users of yours: see them with `/iam keys <name>`."))
    out += [divider(), header("Your open requests")]
    if facts.open:
        _fill(out, [open_blocks(r, summary(r)) for r in facts.open], OPEN_BLOCKS, "open requests")
    else:
        out.append(section("Nothing open."))
    if facts.approver:
        out += [divider(), header("Waiting for your approval")]
        if facts.waiting:
            left = MAX_BLOCKS - len(out)
            _fill(out, [waiting_blocks(w, summary(w.request), links.get(w.request.id)) for w in facts.waiting],
                  left, "requests waiting for you")
        else:
            out.append(section("Nothing waits for you."))
    return {"type": "home", "callback_id": HOME_CALLBACK, "blocks": out[:MAX_BLOCKS]}


def digest(view: dict) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()


# -- the feature -----------------------------------------------------------------------------------

def feature(svc: Services) -> Feature:
    store, runner, notifier, workflow = svc.store, svc.runner, svc.notifier, svc.workflow
    reader = HomeReader(store, svc.iam, workflow, clock=svc.clock,
                        accounts=svc.accounts.names if svc.accounts else ())
    follower = HomeFollower(store, svc.clock)
    permalinks: dict[tuple[str, str], str] = {}
    lock = threading.Lock()

    def permalink(request: Request) -> str | None:
        """The card's permalink (chat.getPermalink), kept: a message's permalink never changes."""
        if not request.card_channel or not request.card_ts:
            return None
        key = (request.card_channel, request.card_ts)
        with lock:
            if key in permalinks:
                return permalinks[key]
        try:
            answer = notifier.call(f"link to the card of request #{request.id}", svc.client.chat_getPermalink,
                                   channel=request.card_channel, message_ts=request.card_ts)
        except TryLater:
            return None  # shown without its link this time
        link = str((answer or {}).get("permalink") or "")
        if not link.startswith("https://") or any(c in link for c in "<>| "):
            return None
        with lock:
            if len(permalinks) >= PERMALINKS_KEPT:
                permalinks.clear()
            permalinks[key] = link
        return link

    def render(user_id: str, *, fresh: bool) -> tuple[HomeFacts, dict]:
        facts = reader.read(user_id, fresh=fresh)
        links = {w.request.id: link for w in facts.waiting if (link := permalink(w.request))}
        return facts, home_view(facts, svc.looks.summary, links)

    def publish(job: Job) -> None:
        """Render and publish one person's home (their lease held, so replicas publish in order)."""
        user_id = str(job.payload["user_id"])
        lease = f"home:{user_id}"
        if not workflow.lead(lease, runner.worker, HOME_LEASE_HOLD):
            raise TryLater(f"another process is publishing the App Home of {user_id}")
        try:
            follower.start()  # before the read: a change after it is followed, so it refreshes this home
            facts, view = render(user_id, fresh=bool(job.payload.get("fresh")))
            seal = digest(view)
            if store.home_digest(user_id) == seal:
                return  # Slack shows this very home already
            published = notifier.call(f"publish the App Home of {user_id}", svc.client.views_publish,
                                      user_id=user_id, view=view)
            if published is not None:
                store.home_published(user_id, digest=seal, approver=facts.approver, now=svc.clock())
        finally:
            workflow.step_down(lease, runner.worker)

    def app_home_opened(event):
        """The person opened the home tab: a publish written down (once a window), done after the ack."""
        if event.get("tab") != "home" or not isinstance(event.get("user"), str):
            return
        store.enqueue([opened_job(event["user"], svc.clock())], now=svc.clock(), urgent=True)
        runner.kick()

    def refresh(user_id: str) -> None:
        """After a press on the home: published again at the end of this window, read afresh."""
        if store.enqueue([changed_job(user_id, svc.clock())], now=svc.clock()):
            runner.kick()

    def follow() -> None:
        if follower.follow():
            runner.kick()

    return Feature(
        name="home",
        domain=reader,
        events={"app_home_opened": app_home_opened},
        work={HOME_JOB: publish},
        duties=(Duty("app_home", dt.timedelta(0), follow),),
        home_actions=HOME_ACTIONS,
        home_refresh=refresh,
    )
