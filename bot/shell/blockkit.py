"""Would Slack take these blocks, this view, this ack? The stand-in for Slack asks here.

Slack refuses a message whose blocks break Block Kit's rules (`invalid_blocks`) and a modal
that does (`invalid_arguments`). slack_sdk's models know those rules: each block goes
through `Block.parse(...)` and `.to_dict()`, which validates the nested objects too (a
button's confirm text over 300 characters, a section over 3000). A few rules slack_sdk does
not check (a modal's title, its submit button beside inputs) are added here.

Each check returns None when Slack would take the thing, else Slack's error code and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 40_000


@dataclass(frozen=True)
class Refusal:
    """Slack's error code, and what a developer needs to fix it."""

    error: str
    why: str

    def __str__(self) -> str:
        return f"{self.error}: {self.why}"


def blocks_refusal(blocks) -> Refusal | None:
    """Blocks of a message (chat.*, response_url, an ack), as Slack judges them."""
    if blocks is None:
        return None
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return Refusal("invalid_blocks_format", "blocks is not JSON")
    if not isinstance(blocks, list):
        return Refusal("invalid_blocks_format", "blocks must be a JSON array")
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        return Refusal("invalid_blocks", f"{len(blocks)} blocks; a message holds at most {MAX_MESSAGE_BLOCKS}")
    for i, block in enumerate(blocks):
        why = _block_problem(block)
        if why:
            return Refusal("invalid_blocks", f"blocks[{i}]: {why}")
    return None


def text_refusal(text) -> Refusal | None:
    if text is not None and not isinstance(text, str):
        return Refusal("invalid_arguments", "text must be a string")
    if text and len(text) > MAX_TEXT:
        return Refusal("msg_too_long", f"text of {len(text)} characters; at most {MAX_TEXT}")
    return None


def message_refusal(params: dict) -> Refusal | None:
    """A message's text and blocks, as chat.postMessage, chat.update and response_url judge them."""
    return text_refusal(params.get("text")) or blocks_refusal(params.get("blocks"))


def view_refusal(view, *, kind: str = "modal") -> Refusal | None:
    """A view for views.open / views.update / views.push (kind "modal") or views.publish ("home")."""
    from slack_sdk.models.views import View

    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            return Refusal("invalid_arguments", "view is not JSON")
    if not isinstance(view, dict):
        return Refusal("invalid_arguments", "view must be a JSON object")
    if view.get("type") != kind:
        return Refusal("invalid_arguments", f"view type must be {kind!r}, not {view.get('type')!r}")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= MAX_VIEW_BLOCKS:
        return Refusal("invalid_arguments", f"a view holds 1 to {MAX_VIEW_BLOCKS} blocks")
    for i, block in enumerate(blocks):
        why = _block_problem(block)
        if why:
            return Refusal("invalid_arguments", f"blocks[{i}]: {why}")
    if kind == "modal":
        if not view.get("title"):
            return Refusal("invalid_arguments", "a modal needs a title")
        if not view.get("submit") and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks):
            return Refusal("invalid_arguments", "a modal with input blocks needs a submit button")
    try:
        View(**view).to_dict()
    except Exception as error:
        return Refusal("invalid_arguments", _reason(error))
    return None


def ack_refusal(body) -> Refusal | None:
    """An HTTP 200 ack's JSON body: the message it carries, or the view of a response_action."""
    if isinstance(body, (bytes, str)):
        if not body or not body.strip():
            return None
        try:
            body = json.loads(body)
        except ValueError:
            return None  # plain text: Slack shows it as it is
    if not isinstance(body, dict):
        return None
    action = body.get("response_action")
    if action in ("update", "push"):
        return view_refusal(body.get("view"))
    if action == "errors":
        errors = body.get("errors")
        if not isinstance(errors, dict) or not errors:
            return Refusal("invalid_arguments", "response_action errors needs an errors object")
        return None
    if action is not None:
        return None if action == "clear" else Refusal("invalid_arguments", f"unknown response_action {action!r}")
    return message_refusal(body)


def _block_problem(block) -> str | None:
    from slack_sdk.models.blocks import Block

    if not isinstance(block, dict):
        return "a block must be a JSON object"
    try:
        parsed = Block.parse(block)
        if parsed is None:
            return f"unknown block type {block.get('type')!r}"
        parsed.to_dict()
    except Exception as error:
        return _reason(error)
    return None


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:300]
