"""The request store on SQLite or PostgreSQL: requests, the event log, durable jobs, leases."""

from __future__ import annotations

from .store import (
    APPROVED, CANCELLED, CREATE_USER, DENIED, EXPIRED, FAILED, GROUP_ADD, GROUP_DROP, GROUP_EXTEND, LIVE_STATES, PENDING, PROVISIONED, PROVISIONED_STATES,
    REMOVE, REMOVED, REVEAL_EXPIRED, REVEALED, REVEALING, DuplicateRequest, Event, Grant, Job, NewJob, Request,
    RequestNotFound, Store, StoreError, StoreUnavailable,
)
from .postgres_store import PostgresStore
from .sqlite_store import SQLiteStore
from .store import HOLD_APPROVER, HOLD_DISABLE, KeyHold
from .reviews import DUE_CAMPAIGN, DUE_DEADLINE, DUE_REMIND, Campaign, ReviewItem
from .urls import parse_database_url

__all__ = [
    "APPROVED", "CANCELLED", "CREATE_USER", "DENIED", "EXPIRED", "FAILED", "GROUP_ADD", "GROUP_DROP", "GROUP_EXTEND", "LIVE_STATES", "PENDING", "PROVISIONED",
    "PROVISIONED_STATES", "REMOVE", "REMOVED", "REVEAL_EXPIRED", "REVEALED", "REVEALING", "DuplicateRequest", "Event", "Grant",
    "Job", "NewJob", "Request", "RequestNotFound", "Store", "StoreError", "StoreUnavailable", "open_store",
    "parse_database_url", "HOLD_APPROVER", "HOLD_DISABLE", "KeyHold",
    "DUE_CAMPAIGN", "DUE_DEADLINE", "DUE_REMIND", "Campaign", "ReviewItem",
]


def open_store(database_url: str, *, pool_size: int | None = None) -> Store:
    """The store that DATABASE_URL names, migrated and ready. `pool_size` bounds PostgreSQL connections."""
    kind, target = parse_database_url(database_url)
    if kind == "sqlite":
        return SQLiteStore(target)
    return PostgresStore(target) if pool_size is None else PostgresStore(target, pool_size=pool_size)
