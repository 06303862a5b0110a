"""The least-privilege IAM policy for the bot's own AWS identity.

`iam-bot policy` prints it for the configured IAM_BOT_USER_PATH; `iam-policy.json` in the
repository is the same document for the default path `/`. A test checks that every AWS call
the code makes is allowed here.
"""

from __future__ import annotations

import json

# Reading: any user (uniqueness and /iam keys look users up by name anywhere in the account).
READ_ANY_USER = ["iam:GetUser", "iam:ListUserTags", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed",
                 # Guardrails: a key request's user's groups; MFA reminders until a device appears.
                 "iam:ListGroupsForUser", "iam:ListMFADevices"]
# Writing: only users under IAM_BOT_USER_PATH. CreateUser with tags needs TagUser too. With a
# permissions boundary, CreateUser stands alone, conditioned on it (see bot_policy).
CREATE_USER = ["iam:CreateUser"]
WRITE_OWN_USERS = ["iam:TagUser", "iam:CreateLoginProfile", "iam:UpdateLoginProfile"]
# Access keys: issued, described (a user tag), deactivated, re-activated and deleted.
WRITE_OWN_USERS += ["iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey", "iam:UntagUser"]
# IAM authorises AddUserToGroup on the group, not the user: narrow the groups if you can.
GROUPS = ["iam:GetGroup", "iam:AddUserToGroup",
          # Guardrails: what a group grants, on the card, and whether it is sensitive.
          "iam:ListAttachedGroupPolicies", "iam:ListGroupPolicies",
          # `/iam drop`: does a group's inline policy hold a Deny (then leaving it needs approval)?
          "iam:GetGroupPolicy"]
# `/iam drop`: does a managed policy attached to the group hold a Deny? Its default version's document.
# Start-up and `rules check`: the permissions boundary exists (IAM_BOT_PERMISSIONS_BOUNDARY), GetPolicy too.
READ_POLICIES = ["iam:GetPolicy", "iam:GetPolicyVersion"]
# Offboarding (commands/iam.py): reading what a user holds and removing it, only for
# users under IAM_BOT_USER_PATH (the bot checks the path first; IAM checks it again here).
# Deactivating and deleting access keys is allowed above already, for the key commands, and
# listing a user's groups and MFA devices, for the guardrails.
OFFBOARD_USERS = [
    "iam:GetLoginProfile", "iam:DeleteLoginProfile",
    "iam:ListSigningCertificates", "iam:DeleteSigningCertificate", "iam:ListSSHPublicKeys", "iam:DeleteSSHPublicKey",
    "iam:ListServiceSpecificCredentials", "iam:DeleteServiceSpecificCredential",
    "iam:DeactivateMFADevice", "iam:ListUserPolicies", "iam:DeleteUserPolicy", "iam:ListAttachedUserPolicies",
    "iam:DetachUserPolicy", "iam:DeleteUser",
]
# A virtual MFA device is a resource of its own; so is a group (RemoveUserFromGroup is authorised on it).
OFFBOARD_MFA = ["iam:DeleteVirtualMFADevice"]
OFFBOARD_GROUPS = ["iam:RemoveUserFromGroup"]
# These accept no resource but "*".
ACCOUNT = ["iam:ListGroups", "iam:GetAccountPasswordPolicy", "iam:ListAccountAliases"]
# /iam audit and IAM_BOT_AUDIT_EVERY: the account's credential report (resource "*" only).
ACCOUNT += ["iam:GenerateCredentialReport", "iam:GetCredentialReport"]
# Never granted, so that even the bot's own credentials cannot lift a user's boundary (a test checks).
NEVER = ("iam:PutUserPermissionsBoundary", "iam:DeleteUserPermissionsBoundary", "iam:CreatePolicyVersion",
         "iam:SetDefaultPolicyVersion", "iam:DeletePolicy", "iam:AttachUserPolicy", "iam:PutUserPolicy")


