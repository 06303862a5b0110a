"""A sample AWS account in this process: moto, seeded the same way at every start.

moto is imported here, inside `start_sample_aws`, and nowhere else in `bot/`: `iam-bot serve`
never loads it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import threading
from dataclasses import dataclass, field

import boto3

from commands.iam import RETRY_CONFIG, IamGateway, PasswordPolicy
from commands.passwords import generate_password

from .awslike import make_aws_like, make_sts_like

log = logging.getLogger(__name__)

REGION = "us-east-1"
ACCOUNT_ALIAS = "example-sandbox"
GROUPS = ("Admins", "Developers", "ReadOnly")
SAMPLE_USER = "sam.sample"
OLD_KEY_AGE = dt.timedelta(days=200)
PASSWORD_POLICY = dict(MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True,
                       RequireUppercaseCharacters=True, RequireLowercaseCharacters=True,
                       AllowUsersToChangePassword=True)


class MotoMissing(Exception):
    "moto, which the shell uses in place of AWS, is not installed"


@dataclass
class SampleAws:
    gateway: IamGateway
    account_id: str
    alias: str = ACCOUNT_ALIAS
    groups: tuple[str, ...] = GROUPS
    sample_user: str = SAMPLE_USER
    sample_keys: int = 2
    password_length: int = PASSWORD_POLICY["MinimumPasswordLength"]
    _mock: object = field(default=None, repr=False)
    # The second account (`--account staging`, bot/shell/rules.toml): its IAM client, for a look.
    staging: object = field(default=None, repr=False)

    def account_clients(self, credentials: dict) -> tuple[object, object]:
        """IAM (AWS-like) and STS clients on an assumed role's credentials, in this process's moto."""
        keys = {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"]}
        with _building:
            iam = boto3.client("iam", region_name=REGION, config=RETRY_CONFIG, **keys)
            sts = boto3.client("sts", region_name=REGION, **keys)
        make_aws_like(iam)
        return iam, sts

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None


def forget_aws_environment() -> None:
    """Whatever AWS this machine is set up for, the shell must never reach it.

    Without AWS_* variables and with empty config files, boto3 finds no profile, endpoint or
    credentials but the dummy ones given here, and every call lands in moto.
    """
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "TEST_SERVER_MODE":
            del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def start_sample_aws() -> SampleAws:
    forget_aws_environment()
    try:
        from moto import mock_aws
    except ImportError:
        raise MotoMissing("iam-bot shell needs moto: pip install -e '.[local]'") from None
    mock = mock_aws()
    mock.start()
    try:
        session = boto3.session.Session(aws_access_key_id="shell", aws_secret_access_key="shell", region_name=REGION)
        client = session.client("iam", config=RETRY_CONFIG)
        make_aws_like(client)
        account_id = seed(client, session)
        staging = seed_staging(session, account_id)
        sts = session.client("sts")
        make_sts_like(sts)  # AssumeRole refused where AWS would refuse it
    except BaseException:
        mock.stop()
        raise
    return SampleAws(gateway=IamGateway(client, sts), account_id=account_id, _mock=mock, staging=staging)


STAGING_ID = "222222222222"
STAGING_ALIAS = "example-staging"
STAGING_EXTERNAL_ID = "iam-bot-shell-staging"  # as bot/shell/rules.toml says
_building = threading.Lock()  # boto3's default session does not build clients safely from several threads


def seed_staging(session, hub_account: str):
    """The second sample account: groups, an alias, and the role the bot assumes there, trusting
    the first account with the external id. Returns an IAM client acting in it."""
    peek = session.client("sts").assume_role(RoleArn=f"arn:aws:iam::{STAGING_ID}:role/setup",
                                             RoleSessionName="shell-setup")["Credentials"]
    iam = session.client("iam", aws_access_key_id=peek["AccessKeyId"], aws_secret_access_key=peek["SecretAccessKey"],
                         aws_session_token=peek["SessionToken"])
    iam.create_account_alias(AccountAlias=STAGING_ALIAS)
    for group in ("Developers", "ReadOnly"):
        iam.create_group(GroupName=group)
    iam.create_role(RoleName="iam-bot", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{hub_account}:root"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": STAGING_EXTERNAL_ID}}}]}))
    make_aws_like(iam)
    return iam


def seed(client, session) -> str:
    """Groups, a password policy, an alias, and one user with two access keys; returns the account id."""
    client.create_account_alias(AccountAlias=ACCOUNT_ALIAS)
    client.update_account_password_policy(**PASSWORD_POLICY)
    for group in GROUPS:
        client.create_group(GroupName=group)
    user = client.create_user(UserName=SAMPLE_USER, Tags=[{"Key": "team", "Value": "platform"}])["User"]
    client.add_user_to_group(UserName=SAMPLE_USER, GroupName="ReadOnly")
    # A console user without MFA, for /iam audit and the MFA reminders to find (made outside the bot).
    password = generate_password(PasswordPolicy(minimum_length=PASSWORD_POLICY["MinimumPasswordLength"]))
    client.create_login_profile(UserName=SAMPLE_USER, Password=password, PasswordResetRequired=True)
    del password
    old = client.create_access_key(UserName=SAMPLE_USER)["AccessKey"]
    client.create_access_key(UserName=SAMPLE_USER)
    # Using the first key once gives it a "last used" (moto records it as AWS would).
    session.client("sts", aws_access_key_id=old["AccessKeyId"], aws_secret_access_key=old["SecretAccessKey"],
                   region_name="eu-west-1").get_caller_identity()
    del old
    account_id = user["Arn"].split(":")[4]
    _age_first_key(account_id)
    _grant(client, account_id)
    return account_id


# What the sample groups grant, so the card has something to show: Admins is sensitive.
GRANTS = {"Admins": ("AdministratorAccess",), "Developers": ("AmazonEC2FullAccess", "AmazonS3ReadOnlyAccess"),
          "ReadOnly": ("ReadOnlyAccess",)}
INLINE = {"Developers": "deploy-lambdas"}


def _grant(client, account_id: str) -> None:
    add_aws_managed_policies(account_id, [name for names in GRANTS.values() for name in names])
    for group, names in GRANTS.items():
        for name in names:
            client.attach_group_policy(GroupName=group, PolicyArn=f"arn:aws:iam::aws:policy/{name}")
    for group, name in INLINE.items():
        client.put_group_policy(GroupName=group, PolicyName=name, PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": '
            '["lambda:UpdateFunctionCode", "lambda:PublishVersion"], "Resource": "*"}]}'))


def _age_first_key(account_id: str) -> None:
    """Make the first key look 200 days old, so `/iam keys` has something to flag.

    AWS has no call for that; this reaches into moto's own model. If a moto release moves it,
    the key just looks new.
    """
    try:
        from moto.iam.models import iam_backends

        key = iam_backends[account_id]["aws"].users[SAMPLE_USER].access_keys[0]
        key.create_date = key.create_date - OLD_KEY_AGE
    except Exception as error:
        log.debug("could not age the sample access key: %s", type(error).__name__)


def add_aws_managed_policies(account_id: str, names) -> None:
    """Make these AWS managed policies attachable in moto's account, as they are in every AWS account.

    moto loads none of AWS's 1,500 unless MOTO_IAM_LOAD_MANAGED_POLICIES is set, which would make
    every account reset slow; this reaches into moto's own model for the few a story needs.
    """
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[account_id]["global"]
    data = _aws_managed_policies()
    for name in names:
        policy = AWSManagedPolicy.from_data(name, account_id, backend.region_name, data[name])
        backend.managed_policies[policy.arn] = policy


@functools.lru_cache(maxsize=1)
def _aws_managed_policies() -> dict:
    import json

    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)
