"""Block Kit builders, with their block and action ids beside them.

All text that came from a person or from AWS (user names, group names) goes through `bot.mrkdwn`,
so `<!channel>` or a spoofed link renders literally; what people wrote in their own words (reasons)
is shown apart from the bot's lines, as typed (`their_words`). Every text is kept
inside Slack's Block Kit limits (long lists end in "and N more"): a payload Slack refuses
would leave a person without an answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from commands.workflow import Filed
from storage import Request

from .guardrails import approved_by, card_notes, who_decides
from .mrkdwn import clip, code, escape, listing, mention, typed, when

ACTION_APPROVE = "iam_approve"
ACTION_DENY = "iam_deny"
ACTION_RETRY = "iam_retry"
ACTION_REVEAL = "iam_reveal"
ACTION_CANCEL = "iam_cancel"  # the requester withdraws their own request
VIEW_DENY = "iam_deny_reason"
BLOCK_DENY_REASON = "deny_reason"
ACTION_DENY_REASON = "reason"

# Slack's Block Kit limits (https://api.slack.com/reference/block-kit).
SECTION_TEXT = 3000
FIELD_TEXT = 2000
CONFIRM_TEXT = 300
MESSAGE_TEXT = 3000  # the notification text beside the blocks; Slack allows more, people read less


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT)}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_TEXT)}]}


def field(title: str, text: str) -> dict:
    return {"type": "mrkdwn", "text": clip(f"*{title}*\n{text}", FIELD_TEXT)}


def their_words(title: str, who: str | None, words: str) -> dict:
    """What a person wrote, under a title of the bot's, as a `plain_text` field: Slack shows it as
    typed, so a reason cannot pass for the bot's own bold status lines and emoji."""
    head = {"type": "mrkdwn", "text": clip(f"*{title}*, as {mention(who)} typed it:", SECTION_TEXT)}
    return {"type": "section", "text": head, "fields": [typed(words, FIELD_TEXT)]}


def button(text: str, action_id: str, value: str, style: str | None = None, confirm: dict | None = None) -> dict:
    element = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id,
               "value": value}
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def confirmation(title: str, text: str, yes: str, no: str = "Cancel") -> dict:
    """A button's "are you sure?" dialog."""
    return {"title": {"type": "plain_text", "text": title},
            "text": {"type": "mrkdwn", "text": clip(text, CONFIRM_TEXT)},
            "confirm": {"type": "plain_text", "text": yes}, "deny": {"type": "plain_text", "text": no}}


def message(text: str) -> dict:
    """A plain ephemeral-ready message: text, and the same text as one section."""
    return {"text": clip(text, MESSAGE_TEXT), "blocks": [section(text)]}


def groups_of(request: Request, budget: int) -> str:
    return listing(request.groups, budget=budget)


# -- the approval card ------------------------------------------------------------------

@dataclass(frozen=True)
class CardFace:
    """How one kind of request looks on its approval card, before and after its decision.

    Everything is drawn from the request (its `details` hold what was read at filing time), so
    the card can be redrawn at any later state.
    """

    title: str  # "New IAM user requested"
    summary: Callable[[Request], str]  # the notification text: "IAM user `x` for @o"
    fields: Callable[[Request], list[dict]]  # at most 10 `field(...)`s
    confirm: Callable[[Request], str]  # the Approve button's confirmation, at most CONFIRM_TEXT
    checks: Callable[[Filed], str] = lambda filed: ""  # what was checked at filing (context line)
    details: Callable[[Request], list[dict]] = lambda request: []  # further blocks (e.g. what will go)


def guard_notes(request: Request) -> list[dict]:
    return [section(text) for text in card_notes(request)]


