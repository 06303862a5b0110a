"""Quoting what a person typed inside the messages we send back.

Messages are Slack mrkdwn, where `&`, `<` and `>` are control characters: anything typed
by a person is escaped, so `<!channel>` or a spoofed link reads literally.
"""


def escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote(text: object, limit: int = 80) -> str:
    """`text` as a code span, escaped and shortened."""
    text = str(text).replace("`", "'")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "`" + escape(text) + "`"
