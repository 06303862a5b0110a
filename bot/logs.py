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

from pythonjsonlogger.json import JsonFormatter

CHATTY = ("slack_sdk", "slack_bolt", "urllib3", "botocore", "boto3", "werkzeug")
BOLT_LOGGER = "slack_bolt.App"

_URL = re.compile(r"\b(https?)://([^/\s'\"<>]+)([^\s'\"<>]*)")
_TOKEN = re.compile(r"\b(xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]+")


def configure_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level if level in logging._nameToLevel else "INFO",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    use_log_format()  # LOG_FORMAT=json (issue 21): below
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


# -- LOG_FORMAT=json (issue 21) ---------------------------------------------------------------
# Every line one JSON object: time (ISO 8601, UTC), level, logger, message, and where known the
# apology's `reference` and the `request_id`, from the record's `extra=` or else read from the
# message's own words ("(reference 1a2b3c4d)", "request #12"). The record is redacted where it
# is made (above), and a traceback when it is formatted.

_REFERENCE = re.compile(r"\breference `?([0-9a-f]{8})\b")
_REQUEST_ID = re.compile(r"\brequest #(\d+)", re.IGNORECASE)


class JsonLogFormatter(JsonFormatter):
    def __init__(self, *args, **kwargs):
        super().__init__("%(levelname)s %(name)s %(message)s", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"}, json_ensure_ascii=False)

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        message = record.getMessage()
        for field, pattern in (("reference", _REFERENCE), ("request_id", _REQUEST_ID)):
            value = getattr(record, field, None)
            if value is None:
                found = pattern.search(message)
                value = found[1] if found else None
            if value is not None:
                log_record[field] = int(value) if field == "request_id" else str(value)
        # `time` first, as a reader scans it.
        ordered = {"time": log_record.pop("time")}
        ordered.update(log_record)
        log_record.clear()
        log_record.update(ordered)

    def formatException(self, ei) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))


def json_logs() -> bool:
    return os.environ.get("LOG_FORMAT", "text").strip().lower() == "json"


def use_log_format() -> None:
    """With LOG_FORMAT=json, the root's handlers write JSON lines; otherwise nothing changes."""
    if json_logs():
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonLogFormatter())


def gunicorn_logconfig() -> dict | None:
    """For gunicorn's `logconfig_dict` under LOG_FORMAT=json: its own lines (and uvicorn's, which use
    its handlers) as JSON on stderr like the app's, no access log, the root left writing to stderr."""
    if not json_logs():
        return None
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLogFormatter}},
        "handlers": {"error_console": {"class": "logging.StreamHandler", "formatter": "json",
                                       "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"handlers": ["error_console"], "level": "INFO", "propagate": False},
                    "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}},
        "root": {"handlers": ["error_console"], "level": level if level in logging._nameToLevel else "INFO"},
    }
