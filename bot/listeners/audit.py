"""`/iam cancel`, `/iam status`, `/iam audit`, and the Cancel button on a requester's confirmation.

The slash commands are answered after the ack, as durable work (see `slash.py`'s ACKS and
HANDLERS); status and audit are shown only where the asker alone sees them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_bolt import App

from commands.errors import CommandError, Why
from commands.parse import AuditCommand, CancelCommand, StatusCommand

from .. import audit_blocks
from ..mrkdwn import code
from ..people import lookup_person
from ..replies import answering, ephemeral
from ..services import services
from .actions import request_id_of
from .handoff import after_ack

if TYPE_CHECKING:
    from .slash import Asked

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.action(audit_blocks.ACTION_CANCEL)(after_ack(cancel_clicked))


def _caller(asked: Asked):
    caller = lookup_person(asked.svc.client, asked.user_id)
    if caller is None:
        raise CommandError(Why.REQUESTER_UNKNOWN)
    return caller


def _interrupted(asked: Asked, typed: str) -> bool:
    """After a restart only a DM could answer, and a DM is not private enough for this: ask to retype."""
    if asked.respond is not None:
        return False
    asked.reply(f"Your {code(typed, 120)} was interrupted by a restart of the bot and not answered; type it again.")
    return True


def cancel_request(asked: Asked, parsed: CancelCommand) -> None:
    request = asked.svc.reminders.withdraw(parsed.request_id, asked.user_id)
    asked.svc.runner.kick()  # the card update and the thread line it owes
    asked.reply(audit_blocks.withdrawn_text(request))


def show_status(asked: Asked, parsed: StatusCommand) -> None:
    if _interrupted(asked, f"/iam status {parsed.user_name}"):
        return
    svc = asked.svc
    caller = _caller(asked)
    found = svc.audit.status(parsed.user_name, caller, listed=svc.approvers.is_listed(svc.client, asked.user_id))
    asked.ephemeral_blocks(audit_blocks.status_message(found))


def show_audit(asked: Asked, parsed: AuditCommand) -> None:
    if _interrupted(asked, "/iam audit"):
        return
    svc = asked.svc
    caller = _caller(asked)
    summary = svc.audit.audit(caller, listed=svc.approvers.is_listed(svc.client, asked.user_id))
    asked.ephemeral_blocks(audit_blocks.audit_message(summary))


def cancel_clicked(body, action, respond, context):
    """The Cancel button on the requester's own confirmation: the confirmation becomes the outcome."""
    svc = services(context)
    reply = ephemeral(respond)
    with answering(reply, "cancel"):
        request_id = request_id_of(action.get("value"))
        request = svc.reminders.withdraw(request_id, body["user"]["id"])
        svc.runner.kick()
        text = audit_blocks.withdrawn_text(request)
        respond(text=text, blocks=[audit_blocks.section(text)], response_type="ephemeral", replace_original=True)
