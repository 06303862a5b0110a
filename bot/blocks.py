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

from commands.workflow import Filed, KeyListing, Revealed
from storage import CREATE_USER, Request

from .mrkdwn import clip, code, escape, listing, mention, typed, when

ACTION_APPROVE = "iam_approve"
ACTION_DENY = "iam_deny"
ACTION_RETRY = "iam_retry"
ACTION_REVEAL = "iam_reveal"
VIEW_DENY = "iam_deny_reason"
BLOCK_DENY_REASON = "deny_reason"
ACTION_DENY_REASON = "reason"

ACTION_KEY_ROTATE = "iam_key_rotate"
ACTION_KEY_DEACTIVATE = "iam_key_deactivate"
ACTION_KEY_ACTIVATE = "iam_key_activate"
ACTION_KEY_DELETE = "iam_key_delete"

ROTATE_AFTER_DAYS = 90
UNUSED_AFTER_DAYS = 30

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


def _button(text: str, action_id: str, value: str, style: str | None = None, confirm: dict | None = None) -> dict:
    element = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id,
               "value": value}
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


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


def _create_fields(request: Request) -> list[dict]:
    return [
        field("User name", code(request.user_name)),
        field("Groups", groups_of(request, FIELD_TEXT - 20)),
        field("Owner", mention(request.owner_id)),
        field("Requested by", mention(request.requester_id)),
        field("Console access", "yes" if request.console else "no"),
        field("Request", f"#{request.id}"),
    ]


def _create_checks(filed: Filed) -> str:
    request = filed.request
    many = len(request.groups) > 1
    checks = (
        f"{code(request.user_name)} is a valid IAM user name and free in AWS",
        f"group{'s' if many else ''} exist{'' if many else 's'} in AWS: {groups_of(request, 1200)}",
        f"owner {mention(request.owner_id)} is an active {'guest' if filed.owner_is_guest else 'member'} "
        "of this workspace",
        f"{mention(request.owner_id)} has no other IAM user from this bot",
    )
    return "Checks passed: " + "; ".join(f":white_check_mark: {c}" for c in checks)


def _create_confirm(request: Request) -> str:
    head = f"The bot will create the IAM user {code(request.user_name)} in "
    return head + groups_of(request, CONFIRM_TEXT - len(head) - 1) + "."


def _create_details(request: Request) -> list[dict]:
    from .guard_blocks import grants_blocks

    return grants_blocks(request)


def _guard_notes(request: Request) -> list[dict]:
    from .guard_blocks import notes

    return notes(request)


CARD_FACES: dict[str, CardFace] = {
    CREATE_USER: CardFace(
        title="New IAM user requested",
        summary=lambda r: f"IAM user {code(r.user_name)} for {mention(r.owner_id)}",
        fields=_create_fields, confirm=_create_confirm, checks=_create_checks, details=_create_details,
    ),
}


def face(request: Request) -> CardFace:
    return CARD_FACES[request.kind]


