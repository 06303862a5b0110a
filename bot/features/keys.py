"""Access keys: `/iam keys` and its buttons, `/iam create-key`, the typed key commands, key
rotation. The approval card, the owner's DM with **Reveal access key**, the one ephemeral
reveal (the shared Reveal listener: the request's kind makes the key), the lines the key
actions owe the approvals channel and the owner, and the rotations duty.

Here: who is asking and who owns the user (Slack); the domain's `KeyFlow` decides and acts.
"""

from __future__ import annotations

import datetime as dt

from commands.keys import (
    ACCESS_KEY, VERBS, ActivateKeyCommand, CreateKeyCommand, DeactivateKeyCommand, DeleteKeyCommand, KeyFlow, KeyOwed,
    KeysCommand, KeyTarget, RotateKeyCommand, access_key_kind,
)
from commands.parse import check_key_id, check_user_name
from commands.rules import Person
from commands.scope import current_account, in_account
from commands.workflow import Filed, KeyListing, Revealed
from storage import Job, Request

from ..blocks import (
    MESSAGE_TEXT, CardFace, button, confirmation, context, decided_card, field, message, resent_note, reveal_rows,
    section, their_words,
)
from ..guardrails import approvers_wanted, boundary_line, credential_note
from ..feature import Command, Duty, Feature, Looks
from ..mrkdwn import channel, clip, code, duration, escape, mention, when
from ..people import owner_of
from ..replies import answering, ephemeral
from ..router import Asked
from ..services import Services
from .requests import announce

ACTION_KEY_ROTATE = "iam_key_rotate"
ACTION_KEY_DEACTIVATE = "iam_key_deactivate"
ACTION_KEY_ACTIVATE = "iam_key_activate"
ACTION_KEY_DELETE = "iam_key_delete"
BUTTONS = {
    ACTION_KEY_ROTATE: RotateKeyCommand,
    ACTION_KEY_DEACTIVATE: DeactivateKeyCommand,
    ACTION_KEY_ACTIVATE: ActivateKeyCommand,
    ACTION_KEY_DELETE: DeleteKeyCommand,
}
DONE = {DeactivateKeyCommand: "deactivated", ActivateKeyCommand: "activated", DeleteKeyCommand: "deleted"}

ROTATE_AFTER_DAYS = 90
UNUSED_AFTER_DAYS = 30
ROTATIONS_EVERY = dt.timedelta(minutes=5)

ALTERNATIVES = ("Before a long-term key, consider: a *role* for workloads on AWS (EC2, ECS, Lambda), "
                "*OIDC federation* for CI (GitHub Actions, GitLab), *IAM Identity Center* for people.")
KEEP_IT = ("Keep them as a named profile: `aws configure --profile <name>` writes them to your own "
           "`~/.aws/credentials`. Never put them in a repository, a chat, a ticket or a shared file.")


# -- /iam keys -----------------------------------------------------------------------

def keys_message(listing_: KeyListing) -> dict:
    """Each key on a line, with a row of buttons under it: Rotate, Deactivate or Activate, Delete.

    Only the owner and approvers are shown a listing, and each button asks for confirmation."""
    user_name, keys, now = listing_.user_name, listing_.keys, listing_.as_of
    note = boundary_line(listing_.boundary, user_name)
    if not keys:
        text = f"{code(user_name)} has no access keys. Good: people should sign in, not carry keys."
        return message(text + (f"\n{note}" if note else ""))
    head = f"*Access keys of {code(user_name)}*"
    lines, rows = [head], [section(head)]
    if note:
        lines.append(note)
        rows.append(section(note))
    for key in keys:
        line = key_line(key, now)
        lines.append(line)
        rows.append(section(line))
        rows.append(key_buttons(user_name, key.key_id, key.status))
    return {"text": clip("\n".join(lines), MESSAGE_TEXT), "blocks": rows}


def key_line(key, now: dt.datetime) -> str:
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
    """`<key-id> <user-name>`, and the AWS account (`--account`) when it is not the default."""
    account = current_account()
    return f"{key_id} {user_name}" + (f" {account}" if account else "")


