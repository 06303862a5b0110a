"""moto's IAM, made to refuse what AWS refuses: botocore event hooks on one boto3 IAM client.

moto is a good stand-in for IAM but kinder than AWS in ways that hide bugs: it compares names
with case, accepts invalid user names and tag values, ignores the password policy and
CreateLoginProfile's PasswordResetRequired, deletes a user that still has credentials, and
returns every user in one ListUsers page. `make_aws_like(client)` registers hooks on the
client so that, through it:

- a UserName or GroupName typed in another case than the one stored finds the stored entity,
  and CreateUser/CreateGroup of a name differing only in case is EntityAlreadyExists;
- user and group names outside `[\\w+=,.@-]` (64 characters for a new user, 128 otherwise) and
  tags outside `[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]` (keys 1-128, values up to 256) are ValidationError;
- CreateLoginProfile and UpdateLoginProfile check the account's password policy (or AWS's
  default: 8 characters, three of four classes) -> PasswordPolicyViolation, and
  CreateLoginProfile keeps PasswordResetRequired;
- DeleteUser of a user with a login profile, access keys, signing certificates, SSH keys, MFA
  devices, policies or groups, and DeleteVirtualMFADevice of an enabled device -> DeleteConflict;
- ListUsers pages at 100 (MaxItems up to 1000) with Marker and IsTruncated, and so does GetGroup
  (its members), which moto answers whole whatever MaxItems says;
- GetCredentialReport says `N/A` for the region and service of a key never used, as AWS does
  (moto says `not_supported`);
- permissions boundaries, which moto accepts and forgets: CreateUser's PermissionsBoundary must
  name a managed policy that exists (else NoSuchEntity, as AWS says), and is kept and shown by
  CreateUser and GetUser; Put/DeleteUserPermissionsBoundary (an operator's step) change it;
- service-specific credentials (CodeCommit, Keyspaces...), which moto does not implement (its
  server answers HTTP 500, which botocore retries slowly), are kept here and answered as AWS
  would: Create, List, Update, Delete; DeleteUser refuses while a user has one.

Refusals, and ListUsers pages, are answered from the last `before-call` hook, after any
counting hook a test has registered: the call is seen, and AWS's error comes back as a
ClientError. (A `before-send` answer would not do: moto's in-process mock answers there too.) The look-ups the
rules need go through a second client without these hooks, so they are never counted or logged.
`AwsLike.calls` is the log of the calls made through the client, in order, without secrets.

Only the shell and the tests use this; `iam-bot serve` never imports it. It needs nothing from
moto itself, so it works with moto's server as well as with `mock_aws` in this process.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import unicodedata
import uuid
import weakref
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

USER_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)
NEW_USER_NAME_MAX = 64
NAME_MAX = 128
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256
TAG_PUNCTUATION = frozenset("_.:/=+-@")
TAG_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"
LIST_USERS_PAGE, LIST_USERS_MAX = 100, 1000
LISTINGS_KEPT = 16
# The symbols AWS counts as symbols in a password policy.
PASSWORD_SYMBOLS = frozenset("!@#$%^&*()_+-=[]{}|'")
PASSWORD_MAX = 128
# Request parameters that carry secrets: never in the call log.
SECRET_PARAMS = frozenset({"Password", "OldPassword", "NewPassword", "PrivateKey", "SSHPublicKeyBody",
                           "CertificateBody", "CertificateChain", "AuthenticationCode1", "AuthenticationCode2"})

_REFUSAL = "aws_like_refusal"
_PAGE = "aws_like_page"
_GROUP_PAGE = "aws_like_group_page"
_ANSWER = "aws_like_answer"
SERVICE_CREDENTIAL_OPERATIONS = frozenset({
    "CreateServiceSpecificCredential", "ListServiceSpecificCredentials", "UpdateServiceSpecificCredential",
    "DeleteServiceSpecificCredential", "ResetServiceSpecificCredential"})


@dataclass(frozen=True)
class Call:
    """One IAM call made through the client: the operation and its parameters, minus secrets."""

    operation: str
    params: dict = field(default_factory=dict)


class _Refusal(Exception):
    """AWS's answer to a call it refuses."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(code)
        self.code, self.message, self.status = code, message, status


