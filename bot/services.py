"""What every listener gets: the domain, and the ways to tell people. Typed, one context key."""

from __future__ import annotations

from dataclasses import dataclass

from commands.settings import Settings
from commands.workflow import Workflow

from .notify import Notifier
from .people import Approvers

# Where listeners find `Services` in Bolt's context.
CONTEXT_KEY = "iam_bot"


@dataclass(frozen=True)
class Services:
    settings: Settings
    workflow: Workflow
    notifier: Notifier
    approvers: Approvers
    team_id: str


def services(context) -> Services:
    return context[CONTEXT_KEY]
