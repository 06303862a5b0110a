"""moto's credential report, filled in where moto leaves it short of AWS's.

moto's GetCredentialReport has no row for the root user, never records password use, and
always says it was generated in 2015. `ReportFiller` is a botocore `after-call` hook on one
IAM client that adds the root row, sets any cell of any user's row (a password last used, a
key's age as AWS would hold it), and dates the report. The shell and the tests use it; `iam-bot
serve` never imports it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable

ROOT = "<root_account>"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S+00:00"  # as the report writes times


def report_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime(TIME_FORMAT)


class ReportFiller:
    def __init__(self, client, *, root_mfa: bool = True, root_keys: int = 0,
                 generated: Callable[[], dt.datetime] | None = None):
        self.root_mfa, self.root_keys = root_mfa, root_keys
        self.generated = generated or (lambda: dt.datetime.now(dt.timezone.utc))
        self.cells: dict[str, dict[str, str]] = {}
        client.meta.events.register("after-call.iam.GetCredentialReport", self)

    def set(self, user: str, **cells: str | dt.datetime) -> None:
        """Cells of `user`'s row, by the report's column names; times may be datetimes."""
        row = self.cells.setdefault(user, {})
        for column, value in cells.items():
            row[column] = report_time(value) if isinstance(value, dt.datetime) else value

    def __call__(self, parsed: dict, **_) -> None:
        content = parsed.get("Content")
        if content is None:
            return
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        reader = csv.DictReader(io.StringIO(text))
        columns = list(reader.fieldnames or [])
        rows = list(reader)
        for row in rows:
            row.update(self.cells.get(row.get("user"), {}))
        if columns and not any(row.get("user") == ROOT for row in rows):
            rows.insert(0, self._root(columns, rows))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        parsed["Content"] = out.getvalue().encode("utf-8")
        parsed["GeneratedTime"] = self.generated()

    def _root(self, columns: list[str], rows: list[dict]) -> dict:
        account = rows[0]["arn"].split(":")[4] if rows and rows[0].get("arn", "").count(":") >= 5 else "123456789012"
        root = {column: "N/A" for column in columns}
        root.update({
            "user": ROOT, "arn": f"arn:aws:iam::{account}:root", "user_creation_time": "2020-01-01T00:00:00+00:00",
            "password_enabled": "not_supported", "password_last_used": "no_information",
            "password_last_changed": "not_supported", "password_next_rotation": "not_supported",
            "mfa_active": "true" if self.root_mfa else "false",
            "access_key_1_active": "true" if self.root_keys >= 1 else "false",
            "access_key_2_active": "true" if self.root_keys >= 2 else "false",
            "cert_1_active": "false", "cert_2_active": "false",
        })
        if self.root_keys >= 1:
            root["access_key_1_last_rotated"] = "2020-01-01T00:00:00+00:00"
        root.update(self.cells.get(ROOT, {}))
        return root
