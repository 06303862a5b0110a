"""moto made to behave like AWS: every rule refuses what AWS refuses, through the tests' client.

The `aws` fixture's client is the one the tests and the bot use (tests/support/harness.py
`iam_client`), so these rules hold for every end-to-end test too.
"""

import subprocess
import sys
from pathlib import Path

import botocore.exceptions
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.iam.models import iam_backends

from bot.shell.awslike import make_aws_like, password_problem
from commands.iam import PasswordPolicy
from commands.passwords import generate_password
from tests.support.faults import record_calls

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"  # moto's account for the tests' credentials


def refused(call, code: str) -> str:
    """Make the call, which must fail with this AWS error code; returns AWS's message."""
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == code
    return caught.value.response["Error"]["Message"]


def user_names(aws) -> list[str]:
    return [u["UserName"] for page in aws.get_paginator("list_users").paginate() for u in page["Users"]]


# -- names ignore case -------------------------------------------------------------------

def test_a_user_name_in_another_case_finds_the_stored_user(aws):
    aws.create_user(UserName="Bob.Smith")
    assert aws.get_user(UserName="bob.smith")["User"]["UserName"] == "Bob.Smith"
    aws.add_user_to_group(UserName="BOB.SMITH", GroupName="developers")
    groups = aws.list_groups_for_user(UserName="bob.smith")["Groups"]
    assert [g["GroupName"] for g in groups] == ["Developers"]
    key = aws.create_access_key(UserName="bob.SMITH")["AccessKey"]
    assert key["UserName"] == "Bob.Smith"


def test_a_name_differing_only_in_case_already_exists(aws):
    aws.create_user(UserName="Bob.Smith")
    assert "Bob.Smith" in refused(lambda: aws.create_user(UserName="bob.smith"), "EntityAlreadyExists")
    refused(lambda: aws.create_group(GroupName="DEVELOPERS"), "EntityAlreadyExists")
    assert user_names(aws) == ["Bob.Smith"]


def test_an_unknown_name_is_still_no_such_entity(aws):
    refused(lambda: aws.get_user(UserName="nobody"), "NoSuchEntity")


# -- what AWS validates ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["jane doe", "jane/doe", "józef", "jane:doe", "a" * 65])
def test_invalid_user_names_are_refused_and_nothing_is_created(aws, name):
    refused(lambda: aws.create_user(UserName=name), "ValidationError")
    assert user_names(aws) == []


def test_a_64_character_name_is_a_valid_one(aws):
    aws.create_user(UserName="a" * 64)
    assert user_names(aws) == ["a" * 64]


@pytest.mark.parametrize("tag", [
    {"Key": "team", "Value": "a<b"},
    {"Key": "team", "Value": "x" * 257},
    {"Key": "team", "Value": "semi;colon"},
    {"Key": "bad*key", "Value": "ok"},
])
def test_tags_outside_aws_pattern_are_refused(aws, tag):
    refused(lambda: aws.create_user(UserName="jane", Tags=[tag]), "ValidationError")
    assert user_names(aws) == []
    aws.create_user(UserName="jane")
    refused(lambda: aws.tag_user(UserName="jane", Tags=[tag]), "ValidationError")
    assert aws.list_user_tags(UserName="jane")["Tags"] == []


def test_tags_with_letters_spaces_numbers_and_aws_punctuation_are_accepted(aws):
    value = "Zoë Ångström 42 _.:/=+-@" + "x" * 232  # 256 characters
    aws.create_user(UserName="jane", Tags=[{"Key": "iam-bot:owner", "Value": value}])
    assert aws.list_user_tags(UserName="jane")["Tags"] == [{"Key": "iam-bot:owner", "Value": value}]


# -- passwords ---------------------------------------------------------------------------

def test_without_a_policy_aws_default_applies(aws):
    aws.create_user(UserName="jane")
    assert "minimum length of 8" in refused(
        lambda: aws.create_login_profile(UserName="jane", Password="Ab1!xyz"), "PasswordPolicyViolation")
    refused(lambda: aws.create_login_profile(UserName="jane", Password="onlylowercase"), "PasswordPolicyViolation")
    refused(lambda: aws.get_login_profile(UserName="jane"), "NoSuchEntity")
    aws.create_login_profile(UserName="jane", Password="lowerUPPER1")  # three classes of four


