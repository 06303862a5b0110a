"""Posting a request's approval card, the same way for every kind of request.

A card Slack refuses would leave a request nobody can see: the request is cancelled and the
person who asked is told Slack's real reason.
"""

from __future__ import annotations

from commands.workflow import Filed
from storage import PENDING, Job

from .mrkdwn import channel
from .services import Services


def post_card(svc: Services, filed: Filed, poster: Job) -> str | None:
    """The card of a pending request not yet posted, by the work `poster`; None when posted (or
    posted before, or another piece of work is posting it), else Slack's error, and the request
    is cancelled."""
    request = filed.request
    if request.state != PENDING or request.card_ts:
        return None
    refused = svc.notifier.post_card(filed, poster)
    if refused is not None:
        svc.workflow.card_refused(request.id, refused)
    return refused


def announce(asked, filed: Filed) -> bool:
    """Post the card (once); False, with the asker told why, if Slack refused it."""
    refused = post_card(asked.svc, filed, asked.job)
    if refused is None:
        return True
    approvals = channel(asked.svc.settings.iam_bot_approvals_channel)
    if refused in ("not_in_channel", "channel_not_found", "is_archived"):
        why = f"the bot cannot post in {approvals} (Slack says `{refused}`): invite the bot to that channel"
    else:
        why = f"Slack refused the approval card (`{refused}`); tell whoever runs the bot"
    asked.reply(f":x: Request #{filed.request.id} was cancelled, because {why}. Nothing was created or changed "
                "in AWS; once that is fixed, ask again.")
    return False