class _Raw:
    """A response body botocore can read (the shape urllib3 would give it)."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body

    def read(self, *_):
        return self._body


def error_body(code: str, message: str, type_: str = "Sender") -> bytes:
    """IAM's XML error document."""
    return (f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>{type_}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            "<RequestId>aws-like</RequestId></ErrorResponse>").encode()


def error_response(url: str, code: str, message: str, status: int = 400) -> AWSResponse:
    return AWSResponse(url, status, {}, _Raw(error_body(code, message)))


_applied: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Service-specific credentials, which moto has none of, by (endpoint, user id): shared by every
# client of one moto, and a user made again under an old name (a new id) starts with none.
_service_credentials: dict[tuple, list[dict]] = {}
_service_lock = threading.Lock()
# Permissions boundaries, which moto drops, by (endpoint, user id): shared like the credentials above.
_boundaries: dict[tuple, str] = {}
BOUNDARY_OPERATIONS = frozenset({"PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary"})
_applying = threading.Lock()


def make_aws_like(client, *, lookup_client=None) -> AwsLike:
    """Make this moto IAM client behave like AWS; returns its AwsLike (the same one if called again).

    `lookup_client` answers the rules' own look-ups; by default a copy of `client` without hooks.
    """
    with _applying:
        if client not in _applied:
            _applied[client] = AwsLike(client, lookup_client or _copy_of(client))
        return _applied[client]


_copies: dict[tuple, object] = {}


def _copy_of(client):
    """A client to the same endpoint with the same identity, without any of `client`'s hooks.

    One per endpoint and identity, shared: building a boto3 client costs more than most calls.
    """
    # botocore offers no public way to read a client's credentials; this private one is documented.
    credentials = client._get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    identity = (frozen.access_key, frozen.secret_key, frozen.token) if frozen else ("aws-like", "aws-like", None)
    key = (client.meta.endpoint_url, client.meta.region_name, identity)
    if key not in _copies:
        _copies[key] = boto3.client(
            "iam", endpoint_url=client.meta.endpoint_url, region_name=client.meta.region_name,
            config=client.meta.config, aws_access_key_id=identity[0], aws_secret_access_key=identity[1],
            aws_session_token=identity[2],
        )
    return _copies[key]


