"""SQLite storage for iam-bot: the request store, the event log, migrations."""

from .store import (
    APPROVED, CANCELLED, DENIED, EXPIRED, FAILED, LIVE_STATES, PENDING, PROVISIONED, PROVISIONED_STATES, REVEAL_EXPIRED, REVEALED, REVEALING,
    TERMINAL_STATES, DuplicateRequest, Event, Request, RequestNotFound, Store, StoreError, path_from_url,
)

__all__ = [
    "APPROVED", "CANCELLED", "DENIED", "EXPIRED", "FAILED", "LIVE_STATES", "PENDING", "PROVISIONED", "PROVISIONED_STATES",
    "REVEAL_EXPIRED", "REVEALED", "REVEALING", "TERMINAL_STATES", "DuplicateRequest", "Event", "Request",
    "RequestNotFound", "Store", "StoreError", "path_from_url",
]
