"""The IAM calls of offboarding, over the same boto3 client as `commands.iam.IamGateway`.

What a user holds (read at filing, for the card and the plan), and its removal in the order IAM
requires: login profile, access keys, signing certificates, SSH public keys, service-specific
credentials, MFA devices, inline policies, managed policies, groups, then the user. Every step
lists what is there now and deletes it, so a step whose thing is already gone is done, and a
step run again after a crash deletes nothing twice.

Failures come out as IamError naming the step and AWS's own words (its error code and message:
for these calls they name the user and its attachments, never a secret).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .errors import IamError
from .iam import CACHE_SECONDS, RETRY_CONFIG, Cached, IamGateway, PasswordRejected, error_code

log = logging.getLogger(__name__)

AWS_WORDS_LIMIT = 300


def make_sts_client(**kwargs):
    """The STS client for production (GetCallerIdentity: who the bot is, never to be removed)."""
    return boto3.client("sts", config=RETRY_CONFIG, **kwargs)


@dataclass(frozen=True)
class UserFacts:
    name: str  # as AWS holds it
    user_id: str  # AIDA...: a user deleted and made again under the same name has another
    arn: str
    path: str
    tags: dict


def aws_failed(error: Exception, action: str) -> IamError:
    """AWS's own words for a failed call: its error code and message, shortened."""
    code = error_code(error)
    log.warning("AWS call failed while trying to %s: %s", action, code or type(error).__name__)
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message") or "").strip()
        words = f"AWS answered {code}" + (f" ({message[:AWS_WORDS_LIMIT]})" if message else "")
    elif isinstance(error, BotoCoreError):
        words = "AWS could not be reached"
    else:
        words = "an unexpected error happened"
    return IamError(f"Could not {action}: {words}.")


def _gone(error: Exception) -> bool:
    return error_code(error) == "NoSuchEntity"


def is_virtual(serial: str) -> bool:
    """A virtual MFA device's serial is its ARN (`arn:aws:iam::123:mfa/name`); hardware ones are not."""
    return serial.startswith("arn:") and ":mfa/" in serial


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.timezone.utc).isoformat() if moment else None


class OffboardIam:
    """Offboarding's IAM calls, and the bot's own identity (STS GetCallerIdentity, cached)."""

    def __init__(self, gateway: IamGateway, sts=None, *, clock: Callable[[], float] = time.monotonic,
                 cache_seconds: float = CACHE_SECONDS):
        self.gateway = gateway
        self.client = gateway.client
        self.sts = sts
        self._identity = Cached(self._read_identity, cache_seconds, clock)

    # -- who is who ---------------------------------------------------------------------

    def user(self, name: str) -> UserFacts | None:
        """The user (found in any case, as IAM does) with its path and tags, or None."""
        found = self.gateway.user_with_tags(name)
        if found is None:
            return None
        user, tags = found
        return UserFacts(name=user["UserName"], user_id=user["UserId"], arn=user["Arn"], path=user["Path"],
                         tags=tags)

    def bot_identity(self) -> str:
        """The ARN the bot acts as (an IAM user's, or an assumed role's)."""
        return self._identity.get()

    def _read_identity(self) -> str:
        if self.sts is None:
            raise IamError("Could not tell which AWS identity the bot runs as: it has no STS client.")
        try:
            return self.sts.get_caller_identity()["Arn"]
        except (ClientError, BotoCoreError) as error:
            raise aws_failed(error, "ask AWS which identity the bot runs as") from None

    # -- what a user holds ----------------------------------------------------------------

    def has_login_profile(self, name: str) -> bool:
        try:
            self.client.get_login_profile(UserName=name)
            return True
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return False
            raise aws_failed(error, f"see whether {name} has a console password") from None

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
            raise aws_failed(error, f"read what {name} holds") from None
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
            raise aws_failed(error, action) from None
        for item in items:
            try:
                delete(item)
            except (ClientError, BotoCoreError) as error:
                if not _gone(error):
                    raise aws_failed(error, action) from None
        return items

    def delete_login_profile(self, name: str) -> str:
        try:
            self.client.delete_login_profile(UserName=name)
            return "console password deleted"
        except (ClientError, BotoCoreError) as error:
            if _gone(error):
                return "no console password"
            raise aws_failed(error, f"delete the console password of {name}") from None

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
            raise aws_failed(error, f"list the access keys of {name}") from None

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
            raise aws_failed(error, f"list the MFA devices of {name}") from None

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
                    raise aws_failed(error, action) from None
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
                raise aws_failed(error, action) from None
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
            raise aws_failed(error, f"delete the user {name}") from None

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
        if error_code(error) == "PasswordPolicyViolation":
            self.gateway.policy_may_have_changed(error)  # the cached policy is stale: read it afresh
            raise PasswordRejected(aws_failed(error, f"set a console password for {name}").message) from None
        raise aws_failed(error, f"set a console password for {name}") from None


def _said(what: str, items: list) -> str:
    return f"{what}: {len(items)}" + (f" ({', '.join(map(str, items[:10]))})" if items else "")
