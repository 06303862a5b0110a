"""The App Home's view stays within Slack's 100 blocks whatever a person holds, passes Block Kit's
checks as views.publish judges them, and says how many it left out."""

import datetime as dt

from bot.features.home import MAX_BLOCKS, home_view
from bot.shell.blockkit import view_refusal
from commands.home import HomeFacts, UserFacts, Waiting
from commands.iam import AccessKey
from storage import APPROVED, PENDING, Grant, Request

NOW = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.timezone.utc)


def request(n: int, state: str = PENDING) -> Request:
    return Request(id=n, user_name=f"user{n}", groups=("Developers",), console=True, owner_id="U0JANE",
                   requester_id="U0ALICE", team_id="T0TEAM", state=state, created_at=NOW, updated_at=NOW,
                   card_channel="C0APPROVALS", card_ts=f"1700000000.{n:06d}")


def user(n: int, keys: int = 2, grants: int = 10) -> UserFacts:
    return UserFacts(
        name=f"user{n}", groups=tuple(f"Group{g}" for g in range(10)), console=True, mfa_devices=0,
        keys=tuple(AccessKey(f"AKIA{n:04d}{k:012d}", "Active", NOW - dt.timedelta(days=100), None, None, None)
                   for k in range(keys)),
        grants=tuple(Grant(id=n * 100 + g, request_id=g, user_name=f"user{n}", group=f"Group{g}", started_at=NOW,
                           ends_at=NOW + dt.timedelta(hours=2)) for g in range(grants)))


def summary(r: Request) -> str:
    return f"IAM user `{r.user_name}`"


def facts(users=5, open_=40, waiting=300, approver=True) -> HomeFacts:
    return HomeFacts(person_id="U0BOB", users=tuple(user(n) for n in range(users)), more_users=7,
                     open=tuple(request(n, PENDING if n % 2 else APPROVED) for n in range(open_)),
                     waiting=tuple(Waiting(request(1000 + n), 1 + n % 2) for n in range(waiting)),
                     approver=approver, as_of=NOW)


def texts(view: dict) -> str:
    return "\n".join(str(b.get("text") or b.get("elements")) for b in view["blocks"])


def test_a_full_home_fits_in_a_hundred_blocks_and_says_what_it_left_out():
    links = {1000 + n: f"https://test.slack.com/archives/C0APPROVALS/p{n}" for n in range(300)}
    view = home_view(facts(), summary, links)
    assert len(view["blocks"]) <= MAX_BLOCKS
    assert view_refusal(view, kind="home") is None
    text = texts(view)
    assert "more of your IAM users" in text and "7 more IAM users of yours" in text
    assert "more open requests" in text and "more requests waiting for you" in text
    assert "Waiting for your approval" in text and "needs 2 more approvals" in text and "Open its card" in text


def test_every_size_fits():
    for users in (0, 1, 5):
        for open_ in (0, 1, 17, 40):
            for waiting in (0, 1, 99, 300):
                view = home_view(facts(users, open_, waiting), summary, {})
                assert len(view["blocks"]) <= MAX_BLOCKS and view_refusal(view, kind="home") is None


def test_someone_who_approves_nothing_sees_no_approvals_part():
    view = home_view(facts(users=0, open_=0, waiting=0, approver=False), summary, {})
    assert "Waiting for your approval" not in texts(view) and "Nothing open." in texts(view)
