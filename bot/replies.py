"""The two tiers of errors at the Slack edge.

Expected ones (CommandError and kin) become the message they carry; anything else is logged
with its traceback under a short reference id, and the person gets an apology naming it.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator

from commands.errors import CommandError
from storage import StoreUnavailable

from .people import SlackBusy
from .words import SLACK_BUSY, STORE_DOWN, say

log = logging.getLogger(__name__)


def apology(reference: str) -> str:
    return (f"Sorry, something went wrong on our side (reference `{reference}`). "
            "Nothing was approved or created by this attempt; try again, or give the reference to whoever runs the bot.")


@contextlib.contextmanager
def answering(reply: Callable[[str], None], what: str) -> Iterator[None]:
    try:
        yield
    except CommandError as error:
        _safely(reply, say(error))
    except SlackBusy:
        _safely(reply, SLACK_BUSY)
    except StoreUnavailable as error:
        log.warning("%s could not reach the database: %s", what, error)
        _safely(reply, STORE_DOWN)
    except Exception:
        reference = secrets.token_hex(4)
        log.exception("%s failed (reference %s)", what, reference)
        _safely(reply, apology(reference))


def _safely(reply: Callable[[str], None], text: str) -> None:
    try:
        reply(text)
    except Exception:
        log.exception("could not tell the person what happened")


def ephemeral(respond) -> Callable[[str], None]:
    """Reply through response_url, visible only to the person who acted."""
    def reply(text: str) -> None:
        respond(text=text, response_type="ephemeral", replace_original=False)
    return reply
