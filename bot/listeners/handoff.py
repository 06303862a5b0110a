"""Acks first, in the request's own thread; a click's slow part on the listener pool.

The app runs Bolt with `process_before_response`: Slack's request is answered the moment its
listener returns, with no hand-off to another thread and no 10 ms poll for the ack (Bolt's
default mode polls). So every listener returns quickly: a slash command parses, writes itself
down and acks (its slow part is the Runner's durable work, bot/work.py); an event is written
down, then acked; a button click acks here and does the rest (the store, Slack and AWS calls)
on the listener pool, where no ack waits for it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable

from ..services import services

log = logging.getLogger(__name__)

# What Bolt gives a listener by name, and so what a part run after the ack may ask for.
GIVEN = ("body", "action", "view", "respond", "client", "context")


def after_ack(part: Callable[..., None]) -> Callable[..., None]:
    """A listener that acks at once, then runs `part` on the listener pool with the arguments it names."""
    wanted = inspect.getfullargspec(part).args
    unknown = sorted(set(wanted) - set(GIVEN))
    if unknown:
        raise TypeError(f"{part.__name__} asks for {', '.join(unknown)}; a part run after the ack gets only {GIVEN}")

    def listener(ack, body, action, view, respond, client, context) -> None:
        ack()
        given = {"body": body, "action": action, "view": view, "respond": respond, "client": client,
                 "context": context}
        later(context, part, {name: given[name] for name in wanted})

    listener.__name__ = listener.__qualname__ = part.__name__
    listener.__doc__ = part.__doc__
    return listener


def later(context, part: Callable[..., None], arguments: dict) -> None:
    """Run `part(**arguments)` on the listener pool, after this request is answered."""
    services(context).listeners.submit(_run, part, arguments)


def _run(part: Callable[..., None], arguments: dict) -> None:
    try:
        part(**arguments)
    except Exception:
        # The parts answer people themselves (bot/replies.answering); this is the last resort.
        log.exception("the %s listener failed after its ack", part.__name__)
