"""Logging set-up for the entry points.

The Slack SDK and Bolt log whole request and response bodies at DEBUG (response URLs, and
on a reveal the password itself), so their loggers never go below INFO, whatever the root
level is.
"""

import logging
import os

CHATTY = ("slack_sdk", "slack_bolt", "urllib3", "botocore", "boto3", "werkzeug")


def configure_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level if level in logging._nameToLevel else "INFO",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_chatty_loggers()


def quiet_chatty_loggers() -> None:
    for name in CHATTY:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
    logging.getLogger("botocore").setLevel(logging.WARNING)
