"""Slack mrkdwn: the one place that escapes text and keeps it inside Slack's limits.

In mrkdwn `&`, `<` and `>` are control characters, so anything that came from a person or
from AWS goes through `escape` (or `code`) exactly once, and `<!channel>` or a spoofed link
reads literally; a bidirectional control (U+202E) shows as `[U+202E]` instead of turning words
around. Lists are cut with "and N more" rather than letting Slack refuse a message.

People's own words (reasons, deny reasons, the names in their mentions) never go into mrkdwn:
`typed` shows them as a `plain_text` object, as typed, where the bot's bold and emoji cannot reach.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable

ELLIPSIS = "…"


# Bidirectional controls make words read otherwise than typed (U+202E turns the rest of a line
# around), and other control characters can hide or move text: each is shown as its code point.
_UNSEEN = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f\x7f]")
# Slack sends a slash command's "@bob" and "#general" as `<@U123|bob>` and `<#C123|general>`.
_NAMED = re.compile(r"<([@#])[A-Z0-9]+\|([^<>|]*)>")


def visible(text: str) -> str:
    """Every control character shown as its code point (`[U+202E]`), so none can act unseen."""
    return _UNSEEN.sub(lambda m: f"[U+{ord(m[0]):04X}]", text)


def escape(text: object) -> str:
    """Text for mrkdwn: Slack's three entities, and no control character left to act unseen."""
    text = visible(str(text))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def as_typed(text: object) -> str:
    """A person's words as they typed them: their mentions by name, no control character obeyed."""
    return visible(_NAMED.sub(lambda m: m[1] + m[2], str(text)))


def typed(text: object, limit: int) -> dict:
    """A person's words as a Block Kit `plain_text` object of at most `limit` characters.

    Not mrkdwn, and with `emoji` off, so `*Approved by bob*` or `:white_check_mark:` show as the
    characters typed, never in the bot's own bold and emoji.
    """
    words = as_typed(text) or " "
    shown = clip(words, limit)
    while len(escape(shown)) > limit:  # cut what was typed, never an `&amp;` in half
        over = len(escape(shown)) - limit
        shown = clip(words, len(shown) - -(-over // 5))  # an escaped character is at most 5 long
    return {"type": "plain_text", "text": escape(shown), "emoji": False}


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