def test_the_account_policy_is_enforced_on_create_and_update(aws):
    aws.update_account_password_policy(MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True,
                                       RequireUppercaseCharacters=True, RequireLowercaseCharacters=True)
    aws.create_user(UserName="jane")
    assert "minimum length of 14" in refused(
        lambda: aws.create_login_profile(UserName="jane", Password="Short-1a"), "PasswordPolicyViolation")
    assert "one symbol" in refused(
        lambda: aws.create_login_profile(UserName="jane", Password="NoSymbolsHere123"), "PasswordPolicyViolation")
    aws.create_login_profile(UserName="jane", Password="Long-enough-1Aa!")
    assert "one number" in refused(
        lambda: aws.update_login_profile(UserName="jane", Password="No-numbers-here-Aa!"), "PasswordPolicyViolation")
    aws.update_login_profile(UserName="jane", Password="Another-good-2Bb@")


@pytest.mark.parametrize("required", [True, False])
def test_create_login_profile_keeps_password_reset_required(aws, required):
    aws.create_user(UserName="jane")
    made = aws.create_login_profile(UserName="jane", Password="Good-password-1A", PasswordResetRequired=required)
    assert made["LoginProfile"]["PasswordResetRequired"] is required
    assert aws.get_login_profile(UserName="jane")["LoginProfile"]["PasswordResetRequired"] is required


