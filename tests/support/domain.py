"""The domain without the Slack edge: a Workflow that runs the create kind, for the tests and
benches that do not build the app."""

from commands.create import create_user_kind
from commands.iam import IamGateway
from commands.passwords import generate_password
from commands.workflow import Clock, Policy, Workflow, utc_now
from storage import Store


def workflow_with_create(store: Store, iam: IamGateway | None, policy: Policy, *, clock: Clock = utc_now) -> Workflow:
    """A Workflow that runs create requests, as the app's create feature has it do."""
    return Workflow(store, iam, policy, clock=clock, kinds=(create_user_kind(iam, policy, generate_password),))
