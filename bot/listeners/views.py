"""Modal submissions: the reason for a denial."""

from __future__ import annotations

from slack_bolt import App

from .. import blocks
from .actions import decider
from ..replies import answering


def register(app: App) -> None:
    app.view(blocks.VIEW_DENY)(deny_submitted)


def deny_submitted(ack, body, view, client, context):
    values = (view.get("state") or {}).get("values") or {}
    reason = str((values.get(blocks.BLOCK_DENY_REASON) or {}).get(blocks.ACTION_DENY_REASON, {}).get("value") or "").strip()
    if not reason:
        ack(response_action="errors", errors={blocks.BLOCK_DENY_REASON: "Say why, so the requester can act on it."})
        return
    ack()
    services = context["iam_bot"]
    user_id = body["user"]["id"]
    metadata = str(view.get("private_metadata", ""))

    def reply(text: str) -> None:
        channel = services.settings.iam_bot_approvals_channel
        client.chat_postEphemeral(channel=channel, user=user_id, text=text)

    with answering(reply, "deny"):
        if not metadata.isdigit():
            reply("That form does not name a request; press Deny on the card again.")
            return
        request_id = int(metadata)
        person, listed = decider(client, services, user_id)
        outcome = services.workflow.deny(request_id, person, listed=listed, reason=reason[:500])
        if not outcome.changed:
            reply(outcome.message)
            return
        services.notifier.denied(outcome.request)
