"""A request records its account (issue 23), on SQLite and PostgreSQL: one live request per
name and kind holds per account, so a leaver's removals in two accounts are both filed."""

import pytest

import storage
from storage import DuplicateRequest
from tests.support.stores import NOW, store, url  # noqa: F401 (fixtures)


def removal(store, account=None):
    return store.file_request(user_name="jane.doe", groups=[], console=False, owner_id="U0JANE",
                              requester_id="U0ALICE", team_id="T0TEAM", now=NOW, kind=storage.REMOVE,
                              account=account)


def test_a_request_records_its_account_and_one_live_holds_per_account(store):
    default, staging = removal(store), removal(store, "staging")
    assert default.account is None and staging.account == "staging"
    assert store.get(staging.id).account == "staging"
    with pytest.raises(DuplicateRequest) as twice:
        removal(store, "staging")
    assert twice.value.existing_id == staging.id
    with pytest.raises(DuplicateRequest):
        removal(store)
