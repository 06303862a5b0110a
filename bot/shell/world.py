"""The shell's sample workspace: a few colleagues, two channels, an approver user group.

Every start is the same world, so a scripted story (`iam-bot shell < story.txt`) always
reads the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from .slack import SlackStandIn

TEAM_ID = "T0LOCAL"
TEAM_DOMAIN = "local"
BOT_USER_ID = "U0IAMBOT"
BOT_NAME = "iam-bot"
GENERAL = "C0GENERAL"
APPROVALS = "C0APPROVALS"
APPROVER_GROUP = "S0IAMADMINS"
APPROVER_GROUP_HANDLE = "iam-admins"
EMAIL_DOMAIN = "example.com"
CHANNELS = {GENERAL: "general", APPROVALS: "iam-approvals"}


@dataclass(frozen=True)
class Person:
    name: str
    user_id: str
    email: str
    role: str

    def as_slack_user(self) -> dict:
        return {"id": self.user_id, "name": self.name, "real_name": self.name.title(), "team_id": TEAM_ID,
                "is_bot": False, "deleted": False, "is_restricted": False, "is_ultra_restricted": False,
                "profile": {"email": self.email, "real_name": self.name.title(), "display_name": self.name}}


PEOPLE = (
    Person("alice", "U0ALICE", f"alice@{EMAIL_DOMAIN}", "a developer who asks for IAM users"),
    Person("bob", "U0BOB", f"bob@{EMAIL_DOMAIN}", "an approver (named in IAM_BOT_APPROVERS)"),
    Person("carol", "U0CAROL", f"carol@{EMAIL_DOMAIN}",
           f"an approver (through the @{APPROVER_GROUP_HANDLE} user group)"),
    Person("jane", "U0JANE", f"jane.doe@{EMAIL_DOMAIN}", "a new colleague: the IAM user jane.doe is for her"),
)
APPROVERS = ("U0BOB", APPROVER_GROUP)
GROUP_MEMBERS = {APPROVER_GROUP: ["U0CAROL"]}


def person(name_or_id: str) -> Person | None:
    """One of the sample people, by name, user id or e-mail, with or without @."""
    wanted = name_or_id.strip().lstrip("@").lower()
    for candidate in PEOPLE:
        if wanted in (candidate.name, candidate.user_id.lower(), candidate.email.lower()):
            return candidate
    return None


def sample_slack(token: str) -> SlackStandIn:
    """The stand-in for Slack, holding this workspace (not started)."""
    users = {p.user_id: p.as_slack_user() for p in PEOPLE}
    users[BOT_USER_ID] = {"id": BOT_USER_ID, "name": BOT_NAME, "team_id": TEAM_ID, "is_bot": True,
                          "deleted": False, "profile": {"real_name": BOT_NAME}}
    return SlackStandIn(token=token, team_id=TEAM_ID, team_domain=TEAM_DOMAIN, bot_user_id=BOT_USER_ID,
                        users=users, channels=dict(CHANNELS),
                        usergroups={k: list(v) for k, v in GROUP_MEMBERS.items()})
