"""What every listener gets: the domain, and the ways to tell people. Typed, one context key."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from slack_sdk import WebClient

from commands.audit import Audit
from commands.keys import KeyFlow
from commands.mfa import MfaWatch
from commands.offboard import Offboarding
from commands.reminders import Reminders
from commands.settings import Settings
from commands.workflow import Workflow

from .notify import Notifier
from .people import Approvers
from .work import Runner

# Where listeners find `Services` in Bolt's context.
CONTEXT_KEY = "iam_bot"


@dataclass(frozen=True)
class Services:
    settings: Settings
    workflow: Workflow
    notifier: Notifier
    approvers: Approvers
    runner: Runner
    client: WebClient  # the bot's own token: for work done away from any request
    team_id: str
    listeners: Executor  # Bolt's listener pool: a click's part after its ack (bot/listeners/handoff.py)
    keys: KeyFlow | None = None  # access keys: create-key, rotate, deactivate, activate, delete
    offboarding: Offboarding | None = None  # remove, reset-password, enable, Slack deactivations
    reminders: Reminders | None = None  # reminders of pending requests, /iam cancel
    audit: Audit | None = None  # /iam status, /iam audit, the scheduled report
    mfa: MfaWatch | None = None  # the MFA duty


def services(context) -> Services:
    return context[CONTEXT_KEY]
