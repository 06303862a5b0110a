"""What the audit half of the bot says: the "filed" confirmation with its Cancel button, reminders
and withdrawals in a card's thread, `/iam status` and `/iam audit` (and its scheduled post).

Text from AWS goes through `bot.mrkdwn`, people's own words are shown as typed (a deny reason is a
`plain_text` field under its trail); every list ends in "and N more" before
Slack's limits would refuse the message.
"""

from __future__ import annotations

import datetime as dt

from commands.audit import STALE_DAYS, AuditSummary, Flagged, RequestTrail, Status
from commands.reminders import reminders_sent
from storage import Event, Request

from .blocks import CARD_FACES, MESSAGE_TEXT, SECTION_TEXT, _button, context, section
from .mrkdwn import approver, channel, clip, code, escape, listing, mention, typed, when

ACTION_CANCEL = "iam_cancel"
NAMED_USERS = 20  # each audit line names this many users, then "and N more"
STATUS_REQUESTS = 20  # /iam status shows this many requests, newest first
STATUS_EVENTS = 25  # ... and this many events of each


def summary_of(request: Request) -> str:
    look = CARD_FACES.get(request.kind)
    return look.summary(request) if look else f"{escape(request.kind)} for {code(request.user_name)}"


# -- filing and withdrawing --------------------------------------------------------------

def filed_message(request: Request, approvals_channel: str, notes: str = "") -> dict:
    """The requester's confirmation: what waits for whom, and a Cancel button to withdraw it."""
    text = (f":hourglass_flowing_sand: Request #{request.id} filed: IAM user {code(request.user_name)} for "
            f"{mention(request.owner_id)}, waiting for a second person to approve it in {channel(approvals_channel)}."
            + notes)
    cancel = _button("Cancel request", ACTION_CANCEL, str(request.id), confirm={
        "title": {"type": "plain_text", "text": "Withdraw this request?"},
        "text": {"type": "mrkdwn", "text": clip(f"Request #{request.id} will be cancelled; nothing will be created.",
                                               300)},
        "confirm": {"type": "plain_text", "text": "Withdraw"},
        "deny": {"type": "plain_text", "text": "Keep it"},
    })
    return {"text": clip(text, MESSAGE_TEXT), "blocks": [
        section(text),
        {"type": "actions", "block_id": f"withdraw_{request.id}", "elements": [cancel]},
        context(f"Changed your mind? Cancel it here or with `/iam cancel {request.id}`."),
    ]}


def withdrawn_text(request: Request) -> str:
    return (f":heavy_multiplication_x: You withdrew request #{request.id} ({summary_of(request)}). Nothing was "
            "created; ask again with `/iam create` whenever you need to.")


# -- lines in a card's thread (bot/notify.py THREAD_LINES) --------------------------------

def reminder_line(settings, request: Request, actor) -> str | None:
    """Re-announce a pending request to the approvers; nothing once it is decided."""
    if request.state != "pending":
        return None
    who = " ".join(approver(a) for a in settings.iam_bot_approvers)
    expires = request.created_at + settings.iam_bot_request_ttl
    number = reminders_sent(request)
    return (f":bell: Reminder{f' {number}' if number > 1 else ''}: request #{request.id} "
            f"({summary_of(request)}) has waited since {when(request.created_at)}. {who}: please approve or "
            f"deny it on the card above. It expires {when(expires)}.")


def withdrawn_line(settings, request: Request, actor) -> str:
    return f":heavy_multiplication_x: {mention(actor)} withdrew request #{request.id}. Nothing was created."


# -- /iam status -------------------------------------------------------------------------

_EVENT_WORDS = {
    "filed": "asked", "approved": "approved", "denied": "denied", "cancelled": "withdrew it",
    "expired": "expired unanswered", "provisioned": "provisioned it", "failed": "provisioning failed",
    "retried": "retried provisioning", "revealed": "revealed it (once)",
    "reveal_expired": "the reveal expired unused", "reminded": "reminded the approvers",
    "sign_in_delivered": "sent the sign-in details", "sign_in_not_delivered": "could not send the sign-in details",
}
# Bookkeeping that says nothing a person asked about.
_QUIET = {"reveal_button_sent", "reveal_claimed", "reveal_released"}


def _event_line(event: Event) -> str:
    words = _EVENT_WORDS.get(event.what, escape(event.what.replace("_", " ")))
    who = mention(event.actor_id) if event.actor_id else "the bot"
    said = " (their reason below, as typed)" if _reason_of(event) else ""
    return f"• {when(event.at)} · {who} {words}{said}"


def _reason_of(event: Event) -> str | None:
    return event.detail if event.what == "denied" and event.detail else None


def _trail(trail: RequestTrail) -> dict:
    request = trail.request
    shown = [e for e in trail.events if e.what not in _QUIET and not e.what.startswith(("step:", "refused:"))]
    refused = sum(1 for e in trail.events if e.what.startswith("refused:"))
    lines = [f"*#{request.id}* · {summary_of(request)} · *{escape(request.state)}*"]
    lines += [_event_line(e) for e in shown[-STATUS_EVENTS:]]
    if len(shown) > STATUS_EVENTS:
        lines.insert(1, f"• … {len(shown) - STATUS_EVENTS} earlier events")
    if refused:
        lines.append(f"• {refused} refused click{'s' if refused != 1 else ''} or command{'s' if refused != 1 else ''}")
    trail_section = section("\n".join(lines))
    reasons = [typed(_reason_of(e), 200) for e in shown[-STATUS_EVENTS:] if _reason_of(e)]
    if reasons:
        trail_section["fields"] = reasons[:10]  # Slack's most fields in a section
    return trail_section


def status_message(status: Status) -> dict:
    name = code(status.user_name)
    if not status.trails:
        return {"text": f"No requests about {name}", "blocks": [section(
            f"The bot has no requests about {name}. If the user exists, it was made outside the bot; "
            f"see its keys with {code('/iam keys ' + status.user_name, 120)}.")]}
    head = f"*Requests about {name}*" + ("" if status.everything else " (those for you)")
    blocks = [section(head)] + [_trail(t) for t in status.trails[:STATUS_REQUESTS]]
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
    head = (f":clipboard: *{title} of the AWS account*: {summary.users} IAM user{'s' if summary.users != 1 else ''}. "
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
        context("Fix: MFA for every console user; rotate keys older than 90 days; remove unused keys and users; "
                "give every user an owner. `/iam keys <user>` shows a user's keys."),
    ]
    text = f"{title}: {summary.users} IAM users, {len(summary.no_mfa)} console users without MFA"
    return {"text": clip(text, MESSAGE_TEXT), "blocks": blocks}
