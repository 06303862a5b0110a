"""The IAM operations the bot's code calls, read from its source."""

import re
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent.parent


def operations_in_source(*files: Path) -> set[str]:
    """Every `self.client.<method>(` and paginator in the gateways (`commands/iam*.py`), as IAM operation names."""
    source = "\n".join(path.read_text() for path in (files or sorted((ROOT / "commands").glob("iam*.py"))))
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    mapping = client.meta.method_to_api_mapping
    methods = set(re.findall(r"self\.client\.(\w+)\(", source)) - {"get_paginator"}
    methods |= set(re.findall(r'get_paginator\("(\w+)"\)', source))
    unknown = methods - set(mapping)
    assert not unknown, f"not IAM methods: {unknown}"
    return {mapping[m] for m in methods}
