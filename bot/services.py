"""What every feature is built from: the domain's workflow, the ways to tell people, and who is asking.

One set of shared services, typed; a feature that needs a domain object of its own (a `KeyFlow`,
an `Offboarding`) builds it from these in its `feature(svc)` and closes over it.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from slack_sdk import WebClient

from commands.accounts import AccountRegistry
from commands.errors import CommandError, Why
from commands.iam import IamGateway
from commands.rules import Person
from commands.settings import Settings
from commands.workflow import Clock, PasswordGenerator, Workflow
from storage import Store

from .feature import Looks
from .notify import Notifier
from .people import UserGroups, lookup_person
from .work import Runner


@dataclass(frozen=True)
class Services:
    settings: Settings
    workflow: Workflow
    notifier: Notifier
    user_groups: UserGroups  # Slack's user groups, as the approval rules ask (workflow.approvals)
    runner: Runner
    client: WebClient  # the bot's own token: for work done away from any request
    team_id: str
    listeners: Executor  # Bolt's listener pool: a click's part after its ack (bot/router.py)
    # What the features build their own domain objects on (a KeyFlow, an Offboarding, ...).
    store: Store
    iam: IamGateway
    clock: Clock
    passwords: PasswordGenerator
    # The rules file's [[account]]s and their gateways (`iam` is then an AccountGateway); None: one account.
    accounts: AccountRegistry | None = None

    @property
    def looks(self) -> Looks:
        return self.notifier.looks

    # -- who is asking ------------------------------------------------------------------

    def asker(self, user_id: str) -> Person:
        """The person who typed or clicked, as the rules see them; Slack must know them."""
        person = lookup_person(self.client, user_id)
        if person is None:
            raise CommandError(Why.REQUESTER_UNKNOWN)
        return person

    def requester(self, user_id: str) -> Person:
        """The person asking for something to be filed: a human of this workspace."""
        person = self.asker(user_id)
        if person.team_id not in (None, self.team_id) or person.is_bot:
            raise CommandError(Why.REQUESTER_NOT_HERE)
        return person

    def listed(self, user_id: str, about: str | None = None) -> bool:
        """Is this person an approver, by the rules (docs/rules.md)? For an action about the IAM user
        `about`: one of the defaults' approvers or of a group the user is in now; without `about`
        (account-wide): one of the defaults'. SlackBusy when a user group could not be read."""
        approvals = self.workflow.approvals
        if about is None:
            return approvals.for_account(user_id).allowed
        return approvals.for_user(user_id, lambda: self.iam.groups_for_user(about) or ()).allowed
