"""The IAM gateway: every AWS call iam-bot makes, over the boto3 IAM (and STS) clients it is given.

One way to find a user: `user(name)`, one GetUser (IAM finds `Bob.Smith` for `bob.smith`), and
ListUserTags when the tags are wanted. One policy for AWS's words (`aws_error`): an IamError says
in plain words what could not be done and why, for anyone; AWS's own code and message (which
name users, groups, policies and ARNs, never a secret: no call echoes a password or a key's
secret) ride on it as `aws_said`, for the approvers' thread where a request stops.

Offboarding's calls list what a user holds and remove it in the order IAM requires: login
profile, access keys, signing certificates, SSH public keys, service-specific credentials, MFA
devices, inline policies, managed policies, groups, then the user. Every step lists what is
there now and deletes it, so a step whose thing is already gone is done, and a step run again
after a crash deletes nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as NeverSent

from .errors import CommandError, IamError, Why
from .metrics import count_aws_calls

log = logging.getLogger(__name__)

TAG_REQUEST = "iam-bot:request-id"
TAG_REQUESTER = "iam-bot:requester"
TAG_APPROVER = "iam-bot:approver"
TAG_OWNER = "iam-bot:owner-slack-id"

# Account-wide settings change rarely; reading them on every request would cost a call each time.
CACHE_SECONDS = 300.0

# How long to wait between asks while AWS generates the credential report: about 30 s in all.
REPORT_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)

# Standard retry mode retries throttling and 5xx with backoff; anything else fails the step.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6}, connect_timeout=5, read_timeout=20)

# Calls that make something new each time AWS runs them: after a 5xx or no answer, AWS may have
# run the call, so botocore must not send it again blindly (two access keys for one request).
# The others are safe to resend: CreateUser is recognised by its request tag, CreateLoginProfile
# and AddUserToGroup answer EntityAlreadyExists or nothing, UpdateLoginProfile sets the same
# password again, a repeated delete finds NoSuchEntity.
NOT_RESENT = ("CreateAccessKey",)


# How much of AWS's own message an IamError keeps.
AWS_WORDS_LIMIT = 300


def make_client(**kwargs):
    """The IAM client for production: boto3's credential chain and endpoint variables; every
    request it sends is counted (commands/metrics.py)."""
    client = boto3.client("iam", config=RETRY_CONFIG, **kwargs)
    count_aws_calls(client)
    return client


def make_sts_client(**kwargs):
    """The STS client for production (GetCallerIdentity: who the bot is, never to be removed)."""
    client = boto3.client("sts", config=RETRY_CONFIG, **kwargs)
    count_aws_calls(client)
    return client


@dataclass(frozen=True)
class IamUser:
    """A user as AWS holds it; `tags` only when they were asked for (else empty)."""

    name: str  # as AWS holds it
    user_id: str  # AIDA...: a user deleted and made again under the same name has another
    arn: str
    path: str
    tags: dict[str, str] = field(default_factory=dict)
    boundary: str | None = None  # its permissions boundary's ARN, as GetUser says (no call of its own)

    @property
    def owner_id(self) -> str | None:
        """The iam-bot:owner-slack-id tag, if the tags were read and it is there."""
        return self.tags.get(TAG_OWNER) or None


@dataclass(frozen=True)
class AccessKey:
    key_id: str
    status: str
    created: dt.datetime
    last_used: dt.datetime | None
    last_service: str | None
    last_region: str | None


@dataclass(frozen=True)
class GroupGrants:
    """What a group grants: its attached managed policies (name, ARN) and its inline policy names."""

    group: str
    attached: tuple[tuple[str, str], ...] = ()
    inline: tuple[str, ...] = ()


@dataclass(frozen=True)
class PasswordPolicy:
    minimum_length: int = 8
    require_symbols: bool = True
    require_numbers: bool = True
    require_uppercase: bool = True
    require_lowercase: bool = True


# AWS's default policy when the account has none (NoSuchEntity): at least 8 characters and
# at least three of: upper case, lower case, digits, symbols. Requiring all four satisfies it.
AWS_DEFAULT_POLICY = PasswordPolicy()


class _Unanswered(Exception):
    "AWS may have done the call: it answered 5xx, or not at all"


def _not_resent(response=None, caught_exception=None, **_) -> None:
    """botocore's needs-retry hook for the calls in NOT_RESENT: stop at the first answer that
    leaves it open whether AWS did the call. Throttling and a connection never made (nothing
    reached AWS) are left to botocore's retries."""
    if caught_exception is not None and not isinstance(caught_exception, NeverSent):
        raise _Unanswered(type(caught_exception).__name__)
    if caught_exception is None and response is not None and response[0].status_code >= 500:
        raise _Unanswered(f"HTTP {response[0].status_code}")


