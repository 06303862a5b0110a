"""How access-key requests look: the approval card, the owner's DM with **Reveal access key**, the
one ephemeral reveal, and the lines the key actions owe the approvals channel and the owner.

Importing this module adds the access-key entries to the tables in `bot.blocks` and
`bot.notify` (the app imports it once).
"""

from __future__ import annotations

import datetime as dt

from commands.keys import ACCESS_KEY
from commands.workflow import Filed, Revealed
from storage import Request

from . import blocks, notify
from .blocks import CardFace, _button, context, field, message, section, their_words
from .mrkdwn import code, escape, mention, when

ALTERNATIVES = ("Before a long-term key, consider: a *role* for workloads on AWS (EC2, ECS, Lambda), "
                "*OIDC federation* for CI (GitHub Actions, GitLab), *IAM Identity Center* for people.")
KEEP_IT = ("Keep them as a named profile: `aws configure --profile <name>` writes them to your own "
           "`~/.aws/credentials`. Never put them in a repository, a chat, a ticket or a shared file.")


def _when_iso(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def existing_keys(request: Request) -> str:
    """The user's keys at filing time, with age and last use."""
    keys = request.details.get("keys") or []
    if not keys:
        return "none"
    lines = []
    for key in keys:
        created, used = _when_iso(key.get("created")), _when_iso(key.get("last_used"))
        age = (request.created_at - created).days if created else 0
        last = f"last used {when(used)} ({escape(key.get('service') or 'unknown service')})" if used else "never used"
        lines.append(f"{code(key.get('key_id'))} · {escape(key.get('status'))} · {age} days old · {last}")
    return "\n".join(lines)


def _fields(request: Request) -> list[dict]:
    details = request.details
    fields = [
        field("User name", code(request.user_name)),
        field("Owner", mention(request.owner_id)),
        field("Requested by", mention(request.requester_id)),
        field("Request", f"#{request.id}"),
        field("Existing keys", existing_keys(request)),
    ]
    if details.get("replaces"):
        fields.append(field("Replaces", code(details["replaces"])))
    if details.get("key_id"):
        fields.append(field("Key", code(details["key_id"])))
    return fields


def _reason(request: Request) -> list[dict]:
    reason = request.details.get("reason")
    return [their_words("Reason", request.requester_id, reason)] if reason else []


def _checks(filed: Filed) -> str:
    request = filed.request
    count = len(request.details.get("keys") or [])
    return ("Checks passed: " + f":white_check_mark: {code(request.user_name)} exists in AWS; "
            f":white_check_mark: it has {count} of 2 keys; "
            f":white_check_mark: owner {mention(request.owner_id)} is an active "
            f"{'guest' if filed.owner_is_guest else 'member'} of this workspace")


def _confirm(request: Request) -> str:
    return (f"{mention(request.owner_id)} will be able to reveal one new access key for "
            f"{code(request.user_name, 80)}, once.")


blocks.CARD_FACES[ACCESS_KEY] = CardFace(
    title="Access key requested",
    summary=lambda r: f"access key for {code(r.user_name)} (owner {mention(r.owner_id)})",
    fields=_fields, confirm=_confirm, checks=_checks,
    details=lambda r: [*_reason(r), context(ALTERNATIVES)],
)


# -- the owner's DM and the reveal ---------------------------------------------------------

def reveal_key_dm(request: Request, sign_in_url: str, reveal_ttl: dt.timedelta, *, button: str | None = None,
                  resent: bool = False) -> dict:
    replaces = request.details.get("replaces")
    if replaces:
        head = (f":repeat: A new access key for {code(request.user_name)} replaces "
                f"{code(replaces)} (request #{request.id}, rotation started by {mention(request.decider_id)}). "
                "Once you reveal it and put it to use, the old key is deactivated (at the latest after the rotation "
                "grace) and deleted one grace later; you will be told at each step.")
    else:
        head = (f":key: Your access key for {code(request.user_name)} was approved (request #{request.id}, "
                f"approved by {mention(request.decider_id)}).")
    expires = (request.provisioned_at or request.updated_at) + reveal_ttl
    rows = [section(head), *([] if replaces else _reason(request))]
    if resent:
        rows.append(context(":information_source: The bot may have sent you this already; if so, the Reveal button "
                            "of that earlier message no longer works. Use this one."))
    rows.append(section("Click *Reveal access key* to create the key and see its secret. Only you will see it, "
                        "only once; the key does not exist until you click."))
    rows.append({"type": "actions", "block_id": f"reveal_{request.id}",
                 "elements": [_button("Reveal access key", blocks.ACTION_REVEAL, blocks.reveal_value(request, button),
                                      "primary")]})
    rows.append(context(f"The button works until {when(expires)}."))
    return {"text": f"An access key for {code(request.user_name)} is ready to reveal", "blocks": rows}


def reveal_key_dm_after(request: Request, sign_in_url: str) -> dict:
    head = section(f"Access key for {code(request.user_name)} (request #{request.id}).")
    if request.details.get("key_lost"):
        tail = (":warning: The key's secret could not be shown, so that key was deleted and nothing else was "
                f"created. Ask again with {code('/iam create-key ' + request.user_name + ' --reason ...', 120)}.")
    elif request.state == "revealed":
        tail = (f":lock: Access key {code(request.details.get('key_id'))} revealed {when(request.revealed_at)}. "
                "If this was not you, tell the approvers in the approvals channel at once.")
    else:
        tail = (":hourglass: The reveal button has expired; no key was created. Ask again with "
                f"{code('/iam create-key ' + request.user_name + ' --reason ...', 120)}.")
    return {"text": f"Access key for {code(request.user_name)}", "blocks": [head, section(tail)]}


def key_secret_message(revealed: Revealed) -> dict:
    secret = revealed.secret
    text = (f"Access key for {code(revealed.request.user_name)}\n"
            f"*Access key id:* {code(secret.key_id)}\n*Secret access key:* {code(secret.value)}\n"
            f"{KEEP_IT}\nThis message is visible only to you and will not be shown again.")
    return message(text)


blocks.REVEAL_DMS[ACCESS_KEY] = reveal_key_dm
blocks.REVEAL_DMS_AFTER[ACCESS_KEY] = reveal_key_dm_after
blocks.SECRET_MESSAGES["access_key"] = key_secret_message


# -- lines in the approvals channel and the owner's DM ------------------------------------

def _key_of(request: Request) -> str:
    return code(request.details.get("key_id") or "?")


notify.THREAD_LINES.update({
    f"{ACCESS_KEY}:provisioned": lambda settings, request, actor: (
        f":white_check_mark: {mention(request.owner_id)} may now reveal one access key for {code(request.user_name)}; "
        "it is created at that click."),
    f"{ACCESS_KEY}:delivered": lambda settings, request, actor: (
        f":envelope: The Reveal access key button went to {mention(request.owner_id)} by DM."),
    f"{ACCESS_KEY}:not_delivered": lambda settings, request, actor: (
        f":warning: Could not send the Reveal access key button to {mention(request.owner_id)} by DM."),
    f"{ACCESS_KEY}:revealed": lambda settings, request, actor: (
        f":lock: {mention(request.owner_id)} revealed the new access key {_key_of(request)} "
        f"of {code(request.user_name)}."),
    f"{ACCESS_KEY}:reveal_expired": lambda settings, request, actor: (
        f":hourglass: The access-key reveal for {mention(request.owner_id)} expired unused; no key was created."),
    "key_lost": lambda settings, request, actor: (
        f":warning: The secret of the key made for request #{request.id} was never shown, so that key was deleted."),
})

NOTE_WORDS = {
    "deactivated": "deactivated", "activated": "activated again", "deleted": "deleted",
    "rotation_deactivated": "deactivated (rotation)", "rotation_deleted": "deleted (rotation)",
    "rotation_kept": "left alone: it was re-activated (rotation)",
    "rotation_gone": "was already deleted (rotation)",
}


def key_note(payload: dict) -> str:
    """One line for the approvals channel about a key action: who, which key, why."""
    who = mention(payload["actor"]) if payload.get("actor") else "The bot"
    what = NOTE_WORDS.get(payload.get("event"), escape(payload.get("event")))
    why = f": {escape(payload['why'])}" if payload.get("why") else ""
    if payload.get("actor"):
        return f":key: {who}: access key {code(payload['key_id'])} of {code(payload['user_name'])} {what}{why}."
    return f":key: Access key {code(payload['key_id'])} of {code(payload['user_name'])} {what}{why}."


def rotation_dm(payload: dict, grace: dt.timedelta) -> str:
    key, user = code(payload["key_id"]), code(payload["user_name"])
    event = payload.get("event")
    if event == "rotation_deactivated":
        return (f":repeat: Your old access key {key} of {user} is now inactive "
                f"({escape(payload.get('why'))}). It is deleted in {_days(grace)} unless you activate it again "
                f"({code('/iam activate-key ' + payload['user_name'] + ' ' + payload['key_id'], 160)}).")
    if event == "rotation_deleted":
        return f"Your old access key {key} of {user} was deleted: the rotation is complete."
    if event == "rotation_kept":
        return (f":information_source: Your old access key {key} of {user} was re-activated, so the bot left it "
                "alone. Delete it yourself once nothing uses it.")
    return f":information_source: Your old access key {key} of {user} was already deleted: the rotation is complete."


def _days(delta: dt.timedelta) -> str:
    from .mrkdwn import duration

    return duration(delta)
