"""`/iam create`: a new IAM user for one human.

The create kind of request on the shared lifecycle (`workflow.py`): its command and parser
(`VERBS`), the checks it files with (`Creation.file`: the name is free, the groups exist, the
owner is an active person of this workspace with no other IAM user from the bot), its plan and
IAM steps, and its one-time password reveal. Plain values in, reasons and data out: the Slack edge says things.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict

import storage
from storage import NewJob, Request, Store

from . import guardrails
from .errors import CommandError, IamError, Why
from .iam import TAG_APPROVER, TAG_OWNER, TAG_REQUEST, TAG_REQUESTER, IamGateway, UserExists
from .lifecycle import check_owner, file
from .parse import MAILTO, Verb, check_groups, check_user_name, plain, usage_of
from .passwords import generate_password
from .rules import Person
from .ruleset import membership_limit
from .scope import current_account
from .workflow import Due, Filed, Kind, Owed, PasswordGenerator, Policy, Workflow, password_reveal

MAX_GROUPS = 10
# Slack escapes mentions when the slash command has should_escape: true.
USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")

STEP_CREATE_USER = "create_user"
STEP_LOGIN_PROFILE = "login_profile"


# -- the command -------------------------------------------------------------------------------

class CreateCommand(BaseModel):
    """`/iam create <user-name> <group> [<group> ...] [@owner] [--no-console]`
    Ask for a new IAM user in one or more groups. A second person must approve it.
    The owner is the person the account is for: mention them, or leave it out and the
    bot looks up <user-name>@ the company e-mail domain. `--no-console` creates no
    console password."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    groups: tuple[str, ...]
    owner_id: str | None = None
    console: bool = True


def parse_create(args: list[str]) -> CreateCommand:
    owner_id = None
    console = True
    names: list[str] = []
    for raw in args:
        # Slack sends a typed "<" as "&lt;", so a word in brackets is a mention or link it made.
        mention = USER_MENTION.fullmatch(raw)
        if mention:
            if owner_id is not None and owner_id != mention[1]:
                raise CommandError(Why.TWO_OWNERS)
            owner_id = mention[1]
            continue
        if raw.startswith("<") and not MAILTO.fullmatch(raw):
            raise CommandError(Why.OWNER_NOT_ONE_PERSON)
        word = plain(raw)
        if word.startswith("--"):
            if word.lower() == "--no-console":
                console = False
                continue
            raise CommandError(Why.UNKNOWN_OPTION, word=word, options=("--no-console",))
        if word.startswith("@"):
            raise CommandError(Why.MENTION_NOT_LINKED, word=word)
        names.append(word)
    if not names:
        raise CommandError(Why.NAME_MISSING)
    user_name, groups = check_user_name(names[0]), names[1:]
    if not groups:
        raise CommandError(Why.GROUP_MISSING, user_name=user_name)
    return CreateCommand(user_name=user_name, groups=check_groups(groups, MAX_GROUPS), owner_id=owner_id,
                         console=console)


VERBS = (Verb("create", parse_create, usage_of(CreateCommand), position=10),)


# -- the kind ----------------------------------------------------------------------------------

def group_step(group: str) -> str:
    return f"group:{group}"


def plan(request: Request) -> list[str]:
    """The provisioning steps of a create request, in order."""
    steps = [STEP_CREATE_USER]
    if request.console:
        steps.append(STEP_LOGIN_PROFILE)
    mfa_group = guardrails.mfa_group_of(request)
    return steps + [group_step(g) for g in request.groups] + ([group_step(mfa_group)] if mfa_group else [])


