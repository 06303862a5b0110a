"""The work the key flows owe people: a line in the approvals channel for each key action, the
owner's DM at each rotation step, and a rotation's own message (it has no approval card)."""

from __future__ import annotations

from commands.keys import KeyOwed
from storage import Job

from . import blocks
from .keys_blocks import key_note, rotation_dm
from .services import Services


def key_work(svc: Services) -> dict:
    notifier, workflow, settings = svc.notifier, svc.workflow, svc.settings

    def note(job: Job) -> None:
        """In the thread of the request the key belongs to, or a message of its own when there is none."""
        request = workflow.find(job.request_id) if job.request_id is not None else None
        payload = blocks.message(key_note(job.payload))
        if request is not None and request.card_ts:
            notifier.call("post a key action in its thread", notifier.client.chat_postMessage,
                           channel=request.card_channel, thread_ts=request.card_ts, unfurl_links=False, **payload)
        else:
            notifier.call("post a key action", notifier.client.chat_postMessage,
                           channel=settings.iam_bot_approvals_channel, unfurl_links=False, **payload)

    def dm(job: Job) -> None:
        request = workflow.request(job.request_id)
        notifier.dm(request.owner_id, blocks.message(rotation_dm(job.payload, settings.iam_bot_rotation_grace)))

    def rotation_card(job: Job) -> None:
        request = workflow.request(job.request_id)
        if request.card_ts:
            return
        posted = notifier.call(f"post the rotation of request #{request.id}", notifier.client.chat_postMessage,
                                channel=settings.iam_bot_approvals_channel, unfurl_links=False,
                                **blocks.decided_card(request))
        if posted is not None:
            workflow.card_posted(request.id, posted["channel"], posted["ts"])

    return {KeyOwed.NOTE: note, KeyOwed.DM: dm, KeyOwed.ROTATION_CARD: rotation_card}
