"""The domain without the Slack edge: `/iam`'s parser, and a Workflow that runs the create kind,
for the tests and benches that do not build the app."""

from commands import approvals, audit, create, groups, keys, offboard, reminders, reviews
from commands.create import create_user_kind
from commands.iam import IamGateway
from commands.parse import Parser
from commands.passwords import generate_password
from commands.workflow import Clock, Policy, Workflow, utc_now
from storage import Store

# The verbs of the features in bot.features.FEATURES, from their domain modules (the app builds
# its parser from the features themselves; tests/test_create_e2e.py checks the two agree).
VERBS = (*reminders.VERBS, *create.VERBS, *keys.VERBS, *offboard.VERBS, *groups.VERBS, *audit.VERBS,
         *approvals.VERBS, *reviews.VERBS)


def full_parser() -> Parser:
    """`/iam`'s parser, as the app builds it."""
    return Parser(VERBS)


def workflow_with_create(store: Store, iam: IamGateway | None, policy: Policy, *, clock: Clock = utc_now) -> Workflow:
    """A Workflow that runs create requests, as the app's create feature has it do."""
    return Workflow(store, iam, policy, clock=clock, kinds=(create_user_kind(iam, policy, generate_password),))
