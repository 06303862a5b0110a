"""Logging set-up for the entry points, and what keeps secrets out of every log record.

The Slack SDK and Bolt log whole request and response bodies at DEBUG (response URLs, and
on a reveal the password itself), so their loggers never go below INFO, whatever the root
level is. Bolt resets its own loggers to the root level whenever it builds one, so the app
is given `bolt_logger()`, held at INFO, for Bolt to copy instead.

Some lines get through at INFO all the same: slack_sdk's webhook client logs the whole
response_url when it retries (a response_url lets anyone answer as the bot for 30 minutes).
So every log record is redacted where it is made, before any handler (or pytest's caplog)
sees it: URLs keep their scheme and host but lose their path and query, except Web API
method paths (`/api/chat.postMessage`), and Slack tokens (`xoxb-...`, `xapp-...`) lose all
but their prefix. A logging.Filter could not do this: a filter on `slack_sdk` is not run for
records of `slack_sdk.webhook.client`, and a handler's filter misses every other handler.
"""

from __future__ import annotations

import logging
import os
import re

CHATTY = ("slack_sdk", "slack_bolt", "urllib3", "botocore", "boto3", "werkzeug")
BOLT_LOGGER = "slack_bolt.App"

_URL = re.compile(r"\b(https?)://([^/\s'\"<>]+)([^\s'\"<>]*)")
_TOKEN = re.compile(r"\b(xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]+")


def configure_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level if level in logging._nameToLevel else "INFO",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_chatty_loggers()


def quiet_chatty_loggers() -> None:
    """Hold the SDKs' loggers at INFO or above, and redact every record from now on."""
    for name in CHATTY:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    install_redaction()


def bolt_logger() -> logging.Logger:
    """The logger to give Bolt's App: at INFO or above, whatever the root level."""
    logger = logging.getLogger(BOLT_LOGGER)
    logger.setLevel(max(logging.INFO, logging.getLogger().getEffectiveLevel()))
    return logger


def redact(text: str) -> str:
    """The text with response URLs (and any other URL's path) and Slack tokens taken out."""
    return _TOKEN.sub(r"\1-[redacted]", _URL.sub(_redact_url, text))


def _redact_url(match: re.Match) -> str:
    scheme, host, rest = match.groups()
    path = rest.split("?", 1)[0].split("#", 1)[0]
    if path.startswith("/api/") and _TOKEN.search(path) is None:
        return f"{scheme}://{host}{path}"  # a Web API method name says what failed, and holds nothing
    return f"{scheme}://{host}/[redacted]" if rest else f"{scheme}://{host}"


class _RedactingFactory:
    """Wraps the log record factory: the message and any traceback text come out redacted."""

    def __init__(self, previous):
        self.previous = previous

    def __call__(self, *args, **kwargs) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string is the logging module's to report
            return record
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record


def install_redaction() -> None:
    """Idempotent: the factory is wrapped once per process."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(current))