policies = st.builds(
    PasswordPolicy, minimum_length=st.integers(6, 128), require_symbols=st.booleans(),
    require_numbers=st.booleans(), require_uppercase=st.booleans(), require_lowercase=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(policies)
def test_the_bot_passwords_satisfy_every_policy_aws_would_check(policy):
    aws_policy = {"MinimumPasswordLength": policy.minimum_length, "RequireSymbols": policy.require_symbols,
                  "RequireNumbers": policy.require_numbers, "RequireUppercaseCharacters": policy.require_uppercase,
                  "RequireLowercaseCharacters": policy.require_lowercase}
    password = generate_password(policy)
    assert password_problem(password, aws_policy) is None
    assert password_problem(password, None) is None


# -- deleting ----------------------------------------------------------------------------

def _mfa(aws):
    serial = aws.create_virtual_mfa_device(VirtualMFADeviceName="jane-mfa")["VirtualMFADevice"]["SerialNumber"]
    aws.enable_mfa_device(UserName="jane", SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    return serial


S3_READ = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}'


def _attach(aws):
    arn = aws.create_policy(PolicyName="s3-read", PolicyDocument=S3_READ)["Policy"]["Arn"]
    aws.attach_user_policy(UserName="jane", PolicyArn=arn)
    return arn


ATTACHMENTS = {
    "login profile": (lambda aws: aws.create_login_profile(UserName="jane", Password="Good-password-1A"),
                      lambda aws, _: aws.delete_login_profile(UserName="jane")),
    "access keys": (lambda aws: aws.create_access_key(UserName="jane")["AccessKey"]["AccessKeyId"],
                    lambda aws, key: aws.delete_access_key(UserName="jane", AccessKeyId=key)),
    "MFA device": (_mfa, lambda aws, serial: aws.deactivate_mfa_device(UserName="jane", SerialNumber=serial)),
    "inline policy": (lambda aws: aws.put_user_policy(UserName="jane", PolicyName="p", PolicyDocument=S3_READ),
                      lambda aws, _: aws.delete_user_policy(UserName="jane", PolicyName="p")),
    "attached policy": (_attach, lambda aws, arn: aws.detach_user_policy(UserName="jane", PolicyArn=arn)),
    "group": (lambda aws: aws.add_user_to_group(UserName="jane", GroupName="Developers"),
              lambda aws, _: aws.remove_user_from_group(UserName="jane", GroupName="Developers")),
}


@pytest.mark.parametrize("what", ATTACHMENTS)
def test_a_user_with_anything_attached_cannot_be_deleted(aws, what):
    attach, detach = ATTACHMENTS[what]
    aws.create_user(UserName="jane")
    handle = attach(aws)
    assert "Cannot delete entity" in refused(lambda: aws.delete_user(UserName="jane"), "DeleteConflict")
    assert user_names(aws) == ["jane"]
    detach(aws, handle)
    aws.delete_user(UserName="JANE")
    assert user_names(aws) == []


def test_an_enabled_mfa_device_cannot_be_deleted(aws):
    aws.create_user(UserName="jane")
    serial = _mfa(aws)
    refused(lambda: aws.delete_virtual_mfa_device(SerialNumber=serial), "DeleteConflict")
    aws.deactivate_mfa_device(UserName="jane", SerialNumber=serial)
    aws.delete_virtual_mfa_device(SerialNumber=serial)
    assert aws.list_virtual_mfa_devices()["VirtualMFADevices"] == []


# -- listing -----------------------------------------------------------------------------

def test_list_users_pages_at_100_like_aws(aws):
    backend = iam_backends[ACCOUNT]["global"]
    for i in range(250):
        backend.create_user("us-east-1", f"user{i:03d}")
    first = aws.list_users()
    assert len(first["Users"]) == 100 and first["IsTruncated"] is True and first["Marker"]
    second = aws.list_users(Marker=first["Marker"])
    assert second["Users"][0]["UserName"] == "user100"
    pages = list(aws.get_paginator("list_users").paginate())
    assert [len(p["Users"]) for p in pages] == [100, 100, 50]
    assert len({u["UserName"] for p in pages for u in p["Users"]}) == 250
    whole = aws.list_users(MaxItems=1000)
    assert len(whole["Users"]) == 250 and whole["IsTruncated"] is False and "Marker" not in whole
    refused(lambda: aws.list_users(MaxItems=1001), "ValidationError")
    refused(lambda: aws.list_users(Marker="not-a-marker"), "ValidationError")
    people = aws.list_users(PathPrefix="/people/")
    assert people["Users"] == [] and people["IsTruncated"] is False


# -- the log and the counters --------------------------------------------------------------

def test_the_call_log_is_in_order_and_holds_no_secret(aws):
    log = make_aws_like(aws)
    log.calls.clear()
    aws.create_user(UserName="jane")
    aws.create_login_profile(UserName="Jane", Password="Secret-canary-1Aa!", PasswordResetRequired=True)
    refused(lambda: aws.create_user(UserName="bad name"), "ValidationError")
    assert log.operations() == ["CreateUser", "CreateLoginProfile", "CreateUser"]
    assert log.calls[1].params == {"UserName": "Jane", "PasswordResetRequired": True}
    assert "Secret-canary" not in repr(log.calls)


def test_the_rules_own_look_ups_are_not_counted_but_refused_calls_are(aws):
    aws.create_user(UserName="Bob.Smith")
    seen = record_calls(aws)
    aws.get_user(UserName="bob.smith")
    refused(lambda: aws.create_user(UserName="BOB.SMITH"), "EntityAlreadyExists")
    aws.delete_user(UserName="bob.smith")
    assert seen == ["GetUser", "CreateUser", "DeleteUser"]


# -- where it applies --------------------------------------------------------------------

def test_the_shell_aws_behaves_like_aws_too():
    script = """
from bot.shell.aws import start_sample_aws
sample = start_sample_aws()
try:
    client = sample.gateway.client
    print(sample.gateway.user("SAM.SAMPLE").name)
    try:
        client.create_user(UserName="Sam.Sample")
    except client.exceptions.EntityAlreadyExistsException:
        print("exists")
    client.create_user(UserName="jane")
    try:
        client.create_login_profile(UserName="jane", Password="Short-1a")
    except client.exceptions.PasswordPolicyViolationException:
        print("policy")
finally:
    sample.stop()
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["sam.sample", "exists", "policy"]


def test_serving_slack_never_loads_the_aws_stand_in():
    code = "import sys, bot.cli, bot.server, bot.app; sys.exit('bot.shell.awslike' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=30).returncode == 0
