"""The AWS account the work in hand is about (issue 23): set around a command (its `--account`),
a request's durable work and a click on its buttons (the request's account); None: the default
account. A context variable, so each thread and each piece of work has its own."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("iam_bot_account", default=None)


@contextlib.contextmanager
def in_account(name: str | None) -> Iterator[None]:
    token = CURRENT.set(name)
    try:
        yield
    finally:
        CURRENT.reset(token)


def current_account() -> str | None:
    return CURRENT.get()
