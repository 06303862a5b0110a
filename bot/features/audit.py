"""`/iam status` and `/iam audit` (and the audit posted on a schedule, IAM_BOT_AUDIT_EVERY).

Both are shown only where the asker alone sees them. The scheduled audit: every minute, the
duties runner owes this period's report as a job whose key is the period, so it is written down
once however many processes ask; any process's Runner posts it to the approvals channel.

Text from AWS goes through `bot.mrkdwn`, people's own words are shown as typed (a deny reason is a
`plain_text` field under its trail); every list ends in "and N more" before Slack's limits would
refuse the message.
"""

from __future__ import annotations

import datetime as dt

from commands.audit import (
    AUDIT_POST, STALE_DAYS, VERBS, Audit, AuditCommand, AuditSummary, Flagged, RequestTrail, Status, StatusCommand,
)
from commands.errors import CommandError
from commands.scope import current_account, in_account
from storage import Event, Job, Request

from ..blocks import MESSAGE_TEXT, SECTION_TEXT, context, section
from ..feature import Command, Duty, Feature, Looks
from ..mrkdwn import clip, code, escape, listing, mention, typed, when
from ..router import Asked
from ..services import Services
from ..work import TryLater

NAMED_USERS = 20  # each audit line names this many users, then "and N more"
STATUS_REQUESTS = 20  # /iam status shows this many requests, newest first
STATUS_EVENTS = 25  # ... and this many events of each
CHECK_EVERY = dt.timedelta(minutes=1)


# -- /iam status -------------------------------------------------------------------------

_EVENT_WORDS = {
    "filed": "asked", "approved": "approved", "denied": "denied", "cancelled": "withdrew it",
    "expired": "expired unanswered", "provisioned": "provisioned it", "failed": "provisioning failed",
    "retried": "retried provisioning", "revealed": "revealed it (once)",
    "reveal_expired": "the reveal expired unused", "reminded": "reminded the approvers",
    "sign_in_delivered": "sent the sign-in details", "sign_in_not_delivered": "could not send the sign-in details",
}
# Bookkeeping that says nothing a person asked about.
_QUIET = {"reveal_button_sent", "reveal_claimed", "reveal_released", "security_copy_posted"}


def _event_line(event: Event, request: Request | None = None) -> str:
    words = _EVENT_WORDS.get(event.what, escape(event.what.replace("_", " ")))
    who = mention(event.actor_id) if event.actor_id else "the bot"
    said = " (their reason below, as typed)" if _reason_of(event) else ""
    return f"• {when(event.at)} · {who} {words}{_rule_of(event, request)}{said}"


def _rule_of(event: Event, request: Request | None) -> str:
    """The approval rule a decision was taken by (docs/rules.md), for a request judged by a rules
    file (its `shares`); the event log holds it either way."""
    if request is None or not request.details.get("shares"):
        return ""
    if event.what in ("approval", "approved") and event.detail:
        return f" ({escape(event.detail)})"
    if event.what == "denied" and request is not None and request.details.get("deny_rule"):
        return f" (as an approver by {escape(request.details['deny_rule'])})"
    return ""


def _reason_of(event: Event) -> str | None:
    return event.detail if event.what == "denied" and event.detail else None


def _account_words(account: str | None, default_account: str) -> str:
    """" · AWS account *staging*" when the rules name accounts (`default_account`: the default's name)."""
    return f" · AWS account *{escape(account or default_account)}*" if default_account else ""


def _trail(trail: RequestTrail, looks: Looks, default_account: str = "") -> dict:
    request = trail.request
    shown = [e for e in trail.events if e.what not in _QUIET and not e.what.startswith(("step:", "refused:"))]
    refused = sum(1 for e in trail.events if e.what.startswith("refused:"))
    where = _account_words(request.account, default_account)
    lines = [f"*#{request.id}* · {looks.summary(request)}{where} · *{escape(request.state)}*"]
    lines += [_event_line(e, request) for e in shown[-STATUS_EVENTS:]]
    if len(shown) > STATUS_EVENTS:
        lines.insert(1, f"• … {len(shown) - STATUS_EVENTS} earlier events")
    if refused:
        lines.append(f"• {refused} refused click{'s' if refused != 1 else ''} or command{'s' if refused != 1 else ''}")
    trail_section = section("\n".join(lines))
    reasons = [typed(_reason_of(e), 200) for e in shown[-STATUS_EVENTS:] if _reason_of(e)]
    if reasons:
        trail_section["fields"] = reasons[:10]  # Slack's most fields in a section
    return trail_section


def status_message(status: Status, looks: Looks, default_account: str = "") -> dict:
    """The requests about a name; with several AWS accounts (`default_account`: the default's name)
    each line names its request's account."""
    name = code(status.user_name)
    accounts = {t.request.id: t.request.account for t in status.trails}

    def where(request_id: int) -> str:
        return _account_words(accounts[request_id], default_account) if request_id in accounts else ""

    if not status.trails:
        return {"text": f"No requests about {name}", "blocks": [section(
            f"The bot has no requests about {name}. If the user exists, it was made outside the bot; "
            f"see its keys with {code('/iam keys ' + status.user_name, 120)}.")]}
    head = f"*Requests about {name}*" + ("" if status.everything else " (those for you)")
    blocks = [section(head)]
    if status.grants:
        blocks.append(section("*Time-bound memberships*\n" + "\n".join(
            f"• {code(g.group)} until {when(g.ends_at)} (request #{g.request_id}{where(g.request_id)})"
            for g in status.grants[:20])))
    if status.standing:
        blocks.append(section("*Standing memberships the bot granted*\n" + "\n".join(
            f"• {code(group)} for good (request #{request_id}{where(request_id)})"
            for group, request_id in status.standing[:20])))
    blocks += [_trail(t, looks, default_account) for t in status.trails[:STATUS_REQUESTS]]
    hidden = len(status.trails) + status.older - STATUS_REQUESTS
    if hidden > 0:
        blocks.append(context(f"and {hidden} older request{'s' if hidden != 1 else ''}"))
    return {"text": clip(f"Requests about {name}", MESSAGE_TEXT), "blocks": blocks}


