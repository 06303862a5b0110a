"""The audit half's periodic duties (bot/background.py DUTIES) and the work they owe.

- Reminders: every minute, the single duties runner records each reminder that is due (one
  compare-and-swap per reminder, see commands/reminders.py); the thread lines are owed work.
- The scheduled audit (IAM_BOT_AUDIT_EVERY): every minute, the runner owes this period's
  report as a job whose key is the period, so it is written down once however many processes
  ask; any process's Runner posts it to the approvals channel.
"""

from __future__ import annotations

import datetime as dt
import logging

from commands.errors import CommandError
from storage import Job

from . import audit_blocks
from .services import Services
from .work import TryLater

log = logging.getLogger(__name__)

CHECK_EVERY = dt.timedelta(minutes=1)


def remind_once(services: Services) -> None:
    if services.reminders.remind_due():
        services.runner.kick()


def audit_once(services: Services) -> None:
    every = services.settings.iam_bot_audit_every
    if every is not None and services.audit.schedule(every):
        services.runner.kick()


def post_scheduled_audit(services: Services, job: Job) -> None:
    """The period's report in the approvals channel; AWS or Slack not ready is tried again later."""
    try:
        summary = services.audit.account_summary()
    except CommandError as error:
        raise TryLater(f"the credential report could not be read ({error.why.value})") from None
    services.notifier.call("post the scheduled audit", services.client.chat_postMessage,
                            channel=services.settings.iam_bot_approvals_channel, unfurl_links=False,
                            **audit_blocks.audit_message(summary, scheduled=True))