class AwsLike:
    """The hooks on one client, and the log of the calls made through it."""

    def __init__(self, client, lookup_client):
        self.client = client
        self.lookup = lookup_client
        self.calls: list[Call] = []
        self._local = threading.local()  # the password of a CreateLoginProfile in flight
        # ListUsers listings being paged through, by marker prefix: each pagination lists once.
        self._listings: dict[str, list] = {}
        self._listings_lock = threading.Lock()
        events = client.meta.events
        events.register("before-parameter-build.iam", self._before_parameter_build)
        # Last of all before-call handlers: counting hooks see a refused call too.
        events.register_last("before-call.iam", self._answer_in_place_of_moto)
        events.register("after-call.iam.CreateLoginProfile", self._keep_reset_required)
        events.register("after-call-error.iam.CreateLoginProfile", self._forget_password)
        events.register_first("after-call.iam.GetCredentialReport", self._report_as_aws_writes_it)
        events.register("after-call.iam.CreateUser", self._keep_boundary)
        events.register("after-call.iam.GetUser", self._show_boundary)

    def operations(self) -> list[str]:
        """The operations called so far, in order."""
        return [call.operation for call in list(self.calls)]

    # -- hooks -------------------------------------------------------------------------

    def _before_parameter_build(self, params, model, context, **_):
        operation = model.name
        self.calls.append(Call(operation, {k: v for k, v in params.items() if k not in SECRET_PARAMS}))
        self._local.password = None
        try:
            self._check(operation, params, context)
        except _Refusal as refusal:
            context[_REFUSAL] = refusal

    def _answer_in_place_of_moto(self, context, params, **_):
        refusal = context.pop(_REFUSAL, None)
        if refusal is not None:
            self._local.password = None
            return _answer(params.get("url", ""), refusal.status, {
                "Error": {"Type": "Sender", "Code": refusal.code, "Message": refusal.message}})
        page = context.pop(_PAGE, None)
        if page is not None:
            return _answer(params.get("url", ""), 200, self._page_of_users(*page))
        group_page = context.pop(_GROUP_PAGE, None)
        if group_page is not None:
            return _answer(params.get("url", ""), 200, self._page_of_members(*group_page))
        answer = context.pop(_ANSWER, None)
        if answer is not None:
            return _answer(params.get("url", ""), 200, answer)
        return None

    def _page_of_users(self, listing_id: str | None, start: int, size: int, path_prefix: str | None) -> dict:
        """A page of ListUsers as AWS gives it, from one listing of moto's (which never pages)."""
        with self._listings_lock:
            users = self._listings.get(listing_id) if listing_id else None
        if users is None:
            kwargs = {"PathPrefix": path_prefix} if path_prefix else {}
            users = [u for page in self.lookup.get_paginator("list_users").paginate(**kwargs) for u in page["Users"]]
            listing_id = uuid.uuid4().hex[:12]
        page = {"Users": users[start:start + size], "IsTruncated": start + size < len(users)}
        return self._keep_listing(page, listing_id, users, f"{listing_id}-{start + size}")

    def _page_of_members(self, group: str, listing_id: str | None, start: int, size: int) -> dict:
        """A page of GetGroup as AWS gives it, from one listing of moto's (which answers every
        member at once), kept while its pages are read, as ListUsers' are."""
        with self._listings_lock:
            whole = self._listings.get(listing_id) if listing_id else None
        if whole is None:
            whole = self.lookup.get_group(GroupName=group)
            listing_id = uuid.uuid4().hex[:12]
        users = whole["Users"]
        page = {"Group": whole["Group"], "Users": users[start:start + size], "IsTruncated": start + size < len(users)}
        return self._keep_listing(page, listing_id, whole, f"members-{listing_id}-{start + size}")

    def _keep_listing(self, page: dict, listing_id: str, listing, marker: str) -> dict:
        """A truncated page gets its Marker and its listing is kept (the newest LISTINGS_KEPT) for the
        next page; a last page lets it go."""
        with self._listings_lock:
            self._listings.pop(listing_id, None)
            if page["IsTruncated"]:
                page["Marker"] = marker
                self._listings[listing_id] = listing
                while len(self._listings) > LISTINGS_KEPT:
                    self._listings.pop(next(iter(self._listings)))
        return page

    def _report_as_aws_writes_it(self, parsed, **_):
        content = parsed.get("Content")
        if content is None:
            return
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows:
            return
        for row in rows:
            for n in (1, 2):
                if row.get(f"access_key_{n}_last_used_date") in ("N/A", None, ""):
                    for column in (f"access_key_{n}_last_used_region", f"access_key_{n}_last_used_service"):
                        if row.get(column) == "not_supported":
                            row[column] = "N/A"
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        parsed["Content"] = out.getvalue().encode("utf-8")

    def _keep_reset_required(self, http_response, parsed, **_):
        password, self._local.password = getattr(self._local, "password", None), None
        if http_response.status_code >= 300 or password is None:
            return
        # moto drops PasswordResetRequired on create; AWS keeps it. Tell moto again.
        profile = parsed.get("LoginProfile", {})
        self.lookup.update_login_profile(UserName=profile["UserName"], Password=password,
                                         PasswordResetRequired=True)
        profile["PasswordResetRequired"] = True

    def _forget_password(self, **_):
        self._local.password = None

    def _keep_boundary(self, http_response, parsed, **_):
        boundary, self._local.boundary = getattr(self._local, "boundary", None), None
        if http_response.status_code >= 300 or boundary is None:
            return
        user = parsed.get("User", {})
        with _service_lock:
            _boundaries[(self.client.meta.endpoint_url, user.get("UserId"))] = boundary
        user["PermissionsBoundary"] = {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                                       "PermissionsBoundaryArn": boundary}

    def _show_boundary(self, http_response, parsed, **_):
        user = parsed.get("User", {}) if http_response.status_code < 300 else {}
        with _service_lock:
            boundary = _boundaries.get((self.client.meta.endpoint_url, user.get("UserId")))
        if boundary:
            user["PermissionsBoundary"] = {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                                           "PermissionsBoundaryArn": boundary}

    def _boundary_policy(self, arn) -> str:
        """The boundary's ARN if that managed policy exists in the account; else AWS's refusal."""
        try:
            self.lookup.get_policy(PolicyArn=arn)
        except ClientError as error:
            if _code(error) in ("NoSuchEntity", "InvalidInput", "ValidationError"):
                raise _Refusal("NoSuchEntity", f"Scope ARN: {arn} does not exist or is not attachable.", 404) from None
            raise
        return arn

    def _set_boundary(self, operation: str, params: dict) -> dict:
        """Put/DeleteUserPermissionsBoundary, which moto does not keep for users."""
        name = params.get("UserName")
        try:
            user = self.lookup.get_user(UserName=name)["User"]
        except ClientError as error:
            if _code(error) == "NoSuchEntity":
                raise _Refusal("NoSuchEntity", f"The user with name {name} cannot be found.", 404) from None
            raise
        key = (self.client.meta.endpoint_url, user["UserId"])
        if operation == "PutUserPermissionsBoundary":
            arn = self._boundary_policy(params.get("PermissionsBoundary"))
            with _service_lock:
                _boundaries[key] = arn
        else:
            with _service_lock:
                _boundaries.pop(key, None)
        return {}

    # -- AWS's rules ---------------------------------------------------------------------

    def _check(self, operation: str, params: dict, context: dict) -> None:
        """Raise _Refusal where AWS would refuse; put stored names in place of other cases."""
        user = params.get("UserName")
        if operation == "CreateUser":
            self._local.boundary = None
            if params.get("PermissionsBoundary"):
                self._local.boundary = self._boundary_policy(params["PermissionsBoundary"])
        if isinstance(user, str):
            limit = NEW_USER_NAME_MAX if operation == "CreateUser" else NAME_MAX
            _check_name(user, "userName", limit)
            if operation == "CreateUser":
                stored = self._stored_user(user, expect_none=True)
                if stored is not None:
                    raise _Refusal("EntityAlreadyExists", f"User with name {stored} already exists.", 409)
            else:
                params["UserName"] = self._stored_user(user) or user
        new_name = params.get("NewUserName")
        if isinstance(new_name, str):
            _check_name(new_name, "newUserName", NEW_USER_NAME_MAX)
            stored = self._stored_user(new_name, expect_none=True)
            if stored is not None and stored != params.get("UserName"):
                raise _Refusal("EntityAlreadyExists", f"User with name {stored} already exists.", 409)
        group = params.get("GroupName")
        if isinstance(group, str):
            _check_name(group, "groupName", NAME_MAX)
            if operation == "CreateGroup":
                stored = self._stored_group(group, expect_none=True)
                if stored is not None:
                    raise _Refusal("EntityAlreadyExists", f"Group with name {stored} already exists.", 409)
            else:
                params["GroupName"] = self._stored_group(group) or group
        if isinstance(params.get("Tags"), list):
            _check_tags(params["Tags"])
        if operation in ("CreateLoginProfile", "UpdateLoginProfile") and "Password" in params:
            self._check_password(params["Password"])
            if operation == "CreateLoginProfile" and params.get("PasswordResetRequired"):
                self._local.password = params["Password"]
        if operation == "DeleteUser" and isinstance(user, str):
            self._check_user_deletable(params["UserName"])
        if operation == "DeleteVirtualMFADevice" and isinstance(params.get("SerialNumber"), str):
            self._check_device_deletable(params["SerialNumber"])
        if operation == "ListUsers":
            context[_PAGE] = self._page_wanted(params)
        if operation == "GetGroup" and isinstance(params.get("GroupName"), str):
            context[_GROUP_PAGE] = self._group_page_wanted(params)
        if operation in SERVICE_CREDENTIAL_OPERATIONS:
            context[_ANSWER] = self._service_credential(operation, params)
        if operation in BOUNDARY_OPERATIONS:
            context[_ANSWER] = self._set_boundary(operation, params)

    def _stored_user(self, name: str, *, expect_none: bool = False) -> str | None:
        """The user's name as stored, for `name` in any case; None if there is none.

        A name about to be created is usually free: then one listing answers at once.
        """
        if not expect_none:
            try:
                return self.lookup.get_user(UserName=name)["User"]["UserName"]
            except ClientError as error:
                if _code(error) != "NoSuchEntity":
                    raise
        pages = self.lookup.get_paginator("list_users").paginate()
        return _same_ignoring_case(name, (user["UserName"] for page in pages for user in page["Users"]))

    def _stored_group(self, name: str, *, expect_none: bool = False) -> str | None:
        # One ListGroups, not GetGroup: moto answers GetGroup with every member whatever MaxItems
        # says, which takes seconds for a group of a thousand.
        pages = self.lookup.get_paginator("list_groups").paginate()
        return _same_ignoring_case(name, (group["GroupName"] for page in pages for group in page["Groups"]))

    def _group_page_wanted(self, params: dict) -> tuple[str, str | None, int, int]:
        size = params.get("MaxItems", LIST_USERS_PAGE)
        if not 1 <= size <= LIST_USERS_MAX:
            raise _invalid(str(size), "maxItems", f"Member must have value less than or equal to {LIST_USERS_MAX}")
        marker = params.get("Marker")
        listing_id, start = None, 0
        if marker:
            match = re.fullmatch(r"members-([0-9a-f]{12})-([0-9]+)", str(marker))
            if match is None:
                raise _Refusal("ValidationError", "Invalid Marker.", 400)
            listing_id, start = match[1], int(match[2])
        if self._stored_group(params["GroupName"], expect_none=True) is None:
            raise _Refusal("NoSuchEntity", f"The group with name {params['GroupName']} cannot be found.", 404)
        return params["GroupName"], listing_id, start, size

    def _page_wanted(self, params: dict) -> tuple[str | None, int, int, str | None]:
        size = params.get("MaxItems", LIST_USERS_PAGE)
        if not 1 <= size <= LIST_USERS_MAX:
            raise _invalid(str(size), "maxItems", f"Member must have value less than or equal to {LIST_USERS_MAX}")
        marker = params.get("Marker")
        if marker is None:
            return None, 0, size, params.get("PathPrefix")
        listing_id, _, start = marker.partition("-")
        with self._listings_lock:
            known = listing_id in self._listings
        if not known or not start.isdigit():
            raise _Refusal("ValidationError", "Invalid Marker.")
        return listing_id, int(start), size, params.get("PathPrefix")

    def _check_password(self, password: str) -> None:
        try:
            policy = self.lookup.get_account_password_policy()["PasswordPolicy"]
        except ClientError as error:
            if _code(error) != "NoSuchEntity":
                raise
            policy = None
        problem = password_problem(password, policy)
        if problem:
            raise _Refusal("PasswordPolicyViolation", problem)

    def _check_user_deletable(self, name: str) -> None:
        lookup = self.lookup
        try:
            user_id = lookup.get_user(UserName=name)["User"]["UserId"]
        except ClientError as error:
            if _code(error) == "NoSuchEntity":
                return  # moto says NoSuchEntity, as AWS does
            raise
        try:
            lookup.get_login_profile(UserName=name)
            raise _Refusal("DeleteConflict", "Cannot delete entity, must delete login profile first.", 409)
        except ClientError as error:
            if _code(error) != "NoSuchEntity":
                raise
        attached = [
            (lookup.list_access_keys(UserName=name)["AccessKeyMetadata"], "must delete access keys first"),
            (lookup.list_signing_certificates(UserName=name)["Certificates"], "must delete signing certificates first"),
            (lookup.list_ssh_public_keys(UserName=name)["SSHPublicKeys"], "must delete SSH public keys first"),
            (lookup.list_mfa_devices(UserName=name)["MFADevices"], "must delete MFA device first"),
            (lookup.list_user_policies(UserName=name)["PolicyNames"], "must delete policies first"),
            (lookup.list_attached_user_policies(UserName=name)["AttachedPolicies"], "must detach all policies first"),
            (lookup.list_groups_for_user(UserName=name)["Groups"], "must remove users from group first"),
        ]
        with _service_lock:
            credentials = list(_service_credentials.get((self.client.meta.endpoint_url, user_id), []))
        attached.insert(3, (credentials, "must delete service-specific credentials first"))
        for items, what in attached:
            if items:
                raise _Refusal("DeleteConflict", f"Cannot delete entity, {what}.", 409)

    def _service_credential(self, operation: str, params: dict) -> dict:
        """What AWS answers to the service-specific credential calls, which moto lacks."""
        import datetime as dt
        import secrets

        name = params.get("UserName")
        if not isinstance(name, str):
            raise _Refusal("ValidationError", "1 validation error detected: userName must not be null")
        try:
            user = self.lookup.get_user(UserName=name)["User"]
        except ClientError as error:
            if _code(error) == "NoSuchEntity":
                raise _Refusal("NoSuchEntity", f"The user with name {name} cannot be found.", 404) from None
            raise
        stored = user["UserName"]
        with _service_lock:
            held = _service_credentials.setdefault((self.client.meta.endpoint_url, user["UserId"]), [])
            if operation == "ListServiceSpecificCredentials":
                wanted = params.get("ServiceName")
                return {"ServiceSpecificCredentials": [
                    {k: v for k, v in c.items() if k != "ServicePassword"}
                    for c in held if wanted in (None, c["ServiceName"])]}
            if operation == "CreateServiceSpecificCredential":
                if sum(c["ServiceName"] == params.get("ServiceName") for c in held) >= 2:
                    raise _Refusal("LimitExceeded", "Cannot exceed quota for CredentialsPerUserPerService: 2", 409)
                credential = {
                    "CreateDate": dt.datetime.now(dt.timezone.utc), "ServiceName": params.get("ServiceName", ""),
                    "ServiceUserName": f"{stored}-at-{len(held) + 1}", "ServicePassword": secrets.token_urlsafe(30),
                    "ServiceSpecificCredentialId": "ACCA" + secrets.token_hex(8).upper(), "UserName": stored,
                    "Status": "Active"}
                held.append(credential)
                return {"ServiceSpecificCredential": dict(credential)}
            found = [c for c in held if c["ServiceSpecificCredentialId"] == params.get("ServiceSpecificCredentialId")]
            if not found:
                raise _Refusal("NoSuchEntity", "No such credential.", 404)
            if operation == "DeleteServiceSpecificCredential":
                held.remove(found[0])
            elif operation == "UpdateServiceSpecificCredential":
                found[0]["Status"] = params.get("Status", found[0]["Status"])
            else:
                found[0]["ServicePassword"] = secrets.token_urlsafe(30)
                return {"ServiceSpecificCredential": dict(found[0])}
            return {}

    def _check_device_deletable(self, serial: str) -> None:
        paginator = self.lookup.get_paginator("list_virtual_mfa_devices")
        for page in paginator.paginate(AssignmentStatus="Assigned"):
            if any(device["SerialNumber"] == serial for device in page["VirtualMFADevices"]):
                raise _Refusal("DeleteConflict", "MFA Device is still in use.", 409)


