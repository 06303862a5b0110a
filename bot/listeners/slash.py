"""`/iam`: parse at once and ack; anything that needs AWS or Slack is durable work done after the ack.

A command is written down before its ack, so a crash cannot lose it: another process (or
this one after a restart) finishes it and answers by DM, since the response_url lives only
in the memory of the process that took the command.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt import App

from commands.errors import CommandError, Why
from commands.parse import (
    AuditCommand, CancelCommand, CreateCommand, EnableCommand, HelpCommand, KeysCommand, RemoveCommand,
    ResetPasswordCommand, StatusCommand, parse, usage,
)
from storage import Job, StoreUnavailable

from .. import audit_blocks, blocks
from ..mrkdwn import code
from ..people import lookup_person, resolve_owner
from ..replies import answering, apology, ephemeral
from ..cards import announce
from ..services import Services, services
from ..words import STORE_DOWN
from .keys import ACKS as KEY_ACKS, HANDLERS as KEY_HANDLERS
from .audit import cancel_request, show_audit, show_status

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.command("/iam")(iam_command)


def help_message(unknown: str | None = None) -> dict:
    head = f"{code(unknown, 40)} is not an /iam command.\n\n" if unknown is not None else ""
    return blocks.message(head + "*Usage*\n" + usage())


def iam_command(ack, command, respond, context):
    svc = services(context)
    text = command.get("text", "")
    try:
        parsed = parse(text)
    except CommandError as error:
        from ..words import say
        ack(response_type="ephemeral", **blocks.message(say(error)))
        return
    if isinstance(parsed, HelpCommand):
        ack(response_type="ephemeral", **help_message(parsed.unknown))
        return
    try:
        job = svc.runner.accept(svc.workflow.command(text, command["user_id"], command.get("channel_id", "")))
    except StoreUnavailable as error:
        # Not written down, so nothing will be done: the person is told so while Slack still shows it.
        log.warning("could not write down a command: %s", error)
        ack(response_type="ephemeral", text=STORE_DOWN)
        return
    except Exception:
        reference = secrets.token_hex(4)
        log.exception("could not write down a command (reference %s)", reference)
        ack(response_type="ephemeral", **blocks.message(apology(reference)))
        return
    ack(response_type="ephemeral", text=ACKS[type(parsed)](parsed))
    svc.runner.run_now(job, reply=respond)


@dataclass(frozen=True)
class Asked:
    """A command being answered: who asked, how to answer them, and its durable record."""

    svc: Services
    user_id: str
    job: Job
    reply: Callable[[str], None]  # words, through response_url or (after a crash) by DM
    respond: Callable | None  # Bolt's respond, only in the process that took the command

    def ephemeral_blocks(self, payload: dict) -> bool:
        """Show blocks only the asker sees; False after a crash (a DM is not that private)."""
        if self.respond is None:
            return False
        self.respond(response_type="ephemeral", replace_original=False, **payload)
        return True


def run_command(svc: Services, job: Job) -> None:
    """The slow part of a command, as durable work."""
    user_id = job.payload["user_id"]
    respond = svc.runner.replies.get(job.id)
    reply = ephemeral(respond) if respond is not None else dm_reply(svc, user_id)
    parsed = parse(job.payload["text"])
    with answering(reply, f"/iam {type(parsed).__name__}"):
        HANDLERS[type(parsed)](Asked(svc, user_id, job, reply, respond), parsed)


def dm_reply(svc: Services, user_id: str) -> Callable[[str], None]:
    def reply(text: str) -> None:
        svc.notifier.dm(user_id, blocks.message(text))
    return reply


def file_request(asked: Asked, parsed: CreateCommand) -> None:
    svc, requester_id, job = asked.svc, asked.user_id, asked.job
    requester = lookup_person(svc.client, requester_id)
    if requester is None:
        raise CommandError(Why.REQUESTER_UNKNOWN)
    if requester.team_id not in (None, svc.team_id) or requester.is_bot:
        raise CommandError(Why.REQUESTER_NOT_HERE)
    owner = resolve_owner(svc.client, parsed, svc.settings.iam_bot_email_domain)
    filed = svc.workflow.file(parsed, requester=requester, owner=owner, since=job.created_at)
    request = filed.request
    if not announce(asked, filed):
        return
    from ..guard_blocks import filed_notes

    filed_message = audit_blocks.filed_message(request, svc.settings.iam_bot_approvals_channel,
                                               notes=filed_notes(request))
    if not asked.ephemeral_blocks(filed_message):
        svc.notifier.dm(requester_id, filed_message)  # after a crash: a Cancel button is no secret


def list_keys(asked: Asked, parsed: KeysCommand) -> None:
    svc = asked.svc
    caller = lookup_person(svc.client, asked.user_id)
    if caller is None:
        raise CommandError(Why.REQUESTER_UNKNOWN)
    if asked.respond is None:
        # Keys are shown only where the asker alone sees them, which a DM is not.
        asked.reply(f"Your `/iam keys {parsed.user_name}` was interrupted by a restart of the bot and not "
                    "answered; type it again.")
        return
    listing = svc.workflow.list_keys(parsed.user_name, caller, listed=svc.approvers.is_listed(svc.client, asked.user_id))
    asked.ephemeral_blocks(blocks.keys_message(listing))


# What each command says in its ack, and who answers it after the ack. A new command adds a line to each.
ACKS: dict[type, Callable] = {
    CreateCommand: lambda c: f"Checking your request for {code(c.user_name)}…",
    KeysCommand: lambda c: f"Looking up the access keys of {code(c.user_name)}…",
    **KEY_ACKS,
    StatusCommand: lambda c: f"Looking up the requests about {code(c.user_name)}…",
    CancelCommand: lambda c: f"Withdrawing request #{c.request_id}…",
    AuditCommand: lambda c: "Asking AWS for the credential report…",
    RemoveCommand: lambda c: f"Checking what {code(c.user_name)} holds in AWS…",
    ResetPasswordCommand: lambda c: f"Checking {code(c.user_name)} before asking for a new password…",
    EnableCommand: lambda c: f"Checking {code(c.user_name)} before asking to enable it…",
}
HANDLERS: dict[type, Callable[[Asked, object], None]] = {
    CreateCommand: file_request,
    KeysCommand: list_keys,
    **KEY_HANDLERS,
    StatusCommand: show_status,
    CancelCommand: cancel_request,
    AuditCommand: show_audit,
    RemoveCommand: lambda asked, parsed: file_removal(asked, parsed),
    ResetPasswordCommand: lambda asked, parsed: file_new_password(asked, parsed),
    EnableCommand: lambda asked, parsed: file_new_password(asked, parsed),
}


from .offboard import file_new_password, file_removal  # noqa: E402  (it builds on Asked above)
