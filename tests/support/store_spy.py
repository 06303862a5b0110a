"""What a store was asked: every statement run through it, with its parameters and rows (tests,
the store-growth benchmark)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from storage.store import Tx


@dataclass
class Asked:
    statements: list[tuple[str, list, list[dict]]] = field(default_factory=list)

    def request_ids(self) -> set[int]:
        """The requests whose rows came back from any statement."""
        return {row["id"] for _, _, rows in self.statements for row in rows if "user_name_key" in row}

    def clear(self) -> None:
        self.statements.clear()


@contextlib.contextmanager
def spying(store):
    """Record what `store` runs inside the block."""
    asked = Asked()
    originals = {name: getattr(store, name) for name in ("_read", "_write")}

    def spied(original):
        @contextlib.contextmanager
        def transaction(*args, **kwargs):
            with original(*args, **kwargs) as tx:
                def run(sql, params, _tx=tx):
                    rows, count = _tx._run(sql, params)
                    asked.statements.append((sql, list(params), rows))
                    return rows, count
                yield Tx(run)
        return transaction

    for name, original in originals.items():
        setattr(store, name, spied(original))
    try:
        yield asked
    finally:
        for name in originals:
            delattr(store, name)
