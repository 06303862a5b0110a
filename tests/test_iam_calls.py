"""The IAM calls a flow makes do not grow with the account, and a name in another case finds its user.

Calls are counted on the bot's own client with a botocore before-call hook; moto behaves like
AWS here (bot/shell/awslike.py), so GetUser ignores case as AWS's does.
"""

import threading

import pytest
from moto.iam.models import iam_backends

import storage
from bot import blocks
from commands.errors import IamError
from commands.iam import AWS_DEFAULT_POLICY, CACHE_SECONDS, IamGateway
from tests.support.faults import Fault, record_calls
from tests.support.stories import OWNER_DM, provision_jane

pytestmark = pytest.mark.e2e

ACCOUNT = "123456789012"  # moto's account for the tests' credentials


def fill_account(users: int) -> None:
    """Users straight into moto's model (the HTTP API would take seconds for a thousand)."""
    backend = iam_backends[ACCOUNT]["global"]
    for i in range(users):
        backend.create_user("us-east-1", f"colleague.{i:05d}", path="/people/")


# -- before a request is filed -------------------------------------------------------------

@pytest.mark.parametrize("users", [10, 1000])
def test_create_checks_cost_one_user_look_up_and_three_calls_per_group(bot, slack, aws, users):
    fill_account(users)
    calls = record_calls(bot.client)
    response = bot.slash("U0ALICE", "create jane.doe Developers ReadOnly")
    assert "Request #1 filed" in bot.said(response.response_url)
    # Each group: does it exist, then what it grants (for the card and the two-approver rule).
    assert calls == ["GetUser", "GetGroup", "GetGroup", "ListAttachedGroupPolicies", "ListGroupPolicies",
                     "ListAttachedGroupPolicies", "ListGroupPolicies"]
    assert bot.store.get(1).state == storage.PENDING


def test_create_is_refused_when_the_name_exists_in_another_case(bot, slack, aws):
    fill_account(1000)
    aws.create_user(UserName="Bob.Smith")
    calls = record_calls(bot.client)
    response = bot.slash("U0ALICE", "create bob.smith Developers <@U0DAN>")
    said = bot.said(response.response_url)
    assert "An IAM user named `Bob.Smith` already exists (IAM user names ignore case)" in said
    assert "/iam keys Bob.Smith" in said
    assert calls == ["GetUser"]
    assert bot.store.find(1) is None and slack.of("chat.postMessage") == []


def test_keys_for_a_name_in_another_case_lists_the_stored_users_keys(bot, aws):
    aws.create_user(UserName="Bob.Smith")
    key = aws.create_access_key(UserName="Bob.Smith")["AccessKey"]["AccessKeyId"]
    response = bot.slash("U0BOB", "keys bob.smith")
    [reply] = bot.responses(response.response_url)
    assert key in reply["text"] and "There is no IAM user" not in reply["text"]


# -- provisioning and the reveal -----------------------------------------------------------

def test_a_reveal_is_one_iam_call(bot, slack, aws):
    aws.create_account_alias(AccountAlias="acme-prod")
    provision_jane(bot)
    calls = record_calls(bot.client)
    response = bot.click("U0JANE", blocks.ACTION_REVEAL, channel=OWNER_DM)
    [shown] = bot.responses(response.response_url)
    assert "Password for `jane.doe`" in shown["text"]
    assert "https://acme-prod.signin.aws.amazon.com/console" in shown["text"]
    assert calls == ["UpdateLoginProfile"]
    dm_update = [p for p in slack.of("chat.update") if p.get("channel") == OWNER_DM][-1]
    assert "https://acme-prod.signin.aws.amazon.com/console" in str(dm_update["blocks"])


def test_provisioning_reads_the_policy_and_the_alias_once_for_many_requests(bot, aws):
    calls = record_calls(bot.client)
    for n, name in enumerate(["jane.doe", "dan.d"], start=1):
        owner = {"jane.doe": "", "dan.d": " <@U0DAN>"}[name]
        bot.slash("U0ALICE", f"create {name} Developers{owner}")
        bot.click("U0BOB", blocks.ACTION_APPROVE, n)
        assert bot.store.get(n).state == storage.PROVISIONED
    assert calls.count("GetAccountPasswordPolicy") == 1 and calls.count("ListAccountAliases") == 1
    assert calls.count("CreateLoginProfile") == 2


# -- the caches ------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_password_policy_is_read_again_after_five_minutes(aws):
    clock = Clock()
    gateway = IamGateway(aws, clock=clock)
    calls = record_calls(aws)
    assert gateway.password_policy() == AWS_DEFAULT_POLICY  # none set: NoSuchEntity, kept as the default
    aws.update_account_password_policy(MinimumPasswordLength=30)
    clock.now += CACHE_SECONDS - 1
    assert gateway.password_policy() == AWS_DEFAULT_POLICY
    clock.now += 1
    assert gateway.password_policy().minimum_length == 30
    assert calls == ["GetAccountPasswordPolicy", "UpdateAccountPasswordPolicy", "GetAccountPasswordPolicy"]


def test_the_alias_is_read_again_after_five_minutes(aws):
    clock = Clock()
    gateway = IamGateway(aws, clock=clock)
    arn = "arn:aws:iam::123456789012:user/people/jane"
    assert gateway.sign_in_url(arn) == "https://123456789012.signin.aws.amazon.com/console"
    aws.create_account_alias(AccountAlias="acme-prod")
    assert gateway.sign_in_url(arn) == "https://123456789012.signin.aws.amazon.com/console"
    clock.now += CACHE_SECONDS
    assert gateway.sign_in_url(arn) == "https://acme-prod.signin.aws.amazon.com/console"


def test_a_failed_read_is_not_kept(aws):
    aws.create_account_alias(AccountAlias="acme-prod")
    gateway = IamGateway(aws, clock=Clock())
    arn = "arn:aws:iam::123456789012:user/people/jane"
    fault = Fault(aws, "ListAccountAliases", "AccessDenied", status=403)
    assert gateway.sign_in_url(arn) == "https://123456789012.signin.aws.amazon.com/console"
    fault.remove()
    assert gateway.sign_in_url(arn) == "https://acme-prod.signin.aws.amazon.com/console"
    Fault(aws, "GetAccountPasswordPolicy", "AccessDenied", status=403, times=1)
    with pytest.raises(IamError, match="read the account's password policy"):
        gateway.password_policy()
    assert gateway.password_policy() == AWS_DEFAULT_POLICY


def test_a_password_aws_rejects_makes_the_policy_be_read_again(aws):
    aws.create_user(UserName="jane")
    gateway = IamGateway(aws, clock=Clock())
    assert gateway.password_policy() == AWS_DEFAULT_POLICY
    aws.update_account_password_policy(MinimumPasswordLength=30)
    with pytest.raises(IamError, match="password policy"):
        gateway.create_login_profile("jane", "Twenty-characters-1A")
    assert gateway.password_policy().minimum_length == 30


def test_threads_asking_at_once_share_one_read(aws):
    gateway = IamGateway(aws, clock=Clock())
    calls = record_calls(aws)
    barrier = threading.Barrier(16)
    results = []

    def ask():
        barrier.wait()
        results.append(gateway.password_policy())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results == [AWS_DEFAULT_POLICY] * 16
    assert calls == ["GetAccountPasswordPolicy"]