def _same_ignoring_case(name: str, stored_names) -> str | None:
    wanted = name.lower()
    return next((stored for stored in stored_names if stored.lower() == wanted), None)


def _code(error: ClientError) -> str | None:
    return error.response.get("Error", {}).get("Code")


def _invalid(value: str, where: str, constraint: str) -> _Refusal:
    return _Refusal("ValidationError",
                    f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy constraint: "
                    f"{constraint}")


def _check_name(name: str, where: str, limit: int) -> None:
    if len(name) > limit:
        raise _invalid(name, where, f"Member must have length less than or equal to {limit}")
    if not USER_NAME.fullmatch(name):
        raise _invalid(name, where, r"Member must satisfy regular expression pattern: [\w+=,.@-]+")


def tag_text_ok(text: str) -> bool:
    """Letters, separators (spaces), numbers and `_.:/=+-@`, as AWS's `[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]`."""
    return all(c in TAG_PUNCTUATION or unicodedata.category(c)[0] in "LZN" for c in text)


def _check_tags(tags: list) -> None:
    for n, tag in enumerate(tags, start=1):
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= TAG_KEY_MAX:
            raise _invalid(key, f"tags.{n}.member.key", f"Member must have length between 1 and {TAG_KEY_MAX}")
        if not tag_text_ok(key):
            raise _invalid(key, f"tags.{n}.member.key", f"Member must satisfy regular expression pattern: "
                                                        f"{TAG_PATTERN.replace('*', '+')}")
        if len(value) > TAG_VALUE_MAX:
            raise _invalid(value, f"tags.{n}.member.value",
                           f"Member must have length less than or equal to {TAG_VALUE_MAX}")
        if not tag_text_ok(value):
            raise _invalid(value, f"tags.{n}.member.value", f"Member must satisfy regular expression pattern: "
                                                            f"{TAG_PATTERN}")


