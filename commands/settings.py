"""Configuration: one frozen object read from the environment at start-up."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing import Annotated, Literal

from storage.urls import parse_database_url

from .parse import GROUP_NAME, USER_NAME

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_IAM_PATH = re.compile(r"^/([\x21-\x7e]{0,510}/)?$")


def parse_duration(value: str | int | dt.timedelta) -> dt.timedelta:
    """`90s`, `15m`, `24h`, `7d` (or plain seconds) -> timedelta."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        seconds = int(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("use a number with s, m, h or d, for example 24h")
        seconds = int(dt.timedelta(**{_UNITS[match[2]]: int(match[1])}).total_seconds())
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return dt.timedelta(seconds=seconds)


# A managed policy's ARN: the customer's (an account id) or AWS's (`aws`), in any partition.
POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}|aws):policy/([\x21-\x7e]{0,510}/)?[\w+=,.@-]{1,128}", re.ASCII)


def check_policy_arn(value: str) -> str:
    if not POLICY_ARN.fullmatch(value):
        raise ValueError("use a managed policy's ARN, for example arn:aws:iam::123456789012:policy/iam-bot-boundary")
    return value


def check_user_path(value: str) -> str:
    if not _IAM_PATH.match(value):
        raise ValueError("an IAM path starts and ends with /, for example /people/")
    return value


def comma_list(value, pattern: re.Pattern | None = None, what: str = "") -> tuple[str, ...]:
    """`a, b,,c` (or a list) -> ("a", "b", "c"): what a comma-separated variable names; with a
    pattern, each must match it whole, else ValueError saying which is not `what`."""
    parts = value.split(",") if isinstance(value, str) else value
    names = tuple(part.strip() for part in parts if part and part.strip())
    for name in names:
        if pattern is not None and not pattern.fullmatch(name):
            raise ValueError(f"{name!r} is not {what}")
    return names


