"""What the bot says: the domain's reasons turned into words a person can act on.

`commands/` raises `CommandError(Why.X, **facts)` and returns `Reason`s; this module is the
only place they become mrkdwn, escaped once through `bot.mrkdwn`.
"""

from __future__ import annotations

import datetime as dt

from commands.errors import CommandError, Why
from commands.rules import Reason
from commands.ruleset import Verdict, format_duration

from .mrkdwn import code, escape, listing, mention, when

EXAMPLE_CREATE = "`/iam create jane.doe Developers`"


def _create_example(facts: dict) -> str:
    name = facts.get("user_name") or "jane.doe"
    groups = " ".join(facts.get("groups") or ("Developers",))
    return code(f"/iam create {name} {groups} @jane", limit=300)


_SAY = {
    Why.NOT_TEXT: lambda f: "Type `/iam help` to see what the bot can do.",
    Why.BAD_USER_NAME: lambda f: (
        f"{code(f['name'], 80)} is not a valid IAM user name: use 1 to 64 letters, digits or + = , . @ _ -, "
        f"for example {EXAMPLE_CREATE}."),
    Why.BAD_GROUP_NAME: lambda f: (
        f"{code(f['name'], 80)} is not a valid IAM group name: use 1 to 128 letters, digits or + = , . @ _ -."),
    Why.UNKNOWN_OPTION: lambda f: (
        f"{code(f['word'], 40)} is not an option; "
        f"{'the only one is' if len(f['options']) == 1 else 'the options are'} {listing(f['options'], budget=200)}."),
    Why.UNKNOWN_ACCOUNT: lambda f: (
        f"No AWS account is named {code(f['name'], 40)}; the accounts are {listing(f['known'], budget=300)}. "
        "Type `--account <name>` with one of them, or leave it out for the default."),
    Why.NO_ACCOUNTS: lambda f: (
        "This bot manages one AWS account, its own: leave out `--account` (the rules file names no [[account]])."),
    Why.ACCOUNT_WHICH: lambda f: "Name the account after `--account`, for example `--account staging`.",
    Why.TWO_OWNERS: lambda f: "Mention only one owner: one IAM user is for one person.",
    Why.OWNER_NOT_ONE_PERSON: lambda f: (
        "The owner must be one person: mention them with @ (pick them from Slack's list), "
        "not a channel, a user group or @here."),
    Why.MENTION_NOT_LINKED: lambda f: (
        f"{code(f['word'], 40)} did not become a Slack mention: pick the owner from the list Slack "
        "shows when you type @, so that it turns into a link."),
    Why.NAME_MISSING: lambda f: (
        f"Name the new user and at least one group, for example {EXAMPLE_CREATE} or "
        "`/iam create jane.doe Developers @jane`."),
    Why.GROUP_MISSING: lambda f: (
        f"Put {code(f['user_name'])} in at least one group, so that its permissions come from a group: "
        f"for example {code('/iam create ' + f['user_name'] + ' Developers', 120)}."),
    Why.TOO_MANY_GROUPS: lambda f: f"An IAM user can be in at most {f['limit']} groups; you named {f['count']}.",
    Why.GROUP_TWICE: lambda f: f"Group {code(f['group'])} is named twice; name each group once.",
    Why.ONE_USER_NAME: lambda f: f"Name exactly one user, for example `/iam {f['verb']} jane.doe`.",
    Why.BAD_REQUEST_ID: lambda f: "This button does not name a request; use the buttons on a card the bot posted.",
    Why.REQUESTER_UNKNOWN: lambda f: "Slack could not tell the bot who you are; try again in a minute.",
    Why.REQUESTER_NOT_HERE: lambda f: "Only people of this workspace can ask for IAM users here.",
    Why.OWNER_UNKNOWN: lambda f: (
        f"Slack does not know {mention(f['owner_id'])}; mention the owner again, for example {_create_example(f)}."),
    Why.OWNER_NOT_NAMED: lambda f: (
        f"Say who the account is for by mentioning them, for example {_create_example(f)}."),
    Why.OWNER_NO_EMAIL_MATCH: lambda f: (
        f"Nobody in this workspace has the e-mail {escape(f['email'])}. Say who the account is for by "
        f"mentioning them, for example {_create_example(f)}."),
    Why.OWNER_INACTIVE: lambda f: (
        f"{mention(f['owner_id'])} is not an active person in this workspace; an IAM user is for one human. "
        f"Mention the person the account is for, for example {_create_example(f)}."),
    Why.OWNER_OTHER_WORKSPACE: lambda f: (
        f"{mention(f['owner_id'])} belongs to another Slack workspace; name someone in this one."),
    Why.USER_EXISTS: lambda f: (
        f"An IAM user named {code(f['user_name'])} already exists (IAM user names ignore case). "
        f"Pick another name, or see its keys with {code('/iam keys ' + f['user_name'], 120)}."),
    Why.WHO_APPROVES_WHICH: lambda f: "Name one or more IAM groups, for example `/iam who-approves Admins Developers`.",
    Why.DENIED_BY_RULE: lambda f: (
        f"Nobody gets {code(f['group'])} through this bot: {escape(f['reason'])} (rule {escape(f['rule'])})"),
    Why.RETRY_NEEDS_NEW_REQUEST: lambda f: (
        f"Request #{f['request_id']} cannot be retried: {code(f['group']) if f['group'] else 'it'} needs "
        f"{f['approvals']} approvals now and it had {f['have']} (the group has become sensitive or the rules "
        "changed since it was approved). File a new request, to be approved afresh."),
    Why.NO_SUCH_GROUP: lambda f: (
        f"No IAM group named {listing(f['missing'], budget=600)}. "
        f"Groups in this account: {listing(f['known'], budget=1500, most=30) if f['known'] else 'none'}."),
    Why.OWNER_HAS_OPEN_REQUEST: lambda f: (
        f"{mention(f['owner_id'])} already has request #{f['request_id']} ({code(f['user_name'])}) waiting; "
        "one IAM user is for one person."),
    Why.OWNER_HAS_USER: lambda f: (
        f"{mention(f['owner_id'])} already has the IAM user {code(f['user_name'])} (request #{f['request_id']}); "
        "one IAM user is for one person. Add groups to that user instead."),
    Why.REQUEST_OPEN: lambda f: (
        f"Request #{f['request_id']} for {code(f['user_name'])} is already open; "
        "wait for its decision instead of asking twice."),
    Why.TOO_MANY_GROUPS_WITH_MFA: lambda f: (
        f"A console user also joins the MFA group {code(f['mfa_group'])}, and an IAM user can be in at most 10 "
        f"groups: name at most {f['limit']}; you named {f['count']}."),
    Why.MFA_GROUP_MISSING: lambda f: (
        f"The bot puts every console user in the MFA group {code(f['mfa_group'])} (IAM_BOT_MFA_GROUP), but AWS has "
        "no such group. Nothing was filed; tell whoever runs the bot (`iam-bot policy --mfa` prints its policy)."),
    Why.NO_SUCH_REQUEST: lambda f: (
        f"There is no request #{f['request_id']}; use the buttons on a card or DM the bot posted."),
    Why.DENY_WITHOUT_REASON: lambda f: "Say why the request is denied, so that the requester can act on it.",
    Why.REVEAL_NOT_OWNER: lambda f: (
        f"Only {mention(f['owner_id'])} can reveal this {'access key' if _is_key(f) else 'password'}."),
    Why.REVEAL_DONE: lambda f: (
        f"The access key for {code(f['user_name'])} was already revealed; it is never shown twice. If that was "
        "not you, deactivate it at once with `/iam keys` and tell the approvers.") if _is_key(f) else (
        f"The password for {code(f['user_name'])} was already revealed. If that was not you, "
        f"type {code('/iam reset-password ' + f['user_name'], 120)} and ask one of the approvers to approve it."),
    Why.REVEAL_EXPIRED: lambda f: (
        f"The reveal button for {code(f['user_name'])} has expired; no key was created. Ask again with "
        f"{code('/iam create-key ' + f['user_name'] + ' --reason ...', 120)}.") if _is_key(f) else (
        f"The reveal button for {code(f['user_name'])} has expired. To get a password, "
        f"type {code('/iam reset-password ' + f['user_name'], 120)} and ask one of the approvers to approve it."),
    Why.REVEAL_REPLACED: lambda f: (
        "This button was replaced by a newer message from the bot; use the Reveal button in the latest one."),
    Why.CARD_REPLACED: lambda f: (
        f"This card was replaced by a newer one for request #{f['request_id']} (the bot was interrupted while "
        "posting it); use the buttons on the latest card. Nothing changed."),
    Why.NO_CONSOLE: lambda f: f"{code(f['user_name'])} has no console password.",
    Why.NOTHING_TO_REVEAL: lambda f: f"Request #{f['request_id']} is {escape(f['state'])}; there is no password to reveal.",
    Why.REVEAL_NOT_SHOWN: lambda f: (
        "Slack did not show the password, so it was not revealed; press the button again."),
    Why.KEYS_NOT_ALLOWED: lambda f: (
        f"Only approvers, and the owner of {code(f['user_name'])}, can list its access keys."),
    Why.NO_SUCH_USER: lambda f: (
        f"There is no IAM user named {code(f['user_name'])}. Check the spelling: IAM user names look like "
        "`jane.doe`."),
    Why.KEY_REASON_MISSING: lambda f: (
        f"Say why {code(f['user_name'])} needs a long-term access key, for example "
        f"{code('/iam create-key ' + f['user_name'] + ' --reason CI for the billing repo', 160)}. "
        "Often a role (workloads on AWS), OIDC federation (CI) or IAM Identity Center (people) does better."),
    Why.KEY_REASON_TOO_LONG: lambda f: f"Keep the reason under {f['limit']} characters.",
    Why.BAD_KEY_ID: lambda f: (
        f"{code(f['key_id'], 40)} is not an access-key id: those are `AKIA` or `ASIA` and 16 more capital letters "
        "or digits; `/iam keys <user>` lists them."),
    Why.USER_AND_KEY: lambda f: (
        f"Name a user and one of its access keys, for example `/iam {f['verb']} jane.doe AKIAIOSFODNN7EXAMPLE`."),
    Why.KEY_OWNER_UNKNOWN: lambda f: (
        f"Nobody can be named as the owner of {code(f['user_name'])}: it has no `iam-bot:owner-slack-id` tag and "
        "no one in this workspace has its e-mail. Ask an approver to tag the user with its owner's Slack id."),
    Why.KEY_USER_OUTSIDE_PATH: lambda f: (
        f"{code(f['user_name'])} is outside {code(f['path'])}, the only IAM path the bot may change; "
        "manage its keys in the IAM console."),
    Why.KEY_LIMIT: lambda f: (
        f"{code(f['user_name'])} already has two access keys ({listing(f['keys'], budget=200)}), AWS's limit. "
        f"Delete one that is no longer used first: deactivate it, watch, then "
        f"{code('/iam delete-key ' + f['user_name'] + ' <key-id>', 120)}.") if f.get("keys") else (
        # Said to someone who may not list the keys: what to do, and nothing about the keys themselves.
        f"{code(f['user_name'])} already has two access keys, AWS's limit. Ask its owner or an approver to "
        "delete one that is no longer used, then ask again."),
    Why.ROTATE_TWO_KEYS: lambda f: (
        f"{code(f['user_name'])} already has two keys, so there is no room for a new one. " + (
            f"Delete the inactive key first: {code('/iam delete-key ' + f['user_name'] + ' ' + f['inactive'], 160)}, "
            "then rotate again." if f.get("inactive") else
            "Deactivate the one you no longer need first "
            f"({code('/iam deactivate-key ' + f['user_name'] + ' <key-id>', 120)}), watch that nothing breaks, "
            "delete it, then rotate again.")),
    Why.NO_SUCH_KEY: lambda f: (
        f"{code(f['user_name'])} has no access key {code(f['key_id'], 40)}"
        + (f"; its keys are {listing(f['keys'], budget=200)}." if f.get("keys") else "; it has no keys.")
        + " Nothing changed."),
    Why.KEY_NOT_ALLOWED: lambda f: (
        f"Only approvers, and the owner of {code(f['user_name'])}, can {f['verb']} its access keys. Nothing changed."),
    Why.KEY_ACTIVATE_APPROVER_ONLY: lambda f: (
        f"An approver deactivated {code(f['key_id'])}, so only an approver can "
        f"{'rotate it' if f.get('verb') == 'rotate' else 'activate it again'}: ask an approver. Nothing changed."),
    Why.KEY_APPROVER_OF_EVERY_GROUP: lambda f: (
        f"Only one of the defaults' approvers, or an approver of every group {code(f['user_name'])} is in, can "
        + ("rotate its access keys" if f.get("verb") == "rotate"
           else f"activate {code(f['key_id'])} again after an approver deactivated it")
        + ": ask one of them. Nothing changed."),
    Why.KEY_HELD_DISABLED: lambda f: (
        f"{code(f['key_id'])} was deactivated when {code(f['user_name'])} was disabled"
        + (f" (request #{f['request_id']})" if f.get("request_id") else "")
        + f", so its owner cannot {f['verb']} it alone: an approved "
        f"{code('/iam enable ' + f['user_name'], 120)} gives it back to its owner, or ask an approver to "
        f"{f['verb']} it. Nothing changed."),
    Why.KEY_DELETE_ACTIVE: lambda f: (
        f"{code(f['key_id'])} is still active. Deactivate it first "
        f"({code('/iam deactivate-key ' + f['user_name'] + ' ' + f['key_id'], 160)}), check that nothing "
        "breaks, then delete it. Nothing changed."),
    Why.KEY_ALREADY: lambda f: f"{code(f['key_id'])} is already {f['status']}; nothing changed.",
    Why.KEY_LOST: lambda f: (
        f"The key made for request #{f['request_id']} was never shown (the bot was interrupted), so it was "
        f"deleted and nothing else was created. Ask again with "
        f"{code('/iam create-key ' + f['user_name'] + ' --reason ...', 120)}."),
    Why.KEY_TRY_AGAIN: lambda f: (
        f"Another access key for {code(f['user_name'])} is being made right now, so the bot cannot yet tell "
        "which key is this request's. Nothing was shown. Press *Reveal access key* again in a minute."
        if f.get("busy") else
        f"AWS did not say whether the key for request #{f['request_id']} was made, so the bot deleted any key it "
        "may have made (nobody saw it). Press *Reveal access key* again in a minute."),
    Why.REASON_MISSING: lambda f: (
        f"Say why after `--reason`, for example `/iam {f['verb']} jane.doe --reason left the company`."),
    Why.USER_OUTSIDE_PATH: lambda f: (
        f"{code(f['user_name'])} lives under the path {code(f['path'])}, outside {code(f['user_path'])} where the "
        "bot manages users; the bot leaves it alone. Ask whoever administers that path in AWS."),
    Why.USER_PROTECTED: lambda f: (
        f"{code(f['user_name'])} is protected (IAM_BOT_PROTECTED_USERS: a break-glass admin); the bot never "
        "removes, disables or resets it. Change it in AWS directly, with the account's own procedure."),
    Why.USER_IS_THE_BOT: lambda f: (
        f"{code(f['user_name'])} is the AWS identity the bot itself runs as; the bot never removes or disables "
        "it. Change it in AWS directly."),
    Why.USER_NO_OWNER: lambda f: (
        f"The bot cannot tell whose user {code(f['user_name'])} is: it has no `iam-bot:owner-slack-id` tag and "
        f"nobody here has the e-mail {escape(f['email'])}. Tag the user in AWS with its owner's Slack id, then ask "
        "again."),
    Why.ALREADY_ENABLED: lambda f: (
        f"{code(f['user_name'])} already has a console password, so there is nothing to enable. For a new "
        f"password, type {code('/iam reset-password ' + f['user_name'], 120)}."),
    Why.AWS_FAILED: lambda f: escape(f["problem"]),
    Why.CANCEL_WHICH: lambda f: "Name the request to withdraw by its number, for example `/iam cancel 12`.",
    Why.AUDIT_TAKES_NOTHING: lambda f: "`/iam audit` takes nothing after it: type just `/iam audit`.",
    Why.NOT_REQUESTER: lambda f: (
        f"You can only withdraw a request you filed, and #{f['request_id']} is not one of yours. Nothing changed."),
    Why.NOT_CANCELLABLE: lambda f: (
        f"Request #{f['request_id']} is already {escape(f['state'])}; only a request still waiting for approval "
        "can be withdrawn."),
    Why.STATUS_NOT_ALLOWED: lambda f: (
        f"Only approvers, and the person {code(f['user_name'])} is for, can see its requests."),
    Why.AUDIT_NOT_ALLOWED: lambda f: "Only approvers can run `/iam audit`.",
    Why.REPORT_NOT_READY: lambda f: (
        "AWS is still generating the credential report; nothing is wrong. Try `/iam audit` again in a minute."),
    Why.ADD_WHICH: lambda f: (
        "Name the user and at least one group, with a reason, for example "
        "`/iam add jane.doe Admins --for 2h --reason incident 42`; to end a time-bound membership now, "
        "`/iam drop jane.doe Admins`."),
    Why.BAD_DURATION: lambda f: (
        f"{code(f['word'] or '--for', 40)} is not a duration: use a number and m, h, d or w, for example "
        "`--for 30m`, `--for 4h`, `--for 2d` or `--for 1w`."),
    Why.GRANT_TOO_SHORT: lambda f: (
        f"The shortest time-bound membership is {escape(f['minimum'])} (IAM_BOT_GRANT_MIN): ask for at least that."),
    Why.GRANT_TOO_LONG: lambda f: (
        f"The rules allow {code(f['group'])} for at most {escape(f['limit'])}: ask for that or less, and ask again "
        "with Extend when it runs out."),
    Why.GROUP_NOT_STANDING: lambda f: (
        f"The rules allow {code(f['group'])} only for a while: add `--for` with a duration"
        + (f" of at most {escape(format_duration(f['limit']))}" if f.get('limit') else "")
        + ", for example `--for 2h`."),
    Why.GROUP_NOT_STANDING_ON_CREATE: lambda f: (
        f"The rules allow {code(f['group'])} only for a while, never as a standing membership: create the user "
        f"without it, then {code('/iam add ' + f['user_name'] + ' ' + f['group'] + ' --for 2h --reason ...', 200)}."),
    Why.ALREADY_IN_GROUP: lambda f: (
        f"{code(f['user_name'])} is already in {code(f['group'])}"
        + (f" until {when(f['grant'].ends_at)} (request #{f['grant'].request_id}): use *Extend* in the DM its owner "
           "gets before the end to keep it longer." if f.get('grant') else ": nothing to add.")),
    Why.GROUP_LIMIT: lambda f: (
        f"IAM allows a user in at most {f['limit']} groups, and {code(f['user_name'])} is in {len(f['groups'])} "
        f"({listing(f['groups'], budget=800) if f['groups'] else 'none'}): adding {f['asked']} more would pass it. "
        "Drop one first."),
    Why.NO_LIVE_GRANT: lambda f: (
        f"{code(f['user_name'] or 'The user')} has no membership of {code(f['group'] or 'that group')} that the bot "
        "granted (for a while or for good) and could end now. A membership added outside the bot is removed in AWS."),
    Why.GRANT_NOT_YOURS: lambda f: (
        f"Only the person {code(f['user_name'])} is for, or an approver, can end its membership of "
        f"{code(f['group'])}. Nothing changed."),
    Why.EXTENSION_OPEN: lambda f: (
        f"An extension of {code(f['group'])} for {code(f['user_name'])} is already waiting (request "
        f"#{f['request_id']})."),
    Why.BREAK_GLASS_REFUSED: lambda f: _glass_refused(f),
    Why.NOT_SELF_APPROVED: lambda f: (
        f"Request #{f['request_id']} was not approved by a rule at filing"
        + (f" or is {escape(f['state'])} now" if f.get('state') else "") + ": nothing to review or revoke here."),
    Why.REVIEW_NOT_YOURS: lambda f: (
        f"You asked for request #{f['request_id']} yourself: a second person must review it. Nothing changed."
        if f.get('own') else
        f"Only an approver can review or revoke request #{f['request_id']}. Nothing changed."),
    Why.ALREADY_REVIEWED: lambda f: f"Request #{f['request_id']} was reviewed already.",
    Why.DROP_MFA_GROUP: lambda f: (
        f"{code(f['group'])} is the MFA group (IAM_BOT_MFA_GROUP): it is how MFA is enforced, so the bot never "
        "drops it."),
    Why.REVIEW_WHICH: lambda f: (
        "Type `/iam review start` (every group the rules name), `/iam review start Admins Developers`, "
        "`/iam review report` (the latest review) or `/iam review report 3`."),
    Why.REVIEW_NOT_ALLOWED: lambda f: f"Only approvers can run `/iam review {escape(f.get('what') or 'start')}`.",
    Why.REVIEW_NOTHING: lambda f: _review_nothing(f),
    Why.REVIEW_UNKNOWN: lambda f: (
        f"There is no access review #{f['campaign_id']}; `/iam review report` shows the latest."
        if f.get("campaign_id") else "There is no access review yet: start one with `/iam review start`."),
    Why.REVIEW_NOT_REVIEWER: lambda f: (
        f"Only the reviewers of {code(f['group'])} decide about its members "
        f"({listing([mention(r) for r in f.get('reviewers') or ()], budget=400) or 'nobody is named'}). Nothing changed."),
    Why.REVIEW_OWN_USER: lambda f: (
        f"You own {code(f['user_name'])}, so another reviewer decides whether it stays in {code(f['group'])}. "
        "Nothing changed."),
    Why.REVIEW_CLOSED: lambda f: (
        f"Access review #{f['campaign_id']} closed {when(f['closed_at'])}; its decisions stand. Nothing changed."),
    Why.REVIEW_DECIDED: lambda f: _review_decided(f),
}