def create_user_kind(iam: IamGateway, policy: Policy, passwords: PasswordGenerator) -> Kind:
    """The create kind: its IAM steps and its password reveal, over the gateway it is given."""

    def run_step(request: Request, step: str) -> str | None:
        name = request.user_name
        if step == STEP_CREATE_USER:
            tags = {
                TAG_REQUEST: str(request.id),
                TAG_REQUESTER: request.requester_id,
                # Both approvers of a sensitive request (a tag value allows no comma).
                TAG_APPROVER: " ".join(guardrails.approver_ids(request)),
                TAG_OWNER: request.owner_id,
            }
            try:
                return iam.create_user(name, iam.user_path_or(policy.user_path), tags, iam.boundary_or(policy.boundary))
            except UserExists:
                found = iam.user(name, tags=True)
                if found is None or found.tags.get(TAG_REQUEST) != str(request.id):
                    raise IamError(
                        f"An IAM user named {name} already exists and was not created by request #{request.id}; "
                        "the bot left it untouched."
                    ) from None
                return found.arn
        if step == STEP_LOGIN_PROFILE:
            # A password nobody ever sees: the owner gets a fresh one at reveal time.
            iam.create_login_profile(name, passwords(iam.password_policy()))
            return None
        if step.startswith("group:"):
            iam.add_user_to_group(name, step.removeprefix("group:"))
            return None
        raise ValueError(f"no such step of a create request: {step}")

    def watch_mfa(request: Request, now: dt.datetime) -> dict:
        """A console user is watched for an MFA device from a grace after its reveal (commands/mfa.py)."""
        return {Due.MFA: now + policy.guardrails.mfa_grace} if request.console else {}

    return Kind(
        name=storage.CREATE_USER, plan=plan, run_step=run_step, reveals=lambda request: request.console,
        # A fresh console password for a user the bot created: UpdateLoginProfile.
        reveal=password_reveal(iam, passwords, lambda user, password: iam.set_password(user, password)),
        after_provisioning=lambda request: [NewJob(Owed.SIGN_IN_DM)], after_reveal=watch_mfa,
    )


# -- filing ------------------------------------------------------------------------------------

class Creation:
    """The create feature's domain object: files `/iam create`, and gives the workflow its kind."""

    def __init__(self, workflow: Workflow, store: Store, iam: IamGateway, policy: Policy, *,
                 passwords: PasswordGenerator = generate_password):
        self.workflow = workflow
        self.store = store
        self.iam = iam
        self.policy = policy
        self.kind = create_user_kind(iam, policy, passwords)

    def file(self, command: CreateCommand, *, requester: Person, owner: Person, since: dt.datetime | None = None) -> Filed:
        """Check a create request against AWS and the store; store it as pending.

        `since` is when the command was written down: a request this requester filed for the same
        name after that is this command's own, filed before a crash, and is returned as it is.
        """
        if since is not None:
            for mine in self.store.for_owner(owner.user_id):
                if (mine.requester_id == requester.user_id and mine.user_name.lower() == command.user_name.lower()
                        and mine.created_at >= since):
                    return Filed(mine, owner_is_guest=owner.is_guest)
        self.workflow.refuse_denied(lambda: command.groups)  # a [[deny]] group: refused before anything else
        standing = membership_limit(self.workflow.approvals.rules, command.groups, None)
        if not standing.allowed:  # a `standing = false` group: only `/iam add ... --for` may grant it
            raise CommandError(Why.GROUP_NOT_STANDING_ON_CREATE, group=standing.group, user_name=command.user_name)
        check_owner(owner, team_id=self.policy.team_id, user_name=command.user_name, groups=command.groups)
        existing = self.iam.user(command.user_name)
        if existing is not None:
            raise CommandError(Why.USER_EXISTS, user_name=existing.name)
        missing = self.iam.missing_groups(command.groups)
        if missing:
            raise CommandError(Why.NO_SUCH_GROUP, missing=tuple(missing), known=tuple(self.iam.list_groups()))
        self._one_user_per_human(owner)
        details = guardrails.filing_details(self.iam, self.policy.guardrails, command.groups, command.console)
        details.update(self.workflow.filing_shares(None, command.groups, details["sensitive"]))
        request = file(
            self.store, user_name=command.user_name, groups=command.groups, console=command.console,
            owner_id=owner.user_id, requester_id=requester.user_id, team_id=self.policy.team_id,
            now=self.workflow.now(), details={**details, "owner_is_guest": owner.is_guest},
        )
        return Filed(request, owner_is_guest=owner.is_guest)

    def _one_user_per_human(self, owner: Person) -> None:
        """One IAM user per person in each AWS account: their requests of another account count
        not (nor is their user there looked up here)."""
        account = current_account()
        for other in self.store.for_owner(owner.user_id):
            if (other.account or None) != account:
                continue
            if other.state in (storage.PENDING, storage.APPROVED):
                raise CommandError(Why.OWNER_HAS_OPEN_REQUEST, owner_id=owner.user_id, request_id=other.id,
                                   user_name=other.user_name)
            # A failed request may have created the user before it stopped: ask AWS.
            if other.state in (*storage.PROVISIONED_STATES, storage.FAILED):
                if self.iam.user(other.user_name) is not None:
                    raise CommandError(Why.OWNER_HAS_USER, owner_id=owner.user_id, request_id=other.id,
                                       user_name=other.user_name)