def password_problem(password: str, policy: dict | None) -> str | None:
    """What AWS would say about this password under this policy (None: AWS's default), or None."""
    if len(password) > PASSWORD_MAX:
        return f"Password should have a maximum length of {PASSWORD_MAX}"
    classes = {
        "uppercase letter": any("A" <= c <= "Z" for c in password),
        "lowercase letter": any("a" <= c <= "z" for c in password),
        "number": any(c.isascii() and c.isdigit() for c in password),
        "symbol": any(c in PASSWORD_SYMBOLS for c in password),
    }
    if policy is None:
        if len(password) < 8:
            return "Password should have a minimum length of 8"
        if sum(classes.values()) < 3:
            return "Password should have at least three of: uppercase letters, lowercase letters, numbers, symbols"
        return None
    minimum = int(policy.get("MinimumPasswordLength", 6))
    if len(password) < minimum:
        return f"Password should have a minimum length of {minimum}"
    required = {"uppercase letter": "RequireUppercaseCharacters", "lowercase letter": "RequireLowercaseCharacters",
                "number": "RequireNumbers", "symbol": "RequireSymbols"}
    for what, setting in required.items():
        if policy.get(setting) and not classes[what]:
            return f"Password should have at least one {what}"
    return None


def _answer(url: str, status: int, parsed: dict):
    """What a before-call hook returns to answer a call in place of the server."""
    parsed["ResponseMetadata"] = {"RequestId": "aws-like", "HTTPStatusCode": status, "HTTPHeaders": {},
                                  "RetryAttempts": 0}
    return AWSResponse(url, status, {}, _Raw(b"")), parsed


