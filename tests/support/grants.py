"""Time-bound group membership in tests: a bot whose clock the test moves, with jane.doe made
(request #1, Developers), and the few words the group tests share (tests/test_groups_e2e.py,
test_glass_e2e.py, test_reconcile_e2e.py)."""

from __future__ import annotations

import datetime as dt
import json

from bot.features.groups import ACTION_EXTEND_FOR, ACTION_GRANT_EXTEND, BLOCK_EXTEND_FOR
from bot.shell import payloads
from tests.support.harness import TEAM
from tests.support.stories import provision_jane

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)

# The rules the group tests start from: Admins time-bound only, BillingAdmins denied.
GROUP_RULES = """
[defaults]
approvers = ["U0BOB", "U0CAROL"]

[[group]]
name = "Admins"
standing = false
max_duration = "4h"

[[deny]]
groups = ["BillingAdmins"]
reason = "Ask in #security; not through chat."
"""


def clocked_bot(make_bot, aws, tmp_path, rules: str, groups: tuple[str, ...], *, duty: str = "revoker", **settings):
    """The bot on `rules`, the AWS groups made, jane.doe provisioned; and `at(delta)`, which moves
    the clock to T0 + delta and runs `duty` once, as the duties runner does."""
    for group in groups:
        aws.create_group(GroupName=group)
    path = tmp_path / "rules.toml"
    path.write_text(rules)
    now = [T0]
    bot = make_bot(clock=lambda: now[0], iam_bot_rules_file=str(path), iam_bot_grant_min="1m",
                   iam_bot_grant_warning="5m", iam_bot_revoke_retry="1m", **settings)
    provision_jane(bot)

    def at(delta: dt.timedelta, duty: str = duty) -> None:
        now[0] = T0 + delta
        bot.run_duty(duty)
        bot.settle()

    return bot, at


def groups_of(aws, user: str = "jane.doe") -> set[str]:
    return {g["GroupName"] for g in aws.list_groups_for_user(UserName=user)["Groups"]}


def add(bot, text: str, user: str = "U0ALICE") -> str:
    """What the asker reads: the ack (a typing mistake) and the answer after it."""
    response = bot.slash(user, f"add {text}")
    return response.json().get("text", "") + bot.said(response.response_url)


def extend(bot, slack, user: str, grant_id: int, length: str | None = None):
    """The owner's Extend as Slack carries it: the click, then the form the bot opened submitted
    with `length` typed (None: as the bot filled it in). The form's answer (errors, if any)."""
    opened = len(slack.of("views.open"))
    bot.click(user, ACTION_GRANT_EXTEND, grant_id)
    views = slack.of("views.open")
    if len(views) == opened:
        return None  # refused before the form: the words are in the click's response
    view = views[-1]["view"]
    view = json.loads(view) if isinstance(view, str) else view
    typed = length if length is not None else next(
        b["element"].get("initial_value") for b in view["blocks"] if b.get("block_id") == BLOCK_EXTEND_FOR)
    body = payloads.view_submission(
        user_id=user, user_name=user.lower(), team_id=TEAM, team_domain="test", view=view, view_id="V0EXTEND",
        trigger_id=slack.trigger(user),
        values={BLOCK_EXTEND_FOR: {ACTION_EXTEND_FOR: payloads.text_input(typed)}})
    response = bot.post(body)
    bot.settle()
    return response.json() if response.text.strip() else {}