def bot_policy(user_path: str = "/", boundary: str | None = None) -> dict:
    """The bot's own policy. With a `boundary` (a managed policy's ARN), CreateUser is allowed only
    with that boundary (`iam:PermissionsBoundary`), and nothing allows changing a user's boundary."""
    create = {"Sid": "CreateUsersUnderThePath", "Effect": "Allow", "Action": CREATE_USER,
              "Resource": f"arn:aws:iam::*:user{user_path}*"}
    if boundary:
        create = {**create, "Sid": "CreateUsersOnlyWithTheBoundary",
                  "Condition": {"ArnEquals": {"iam:PermissionsBoundary": boundary}}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadUsers", "Effect": "Allow", "Action": READ_ANY_USER,
             "Resource": "arn:aws:iam::*:user/*"},
            create,
            {"Sid": "ManageUsersUnderThePath", "Effect": "Allow", "Action": WRITE_OWN_USERS,
             "Resource": f"arn:aws:iam::*:user{user_path}*"},
            {"Sid": "Groups", "Effect": "Allow", "Action": GROUPS, "Resource": "arn:aws:iam::*:group/*"},
            {"Sid": "ReadPolicies", "Effect": "Allow", "Action": READ_POLICIES,
             "Resource": "arn:aws:iam::*:policy/*"},
            {"Sid": "AccountWide", "Effect": "Allow", "Action": ACCOUNT, "Resource": "*"},
            {"Sid": "OffboardUsersUnderThePath", "Effect": "Allow", "Action": OFFBOARD_USERS,
             "Resource": f"arn:aws:iam::*:user{user_path}*"},
            {"Sid": "OffboardVirtualMFADevices", "Effect": "Allow", "Action": OFFBOARD_MFA,
             "Resource": "arn:aws:iam::*:mfa/*"},
            {"Sid": "OffboardGroupMemberships", "Effect": "Allow", "Action": OFFBOARD_GROUPS,
             "Resource": "arn:aws:iam::*:group/*"},
        ],
    }


# -- several accounts (issue 23): the hub's policy, and each spoke role's ---------------------

def hub_policy(user_path: str = "/", boundary: str | None = None, role_arns=()) -> dict:
    """The bot's own identity (the hub): its account's statements, plus sts:AssumeRole on exactly
    the `[[account]]` roles listed (none: no such statement)."""
    policy = bot_policy(user_path, boundary)
    if role_arns:
        policy["Statement"].append({"Sid": "AssumeTheAccountsRoles", "Effect": "Allow", "Action": ["sts:AssumeRole"],
                                    "Resource": sorted(set(role_arns), key=list(role_arns).index)})
    return policy


def spoke_policy(user_path: str = "/", boundary: str | None = None) -> dict:
    """The permissions of an account's role: what the bot does there (the account's user path and boundary)."""
    return bot_policy(user_path, boundary)


def trust_policy(hub_principal: str, external_id: str) -> dict:
    """An account's role trusts the hub's identity, with the account's external id."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "TheIamBotHub", "Effect": "Allow", "Principal": {"AWS": hub_principal}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]}


def allowed_operations(policy: dict) -> set[str]:
    return {action.split(":", 1)[1] for s in policy["Statement"] for action in s["Action"]}


def render(user_path: str = "/", boundary: str | None = None) -> str:
    return json.dumps(bot_policy(user_path, boundary), indent=2) + "\n"


# -- the MFA group's policy (`iam-bot policy --mfa`) ---------------------------------------
# AWS's documented "Allows MFA-authenticated IAM users to manage their own MFA device on the
# Security credentials page" (IAM User Guide, reference_policies_examples_aws_my-sec-creds-
# self-manage-mfa-only), with one change: iam:ChangePassword and iam:GetAccountPasswordPolicy
# stay allowed without MFA, because the bot's users must set a new password at first sign-in,
# before they can have a device.
MFA_SETUP_ACTIONS = [
    "iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:GetMFADevice", "iam:ListMFADevices",
    "iam:ListVirtualMFADevices", "iam:ResyncMFADevice", "sts:GetSessionToken",
    "iam:ChangePassword", "iam:GetAccountPasswordPolicy",
]


def mfa_policy() -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AllowViewAccountInfo", "Effect": "Allow",
             "Action": ["iam:GetAccountPasswordPolicy", "iam:ListVirtualMFADevices"], "Resource": "*"},
            {"Sid": "AllowManageOwnVirtualMFADevice", "Effect": "Allow",
             "Action": ["iam:CreateVirtualMFADevice"], "Resource": "arn:aws:iam::*:mfa/*"},
            {"Sid": "AllowManageOwnUserMFA", "Effect": "Allow",
             "Action": ["iam:DeactivateMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:GetMFADevice",
                        "iam:ListMFADevices", "iam:ResyncMFADevice", "iam:ChangePassword"],
             "Resource": "arn:aws:iam::*:user/${aws:username}"},
            {"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny", "NotAction": MFA_SETUP_ACTIONS,
             "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
        ],
    }


def render_mfa() -> str:
    return json.dumps(mfa_policy(), indent=2) + "\n"