_DECISION_WORDS = {
    "kept": "kept", "removed": "removed", "already_removed": "found already removed", "removing": "is removing",
    "deadline_reported": "reported at the deadline", "deadline_removed": "removed at the deadline",
    "deadline_disabled": "disabled at the deadline", "left_alone": "left alone at the deadline",
    "deadline_failed": "could not be changed at the deadline",
}


def decision_words(decision: str | None) -> str:
    return _DECISION_WORDS.get(decision or "", escape(decision or "undecided"))


def _review_decided(f: dict) -> str:
    who = mention(f["decider_id"]) if f.get("decider_id") else "the bot"
    return (f"{code(f.get('user_name') or '')} was decided already: {who} "
            f"{decision_words(f.get('decision'))} it. Nothing changed.")


def _review_nothing(f: dict) -> str:
    if f.get("missing"):
        return (f"AWS has no group {listing(f.get('named') or (), budget=300)}; "
                "check the name and try again. No review started.")
    if f.get("named") and f.get("mfa_group"):
        return (f"{code(f['mfa_group'])} is the MFA group (IAM_BOT_MFA_GROUP): it is never reviewed. "
                "Name other groups.")
    return ("There is nothing to review: name the groups, for example `/iam review start Admins`, "
            "or give them rules in the rules file.")