def approval_card(filed: Filed, look: CardFace, request_ttl: dt.timedelta, *, token: str | None = None,
                  resent: bool = False) -> dict:
    request = filed.request
    expires = request.created_at + request_ttl
    value = f"{request.id}:{token}" if token else str(request.id)
    checks = look.checks(filed)
    return {
        "text": clip(f"Request #{request.id}: {look.summary(request)}, waiting for approval", MESSAGE_TEXT),
        "blocks": [
            section(f":key: *{look.title}* by {mention(request.requester_id)}"),
            {"type": "section", "fields": look.fields(request)},
            *look.details(request),
            *guard_notes(request),
            *([context(checks)] if checks else []),
            *([context(":information_source: The bot may have posted this request before it was interrupted; "
                       "that card's buttons no longer work. Decide here.")] if resent else []),
            {
                "type": "actions",
                "block_id": f"decide_{request.id}",
                "elements": [
                    button("Approve", ACTION_APPROVE, value, "primary",
                           confirm=confirmation("Approve this request?", look.confirm(request), "Approve")),
                    button("Deny", ACTION_DENY, value, "danger"),
                ],
            },
            context(f"{who_decides(request)} Expires {when(expires)}."),
        ],
    }


def outcome_line(request: Request) -> str:
    state = request.state
    if state == "denied":
        return f":no_entry: Denied by {mention(request.decider_id)} {when(request.decided_at)}."
    if state == "expired":
        return ":hourglass: Expired: nobody decided in time. Ask again with `/iam`."
    if state == "cancelled":
        if request.decider_id:  # withdrawn by its requester (commands/reminders.py withdraw)
            return f":heavy_multiplication_x: Withdrawn by {mention(request.decider_id)} {when(request.decided_at)}."
        return ":heavy_multiplication_x: Cancelled."
    if request.decider_id or request.details.get("approved_by_rule"):
        outcome = f":white_check_mark: Approved by {approved_by(request)} {when(request.decided_at)}"
        return outcome + {"failed": " · provisioning failed, see the thread",
                          "approved": " · provisioning…"}.get(state, "")
    return f"State: {escape(state)}"


def decided_card(request: Request, look: CardFace) -> dict:
    """The card after its decision: no buttons, the decision and who made it."""
    blocks = [
        section(f":key: *{look.title} (request #{request.id})* by {mention(request.requester_id)}"),
        {"type": "section", "fields": look.fields(request)},
        *look.details(request),
        *guard_notes(request),
        section(outcome_line(request)),
    ]
    if request.state == "denied" and request.deny_reason:
        blocks.append(their_words("Reason for the denial", request.decider_id, request.deny_reason))
    if request.state == "failed":
        blocks.append({"type": "actions", "block_id": f"retry_{request.id}",
                       "elements": [button("Retry provisioning", ACTION_RETRY, str(request.id), "primary")]})
    return {"text": clip(f"Request #{request.id}: {look.summary(request)}: {request.state}", MESSAGE_TEXT),
            "blocks": blocks}


# -- the deny modal --------------------------------------------------------------------

def modal(callback_id: str, private_metadata: str, title: str, submit: str, blocks: list[dict]) -> dict:
    """A form with a submit button and Cancel (the deny modal, Extend's form)."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def deny_modal(request: Request) -> dict:
    return modal(VIEW_DENY, str(request.id), "Deny request", "Deny", [
            section(f"Deny IAM user {code(request.user_name)} for {mention(request.owner_id)} (request #{request.id})?"),
            {
                "type": "input",
                "block_id": BLOCK_DENY_REASON,
                "label": {"type": "plain_text", "text": "Reason (the requester sees it)"},
                "element": {"type": "plain_text_input", "action_id": ACTION_DENY_REASON, "multiline": True,
                            "max_length": 500},
            },
    ])


# -- the DM with a Reveal button ------------------------------------------------------------

def resent_note() -> dict:
    """Under a DM sent again after a crash: the earlier one's button is dead."""
    return context(":information_source: The bot may have sent you this already; if so, the Reveal button "
                   "of that earlier message no longer works. Use this one.")


def reveal_value(request: Request, token: str | None) -> str:
    return f"{request.id}:{token}" if token else str(request.id)


def reveal_rows(request: Request, label: str, token: str | None, reveal_ttl: dt.timedelta) -> list[dict]:
    """The Reveal button (the only live one: its value carries the DM's token) and until when it works."""
    expires = (request.provisioned_at or request.updated_at) + reveal_ttl
    return [
        {"type": "actions", "block_id": f"reveal_{request.id}",
         "elements": [button(label, ACTION_REVEAL, reveal_value(request, token), "primary")]},
        context(f"The button works until {when(expires)}."),
    ]
