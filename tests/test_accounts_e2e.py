"""Several AWS accounts (issue 23): the registry assumes each `[[account]]`'s role with its
external id, holds the session until five minutes before it expires, and never asks twice for a
session it holds; the AWS-like STS refuses what AWS refuses (moto hands out credentials for any
role). Against moto's server, with accounts 123456789012 (the hub, the bot's own) and 222222222222."""

import datetime as dt
import json
import threading

import boto3
import pytest

from bot.shell.awslike import make_aws_like, make_sts_like
from commands.accounts import AccountRegistry, AccountUnavailable, UnknownAccount
from commands.iam import IamGateway
from commands.ruleset import Account
from tests.support.harness import iam_client

pytestmark = pytest.mark.e2e

HUB, SPOKE = "123456789012", "222222222222"
ROLE = f"arn:aws:iam::{SPOKE}:role/iam-bot"
EXTERNAL_ID = "staging-4f1c"


def keys(credentials=None) -> dict:
    if credentials is None:
        return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}


def in_account(moto_url, account: str, service: str = "iam"):
    """A client acting in `account` (moto names an account by the credentials of a role in it)."""
    raw = boto3.client("sts", endpoint_url=moto_url, region_name="us-east-1", **keys())
    peek = raw.assume_role(RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup")["Credentials"]
    return boto3.client(service, endpoint_url=moto_url, region_name="us-east-1", **keys(peek))


def spoke_role(moto_url, *, external_id=EXTERNAL_ID, principal=f"arn:aws:iam::{HUB}:root", name="iam-bot"):
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]}
    iam = in_account(moto_url, SPOKE)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return iam


@pytest.fixture
def spoke(moto_url, aws):
    iam = spoke_role(moto_url)
    iam.create_group(GroupName="Developers")
    return iam


def registry(moto_url, accounts, clock=None):
    sts = boto3.client("sts", endpoint_url=moto_url, region_name="us-east-1", **keys())
    make_sts_like(sts)
    calls = []
    sts.meta.events.register("before-call.sts.AssumeRole", lambda **_: calls.append(1))

    def clients(credentials):
        iam = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1", **keys(credentials))
        make_aws_like(iam)
        return iam, boto3.client("sts", endpoint_url=moto_url, region_name="us-east-1", **keys(credentials))

    own = IamGateway(iam_client(moto_url), sts)
    made = AccountRegistry(tuple(accounts), own=own, sts=sts, clients=clients,
                           **({"clock": clock} if clock else {}))
    return made, calls


ACCOUNTS = (Account("prod", default=True), Account("staging", ROLE, EXTERNAL_ID))


def test_a_user_is_created_in_the_second_account_with_its_boundary(moto_url, spoke):
    boundary = spoke.create_policy(PolicyName="iam-bot-boundary", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))["Policy"]["Arn"]
    accounts, _ = registry(moto_url, ACCOUNTS)
    staging = accounts.gateway("staging")
    arn = staging.create_user("jane.doe", "/people/", {"iam-bot:request-id": "7"}, boundary)
    assert arn == f"arn:aws:iam::{SPOKE}:user/people/jane.doe"
    user = staging.user("jane.doe", tags=True)
    assert user.boundary == boundary and user.tags["iam-bot:request-id"] == "7"
    assert accounts.gateway("prod").user("jane.doe") is None  # not in the hub
    assert accounts.gateway(None) is accounts.own  # the default account is the bot's own
    assert accounts.session("staging").arn == f"arn:aws:sts::{SPOKE}:assumed-role/iam-bot/iam-bot"
    assert staging.sign_in_url(arn) == f"https://{SPOKE}.signin.aws.amazon.com/console"


def test_a_held_session_is_never_asked_for_twice_until_it_nearly_expires(moto_url, spoke):
    now = [dt.datetime.now(dt.timezone.utc)]
    accounts, calls = registry(moto_url, ACCOUNTS, clock=lambda: now[0])
    threads = [threading.Thread(target=accounts.gateway, args=("staging",)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(20):
        accounts.gateway("STAGING")
    assert len(calls) == 1
    expires = accounts.session("staging").expires
    now[0] = expires - dt.timedelta(minutes=5, seconds=1)
    accounts.gateway("staging")
    assert len(calls) == 1
    now[0] = expires - dt.timedelta(minutes=4, seconds=59)
    accounts.gateway("staging")
    assert len(calls) == 2


@pytest.mark.parametrize("account, why", [
    (Account("staging", ROLE, "not-the-external-id"), "external id the trust policy does not hold"),
    (Account("staging", f"arn:aws:iam::{SPOKE}:role/no-such-role", EXTERNAL_ID), "a role that does not exist"),
    (Account("staging", f"arn:aws:iam::333333333333:role/iam-bot", EXTERNAL_ID), "a role in another account"),
])
def test_a_role_aws_would_not_let_the_bot_assume_is_refused_with_aws_words(moto_url, spoke, account, why):
    accounts, calls = registry(moto_url, (Account("prod", default=True), account))
    with pytest.raises(AccountUnavailable) as refused:
        accounts.gateway("staging")
    assert "Could not assume the role of account staging" in str(refused.value), why
    assert refused.value.aws_said.startswith("AccessDenied: User: arn:aws:") and "sts:AssumeRole" in refused.value.aws_said
    # Not held: the next command asks AWS again (the operator may have fixed the role).
    with pytest.raises(AccountUnavailable):
        accounts.gateway("staging")
    assert len(calls) == 2


def test_a_trust_policy_naming_another_principal_refuses(moto_url, aws):
    spoke_role(moto_url, principal="arn:aws:iam::999999999999:root")
    accounts, _ = registry(moto_url, ACCOUNTS)
    with pytest.raises(AccountUnavailable):
        accounts.gateway("staging")


def test_an_unknown_account_is_refused_with_the_names(moto_url, aws):
    accounts, _ = registry(moto_url, ACCOUNTS)
    with pytest.raises(UnknownAccount) as unknown:
        accounts.gateway("sandbox")
    assert unknown.value.known == ("prod", "staging")


def test_each_accounts_boundary_is_asked_of_its_own_account(moto_url, spoke):
    from commands.accounts import boundary_problems

    there = spoke.create_policy(PolicyName="iam-bot-boundary", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))["Policy"]["Arn"]
    with_boundary = (Account("prod", default=True), Account("staging", ROLE, EXTERNAL_ID, permissions_boundary=there))
    accounts, _ = registry(moto_url, with_boundary)
    assert boundary_problems(accounts.own, None, with_boundary, accounts) == []
    # The same ARN does not exist in the hub: asked there, it is missing.
    [(line, stops)] = boundary_problems(accounts.own, there, (), None)
    assert "IAM_BOT_PERMISSIONS_BOUNDARY names" in line and stops
    unassumable = (Account("prod", default=True), Account("staging", ROLE, "wrong-id", permissions_boundary=there))
    accounts, _ = registry(moto_url, unassumable)
    [(line, stops)] = boundary_problems(accounts.own, None, unassumable, accounts)
    assert line.startswith("account staging: permissions_boundary could not be checked: Could not assume") and not stops