# -- STS: AssumeRole as AWS answers it ---------------------------------------------------------
# moto's AssumeRole hands out credentials for any role ARN, with any external id. AWS refuses a
# role that does not exist, one whose trust policy does not name the caller (its ARN, its role,
# or its account), and an external id its trust policy's sts:ExternalId condition does not hold.

_sts_applied: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def make_sts_like(sts) -> None:
    """Make this moto STS client refuse AssumeRole where AWS would (the same client if called again)."""
    with _applying:
        if sts in _sts_applied:
            return
        _sts_applied[sts] = True
    raw = boto3.client("sts", endpoint_url=sts.meta.endpoint_url, region_name=sts.meta.region_name,
                       **_identity_of(sts))

    def refuse(params, context, model, **_):
        if model.name != "AssumeRole":
            return None
        body = params.get("body") or {}
        role_arn, external_id = body.get("RoleArn", ""), body.get("ExternalId")
        problem = _assume_problem(raw, role_arn, external_id)
        if problem is None:
            return None
        caller = raw.get_caller_identity()["Arn"]
        message = f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        return (AWSResponse(params.get("url", ""), 403, {}, _Raw(_sts_error("AccessDenied", message))),
                {"Error": {"Type": "Sender", "Code": "AccessDenied", "Message": message},
                 "ResponseMetadata": {"RequestId": "aws-like", "HTTPStatusCode": 403, "HTTPHeaders": {},
                                      "RetryAttempts": 0}})

    sts.meta.events.register_last("before-call.sts.AssumeRole", refuse)