def error_code(error: Exception) -> str | None:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code")
    return None


# Plain words for the error codes a person can act on; any other code is named as AWS's.
PLAIN_WORDS = {
    "AccessDenied": "the bot's AWS role is not allowed to do that (see iam-policy.json)",
    "AccessDeniedException": "the bot's AWS role is not allowed to do that (see iam-policy.json)",
    "Throttling": "AWS kept throttling the bot even after retries",
    "LimitExceeded": "an AWS account limit was reached",
    "NoSuchEntity": "AWS says it does not exist",
    "EntityAlreadyExists": "it already exists in AWS",
    "PasswordPolicyViolation": "AWS rejected the password against the account's password policy",
    "ServiceFailure": "AWS had an internal error, even after retries",
    "InvalidClientTokenId": "the bot's AWS credentials are not valid",
    "ExpiredToken": "the bot's AWS credentials have expired",
}


def aws_error(error: Exception, action: str, kind: type[IamError] = IamError) -> IamError:
    """The one policy for AWS's words: plain words for a failed call, with AWS's own code and
    message (shortened) kept as `aws_said` for the approvers' thread; the code goes to the log."""
    code = error_code(error)
    log.warning("AWS call failed while trying to %s: %s", action, code or type(error).__name__)
    words = PLAIN_WORDS.get(code or "")
    if words is None:
        if isinstance(error, BotoCoreError):
            words = "AWS could not be reached"
        elif code:
            words = f"AWS answered {code}"
        else:
            words = "an unexpected error happened"
    said = None
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message") or "").strip()
        said = f"{code}: {message[:AWS_WORDS_LIMIT]}" if message else None
    return kind(f"Could not {action}: {words}.", aws_said=said)


def _gone(error: Exception) -> bool:
    return error_code(error) == "NoSuchEntity"


def _has_deny(document) -> bool:
    """A policy document (as boto3 gives it, or URL-encoded JSON as IAM sends it) with a Deny statement."""
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    statements = (document or {}).get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    return any(str(statement.get("Effect", "")).lower() == "deny" for statement in statements)


def is_virtual(serial: str) -> bool:
    """A virtual MFA device's serial is its ARN (`arn:aws:iam::123:mfa/name`); hardware ones are not."""
    return serial.startswith("arn:") and ":mfa/" in serial


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.timezone.utc).isoformat() if moment else None


T = TypeVar("T")


class Cached(Generic[T]):
    """One value read from AWS, kept for `seconds` by `clock`; safe to share between threads.

    A failed read is not kept: the next caller tries again.
    """

    def __init__(self, load: Callable[[], T], seconds: float, clock: Callable[[], float]):
        self._load, self._seconds, self._clock = load, seconds, clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._until: float | None = None

    def get(self, *, stale_ok: bool = False) -> T:
        """The value; with `stale_ok`, an expired one too, as long as one was ever read."""
        # One reader at a time: the others wait for its answer instead of calling AWS too.
        with self._lock:
            now = self._clock()
            fresh_enough = stale_ok and self._until is not None and self._value is not None
            if not fresh_enough and (self._until is None or now >= self._until):
                self._value = self._load()
                self._until = now + self._seconds
            return self._value

    def forget(self) -> None:
        with self._lock:
            self._until = None
            self._value = None


