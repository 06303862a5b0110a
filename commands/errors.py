"""Expected failures, each a reason with the facts needed to explain it.

The domain says *why* (a `Why` and plain values); the Slack edge (`bot/words.py`) turns that
into words a person can act on. Anything else that goes wrong is logged with its traceback
and the person gets a short apology with a reference id.
"""

from __future__ import annotations

import enum


class Why(enum.Enum):
    # The text after /iam
    NOT_TEXT = "not_text"
    BAD_USER_NAME = "bad_user_name"
    BAD_GROUP_NAME = "bad_group_name"
    UNKNOWN_OPTION = "unknown_option"
    UNKNOWN_ACCOUNT = "unknown_account"
    NO_ACCOUNTS = "no_accounts"
    ACCOUNT_WHICH = "account_which"
    TWO_OWNERS = "two_owners"
    OWNER_NOT_ONE_PERSON = "owner_not_one_person"
    MENTION_NOT_LINKED = "mention_not_linked"
    NAME_MISSING = "name_missing"
    GROUP_MISSING = "group_missing"
    TOO_MANY_GROUPS = "too_many_groups"
    GROUP_TWICE = "group_twice"
    ONE_USER_NAME = "one_user_name"
    BAD_REQUEST_ID = "bad_request_id"
    CANCEL_WHICH = "cancel_which"
    AUDIT_TAKES_NOTHING = "audit_takes_nothing"
    REASON_MISSING = "reason_missing"
    WHO_APPROVES_WHICH = "who_approves_which"
    # Filing a request
    REQUESTER_UNKNOWN = "requester_unknown"
    REQUESTER_NOT_HERE = "requester_not_here"
    OWNER_UNKNOWN = "owner_unknown"
    OWNER_NOT_NAMED = "owner_not_named"
    OWNER_NO_EMAIL_MATCH = "owner_no_email_match"
    OWNER_INACTIVE = "owner_inactive"
    OWNER_OTHER_WORKSPACE = "owner_other_workspace"
    USER_EXISTS = "user_exists"
    NO_SUCH_GROUP = "no_such_group"
    OWNER_HAS_OPEN_REQUEST = "owner_has_open_request"
    OWNER_HAS_USER = "owner_has_user"
    REQUEST_OPEN = "request_open"
    TOO_MANY_GROUPS_WITH_MFA = "too_many_groups_with_mfa"
    MFA_GROUP_MISSING = "mfa_group_missing"
    DENIED_BY_RULE = "denied_by_rule"  # a [[deny]] of the rules file names a group at stake
    # Requests after filing
    NO_SUCH_REQUEST = "no_such_request"
    DENY_WITHOUT_REASON = "deny_without_reason"
    RETRY_NEEDS_NEW_REQUEST = "retry_needs_new_request"  # its approvals no longer meet the rules (a group turned sensitive)
    NOT_REQUESTER = "not_requester"
    NOT_CANCELLABLE = "not_cancellable"
    STATUS_NOT_ALLOWED = "status_not_allowed"
    AUDIT_NOT_ALLOWED = "audit_not_allowed"
    REPORT_NOT_READY = "report_not_ready"
    # The one-time reveal
    REVEAL_NOT_OWNER = "reveal_not_owner"
    REVEAL_DONE = "reveal_done"
    REVEAL_EXPIRED = "reveal_expired"
    REVEAL_REPLACED = "reveal_replaced"
    CARD_REPLACED = "card_replaced"
    NO_CONSOLE = "no_console"
    NOTHING_TO_REVEAL = "nothing_to_reveal"
    REVEAL_NOT_SHOWN = "reveal_not_shown"
    # /iam keys
    KEYS_NOT_ALLOWED = "keys_not_allowed"
    NO_SUCH_USER = "no_such_user"
    # Access keys
    KEY_REASON_MISSING = "key_reason_missing"
    KEY_REASON_TOO_LONG = "key_reason_too_long"
    BAD_KEY_ID = "bad_key_id"
    USER_AND_KEY = "user_and_key"
    KEY_OWNER_UNKNOWN = "key_owner_unknown"
    KEY_USER_OUTSIDE_PATH = "key_user_outside_path"
    KEY_LIMIT = "key_limit"
    ROTATE_TWO_KEYS = "rotate_two_keys"
    NO_SUCH_KEY = "no_such_key"
    KEY_NOT_ALLOWED = "key_not_allowed"
    KEY_ACTIVATE_APPROVER_ONLY = "key_activate_approver_only"
    KEY_APPROVER_OF_EVERY_GROUP = "key_approver_of_every_group"  # rotate / undo a hold: a defaults' or whole approver
    KEY_HELD_DISABLED = "key_held_disabled"
    KEY_DELETE_ACTIVE = "key_delete_active"
    KEY_ALREADY = "key_already"
    KEY_LOST = "key_lost"
    KEY_TRY_AGAIN = "key_try_again"
    # Offboarding: remove, reset-password, enable
    USER_OUTSIDE_PATH = "user_outside_path"
    USER_PROTECTED = "user_protected"
    USER_IS_THE_BOT = "user_is_the_bot"
    USER_NO_OWNER = "user_no_owner"
    ALREADY_ENABLED = "already_enabled"
    # Group membership: /iam add, drop, Extend, I'm done
    ADD_WHICH = "add_which"
    BAD_DURATION = "bad_duration"
    GRANT_TOO_SHORT = "grant_too_short"
    GRANT_TOO_LONG = "grant_too_long"
    GROUP_NOT_STANDING = "group_not_standing"
    GROUP_NOT_STANDING_ON_CREATE = "group_not_standing_on_create"
    ALREADY_IN_GROUP = "already_in_group"
    GROUP_LIMIT = "group_limit"
    NO_LIVE_GRANT = "no_live_grant"
    GRANT_NOT_YOURS = "grant_not_yours"
    EXTENSION_OPEN = "extension_open"
    DROP_MFA_GROUP = "drop_mfa_group"
    # Auto-approve and break-glass: approved by a rule at filing, reviewed after
    BREAK_GLASS_REFUSED = "break_glass_refused"
    NOT_SELF_APPROVED = "not_self_approved"
    REVIEW_NOT_YOURS = "review_not_yours"
    ALREADY_REVIEWED = "already_reviewed"
    # Access reviews (`/iam review`, Keep and Remove)
    REVIEW_WHICH = "review_which"
    REVIEW_NOT_ALLOWED = "review_not_allowed"
    REVIEW_NOTHING = "review_nothing"
    REVIEW_UNKNOWN = "review_unknown"
    REVIEW_NOT_REVIEWER = "review_not_reviewer"
    REVIEW_OWN_USER = "review_own_user"
    REVIEW_CLOSED = "review_closed"
    REVIEW_DECIDED = "review_decided"
    # AWS
    AWS_FAILED = "aws_failed"


class CommandError(Exception):
    "A request that cannot go ahead as asked; `why` and `facts` say what to do instead"

    def __init__(self, why: Why, **facts):
        super().__init__(why.value)  # never the facts: they may hold what a person typed
        self.why = why
        self.facts = facts


class NotAllowed(CommandError):
    "The person asking may not do this"


class IamError(CommandError):
    """AWS refused or failed a call; `message` says which and why in plain words (no markup), and
    `aws_said` AWS's own code and message when it gave one (never a secret)"""

    def __init__(self, message: str, *, aws_said: str | None = None):
        super().__init__(Why.AWS_FAILED, problem=message)
        self.message = message
        self.aws_said = aws_said

    @property
    def for_approvers(self) -> str:
        """The plain words and AWS's own, for the approvers' card and thread where a request stops."""
        return f"{self.message} AWS said: {self.aws_said}" if self.aws_said else self.message

    def __str__(self) -> str:
        return self.message  # plain words the gateway wrote: an action and AWS's error code, no secret
