"""Slack mrkdwn: the one place that escapes text and keeps it inside Slack's limits.

In mrkdwn `&`, `<` and `>` are control characters, so anything that came from a person or
from AWS goes through `escape` (or `code`) exactly once, and `<!channel>` or a spoofed link
reads literally. Lists are cut with "and N more" rather than letting Slack refuse a message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

ELLIPSIS = "…"


def escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def code(text: object, limit: int = 200) -> str:
    """`text` as an escaped code span, shortened to `limit` characters of what was typed."""
    return "`" + escape(clip(str(text).replace("`", "'"), limit)) + "`"


def mention(user_id: str | None) -> str:
    if user_id and not (user_id[:1] in "UW" and user_id.isalnum() and user_id.isupper()):
        return f"*{escape(user_id)}*"  # not a Slack person: `iam-bot`, when the bot asked by itself
    return f"<@{user_id}>" if user_id else "the bot"


def approver(approver_id: str) -> str:
    """An IAM_BOT_APPROVERS entry as a mention that notifies: a person, or a user group (S...)."""
    return f"<!subteam^{approver_id}>" if approver_id.startswith("S") else mention(approver_id)


def channel(channel_id: str) -> str:
    return f"<#{channel_id}>"


def when(moment: dt.datetime | None) -> str:
    """Slack renders this in each reader's own time zone."""
    if moment is None:
        return "never"
    epoch = int(moment.timestamp())
    fallback = moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short}} at {{time}}|{fallback}>"


def listing(items: Iterable[object], *, budget: int, show: Callable[[object], str] = code,
            most: int | None = None) -> str:
    """Items shown one by one while they fit in `budget` characters (and `most`), then "and N more"."""
    items = list(items)
    shown: list[str] = []
    used = 0
    for index, item in enumerate(items):
        text = show(item)
        rest = len(items) - index - 1
        tail = len(f", and {rest} more") if rest else 0
        if (most is not None and len(shown) >= most) or used + len(text) + 2 + tail > budget:
            break
        shown.append(text)
        used += len(text) + 2
    hidden = len(items) - len(shown)
    if not shown:
        return f"{hidden} item{'s' if hidden != 1 else ''}"
    return ", ".join(shown) + (f", and {hidden} more" if hidden else "")


def duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"