def approval_card(filed: Filed, request_ttl: dt.timedelta, *, token: str | None = None,
                  resent: bool = False) -> dict:
    request = filed.request
    look = face(request)
    expires = request.created_at + request_ttl
    value = f"{request.id}:{token}" if token else str(request.id)
    checks = look.checks(filed)
    return {
        "text": clip(f"Request #{request.id}: {look.summary(request)}, waiting for approval", MESSAGE_TEXT),
        "blocks": [
            section(f":key: *{look.title}* by {mention(request.requester_id)}"),
            {"type": "section", "fields": look.fields(request)},
            *look.details(request),
            *_guard_notes(request),
            *([context(checks)] if checks else []),
            *([context(":information_source: The bot may have posted this request before it was interrupted; "
                       "that card's buttons no longer work. Decide here.")] if resent else []),
            {
                "type": "actions",
                "block_id": f"decide_{request.id}",
                "elements": [
                    _button("Approve", ACTION_APPROVE, value, "primary", confirm={
                        "title": {"type": "plain_text", "text": "Approve this request?"},
                        "text": {"type": "mrkdwn", "text": clip(look.confirm(request), CONFIRM_TEXT)},
                        "confirm": {"type": "plain_text", "text": "Approve"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    }),
                    _button("Deny", ACTION_DENY, value, "danger"),
                ],
            },
            context(f"{_who_decides(request)} Expires {when(expires)}."),
        ],
    }


def _approved_by(request: Request) -> str:
    from .guard_blocks import approved_by

    return approved_by(request)


def _who_decides(request: Request) -> str:
    from .guard_blocks import who_decides

    return who_decides(request)


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
    if request.decider_id:
        from .guard_blocks import approved_by

        outcome = f":white_check_mark: Approved by {approved_by(request)} {when(request.decided_at)}"
        return outcome + {"failed": " · provisioning failed, see the thread",
                          "approved": " · provisioning…"}.get(state, "")
    return f"State: {escape(state)}"


def decided_card(request: Request) -> dict:
    """The card after its decision: no buttons, the decision and who made it."""
    look = face(request)
    blocks = [
        section(f":key: *{look.title} (request #{request.id})* by {mention(request.requester_id)}"),
        {"type": "section", "fields": look.fields(request)},
        *look.details(request),
        *_guard_notes(request),
        section(outcome_line(request)),
    ]
    if request.state == "denied" and request.deny_reason:
        blocks.append(their_words("Reason for the denial", request.decider_id, request.deny_reason))
    if request.state == "failed":
        blocks.append({"type": "actions", "block_id": f"retry_{request.id}",
                       "elements": [_button("Retry provisioning", ACTION_RETRY, str(request.id), "primary")]})
    return {"text": clip(f"Request #{request.id}: {look.summary(request)}: {request.state}", MESSAGE_TEXT),
            "blocks": blocks}


# -- /iam keys -----------------------------------------------------------------------

def keys_message(listing_: KeyListing) -> dict:
    """Each key on a line, with a row of buttons under it: Rotate, Deactivate or Activate, Delete.

    Only the owner and approvers are shown a listing, and each button asks for confirmation."""
    user_name, keys, now = listing_.user_name, listing_.keys, listing_.as_of
    if not keys:
        text = f"{code(user_name)} has no access keys. Good: people should sign in, not carry keys."
        return message(text)
    head = f"*Access keys of {code(user_name)}*"
    lines, rows = [head], [section(head)]
    for key in keys:
        line = _key_line(key, now)
        lines.append(line)
        rows.append(section(line))
        rows.append(key_buttons(user_name, key.key_id, key.status))
    return {"text": clip("\n".join(lines), MESSAGE_TEXT), "blocks": rows}


def _key_line(key, now: dt.datetime) -> str:
    age = (now - key.created).days
    flags = []
    if age > ROTATE_AFTER_DAYS:
        flags.append(f":warning: rotate: older than {ROTATE_AFTER_DAYS} days")
    last = key.last_used or key.created
    if (now - last).days >= UNUSED_AFTER_DAYS:
        flags.append(f":zzz: unused for {UNUSED_AFTER_DAYS}+ days")
    if key.last_used:
        used = (f"last used {key.last_used.astimezone(dt.timezone.utc):%Y-%m-%d} "
                f"({escape(key.last_service or 'unknown service')}, {escape(key.last_region or 'unknown region')})")
    else:
        used = "never used"
    return (f"• {code(key.key_id)} · {escape(key.status)} · created {key.created.astimezone(dt.timezone.utc):%Y-%m-%d} "
            f"({age} day{'s' if age != 1 else ''} old) · {used}" + (" · " + " · ".join(flags) if flags else ""))


def key_value(user_name: str, key_id: str) -> str:
    return f"{key_id} {user_name}"


def _confirm(title: str, text: str, yes: str) -> dict:
    return {"title": {"type": "plain_text", "text": title}, "text": {"type": "mrkdwn", "text": clip(text, CONFIRM_TEXT)},
            "confirm": {"type": "plain_text", "text": yes}, "deny": {"type": "plain_text", "text": "Cancel"}}


def key_buttons(user_name: str, key_id: str, status: str) -> dict:
    value, key, user = key_value(user_name, key_id), code(key_id), code(user_name, 80)
    rotate = _button("Rotate", ACTION_KEY_ROTATE, value, confirm=_confirm(
        "Rotate this key?", f"The owner of {user} gets a new key to reveal once; {key} is deactivated when the new "
        "key is first used or after the rotation grace, and deleted one grace later.", "Rotate"))
    if status == "Active":
        toggle = _button("Deactivate", ACTION_KEY_DEACTIVATE, value, confirm=_confirm(
            "Deactivate this key?", f"{key} of {user} stops working at once. It can be activated again.", "Deactivate"))
    else:
        toggle = _button("Activate", ACTION_KEY_ACTIVATE, value, confirm=_confirm(
            "Activate this key?", f"{key} of {user} works again at once.", "Activate"))
    delete = _button("Delete", ACTION_KEY_DELETE, value, "danger", confirm=_confirm(
        "Delete this key?", f"{key} of {user} is deleted for good; nothing can bring it back. Only an inactive key "
        "can be deleted.", "Delete"))
    return {"type": "actions", "block_id": f"key_{key_id}", "elements": [rotate, toggle, delete]}


# -- the deny modal --------------------------------------------------------------------

def deny_modal(request: Request) -> dict:
    return {
        "type": "modal",
        "callback_id": VIEW_DENY,
        "private_metadata": str(request.id),
        "title": {"type": "plain_text", "text": "Deny request"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"Deny IAM user {code(request.user_name)} for {mention(request.owner_id)} (request #{request.id})?"),
            {
                "type": "input",
                "block_id": BLOCK_DENY_REASON,
                "label": {"type": "plain_text", "text": "Reason (the requester sees it)"},
                "element": {"type": "plain_text_input", "action_id": ACTION_DENY_REASON, "multiline": True,
                            "max_length": 500},
            },
        ],
    }