def _identity_of(client) -> dict:
    credentials = client._get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    if frozen is None:
        return {"aws_access_key_id": "aws-like", "aws_secret_access_key": "aws-like"}
    return {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key,
            "aws_session_token": frozen.token}


def _sts_error(code: str, message: str) -> bytes:
    return (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            "<RequestId>aws-like</RequestId></ErrorResponse>").encode()


def _assume_problem(raw_sts, role_arn: str, external_id: str | None) -> str | None:
    """Why AWS would refuse this AssumeRole, or None. The role is read in its own account through
    moto's own (unchecked) AssumeRole, which is how moto names another account."""
    import json

    match = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)", role_arn)
    if match is None:
        return "not a role ARN"
    peek = raw_sts.assume_role(RoleArn=role_arn, RoleSessionName="aws-like-peek")["Credentials"]
    with _applying:  # boto3's default session does not build clients safely from several threads
        # moto's server answers every service at one URL; in this process, IAM has its own endpoint.
        url = raw_sts.meta.endpoint_url
        iam = boto3.client("iam", endpoint_url=None if "amazonaws.com" in url else url, region_name=raw_sts.meta.region_name,
                           aws_access_key_id=peek["AccessKeyId"], aws_secret_access_key=peek["SecretAccessKey"],
                           aws_session_token=peek["SessionToken"])
    try:
        role = iam.get_role(RoleName=match[2])["Role"]
    except ClientError as error:
        if _code(error) == "NoSuchEntity":
            return "no such role"
        raise
    document = role.get("AssumeRolePolicyDocument") or {}
    if isinstance(document, str):
        document = json.loads(urllib_unquote(document))
    caller = raw_sts.get_caller_identity()
    names = {caller["Arn"], f"arn:aws:iam::{caller['Account']}:root", caller["Account"], "*"}
    if ":assumed-role/" in caller["Arn"]:
        role_name = caller["Arn"].split(":assumed-role/")[1].split("/")[0]
        names.add(f"arn:aws:iam::{caller['Account']}:role/{role_name}")
    for statement in _listed(document.get("Statement")):
        if statement.get("Effect") != "Allow" or "sts:AssumeRole" not in _listed(statement.get("Action")):
            continue
        principal = statement.get("Principal") or {}
        principals = set(_listed(principal.get("AWS"))) if isinstance(principal, dict) else {principal}
        if not principals & names:
            continue
        wanted = ((statement.get("Condition") or {}).get("StringEquals") or {}).get("sts:ExternalId")
        if wanted is not None and external_id not in _listed(wanted):
            continue
        return None
    return "the trust policy does not allow it"


def _listed(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def urllib_unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)