def key_buttons(user_name: str, key_id: str, status: str) -> dict:
    value, key, user = key_value(user_name, key_id), code(key_id), code(user_name, 80)
    rotate = button("Rotate", ACTION_KEY_ROTATE, value, confirm=confirmation(
        "Rotate this key?", f"The owner of {user} gets a new key to reveal once; {key} is deactivated when the new "
        "key is first used or after the rotation grace, and deleted one grace later.", "Rotate"))
    if status == "Active":
        toggle = button("Deactivate", ACTION_KEY_DEACTIVATE, value, confirm=confirmation(
            "Deactivate this key?", f"{key} of {user} stops working at once. It can be activated again.", "Deactivate"))
    else:
        toggle = button("Activate", ACTION_KEY_ACTIVATE, value, confirm=confirmation(
            "Activate this key?", f"{key} of {user} works again at once.", "Activate"))
    delete = button("Delete", ACTION_KEY_DELETE, value, "danger", confirm=confirmation(
        "Delete this key?", f"{key} of {user} is deleted for good; nothing can bring it back. Only an inactive key "
        "can be deleted.", "Delete"))
    return {"type": "actions", "block_id": f"key_{key_id}", "elements": [rotate, toggle, delete]}


# -- the approval card -----------------------------------------------------------------------
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


CARD = CardFace(
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
    rows = [section(head), *([] if replaces else _reason(request))]
    if resent:
        rows.append(resent_note())
    rows.append(section("Click *Reveal access key* to create the key and see its secret. Only you will see it, "
                        "only once; the key does not exist until you click."))
    rows.extend(reveal_rows(request, "Reveal access key", button, reveal_ttl))
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


# -- lines in the approvals channel and the owner's DM ------------------------------------

def _key_of(request: Request) -> str:
    return code(request.details.get("key_id") or "?")


THREAD_LINES = {
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
}

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
                f"({escape(payload.get('why'))}). It is deleted in {duration(grace)} unless you activate it again "
                f"({code('/iam activate-key ' + payload['user_name'] + ' ' + payload['key_id'], 160)}).")
    if event == "rotation_deleted":
        return f"Your old access key {key} of {user} was deleted: the rotation is complete."
    if event == "rotation_kept":
        return (f":information_source: Your old access key {key} of {user} was re-activated, so the bot left it "
                "alone. Delete it yourself once nothing uses it.")
    return f":information_source: Your old access key {key} of {user} was already deleted: the rotation is complete."



def _typed(verb: str):
    """The ack of a typed key command."""
    return lambda c: f"{verb} {code(c.key_id)} of {code(c.user_name)}…"


# -- the feature -------------------------------------------------------------------------------