# -- sign-in details and the reveal ------------------------------------------------------

def reveal_value(request: Request, button: str | None) -> str:
    return f"{request.id}:{button}" if button else str(request.id)


def sign_in_dm(request: Request, sign_in_url: str, reveal_ttl: dt.timedelta, *, button: str | None = None,
               resent: bool = False) -> dict:
    lines = [
        f":wave: Your AWS IAM user {code(request.user_name)} is ready (request #{request.id}, "
        f"approved by {_approved_by(request)}).",
        f"*Sign-in URL:* {sign_in_url}",
        f"*User name:* {code(request.user_name)}",
    ]
    blocks = [section("\n".join(lines))]
    if resent:
        blocks.append(context(":information_source: The bot may have sent you this already; if so, the Reveal button "
                              "of that earlier message no longer works. Use this one."))
    if request.console:
        expires = (request.provisioned_at or request.updated_at) + reveal_ttl
        blocks.append(section(
            "Click *Reveal password* to see your first password. Only you will see it, only once. "
            "You must set a new password at first sign-in. Then turn on MFA: "
            "IAM console → Security credentials → Assign MFA device."
        ))
        blocks.append({"type": "actions", "block_id": f"reveal_{request.id}",
                       "elements": [_button("Reveal password", ACTION_REVEAL, reveal_value(request, button), "primary")]})
        blocks.append(context(f"The button works until {when(expires)}."))
    else:
        blocks.append(section("This user has no console password. Turn on MFA for anything you do with it."))
    return {"text": f"Your AWS IAM user {code(request.user_name)} is ready", "blocks": blocks}


def reveal_dm(request: Request, sign_in_url: str, reveal_ttl: dt.timedelta, *, button: str | None,
              resent: bool) -> dict:
    """The DM owed once a request is provisioned, by kind (the sign-in details for a new user)."""
    return REVEAL_DMS.get(request.kind, sign_in_dm)(request, sign_in_url, reveal_ttl, button=button, resent=resent)


def reveal_dm_after(request: Request, sign_in_url: str) -> dict:
    """That DM once its button has done its work (or expired): no button, no secret."""
    return REVEAL_DMS_AFTER.get(request.kind, sign_in_dm_after)(request, sign_in_url)


def sign_in_dm_after(request: Request, sign_in_url: str) -> dict:
    """The DM once the button has done its work: no button, no secret."""
    head = section(f"Your AWS IAM user {code(request.user_name)} (request #{request.id}).\n"
                   f"*Sign-in URL:* {sign_in_url}\n*User name:* {code(request.user_name)}")
    if request.state == "revealed":
        tail = (f":lock: Password revealed {when(request.revealed_at)}. If this was not you, tell the approvers "
                "in the approvals channel at once.")
    elif request.state == "removed":
        tail = ":wastebasket: This IAM user has since been removed; there is no password to reveal."
    else:
        tail = (":hourglass: The reveal button has expired. To get a password, type "
                f"`/iam reset-password {escape(request.user_name)}` and ask one of the approvers to approve it.")
    return {"text": f"Your AWS IAM user {code(request.user_name)}", "blocks": [head, section(tail)]}


def secret_message(revealed: Revealed) -> dict:
    """The ephemeral reveal of whatever secret the request's kind makes. Never a persistent message."""
    return SECRET_MESSAGES[revealed.secret.what](revealed)


def password_message(revealed: Revealed) -> dict:
    text = (f"Password for {code(revealed.request.user_name)}: {code(revealed.secret.value)}\n"
            f"Sign in at {revealed.sign_in_url} and set a new password now. This message is visible only to you "
            "and will not be shown again.")
    return message(text)


# What each kind of secret looks like when revealed (see commands.workflow.Secret).
SECRET_MESSAGES = {"password": password_message}


# Other kinds of request add their own DMs here (the default is the sign-in details above).
REVEAL_DMS: dict[str, Callable[..., dict]] = {}
REVEAL_DMS_AFTER: dict[str, Callable[[Request, str], dict]] = {}


# Offboarding's requests (remove, reset_password, enable): their cards and DMs.
from .offboard_blocks import OFFBOARD_CARD_FACES, OFFBOARD_REVEAL_DMS  # noqa: E402  (they build on the above)

CARD_FACES.update(OFFBOARD_CARD_FACES)
REVEAL_DMS.update(OFFBOARD_REVEAL_DMS)