class IamGateway:
    """IAM operations in domain words, over a boto3 IAM client (and an STS client: who the bot is).

    The password policy, the account alias and the bot's own identity are read at most once per
    `cache_seconds` (by `clock`, monotonic seconds), so a reveal costs one call: UpdateLoginProfile.
    """

    def __init__(self, client, sts=None, *, clock: Callable[[], float] = time.monotonic,
                 cache_seconds: float = CACHE_SECONDS):
        self.client = client
        self.sts = sts
        events = getattr(getattr(client, "meta", None), "events", None)  # none on a stand-in: nothing is resent
        for operation in NOT_RESENT if events is not None else ():
            events.register(f"needs-retry.iam.{operation}", _not_resent, unique_id=f"iam-bot-not-resent-{operation}")
        self._policy = Cached(self._read_password_policy, cache_seconds, clock)
        self._alias = Cached(self._read_account_alias, cache_seconds, clock)
        self._identity = Cached(self._read_identity, cache_seconds, clock)

    # -- the account's own settings (commands/accounts.py AccountGateway: per [[account]]) --

    def boundary_or(self, default: str | None) -> str | None:
        """The permissions boundary of this gateway's account: here, the environment's."""
        return default

    def user_path_or(self, default: str) -> str:
        return default

    def session_arn(self) -> str | None:
        """The assumed-role session the calls use; None: the bot's own credentials."""
        return None

    # -- who is who ---------------------------------------------------------------------

    def user(self, name: str, *, tags: bool = False) -> IamUser | None:
        """The user as AWS holds it (`Bob.Smith` for `bob.smith`), or None: one GetUser, and with
        `tags` its tags (ListUserTags).

        IAM names are unique ignoring case and GetUser ignores case, so no listing is needed,
        however large the account; CreateUser's EntityAlreadyExists stays the final word.
        """
        try:
            user = self.client.get_user(UserName=name)["User"]
            read = {}
            for page in (self.client.get_paginator("list_user_tags").paginate(UserName=user["UserName"])
                         if tags else ()):
                read.update({t["Key"]: t["Value"] for t in page["Tags"]})
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return None
            raise aws_error(error, f"look up user {name}") from None
        return IamUser(name=user["UserName"], user_id=user["UserId"], arn=user["Arn"], path=user.get("Path") or "/",
                       tags=read, boundary=(user.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"))

    def existing_user(self, name: str) -> IamUser:
        """The user a command is about, with its tags, or a CommandError saying there is none."""
        user = self.user(name, tags=True)
        if user is None:
            raise CommandError(Why.NO_SUCH_USER, user_name=name)
        return user

    def bot_identity(self) -> str:
        """The ARN the bot acts as (an IAM user's, or an assumed role's)."""
        return self._identity.get()

    def _read_identity(self) -> str:
        if self.sts is None:
            raise IamError("Could not tell which AWS identity the bot runs as: it has no STS client.")
        try:
            return self.sts.get_caller_identity()["Arn"]
        except (ClientError, BotoCoreError) as error:
            raise aws_error(error, "ask AWS which identity the bot runs as") from None

    def policy_exists(self, arn: str) -> bool:
        """Whether the managed policy exists (GetPolicy): the permissions boundary, at start-up."""
        try:
            self.client.get_policy(PolicyArn=arn)
            return True
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return False
            raise aws_error(error, f"look up the managed policy {arn}") from None

    # -- checks before a request is filed ------------------------------------------------

    def missing_groups(self, groups: tuple[str, ...]) -> list[str]:
        missing = []
        for group in groups:
            try:
                self.client.get_group(GroupName=group, MaxItems=1)
            except (ClientError, BotoCoreError) as error:
                if not _gone(error):
                    raise aws_error(error, f"look up group {group}") from None
                missing.append(group)
        return missing

    def list_groups(self) -> list[str]:
        try:
            return [g["GroupName"] for page in self.client.get_paginator("list_groups").paginate()
                    for g in page["Groups"]]
        except (ClientError, BotoCoreError) as error:
            raise aws_error(error, "list IAM groups") from None

    # -- /iam keys ------------------------------------------------------------------------

    def access_keys(self, name: str) -> list[AccessKey] | None:
        found = self.access_keys_of(name)
        return None if found is None else found[1]

    def access_keys_of(self, name: str) -> tuple[IamUser, list[AccessKey]] | None:
        """The user as AWS holds it and its access keys with last use, or None if there is no such user.

        One GetUser (which finds `Bob.Smith` for `bob.smith`), one ListAccessKeys for the name
        as AWS holds it, and one GetAccessKeyLastUsed per key (a user has at most two).
        """
        user = self.user(name)
        if user is None:
            return None
        stored = user.name
        try:
            listed = self.client.list_access_keys(UserName=stored)["AccessKeyMetadata"]
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return None
            raise aws_error(error, f"list the access keys of {name}") from None
        keys = []
        for meta in listed:
            try:
                used = self.client.get_access_key_last_used(AccessKeyId=meta["AccessKeyId"])["AccessKeyLastUsed"]
            except (ClientError, BotoCoreError) as error:
                raise aws_error(error, f"see when {name}'s keys were last used") from None
            last_used = used.get("LastUsedDate")
            keys.append(AccessKey(
                key_id=meta["AccessKeyId"],
                status=meta["Status"],
                created=meta["CreateDate"],
                last_used=last_used,
                last_service=used.get("ServiceName") if last_used else None,
                last_region=used.get("Region") if last_used else None,
            ))
        return user, keys

    # -- provisioning -------------------------------------------------------------------

    def create_user(self, name: str, path: str, tags: dict[str, str], boundary: str | None = None) -> str:
        """Create the user, capped by the managed policy `boundary` if given (the bot's own policy
        then allows CreateUser only with it); returns its ARN. Raises IamError, or UserExists."""
        try:
            user = self.client.create_user(
                UserName=name, Path=path, Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                **({"PermissionsBoundary": boundary} if boundary else {}),
            )["User"]
            return user["Arn"]
        except (ClientError, BotoCoreError) as error:
            if error_code(error) == "EntityAlreadyExists":
                raise UserExists(name) from None
            raise aws_error(error, f"create user {name}") from None

    def create_login_profile(self, name: str, password: str) -> bool:
        """Give the user a console password that must be changed at first sign-in.

        Returns False if the user already had one (a resumed request)."""
        try:
            self.client.create_login_profile(UserName=name, Password=password, PasswordResetRequired=True)
            return True
        except (ClientError, BotoCoreError) as error:
            if error_code(error) == "EntityAlreadyExists":
                return False
            self.policy_may_have_changed(error)
            raise aws_error(error, f"give {name} a console password") from None

    def add_user_to_group(self, name: str, group: str) -> None:
        try:
            self.client.add_user_to_group(UserName=name, GroupName=group)
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                raise IamError(f"Could not add {name} to group {group}: the group no longer exists in AWS.") from None
            raise aws_error(error, f"add {name} to group {group}") from None

    def remove_user_from_group(self, name: str, group: str) -> None:
        """Take the user out of the group; a user who is not in it (or is gone) is done already,
        so a call repeated after a crash removes nothing twice."""
        try:
            self.client.remove_user_from_group(UserName=name, GroupName=group)
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return
            raise aws_error(error, f"remove {name} from group {group}") from None

    def take_out_of_group(self, name: str, group: str) -> bool:
        """RemoveUserFromGroup, saying whether the user was in it: False when AWS answers that the
        user (or the group) is not there, so a member who left meanwhile is told apart."""
        try:
            self.client.remove_user_from_group(UserName=name, GroupName=group)
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return False
            raise aws_error(error, f"remove {name} from group {group}") from None
        return True

    # -- sign-in details and the reveal -------------------------------------------------

    def password_policy(self, *, stale_ok: bool = False) -> PasswordPolicy:
        """The account's password policy (AWS's default when it has none), cached.

        `stale_ok` serves the last one read however old: a reveal then costs one call, and if
        AWS rejects the password (the policy changed), the policy is read afresh for a retry.
        """
        return self._policy.get(stale_ok=stale_ok)

    def _read_password_policy(self) -> PasswordPolicy:
        try:
            policy = self.client.get_account_password_policy()["PasswordPolicy"]
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return AWS_DEFAULT_POLICY
            raise aws_error(error, "read the account's password policy") from None
        return PasswordPolicy(
            minimum_length=int(policy.get("MinimumPasswordLength", 8)),
            require_symbols=bool(policy.get("RequireSymbols", False)),
            require_numbers=bool(policy.get("RequireNumbers", False)),
            require_uppercase=bool(policy.get("RequireUppercaseCharacters", False)),
            require_lowercase=bool(policy.get("RequireLowercaseCharacters", False)),
        )

    def policy_may_have_changed(self, error: Exception) -> None:
        # The cached policy is stale if AWS rejects a password made for it: read it afresh next time.
        if error_code(error) == "PasswordPolicyViolation":
            self._policy.forget()

    def set_password(self, name: str, password: str) -> None:
        """Replace the console password; the user must change it at next sign-in."""
        try:
            self.client.update_login_profile(UserName=name, Password=password, PasswordResetRequired=True)
        except (ClientError, BotoCoreError) as error:
            self.policy_may_have_changed(error)
            kind = PasswordRejected if error_code(error) == "PasswordPolicyViolation" else IamError
            raise aws_error(error, f"set a new console password for {name}", kind) from None

    def sign_in_url(self, user_arn: str) -> str:
        """`https://<alias or account id>.signin.aws.amazon.com/console`, the alias cached."""
        try:
            alias = self._alias.get()
        except _AliasUnknown:
            alias = None
        account = alias or user_arn.split(":")[4]
        return f"https://{account}.signin.aws.amazon.com/console"

    def _read_account_alias(self) -> str | None:
        try:
            aliases = self.client.list_account_aliases().get("AccountAliases", [])
        except (ClientError, BotoCoreError) as error:
            # Not cached: the account id serves this once, and the next caller asks again.
            log.warning("could not list account aliases (%s); using the account id", error_code(error))
            raise _AliasUnknown() from None
        return aliases[0] if aliases else None

    # -- audit: the credential report (GenerateCredentialReport, GetCredentialReport) ------

    def credential_report(self, *, sleep: Callable[[float], None] = time.sleep,
                          waits: tuple[float, ...] = REPORT_WAITS) -> tuple[bytes, dt.datetime]:
        """AWS's credential report (CSV) and when AWS generated it: the same calls for 10 users or 10,000.

        GenerateCredentialReport until AWS says COMPLETE (AWS reuses a report for up to 4 hours),
        waiting `waits` in between, then one GetCredentialReport. ReportNotReady if AWS takes longer.
        """
        for wait in (*waits, None):
            try:
                state = self.client.generate_credential_report().get("State")
            except (ClientError, BotoCoreError) as error:
                raise aws_error(error, "ask AWS for the credential report") from None
            if state == "COMPLETE":
                break
            if wait is None:
                raise ReportNotReady()
            sleep(wait)
        try:
            got = self.client.get_credential_report()
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in ("ReportInProgress", "ReportNotPresent", "ReportExpired"):
                raise ReportNotReady() from None
            raise aws_error(error, "read the credential report") from None
        content = got["Content"]
        return (content if isinstance(content, bytes) else str(content).encode()), got["GeneratedTime"]


    # -- access keys (issue 11: issued with a reason, revealed once, rotated, retired) ----------

    def key_ids(self, name: str) -> list[KeyMeta]:
        """The user's keys without their last use: one ListAccessKeys."""
        try:
            listed = self.client.list_access_keys(UserName=name)["AccessKeyMetadata"]
        except (ClientError, BotoCoreError) as error:
            raise aws_error(error, f"list the access keys of {name}") from None
        return [KeyMeta(m["AccessKeyId"], m["Status"], m["CreateDate"]) for m in listed]

    def create_access_key(self, name: str) -> tuple[str, str]:
        """A new active key: (access key id, secret). The secret is the caller's to show once and forget.

        Sent once (see NOT_RESENT): KeyMayExist when AWS may have made a key without saying which."""
        try:
            key = self.client.create_access_key(UserName=name)["AccessKey"]
        except _Unanswered as unanswered:
            log.warning("CreateAccessKey for %s went unanswered (%s): AWS may have made the key", name, unanswered)
            raise KeyMayExist(f"Could not create an access key for {name}: AWS did not say whether it did.") from None
        except (ClientError, BotoCoreError) as error:
            raise aws_error(error, f"create an access key for {name}") from None
        return key["AccessKeyId"], key["SecretAccessKey"]

    def describe_key(self, name: str, key_id: str, description: str) -> None:
        """The key's description as the IAM console stores it: a user tag whose key is the key id."""
        try:
            self.client.tag_user(UserName=name, Tags=[{"Key": key_id, "Value": description}])
        except (ClientError, BotoCoreError) as error:
            raise aws_error(error, f"store the description of {name}'s key {key_id}") from None

    def set_key_status(self, name: str, key_id: str, active: bool) -> None:
        try:
            self.client.update_access_key(UserName=name, AccessKeyId=key_id,
                                          Status="Active" if active else "Inactive")
        except (ClientError, BotoCoreError) as error:
            verb = "activate" if active else "deactivate"
            raise aws_error(error, f"{verb} {name}'s key {key_id}") from None

    def delete_access_key(self, name: str, key_id: str) -> None:
        """Delete the key and its description tag; a key already gone counts as deleted."""
        try:
            self.client.delete_access_key(UserName=name, AccessKeyId=key_id)
        except (ClientError, BotoCoreError) as error:
            if not _gone(error):
                raise aws_error(error, f"delete {name}'s key {key_id}") from None
        try:
            self.client.untag_user(UserName=name, TagKeys=[key_id])
        except (ClientError, BotoCoreError) as error:
            if not _gone(error):
                raise aws_error(error, f"remove the description of {name}'s key {key_id}") from None

    def key_last_used(self, key_id: str) -> dt.datetime | None:
        try:
            used = self.client.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"]
        except (ClientError, BotoCoreError) as error:
            raise aws_error(error, f"see when the key {key_id} was last used") from None
        return used.get("LastUsedDate")

    # -- guardrails: what groups grant, who is in them, MFA --------------------------------
    # A fixed number of calls per group or user, whatever the size of the account.

    def group_grants(self, group: str, *, inline: bool = True) -> GroupGrants:
        """The managed policies attached to a group and its inline policy names: two calls (one
        without `inline`).

        IAM allows at most 20 attached policies and 5,120 characters of inline policies per
        group, so one page of 1,000 holds them all.
        """
        try:
            attached = self.client.list_attached_group_policies(GroupName=group, MaxItems=1000)["AttachedPolicies"]
            names = self.client.list_group_policies(GroupName=group, MaxItems=1000)["PolicyNames"] if inline else []
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                raise GroupGone(f"Could not read what group {group} grants: the group no longer exists in AWS.") from None
            raise aws_error(error, f"read what group {group} grants") from None
        return GroupGrants(group=group, attached=tuple((p["PolicyName"], p["PolicyArn"]) for p in attached),
                           inline=tuple(names))

    def group_denies(self, group: str) -> bool:
        """Whether a policy of the group (attached managed, or inline) has a `Deny` statement, so
        that leaving the group lifts it: ListAttachedGroupPolicies and ListGroupPolicies, then
        GetPolicy and GetPolicyVersion a managed policy and GetGroupPolicy an inline one (IAM allows
        at most 20 and a few)."""
        read = self.group_grants(group)
        try:
            for _, arn in read.attached:
                version = self.client.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                document = self.client.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
                if _has_deny(document):
                    return True
            for name in read.inline:
                if _has_deny(self.client.get_group_policy(GroupName=group, PolicyName=name)["PolicyDocument"]):
                    return True
        except (ClientError, BotoCoreError) as error:
            raise aws_error(error, f"read the policies of group {group}") from None
        return False

    def group_members(self, group: str, *, page: int = 100) -> list[IamUser] | None:
        """The group's members (name, id, ARN, path): one GetGroup per `page` members; None if there
        is no such group."""
        members, marker = [], None
        try:
            while True:
                asked = {"GroupName": group, "MaxItems": page, **({"Marker": marker} if marker else {})}
                answer = self.client.get_group(**asked)
                members += [IamUser(name=u["UserName"], user_id=u["UserId"], arn=u["Arn"], path=u.get("Path") or "/")
                            for u in answer["Users"]]
                marker = answer.get("Marker") if answer.get("IsTruncated") else None
                if not marker:
                    return members
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return None
            raise aws_error(error, f"list the members of group {group}") from None

    def groups_for_user(self, name: str) -> list[str] | None:
        """The groups a user is in (at most 10: one call), or None if there is no such user."""
        try:
            groups = self.client.list_groups_for_user(UserName=name, MaxItems=1000)["Groups"]
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return None
            raise aws_error(error, f"list the groups of {name}") from None
        return [g["GroupName"] for g in groups]

    def mfa_devices(self, name: str) -> int | None:
        """How many MFA devices the user has (at most 8: one call), or None if there is no such user."""
        try:
            return len(self.client.list_mfa_devices(UserName=name, MaxItems=1000)["MFADevices"])
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return None
            raise aws_error(error, f"list the MFA devices of {name}") from None

    # -- offboarding: what a user holds, and its removal step by step ---------------------

    def has_login_profile(self, name: str) -> bool:
        try:
            self.client.get_login_profile(UserName=name)
            return True
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return False
            raise aws_error(error, f"see whether {name} has a console password") from None

    def inventory(self, name: str) -> dict:
        """Everything that removing `name` will delete, as plain JSON-able values (no secrets)."""
        try:
            keys = []
            for meta in self._listed(self.client.get_paginator("list_access_keys"), "AccessKeyMetadata", name):
                used = self.client.get_access_key_last_used(AccessKeyId=meta["AccessKeyId"])["AccessKeyLastUsed"]
                keys.append({"id": meta["AccessKeyId"], "status": meta["Status"], "created": _iso(meta["CreateDate"]),
                             "last_used": _iso(used.get("LastUsedDate")),
                             "service": used.get("ServiceName") if used.get("LastUsedDate") else None})
            found = {
                "console_password": self.has_login_profile(name),
                "access_keys": keys,
                "mfa_devices": [d["SerialNumber"] for d in self._listed(self.client.get_paginator("list_mfa_devices"), "MFADevices", name)],
                "signing_certificates": [c["CertificateId"] for c in
                                         self._listed(self.client.get_paginator("list_signing_certificates"), "Certificates", name)],
                "ssh_public_keys": [k["SSHPublicKeyId"] for k in
                                    self._listed(self.client.get_paginator("list_ssh_public_keys"), "SSHPublicKeys", name)],
                "service_specific_credentials": [
                    {"id": c["ServiceSpecificCredentialId"], "service": c.get("ServiceName", "")}
                    for c in self._service_credentials(name)],
                "inline_policies": list(self._listed(self.client.get_paginator("list_user_policies"), "PolicyNames", name)),
                "attached_policies": [{"name": p["PolicyName"], "arn": p["PolicyArn"]} for p in
                                      self._listed(self.client.get_paginator("list_attached_user_policies"), "AttachedPolicies", name)],
                "groups": [g["GroupName"] for g in self._listed(self.client.get_paginator("list_groups_for_user"), "Groups", name)],
            }
        except IamError:
            raise
        except (ClientError, BotoCoreError) as error:
            raise aws_error(error, f"read what {name} holds") from None
        return found

    @staticmethod
    def _listed(paginator, key: str, name: str) -> list:
        return [item for page in paginator.paginate(UserName=name) for item in page[key]]

    def _service_credentials(self, name: str) -> list[dict]:
        # No paginator in botocore, and AWS answers in one page. moto does not implement it: the
        # tests and the shell answer as AWS would (bot/shell/awslike.py); real AWS is always asked.
        return self.client.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"]

    # -- removal, step by step ------------------------------------------------------------

    def _each(self, action: str, listing: Callable[[], list], delete: Callable[[object], None]) -> list:
        """Delete each listed thing; one already gone counts as deleted. Returns what was listed."""
        try:
            items = listing()
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return []  # the user itself is gone
            raise aws_error(error, action) from None
        for item in items:
            try:
                delete(item)
            except (ClientError, BotoCoreError) as error:
                if not _gone(error):
                    raise aws_error(error, action) from None
        return items

    def delete_login_profile(self, name: str) -> str:
        try:
            self.client.delete_login_profile(UserName=name)
            return "console password deleted"
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return "no console password"
            raise aws_error(error, f"delete the console password of {name}") from None

    def delete_access_keys(self, name: str) -> str:
        done = self._each(f"delete the access keys of {name}",
                          lambda: [k["AccessKeyId"] for k in self._listed(self.client.get_paginator("list_access_keys"), "AccessKeyMetadata", name)],
                          lambda key: self.client.delete_access_key(UserName=name, AccessKeyId=key))
        return _said("access keys deleted", done)

    def access_key_ids(self, name: str) -> list[str]:
        """Every access key of the user, active or not; none when the user is gone."""
        try:
            return [k["AccessKeyId"] for k in
                    self._listed(self.client.get_paginator("list_access_keys"), "AccessKeyMetadata", name)]
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return []
            raise aws_error(error, f"list the access keys of {name}") from None

    def deactivate_access_keys(self, name: str) -> str:
        done = self._each(f"deactivate the access keys of {name}",
                          lambda: [k["AccessKeyId"] for k in self._listed(self.client.get_paginator("list_access_keys"), "AccessKeyMetadata", name)
                                   if k["Status"] != "Inactive"],
                          lambda key: self.client.update_access_key(UserName=name, AccessKeyId=key, Status="Inactive"))
        return _said("access keys deactivated", done)

    def delete_signing_certificates(self, name: str) -> str:
        done = self._each(f"delete the signing certificates of {name}",
                          lambda: [c["CertificateId"] for c in
                                   self._listed(self.client.get_paginator("list_signing_certificates"), "Certificates", name)],
                          lambda cert: self.client.delete_signing_certificate(UserName=name, CertificateId=cert))
        return _said("signing certificates deleted", done)

    def delete_ssh_public_keys(self, name: str) -> str:
        done = self._each(f"delete the SSH public keys of {name}",
                          lambda: [k["SSHPublicKeyId"] for k in
                                   self._listed(self.client.get_paginator("list_ssh_public_keys"), "SSHPublicKeys", name)],
                          lambda key: self.client.delete_ssh_public_key(UserName=name, SSHPublicKeyId=key))
        return _said("SSH public keys deleted", done)

    def delete_service_specific_credentials(self, name: str) -> str:
        done = self._each(f"delete the service-specific credentials of {name}",
                          lambda: [c["ServiceSpecificCredentialId"] for c in self._service_credentials(name)],
                          lambda cred: self.client.delete_service_specific_credential(
                              UserName=name, ServiceSpecificCredentialId=cred))
        return _said("service-specific credentials deleted", done)

    def mfa_serials(self, name: str) -> list[str]:
        try:
            return [d["SerialNumber"] for d in self._listed(self.client.get_paginator("list_mfa_devices"), "MFADevices", name)]
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return []
            raise aws_error(error, f"list the MFA devices of {name}") from None

    def remove_mfa_devices(self, name: str, assigned: list[str], known: list[str]) -> str:
        """Deactivate every device assigned to the user, then delete the virtual ones.

        `known` are serials noted earlier (at filing, or before a crash between deactivating and
        deleting): a virtual device of ours no longer assigned is deleted too; one that has
        meanwhile been assigned to someone else (DeleteConflict) is not ours to delete.
        """
        action = f"remove the MFA devices of {name}"
        for serial in assigned:
            try:
                self.client.deactivate_mfa_device(UserName=name, SerialNumber=serial)
            except (ClientError, BotoCoreError) as error:
                if not _gone(error):
                    raise aws_error(error, action) from None
        deleted = []
        for serial in dict.fromkeys([*assigned, *known]):
            if not is_virtual(serial):
                continue
            try:
                self.client.delete_virtual_mfa_device(SerialNumber=serial)
                deleted.append(serial)
            except (ClientError, BotoCoreError) as error:
                if _gone(error) or (error_code(error) == "DeleteConflict" and serial not in assigned):
                    continue
                raise aws_error(error, action) from None
        return f"MFA devices deactivated: {len(assigned)}; virtual devices deleted: {len(deleted)}"

    def delete_inline_policies(self, name: str) -> str:
        done = self._each(f"delete the inline policies of {name}",
                          lambda: self._listed(self.client.get_paginator("list_user_policies"), "PolicyNames", name),
                          lambda policy: self.client.delete_user_policy(UserName=name, PolicyName=policy))
        return _said("inline policies deleted", done)

    def detach_managed_policies(self, name: str) -> str:
        done = self._each(f"detach the managed policies of {name}",
                          lambda: [p["PolicyArn"] for p in
                                   self._listed(self.client.get_paginator("list_attached_user_policies"), "AttachedPolicies", name)],
                          lambda arn: self.client.detach_user_policy(UserName=name, PolicyArn=arn))
        return _said("managed policies detached", done)

    def leave_groups(self, name: str) -> str:
        done = self._each(f"take {name} out of its groups",
                          lambda: [g["GroupName"] for g in self._listed(self.client.get_paginator("list_groups_for_user"), "Groups", name)],
                          lambda group: self.client.remove_user_from_group(UserName=name, GroupName=group))
        return _said("left groups", done)

    def delete_user(self, name: str) -> str:
        try:
            self.client.delete_user(UserName=name)
            return "user deleted"
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return "user already gone"
            raise aws_error(error, f"delete the user {name}") from None

    # -- a new console password (reset-password, enable) -----------------------------------

    def set_or_create_password(self, name: str, password: str) -> None:
        """Replace the console password, or give one if there is none; changed at next sign-in."""
        try:
            self.client.update_login_profile(UserName=name, Password=password, PasswordResetRequired=True)
            return
        except (ClientError, BotoCoreError) as error:
            if not _gone(error):
                self._rejected(error, name)
        try:
            self.client.create_login_profile(UserName=name, Password=password, PasswordResetRequired=True)
            return
        except (ClientError, BotoCoreError) as error:
            if error_code(error) != "EntityAlreadyExists":
                self._rejected(error, name)
        # botocore resent a CreateLoginProfile that AWS had done (a 5xx, or no answer) or someone
        # gave a password meanwhile: either way the password shown must be the one set last.
        try:
            self.client.update_login_profile(UserName=name, Password=password, PasswordResetRequired=True)
        except (ClientError, BotoCoreError) as error:
            self._rejected(error, name)

    def _rejected(self, error: Exception, name: str):
        self.policy_may_have_changed(error)  # a rejected password: the cached policy is stale
        kind = PasswordRejected if error_code(error) == "PasswordPolicyViolation" else IamError
        raise aws_error(error, f"set a console password for {name}", kind) from None


def _said(what: str, items: list) -> str:
    return f"{what}: {len(items)}" + (f" ({', '.join(map(str, items[:10]))})" if items else "")


@dataclass(frozen=True)
class KeyMeta:
    key_id: str
    status: str  # "Active" or "Inactive"
    created: dt.datetime


class _AliasUnknown(Exception):
    "AWS could not say whether the account has an alias"


class GroupGone(IamError):
    "The group does not exist (any more) in AWS"


class PasswordRejected(IamError):
    "AWS refused a password against the account's password policy (which may have just changed)"


class KeyMayExist(IamError):
    "CreateAccessKey was sent, and AWS did not say whether it made a key (5xx, or no answer)"


class UserExists(IamError):
    "An IAM user with that name already exists"

    def __init__(self, name: str):
        super().__init__(f"An IAM user named {name} already exists.")
        self.name = name


class ReportNotReady(CommandError):
    "AWS is still generating the credential report"

    def __init__(self):
        super().__init__(Why.REPORT_NOT_READY)