_GLASS = {
    Verdict.NO_RULE: "the rules have no `[break_glass]`",
    Verdict.NOT_LISTED: "you are not among the people the rules let break glass",
    Verdict.NOT_COVERED: "break-glass does not cover {group}",
    Verdict.NOT_TIME_BOUND: "break-glass is only for a while: add `--for` with a duration",
    Verdict.TOO_LONG: "break-glass lasts at most {limit}",
    Verdict.NO_REASON: "say why with `--reason`",
    Verdict.OWNER: "break-glass is only for your own IAM user, and {user} is not yours",
}


def _glass_refused(f: dict) -> str:
    ruling = f["ruling"]
    limit = ruling.limit if isinstance(ruling.limit, dt.timedelta) else None
    why = _GLASS.get(ruling.why, escape(ruling.why.value)).format(
        group=code(ruling.group or ""), limit=escape(format_duration(limit)) if limit else "", user=code(f["user_name"]))
    return (f"You cannot break glass: {why} (rule {escape(ruling.rule)}). Ask for approval instead: the same "
            "command without `--break-glass`. Nothing changed.")


def _is_key(facts: dict) -> bool:
    request = facts.get("request")
    return facts.get("kind", getattr(request, "kind", None)) == "access_key"


def say(error: CommandError) -> str:
    """The words for an expected failure."""
    return _SAY[error.why](error.facts)


