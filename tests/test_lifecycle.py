"""Every state change is a named transition (commands/lifecycle.py), made by its one function."""

import pathlib
import re

import storage
from commands import lifecycle

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_only_the_lifecycle_calls_the_stores_transition():
    calls = [str(path.relative_to(ROOT))
             for folder in ("bot", "commands") for path in sorted((ROOT / folder).rglob("*.py"))
             for line in path.read_text().splitlines() if re.search(r"\.transition\(", line)]
    assert calls == ["commands/lifecycle.py"]


def test_every_transition_moves_between_the_stores_states():
    states = {storage.PENDING, storage.APPROVED, storage.DENIED, storage.EXPIRED, storage.CANCELLED, storage.FAILED,
              storage.PROVISIONED, storage.REVEALING, storage.REVEALED, storage.REVEAL_EXPIRED, storage.REMOVED}
    assert len(lifecycle.TRANSITIONS) > 20
    for transition in lifecycle.TRANSITIONS:
        assert transition.from_states and set(transition.from_states) <= states, transition
        assert transition.to_state in states and transition.event and transition.what, transition