# -- /iam audit --------------------------------------------------------------------------

def age(delta: dt.timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 2:
        return "just made"
    if minutes < 120:
        return f"{minutes} minutes old"
    hours = minutes // 60
    return f"{hours} hours old" if hours < 48 else f"{hours // 24} days old"


def _flagged(flag: Flagged) -> str:
    notes = []
    if flag.key is not None:
        notes.append(f"key {flag.key}")
    if flag.days is not None:
        notes.append(f"{flag.days} days")
    elif flag.key is not None:
        notes.append("never used")
    return code(flag.user, 64) + (f" ({', '.join(notes)})" if notes else "")


def _finding(title: str, flagged: tuple[Flagged, ...]) -> dict:
    if not flagged:
        return section(f":white_check_mark: *{title}*: none")
    names = listing(flagged, budget=SECTION_TEXT - len(title) - 40, show=_flagged, most=NAMED_USERS)
    return section(f":warning: *{title}* ({len(flagged)}): {names}")


def _root_line(summary: AuditSummary) -> dict:
    root = summary.root
    if root is None:
        return section(":grey_question: *Root user*: not in the report, so its MFA and keys are unknown.")
    mfa = ":white_check_mark: MFA on" if root.mfa_active else ":rotating_light: *no MFA*: turn it on now"
    keys = (":white_check_mark: no access keys" if not root.active_keys else
            f":rotating_light: *{root.active_keys} active access key{'s' if root.active_keys != 1 else ''}*: "
            "delete them (the root user should have none)")
    return section(f"*Root user*: {mfa}; {keys}.")


def audit_message(summary: AuditSummary, *, scheduled: bool = False) -> dict:
    title = "Scheduled credential audit" if scheduled else "Credential audit"
    account = current_account()  # with several AWS accounts: the one `--account` named (None: the default)
    which = f" {escape(account)}" if account else ""
    head = (f":clipboard: *{title} of the AWS account{which}*: {summary.users} IAM user{'s' if summary.users != 1 else ''}. "
            f"From AWS's credential report of {when(summary.generated_at)} "
            f"({age(summary.as_of - summary.generated_at)}; AWS makes a new one at most every 4 hours).")
    days = STALE_DAYS
    blocks = [
        section(head),
        _root_line(summary),
        _finding("Console users without MFA", summary.no_mfa),
        _finding(f"Access keys older than {days} days", summary.old_keys),
        _finding(f"Access keys unused for {days} days or never used", summary.unused_keys),
        _finding(f"Users unused for {days} days", summary.unused_users),
        _finding("Users the bot did not make (no owner known)", summary.not_made),
        *([_finding("Users the bot made without the permissions boundary", summary.unbounded)]
          if summary.unbounded is not None else []),
        context("Fix: MFA for every console user; rotate keys older than 90 days; remove unused keys and users; "
                "give every user an owner. `/iam keys <user>` shows a user's keys."),
    ]
    text = f"{title}: {summary.users} IAM users, {len(summary.no_mfa)} console users without MFA"
    return {"text": clip(text, MESSAGE_TEXT), "blocks": blocks}


# -- the feature -------------------------------------------------------------------------------

def feature(svc: Services) -> Feature:
    settings = svc.settings
    audit = Audit(svc.workflow, svc.store, svc.iam)

    def show_status(asked: Asked, parsed: StatusCommand) -> None:
        if asked.interrupted(f"/iam status {parsed.user_name}"):
            return
        caller = svc.asker(asked.user_id)
        found = audit.status(parsed.user_name, caller, listed=svc.listed(asked.user_id, parsed.user_name))
        asked.ephemeral_blocks(status_message(found, svc.looks, svc.accounts.names[0] if svc.accounts else ""))

    def show_audit(asked: Asked, parsed: AuditCommand) -> None:
        if asked.interrupted("/iam audit"):
            return
        caller = svc.asker(asked.user_id)
        summary = audit.audit(caller, listed=svc.listed(asked.user_id))
        asked.ephemeral_blocks(audit_message(summary))

    def audit_once() -> None:
        every = settings.iam_bot_audit_every
        if every is not None and audit.schedule(every, svc.accounts.names if svc.accounts else ()):
            svc.runner.kick()

    def post_scheduled_audit(job: Job) -> None:
        """The period's report in the approvals channel; AWS or Slack not ready is tried again later.
        With several AWS accounts, the report of the job's account, in its approvals channel."""
        with in_account(job.payload.get("account")):
            try:
                summary = audit.account_summary()
            except CommandError as error:
                raise TryLater(f"the credential report could not be read ({error.why.value})") from None
            svc.notifier.to_approvers("post the scheduled audit", audit_message(summary, scheduled=True))

    return Feature(
        name="audit",
        verbs=VERBS,
        domain=audit,
        commands={
            StatusCommand: Command(lambda c: f"Looking up the requests about {code(c.user_name)}…", show_status),
            AuditCommand: Command(lambda c: "Asking AWS for the credential report…", show_audit),
        },
        work={AUDIT_POST: post_scheduled_audit},
        duties=(Duty("scheduled_audit", CHECK_EVERY, audit_once),),
    )
