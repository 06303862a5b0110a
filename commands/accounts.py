"""Several AWS accounts from one bot (issue 23): each `[[account]]` of the rules file is reached
by assuming its `role_arn` with its `external_id`, and the `IamGateway` for it is built on the
session's credentials.

`AccountRegistry.gateway(name)` is the one way to an account's gateway. It holds one session per
account and asks AWS for a new one only when the held one has less than `REFRESH_BEFORE` left:
one AssumeRole per account per credential lifetime, however many commands run. Threads asking
for the same account while its AssumeRole is in flight wait for that answer instead of asking
again (one lock per account); other accounts are not held up. The default account may have no
role: then it is the account of the bot's own credentials, and its gateway is the one given.

A role AWS refuses to let the bot assume is an `AccountUnavailable` (an IamError with AWS's words),
which fails the request that needed it, with Retry; nothing else about the bot is unwell.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from .errors import IamError
from .iam import IamGateway, aws_error, make_client, make_sts_client
from .ruleset import Account
from .scope import CURRENT, current_account, in_account  # noqa: F401 (the account of the work in hand)

SESSION_NAME = "iam-bot"
# AWS's codes for credentials that no longer hold (an expired or revoked session).
STALE_SESSION = ("ExpiredToken", "InvalidClientTokenId", "RequestExpired")
REFRESH_BEFORE = dt.timedelta(minutes=5)  # a held session is renewed this long before it expires
SESSION_SECONDS = 3600  # AssumeRole's DurationSeconds: AWS's default, and the role's maximum unless raised


class AccountUnavailable(IamError):
    "The account's role could not be assumed: AWS's words say why"


class UnknownAccount(KeyError):
    "No `[[account]]` has that name"

    def __init__(self, name: str, known: tuple[str, ...]):
        super().__init__(name)
        self.name, self.known = name, known


@dataclass(frozen=True)
class Session:
    """An assumed-role session: whose it is (the `assumed-role/.../iam-bot` ARN the trail records),
    until when its credentials hold, and the gateway built on them."""

    account: str
    arn: str
    expires: dt.datetime
    gateway: IamGateway


ClientFactory = Callable[[dict], tuple[object, object]]  # AssumeRole's Credentials -> (IAM client, STS client)
_building = threading.Lock()


def aws_clients(credentials: dict) -> tuple[object, object]:
    """Production's IAM and STS clients on an assumed role's credentials (boto3's default session
    does not build clients safely from several threads: one at a time)."""
    keys = {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}
    with _building:
        return make_client(**keys), make_sts_client(**keys)


class AccountRegistry:
    """The accounts of the rules file, and a gateway for each, assumed on demand and cached."""

    def __init__(self, accounts: tuple[Account, ...], *, own: IamGateway, sts, clients: ClientFactory,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
                 duration_seconds: int = SESSION_SECONDS):
        self.accounts = accounts
        self.own = own
        self.sts = sts  # the bot's own STS client: AssumeRole is asked with the bot's own credentials
        self.clients = clients
        self.clock = clock
        self.duration_seconds = duration_seconds
        self._held: dict[str, Session] = {}
        self._locks = {account.name: threading.Lock() for account in accounts}
        self.assumed = 0  # AssumeRole calls made (the benchmark reads it)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(account.name for account in self.accounts)

    def account(self, name: str | None) -> Account | None:
        """The account named (any case), the default for None; None when there are no accounts.
        UnknownAccount for a name the rules do not hold."""
        if not self.accounts:
            if name is None:
                return None
            raise UnknownAccount(name, ())
        if name is None:
            return self.accounts[0]
        for account in self.accounts:
            if account.name.lower() == name.lower():
                return account
        raise UnknownAccount(name, self.names)

    def gateway(self, name: str | None = None) -> IamGateway:
        """The IAM gateway for the account (the default for None)."""
        session = self.session(name)
        return self.own if session is None else session.gateway

    def session(self, name: str | None = None) -> Session | None:
        """The account's assumed-role session, held or asked for now; None for the bot's own account."""
        account = self.account(name)
        if account is None or account.role_arn is None:
            return None
        with self._locks[account.name]:  # one AssumeRole in flight per account; the others wait for it
            held = self._held.get(account.name)
            if held is not None and self.clock() < held.expires - REFRESH_BEFORE:
                return held
            session = self._assume(account)
            self._held[account.name] = session
            return session

    def _assume(self, account: Account) -> Session:
        self.assumed += 1
        asked = self.clock()
        try:
            answer = self.sts.assume_role(RoleArn=account.role_arn, RoleSessionName=SESSION_NAME,
                                          ExternalId=account.external_id, DurationSeconds=self.duration_seconds)
        except (ClientError, BotoCoreError) as error:
            raise aws_error(error, f"assume the role of account {account.name} ({account.role_arn})",
                            AccountUnavailable) from None
        credentials = answer["Credentials"]
        iam, sts = self.clients(credentials)
        # AWS's Expiration is the time it was asked plus DurationSeconds (a role whose maximum is
        # shorter refuses the call): counted on the bot's own clock, a skewed clock changes nothing.
        expires = asked + dt.timedelta(seconds=self.duration_seconds)
        return Session(account=account.name, arn=answer["AssumedRoleUser"]["Arn"], expires=expires,
                       gateway=IamGateway(iam, sts))

    def forget(self, name: str) -> None:
        """Drop the held session (AWS said its credentials are no longer good): the next call assumes again."""
        account = self.account(name)
        if account is not None:
            with self._locks[account.name]:
                self._held.pop(account.name, None)



class AccountGateway:
    """Stands where the one IamGateway stood: every call goes to the gateway of the current
    account (`CURRENT`), so the features' domain objects, built with one gateway, act in the
    account of the command or request in hand without knowing of accounts."""

    def __init__(self, registry: AccountRegistry):
        self.registry = registry

    def __getattr__(self, name: str):
        account = CURRENT.get()
        found = getattr(self.registry.gateway(account), name)
        if not callable(found):
            return found

        def call(*args, **kwargs):
            try:
                return found(*args, **kwargs)
            except IamError as error:
                # The session's credentials are no longer good: the next call (a Retry) assumes again.
                if (error.aws_said or "").startswith(STALE_SESSION):
                    self.registry.forget(account)
                raise
        return call

    def boundary_or(self, default: str | None) -> str | None:
        account = self.registry.account(CURRENT.get())
        return (account and account.permissions_boundary) or default

    def user_path_or(self, default: str) -> str:
        account = self.registry.account(CURRENT.get())
        return (account and account.user_path) or default

    def session_arn(self) -> str | None:
        """The assumed-role session the current account's calls use (None: the bot's own credentials)."""
        session = self.registry.session(CURRENT.get())
        return session.arn if session else None


def boundary_problems(own: IamGateway, env_boundary: str | None, accounts: tuple[Account, ...],
                      registry: AccountRegistry | None = None) -> list[tuple[str, bool]]:
    """Each permissions boundary the bot sets (IAM_BOT_PERMISSIONS_BOUNDARY for the default account,
    each `[[account]]`'s own) asked of its account with one GetPolicy: (what is wrong, whether it
    stops start-up) for each one missing, or that could not be asked: stopping for the bot's own
    account, not for one whose role AWS does not let the bot assume now."""
    wanted = [(None, env_boundary)] if not accounts else \
        [(a.name if i else None, a.permissions_boundary or (env_boundary if not i else None))
         for i, a in enumerate(accounts)]
    problems = []
    for name, arn in wanted:
        if not arn:
            continue
        where = f"account {name}: permissions_boundary" if name else "IAM_BOT_PERMISSIONS_BOUNDARY"
        try:
            found = (registry.gateway(name) if registry is not None and name else own).policy_exists(arn)
        except IamError as error:
            problems.append((f"{where} could not be checked: {error}", name is None))
            continue
        if not found:
            problems.append((f"{where} names {arn}, and AWS has no such managed policy (GetPolicy: NoSuchEntity): "
                             "create it first, or fix the ARN", True))
    return problems