_PERSON_WORDS = {
    Reason.NOT_APPROVER: "you are not one of the approvers named in IAM_BOT_APPROVERS",
    Reason.OTHER_WORKSPACE: "your account belongs to another Slack workspace",
    Reason.BOT: "bots cannot approve requests",
    Reason.DELETED: "your Slack account is deactivated",
    Reason.GUEST: "guest accounts cannot approve requests",
    Reason.REQUESTER: "you asked for it, and a second person must decide",
    Reason.OWNER: "the account is for you, and a second person must decide",
    Reason.ALREADY_APPROVED: "you already approved it, and this sensitive request needs a second, different approver",
    Reason.NOT_NEEDED: "the groups you approve for have their approvals already",
}
# With a rules file, the approvers are the file's, not IAM_BOT_APPROVERS.
_RULES_WORDS = {**_PERSON_WORDS, Reason.NOT_APPROVER: "the rules do not name you among its approvers"}


def refusal(reason: Reason, request_id: int, state: str, *, verb: str = "decide", rules_file: bool = False) -> str:
    """Why a click on a request's card changed nothing (`rules_file`: the approvers are a rules file's)."""
    if reason is Reason.EXPIRED or state == "expired":
        return f"Request #{request_id} has expired; ask for it again with /iam create."
    if reason is Reason.NOT_PENDING:
        return f"Request #{request_id} is already {escape(state)}; nothing changed."
    if reason is Reason.NOT_FAILED:
        return f"Request #{request_id} is {escape(state)}, not failed; nothing to retry."
    return f"You cannot {verb} request #{request_id}: {(_RULES_WORDS if rules_file else _PERSON_WORDS)[reason]}."


SLACK_BUSY = ("Slack is busy right now, so the bot could not check who may approve. Nothing changed; "
              "try again in a minute.")
OTHER_WORKSPACE = "This bot serves only its own Slack workspace; nothing was done."
UNREADABLE = "The bot could not read that request from Slack; nothing was done. Try again from the message or command."
STORE_DOWN = "The bot cannot reach its database; nothing was done, try again in a minute."
