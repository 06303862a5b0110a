"""What a person does and sees in the end-to-end stories, shared by the tests that tell them:
jane's user made and approved, her DM's Reveal button, the card's thread, a leaver's event."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re

from botocore.exceptions import ClientError

import storage
from bot import blocks

from .harness import APPROVALS

JANE = "jane.doe"
OWNER_DM = "D0JANE"
KEY_REASON = "CI for the billing repo (ticket #42)"


def provision_jane(bot):
    """alice asks for jane's user, bob approves: request #1, provisioned."""
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    request = bot.store.get(1)
    assert request.state == storage.PROVISIONED
    return request


def dms_to_jane(slack) -> list[dict]:
    return [p for p in slack.of("chat.postMessage") if p.get("channel") == OWNER_DM]


def reveal_buttons(payload) -> list[dict]:
    return [e for b in payload.get("blocks", []) if b["type"] == "actions" for e in b["elements"]
            if e["action_id"] == blocks.ACTION_REVEAL]


def reveal_value(slack, label: str = "Reveal password") -> str:
    """The value of the newest button `label` in jane's DM, as first sent: a later click presses it
    from a screen not caught up."""
    for payload in reversed(dms_to_jane(slack)):
        for button in reveal_buttons(payload):
            if button["text"]["text"] == label:
                return button["value"]
    raise AssertionError(f"no {label} button was sent")


def thread_texts(slack) -> list[str]:
    """Every reply in a thread (the approval cards'), in order."""
    return [p["text"] for p in slack.of("chat.postMessage") if p.get("thread_ts")]


def card_text(slack, request) -> str:
    """The approval card as it reads now (its last update, else as posted)."""
    for payload in reversed(slack.of("chat.update") + slack.of("chat.postMessage")):
        if payload.get("channel") == APPROVALS and payload.get("ts") == request.card_ts:
            return str(payload["blocks"])
    posted = [p for p in slack.of("chat.postMessage") if p.get("channel") == APPROVALS and not p.get("thread_ts")]
    return str(posted[-1]["blocks"])


# -- access keys --------------------------------------------------------------------------

def ask_and_approve(bot, slack, request_id=2):
    """alice asks for a key for jane with a reason, bob approves; the value of jane's Reveal button."""
    filed = bot.slash("U0ALICE", f"create-key jane.doe --reason {KEY_REASON}")
    assert f"Request #{request_id} filed" in bot.said(filed.response_url)
    bot.click("U0BOB", blocks.ACTION_APPROVE, request_id)
    assert bot.store.get(request_id).state == storage.PROVISIONED
    return reveal_value(slack, "Reveal access key")


def reveal(bot, slack, value=None, who="U0JANE"):
    """`who` clicks Reveal access key in jane's DM; what only they were shown."""
    response = bot.click(who, blocks.ACTION_REVEAL, value or reveal_value(slack, "Reveal access key"),
                         channel=OWNER_DM)
    return bot.said(response.response_url)


def shown_key(said):
    key_id = re.search(r"\*Access key id:\* `([A-Z0-9]+)`", said)[1]
    secret = re.search(r"\*Secret access key:\* `([^`]+)`", said)[1]
    return key_id, secret


def keys_of(aws, user=JANE) -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in aws.list_access_keys(UserName=user)["AccessKeyMetadata"]}


# -- a user the bot did not make, and its owner leaving ----------------------------------------

@functools.cache
def credentials_material() -> tuple[str, str]:
    """A self-signed certificate (PEM) and an SSH public key, as a person would upload them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jane")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2040, 1, 1))
            .sign(key, hashes.SHA256()))
    ssh = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return cert.public_bytes(serialization.Encoding.PEM).decode(), ssh.decode() + " jane@laptop"


def seed_jane(aws, *, path="/people/", name=JANE) -> dict:
    """A user carrying every kind of attachment moto supports (and the one the test support adds)."""
    pem, ssh = credentials_material()
    aws.create_user(UserName=name, Path=path, Tags=[{"Key": "iam-bot:owner-slack-id", "Value": "U0JANE"}])
    aws.create_login_profile(UserName=name, Password="Seeded-Password-1!", PasswordResetRequired=True)
    keys = [aws.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(2)]
    device = aws.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-phone")["VirtualMFADevice"]["SerialNumber"]
    aws.enable_mfa_device(UserName=name, SerialNumber=device, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    ssh_id = aws.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=ssh)["SSHPublicKey"]["SSHPublicKeyId"]
    cert_id = aws.upload_signing_certificate(UserName=name, CertificateBody=pem)["Certificate"]["CertificateId"]
    service = aws.create_service_specific_credential(UserName=name, ServiceName="codecommit.amazonaws.com")
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]})
    aws.put_user_policy(UserName=name, PolicyName="jane-inline", PolicyDocument=document)
    arn = aws.create_policy(PolicyName=f"{name}-extra", PolicyDocument=document)["Policy"]["Arn"]
    aws.attach_user_policy(UserName=name, PolicyArn=arn)
    for group in ("Developers", "ReadOnly"):
        aws.add_user_to_group(UserName=name, GroupName=group)
    return {"keys": keys, "device": device, "ssh": ssh_id, "cert": cert_id, "policy": arn,
            "service": service["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]}


def gone(call) -> bool:
    """The IAM call answers NoSuchEntity: what it asks about is no longer there."""
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"] == "NoSuchEntity"
    return False


def user_change(event_id: str, user_id: str = "U0JANE", *, deleted: bool = True, email="jane.doe@example.com"):
    """The `user_change` event Slack sends when someone's account changes (deleted: they left)."""
    return json.dumps({
        "token": "unused", "team_id": "T0TEAM", "api_app_id": "A0APP", "type": "event_callback",
        "event_id": event_id, "event_time": 1700000000,
        "event": {"type": "user_change", "event_ts": "1700000000.000100",
                  "user": {"id": user_id, "team_id": "T0TEAM", "deleted": deleted, "name": "someone",
                           "profile": {"email": email}}},
    })


def send(bot, body: str, **kwargs):
    """An event delivered, and the work it started done."""
    response = bot.post(body, content_type="application/json", **kwargs)
    bot.settle()
    return response


def leaves(slack, user_id: str) -> None:
    slack.users[user_id]["deleted"] = True