SLACK_ID = re.compile(r"[UWS][A-Z0-9]+")
SLACK_ID_WORDS = "a Slack user id (U...) or user group id (S...)"
APPROVERS_MISSING = "IAM_BOT_APPROVERS is required but not set"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    iam_bot_approvals_channel: str
    # Required without a rules file; with one, the file's [defaults] approve (docs/rules.md).
    iam_bot_approvers: Annotated[tuple[str, ...], NoDecode] = ()
    iam_bot_email_domain: str | None = None
    iam_bot_user_path: str = "/"
    # A managed policy every user the bot creates gets as its permissions boundary (docs/operations.md).
    iam_bot_permissions_boundary: str | None = None
    iam_bot_request_ttl: dt.timedelta = dt.timedelta(hours=24)
    iam_bot_reveal_ttl: dt.timedelta = dt.timedelta(hours=24)
    # After a key rotation: the old key's life until it is deactivated, and again until it is deleted.
    iam_bot_rotation_grace: dt.timedelta = dt.timedelta(days=7)
    # How long a process may hold claimed work (or the duties lease, half of it) before another
    # process may take it over: the time to recover from a process killed mid-way.
    iam_bot_work_hold: dt.timedelta = dt.timedelta(seconds=60)
    # How often /iam audit's report is also posted to the approvals channel; None: never.
    iam_bot_audit_every: dt.timedelta | None = None
    # Offboarding: users the bot never removes, disables or resets (break-glass admins), and what
    # a Slack deactivation does: file a remove request, or also disable the users at once.
    iam_bot_protected_users: Annotated[tuple[str, ...], NoDecode] = ()
    iam_bot_on_slack_deactivation: Literal["request", "disable"] = "request"
    # Guardrails: groups that need two approvers besides those with an admin-like AWS managed
    # policy; the group every console user also joins; when MFA reminders start after the reveal.
    iam_bot_sensitive_groups: Annotated[tuple[str, ...], NoDecode] = ()
    iam_bot_mfa_group: str | None = None
    iam_bot_mfa_grace: dt.timedelta = dt.timedelta(hours=24)
    # Time-bound group membership (`/iam add --for`): the shortest grant, the warning before its
    # end, how often the revoker looks for ended grants, and its first retry after a failure.
    iam_bot_grant_min: dt.timedelta = dt.timedelta(minutes=15)
    iam_bot_grant_warning: dt.timedelta = dt.timedelta(minutes=10)
    iam_bot_revoke_every: dt.timedelta = dt.timedelta(seconds=30)
    iam_bot_revoke_retry: dt.timedelta = dt.timedelta(minutes=1)
    # Break-glass (docs/rules.md): its loud card also goes to this channel; None: the approvals channel only.
    iam_bot_security_channel: str | None = None
    # How often the reconciler compares the groups' members in AWS with the grants in the store.
    iam_bot_reconcile_every: dt.timedelta = dt.timedelta(hours=1)
    # Access reviews (docs/reviews.md): how often a campaign starts (None: never, unless a group's
    # rule says `review_every`), and how long reviewers have to decide.
    iam_bot_review_every: dt.timedelta | None = None
    iam_bot_review_deadline: dt.timedelta = dt.timedelta(days=14)
    # The approval rules file (docs/rules.md); None: the approvers and sensitive groups above form the rules.
    iam_bot_rules_file: str | None = None
    # The live audit stream (bot/audit_log.py): `stdout` or a file path; None: no stream.
    iam_bot_audit_log: str | None = None
    # Not in repr: a postgresql:// URL may carry a password.
    database_url: str = Field(default="sqlite:///iam-bot.db", repr=False)
    port: int = Field(default=3000, ge=1, le=65535)
    # GET /metrics (bot/metrics.py) for bearers of this token only; None: no /metrics at all.
    iam_bot_metrics_token: SecretStr | None = None
    # Where `iam-bot socket` serves /metrics (it has no web port of its own).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("iam_bot_approvers", mode="before")
    @classmethod
    def _split_approvers(cls, value):
        ids = comma_list(value, SLACK_ID, SLACK_ID_WORDS)
        if not ids and value not in ((), ""):  # unset or empty: allowed with a rules file (below)
            raise ValueError(f"name at least one {SLACK_ID_WORDS}")
        return ids

    @model_validator(mode="after")
    def _someone_approves(self):
        if not self.iam_bot_approvers and not self.iam_bot_rules_file:
            raise ValueError(APPROVERS_MISSING)
        return self

    @field_validator("iam_bot_rules_file", mode="before")
    @classmethod
    def _rules_file(cls, value):
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("iam_bot_protected_users", mode="before")
    @classmethod
    def _split_protected(cls, value):
        return comma_list(value, USER_NAME, "an IAM user name")

    @field_validator("iam_bot_on_slack_deactivation", mode="before")
    @classmethod
    def _deactivation(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("iam_bot_sensitive_groups", mode="before")
    @classmethod
    def _split_groups(cls, value):
        return comma_list(value, GROUP_NAME, "an IAM group name")

    @field_validator("iam_bot_mfa_group")
    @classmethod
    def _mfa_group(cls, value):
        if value is None or not value.strip():
            return None
        if not GROUP_NAME.fullmatch(value.strip()):
            raise ValueError("use the name of an IAM group, for example ForceMFA")
        return value.strip()

    @field_validator("iam_bot_approvals_channel")
    @classmethod
    def _channel_id(cls, value: str):
        if not re.fullmatch(r"[CGD][A-Z0-9]+", value.strip()):
            raise ValueError("use the channel id (C...), not its name")
        return value.strip()

    @field_validator("iam_bot_security_channel")
    @classmethod
    def _security_channel(cls, value: str | None):
        if value is None or not value.strip():
            return None
        if not re.fullmatch(r"[CG][A-Z0-9]+", value.strip()):
            raise ValueError("use the channel id (C...), not its name")
        return value.strip()

    @field_validator("iam_bot_request_ttl", "iam_bot_reveal_ttl", "iam_bot_work_hold", "iam_bot_rotation_grace",
                     "iam_bot_mfa_grace", "iam_bot_grant_min", "iam_bot_grant_warning", "iam_bot_revoke_every",
                     "iam_bot_revoke_retry", "iam_bot_reconcile_every", "iam_bot_review_deadline",
                     mode="before")
    @classmethod
    def _duration(cls, value):
        return parse_duration(value)

    @field_validator("iam_bot_audit_every", "iam_bot_review_every", mode="before")
    @classmethod
    def _optional_duration(cls, value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return parse_duration(value)

    @field_validator("iam_bot_audit_log", mode="before")
    @classmethod
    def _audit_log(cls, value):
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("iam_bot_metrics_token", mode="before")
    @classmethod
    def _metrics_token(cls, value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str) and not re.fullmatch(r"[\x21-\x7e]{16,}", value.strip()):
            # It guards a port that faces the internet.
            raise ValueError("use at least 16 printable characters without spaces")
        return value.strip() if isinstance(value, str) else value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _metrics_port(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("iam_bot_user_path")
    @classmethod
    def _iam_path(cls, value: str):
        return check_user_path(value)

    @field_validator("iam_bot_permissions_boundary", mode="before")
    @classmethod
    def _boundary(cls, value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return check_policy_arn(value.strip())

    @field_validator("iam_bot_email_domain")
    @classmethod
    def _domain(cls, value):
        if value is None or not value.strip():
            return None
        value = value.strip().lstrip("@")
        if not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", value):
            raise ValueError("use a domain such as example.com")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str):
        if not re.match(r"^https?://", value):
            raise ValueError("use a URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str):
        parse_database_url(value)  # sqlite:///relative.db, sqlite:////abs/path.db, postgresql://, postgres://
        return value.strip()


class SettingsError(Exception):
    "The environment does not describe a usable configuration"


class _GivenOnly(Settings):
    """Settings from the values given and their defaults alone: the environment is not read."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                    file_secret_settings):
        return (init_settings,)


def load_settings(*, environment: bool = True, **overrides) -> Settings:
    """Read Settings, turning pydantic's report into one line naming the variable. With
    `environment=False` only `overrides` and the defaults count (the shell's world, the tests)."""
    try:
        return (Settings if environment else _GivenOnly)(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        if not first["loc"] and APPROVERS_MISSING in first["msg"]:
            raise SettingsError(APPROVERS_MISSING) from None
        name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        if first["type"] == "missing":
            raise SettingsError(f"{name} is required but not set") from None
        raise SettingsError(f"{name} is malformed: {first['msg']}") from None


def require(settings: Settings, *names: str) -> None:
    """Stop start-up if a variable that this entry point needs is missing."""
    for name in names:
        value = getattr(settings, name.lower())
        if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
            raise SettingsError(f"{name} is required but not set")
