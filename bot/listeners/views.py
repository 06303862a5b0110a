"""Modal submissions: the reason for a denial, where the decision is taken."""

from __future__ import annotations

from slack_bolt import App

from .. import blocks
from ..services import services
from ..replies import answering
from ..words import refusal
from .actions import decider, request_id_of
from .handoff import later

MAX_REASON = 500


def register(app: App) -> None:
    app.view(blocks.VIEW_DENY)(deny_submitted)


def reason_of(view: dict) -> str:
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    block = values.get(blocks.BLOCK_DENY_REASON) if isinstance(values, dict) else None
    element = block.get(blocks.ACTION_DENY_REASON) if isinstance(block, dict) else None
    value = element.get("value") if isinstance(element, dict) else None
    return value.strip() if isinstance(value, str) else ""


def deny_submitted(ack, body, view, client, context):
    """A reason is checked here, so the modal can say what is missing; the decision is taken after the ack."""
    if not reason_of(view):
        ack(response_action="errors", errors={blocks.BLOCK_DENY_REASON: "Say why, so the requester can act on it."})
        return
    ack()
    later(context, deny_with_reason, {"body": body, "view": view, "client": client, "context": context})


def deny_with_reason(body, view, client, context):
    reason = reason_of(view)
    svc = services(context)
    user_id = body["user"]["id"]

    def reply(text: str) -> None:
        client.chat_postEphemeral(channel=svc.settings.iam_bot_approvals_channel, user=user_id, text=text)

    with answering(reply, "deny"):
        request_id = request_id_of(view.get("private_metadata"))
        person, listed = decider(client, svc, user_id)
        outcome = svc.workflow.deny(request_id, person, listed=listed, reason=reason[:MAX_REASON])
        svc.runner.kick()
        if not outcome.changed:
            reply(refusal(outcome.reason, request_id, outcome.request.state))