def feature(svc: Services) -> Feature:
    settings, workflow, notifier, runner = svc.settings, svc.workflow, svc.notifier, svc.runner
    keys = KeyFlow(workflow, svc.store, svc.iam, grace=settings.iam_bot_rotation_grace)

    def key_owner(target: KeyTarget) -> Person | None:
        """The person the user is for: its owner tag, else <user-name>@IAM_BOT_EMAIL_DOMAIN; None if neither."""
        return owner_of(svc.client, target.user.name, target.owner_id, settings.iam_bot_email_domain)

    def list_keys(asked: Asked, parsed: KeysCommand) -> None:
        caller = svc.asker(asked.user_id)
        if asked.interrupted(f"/iam keys {parsed.user_name}"):  # keys are shown only where the asker alone sees them
            return
        listing_ = workflow.list_keys(parsed.user_name, caller, listed=svc.listed(asked.user_id, parsed.user_name))
        asked.ephemeral_blocks(keys_message(listing_))

    def file_key_request(asked: Asked, parsed: CreateKeyCommand) -> None:
        """`/iam create-key`: the checks, the card, and what the asker is told."""
        requester = svc.requester(asked.user_id)
        target = keys.target(parsed.user_name)
        listed = svc.listed(asked.user_id, target.user.name)
        filed = keys.file(parsed, requester=requester, owner=key_owner(target), target=target, listed=listed)
        request = filed.request
        if not announce(asked, filed):
            return
        asked.reply(f":hourglass_flowing_sand: Request #{request.id} filed: an access key for "
                    f"{code(request.user_name)}, owner {mention(request.owner_id)}, waiting for "
                    f"{approvers_wanted(request)} to approve it in {channel(svc.notifier.approvals_channel(request))}. "
                    "The key is created only when its owner reveals it. Before a long-term key, consider a "
                    "role (workloads on AWS), OIDC federation (CI) or IAM Identity Center (people)."
                    + credential_note(request))

    def act_on_key(user_id: str, parsed) -> str:
        """A typed key command or a button: what happened, in words for the asker."""
        person = svc.asker(user_id)
        target = keys.target(parsed.user_name)
        listed = svc.listed(user_id, target.user.name)
        name, key = code(target.user.name), code(parsed.key_id)
        if isinstance(parsed, RotateKeyCommand):
            request = keys.rotate(target, parsed.key_id, person, listed=listed, owner=key_owner(target))
            runner.kick()
            return (f":repeat: Rotation of {key} of {name} started (request #{request.id}): "
                    f"{mention(request.owner_id)} gets a DM to reveal the new key. The old key is deactivated when "
                    "the new one is first used (or after the rotation grace) and deleted one grace later.")
        owner = None if listed else key_owner(target)
        done = keys.act(DONE[type(parsed)], target, parsed.key_id, person, listed=listed,
                        owner_id=owner.user_id if owner else None)
        runner.kick()
        return {
            "deactivated": f"{key} of {name} is now inactive. Activate it again with "
                           f"{code('/iam activate-key ' + target.user.name + ' ' + parsed.key_id, 160)}.",
            "activated": f"{key} of {name} is active again.",
            "deleted": f"{key} of {name} is deleted.",
        }[done.action]

    def typed_key_command(asked: Asked, parsed) -> None:
        asked.reply(act_on_key(asked.user_id, parsed))

    def key_button(body, action, respond):
        """A button under a key in `/iam keys`; its value is `<key-id> <user-name> [<account>]`."""
        reply = ephemeral(respond)
        with answering(reply, "key button"):
            key_id, _, rest = str(action.get("value") or "").partition(" ")
            user_name, _, account = rest.partition(" ")
            known = svc.accounts.names if svc.accounts else ()
            parsed = BUTTONS[action["action_id"]](user_name=check_user_name(user_name), key_id=check_key_id(key_id))
            with in_account(account if account in known else None):
                reply(act_on_key(body["user"]["id"], parsed))

    # -- the work the key flows owe people ----------------------------------------------------

    def note(job: Job) -> None:
        """In the thread of the request the key belongs to, or a message of its own when there is none."""
        request = workflow.find(job.request_id) if job.request_id is not None else None
        notifier.to_approvers("post a key action", message(key_note(job.payload)), request=request)

    def rotation_step_dm(job: Job) -> None:
        request = workflow.request(job.request_id)
        notifier.dm(request.owner_id, message(rotation_dm(job.payload, settings.iam_bot_rotation_grace)))

    def rotation_card(job: Job) -> None:
        """A rotation's own message in the approvals channel: it has no approval card."""
        request = workflow.request(job.request_id)
        if request.card_ts:
            return
        posted = notifier.to_approvers(f"post the rotation of request #{request.id}", decided_card(request, CARD))
        if posted is not None:
            workflow.card_posted(request.id, posted["channel"], posted["ts"])

    def check_rotations() -> None:
        """Move key rotations on (deactivate on first use or after the grace, delete a grace later), and
        delete keys a crash left unseen."""
        keys.check_rotations()
        keys.settle_key_attempts()
        runner.kick()

    return Feature(
        name="keys",
        kinds=(access_key_kind(svc.store, svc.iam, svc.clock),),
        verbs=VERBS,
        domain=keys,
        commands={
            KeysCommand: Command(lambda c: f"Looking up the access keys of {code(c.user_name)}…", list_keys),
            CreateKeyCommand: Command(
                lambda c: f"Checking your request for an access key for {code(c.user_name)}…", file_key_request),
            RotateKeyCommand: Command(_typed("Rotating"), typed_key_command),
            DeactivateKeyCommand: Command(_typed("Deactivating"), typed_key_command),
            ActivateKeyCommand: Command(_typed("Activating"), typed_key_command),
            DeleteKeyCommand: Command(_typed("Deleting"), typed_key_command),
        },
        actions={action_id: key_button for action_id in BUTTONS},
        work={KeyOwed.NOTE: note, KeyOwed.DM: rotation_step_dm, KeyOwed.ROTATION_CARD: rotation_card},
        duties=(Duty("rotations", ROTATIONS_EVERY, check_rotations),),
        looks=Looks(
            card_faces={ACCESS_KEY: CARD},
            reveal_dms={ACCESS_KEY: reveal_key_dm},
            reveal_dms_after={ACCESS_KEY: reveal_key_dm_after},
            secret_messages={"access_key": key_secret_message},
            thread_lines=THREAD_LINES,
        ),
    )
