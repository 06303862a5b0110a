"""Access keys: `/iam create-key`, the typed key commands, and the buttons under `/iam keys`.

The Reveal access key button is the shared Reveal listener (`actions.reveal`): the request's
kind makes the key. Here: who is asking and who owns the user (Slack), then the domain's
`KeyFlow` decides and acts, and the answer goes back ephemerally.
"""

from __future__ import annotations

from slack_bolt import App

from commands.errors import CommandError, Why
from commands.keys import KeyTarget
from commands.parse import (
    ActivateKeyCommand, CreateKeyCommand, DeactivateKeyCommand, DeleteKeyCommand, RotateKeyCommand, check_key_id,
    check_user_name,
)
from commands.rules import Person

from .. import blocks
from ..mrkdwn import channel, code, mention
from ..people import lookup_person, person_by_email
from ..replies import answering, ephemeral
from ..cards import announce
from ..guard_blocks import approvers_wanted, credential_note
from ..services import Services, services
from .handoff import after_ack

ACTIONS = {
    blocks.ACTION_KEY_ROTATE: RotateKeyCommand,
    blocks.ACTION_KEY_DEACTIVATE: DeactivateKeyCommand,
    blocks.ACTION_KEY_ACTIVATE: ActivateKeyCommand,
    blocks.ACTION_KEY_DELETE: DeleteKeyCommand,
}
DONE = {DeactivateKeyCommand: "deactivated", ActivateKeyCommand: "activated", DeleteKeyCommand: "deleted"}


def register(app: App) -> None:
    for action_id in ACTIONS:
        app.action(action_id)(after_ack(key_button))


def key_owner(svc: Services, target: KeyTarget) -> Person | None:
    """The person the user is for: its owner tag, else <user-name>@IAM_BOT_EMAIL_DOMAIN; None if neither."""
    if target.owner_id:
        return lookup_person(svc.client, target.owner_id)
    domain = svc.settings.iam_bot_email_domain
    if not domain:
        return None
    return person_by_email(svc.client, f"{target.user.name}@{domain}")


def _asker(svc: Services, user_id: str) -> tuple[Person, bool]:
    person = lookup_person(svc.client, user_id)
    if person is None:
        raise CommandError(Why.REQUESTER_UNKNOWN)
    return person, svc.approvers.is_listed(svc.client, user_id)


def file_key_request(asked, parsed: CreateKeyCommand) -> None:
    """`/iam create-key`: the checks, the card, and what the asker is told."""
    svc = asked.svc
    requester, listed = _asker(svc, asked.user_id)
    if requester.team_id not in (None, svc.team_id) or requester.is_bot:
        raise CommandError(Why.REQUESTER_NOT_HERE)
    target = svc.keys.target(parsed.user_name)
    filed = svc.keys.file(parsed, requester=requester, owner=key_owner(svc, target), target=target, listed=listed)
    request = filed.request
    approvals = channel(svc.settings.iam_bot_approvals_channel)
    if not announce(asked, filed):
        return
    asked.reply(f":hourglass_flowing_sand: Request #{request.id} filed: an access key for {code(request.user_name)}, "
                f"owner {mention(request.owner_id)}, waiting for {approvers_wanted(request)} to approve it in "
                f"{approvals}. The key is created only when its owner reveals it. Before a long-term key, consider a "
                "role (workloads on AWS), OIDC federation (CI) or IAM Identity Center (people)."
                + credential_note(request))


def act_on_key(svc: Services, user_id: str, parsed) -> str:
    """A typed key command or a button: what happened, in words for the asker."""
    person, listed = _asker(svc, user_id)
    target = svc.keys.target(parsed.user_name)
    name, key = code(target.user.name), code(parsed.key_id)
    if isinstance(parsed, RotateKeyCommand):
        request = svc.keys.rotate(target, parsed.key_id, person, listed=listed, owner=key_owner(svc, target))
        svc.runner.kick()
        return (f":repeat: Rotation of {key} of {name} started (request #{request.id}): "
                f"{mention(request.owner_id)} gets a DM to reveal the new key. The old key is deactivated when the "
                "new one is first used (or after the rotation grace) and deleted one grace later.")
    owner = None if listed else key_owner(svc, target)
    done = svc.keys.act(DONE[type(parsed)], target, parsed.key_id, person, listed=listed,
                        owner_id=owner.user_id if owner else None)
    svc.runner.kick()
    return {
        "deactivated": f"{key} of {name} is now inactive. Activate it again with "
                       f"{code('/iam activate-key ' + target.user.name + ' ' + parsed.key_id, 160)}.",
        "activated": f"{key} of {name} is active again.",
        "deleted": f"{key} of {name} is deleted.",
    }[done.action]


def typed_key_command(asked, parsed) -> None:
    asked.reply(act_on_key(asked.svc, asked.user_id, parsed))


def key_button(body, action, respond, context):
    """A button under a key in `/iam keys`; its value is `<key-id> <user-name>`."""
    svc = services(context)
    reply = ephemeral(respond)
    with answering(reply, "key button"):
        key_id, _, user_name = str(action.get("value") or "").partition(" ")
        parsed = ACTIONS[action["action_id"]](user_name=check_user_name(user_name), key_id=check_key_id(key_id))
        reply(act_on_key(svc, body["user"]["id"], parsed))


ACKS = {
    CreateKeyCommand: lambda c: f"Checking your request for an access key for {code(c.user_name)}…",
    RotateKeyCommand: lambda c: f"Rotating {code(c.key_id)} of {code(c.user_name)}…",
    DeactivateKeyCommand: lambda c: f"Deactivating {code(c.key_id)} of {code(c.user_name)}…",
    ActivateKeyCommand: lambda c: f"Activating {code(c.key_id)} of {code(c.user_name)}…",
    DeleteKeyCommand: lambda c: f"Deleting {code(c.key_id)} of {code(c.user_name)}…",
}
HANDLERS = {
    CreateKeyCommand: file_key_request,
    RotateKeyCommand: typed_key_command,
    DeactivateKeyCommand: typed_key_command,
    ActivateKeyCommand: typed_key_command,
    DeleteKeyCommand: typed_key_command,
}
