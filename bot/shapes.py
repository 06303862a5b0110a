"""The shape of what Slack sends, checked at the HTTP edge before Bolt parses it.

Bolt reads a body into a dict and then indexes into it (`body["user"]["id"]`,
`body["actions"][0]`, `"id" in team`...), building listener arguments before any middleware
runs; a signed but oddly shaped body would end as a 500 with a traceback. Here the body is
parsed exactly as Bolt parses it (`parse_body`, so the two can never disagree), and what Bolt
and our listeners read is checked: known payload types, ids shaped like Slack ids, bounded
strings, lists and dicts where they are expected, no NUL anywhere, bounded nesting.
Anything else is `Malformed`, with a reason that names a field, never a value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from slack_bolt.request.internals import parse_body

MAX_PAYLOAD_CHARS = 256_000  # of the body holding the payload; our cards and modal are a few KB
MAX_DEPTH = 64  # Block Kit rich text nests about a dozen levels
MAX_FORM_FIELDS = 64


class Malformed(ValueError):
    """A signed request whose body is not shaped like anything Slack sends the bot."""


SlackId = Annotated[str, StringConstraints(pattern=r"^[UWBTCGDESA][A-Z0-9]{2,30}$")]
Short = Annotated[str, StringConstraints(max_length=255)]
Url = Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://[!-~]+$")]


class _Shape(BaseModel):
    # Extra keys are Slack's business; only what Bolt or the bot reads is checked, strictly.
    model_config = ConfigDict(extra="allow", strict=True)


class Ref(_Shape):
    id: SlackId


class User(_Shape):
    id: SlackId
    team_id: SlackId | None = None


class Authorization(_Shape):
    team_id: SlackId | None = None
    enterprise_id: SlackId | None = None
    user_id: SlackId | None = None


class ResponseUrl(_Shape):
    response_url: Url


class Action(_Shape):
    action_id: Short
    value: Annotated[str, StringConstraints(max_length=2000)] | None = None
    block_id: Short | None = None


class State(_Shape):
    values: dict[str, dict[str, dict[str, Any]]]


class View(_Shape):
    type: Short | None = None
    callback_id: Short
    private_metadata: Annotated[str, StringConstraints(max_length=3000)] = ""
    state: State = None  # type: ignore[assignment]
    team_id: SlackId | None = None
    app_installed_team_id: SlackId | None = None


class Event(_Shape):
    type: Short
    user: SlackId | Ref | None = None  # an id, or an object in user_change and kin
    user_team: SlackId | None = None
    team: SlackId | None = None
    channel: SlackId | Ref | None = None
    # Custom-function fields make Bolt build a client from them; the bot defines no functions.
    function_execution_id: None = None
    bot_access_token: None = None
    inputs: None = None


class _Payload(_Shape):
    """What Bolt's context builder reads from any payload (slack_bolt.request.internals).

    A default of None on a non-optional type means "absent is fine, null is not": Bolt calls
    `len()` and `.get()` on these when the key is present.
    """

    enterprise: SlackId | Ref | None = None
    enterprise_id: SlackId | None = None
    team: Ref | None = None
    team_id: SlackId | None = None
    user: User | None = None
    user_id: SlackId | None = None
    channel: Ref | None = None
    channel_id: SlackId | None = None
    authorizations: list[Authorization] | None = None
    is_enterprise_install: bool | None = None
    is_ext_shared_channel: bool | None = None
    event: Event = None  # type: ignore[assignment]
    view: View = None  # type: ignore[assignment]
    response_url: Url | None = None
    response_urls: list[ResponseUrl] = None  # type: ignore[assignment]
    trigger_id: Short | None = None
    function_execution_id: None = None
    bot_access_token: None = None
    function_data: None = None


class BlockActions(_Payload):
    type: Literal["block_actions"]
    user: User
    actions: list[Action] = Field(min_length=1, max_length=25)
    # The bot's buttons live in messages, whose clicks carry both, and on its App Home, whose
    # clicks carry a trigger id and the home view but no response_url.
    trigger_id: Short
    response_url: Url | None = None

    @model_validator(mode="after")
    def _answerable(self):
        if self.response_url is None and not (self.view is not None and self.view.type == "home"):
            raise ValueError("a click on a message carries a response_url")
        return self


class SubmittedView(View):
    state: State


class ViewSubmission(_Payload):
    type: Literal["view_submission"]
    user: User
    view: SubmittedView


class ViewClosed(_Payload):
    type: Literal["view_closed"]
    user: User
    view: View


class Shortcut(_Payload):
    type: Literal["shortcut", "message_action"]
    user: User
    callback_id: Short


class UrlVerification(_Payload):
    type: Literal["url_verification"]
    challenge: Short


class EventCallback(_Payload):
    type: Literal["event_callback"]
    team_id: SlackId
    event: Event


class RateLimited(_Payload):
    type: Literal["app_rate_limited"]
    team_id: SlackId


class SlashCommand(_Shape):
    """A form post: every value is a string; Bolt would read `team`/`user`/`channel` first."""

    command: Annotated[str, StringConstraints(pattern=r"^/[a-z0-9_.-]{1,31}$")]
    team_id: SlackId
    user_id: SlackId
    channel_id: SlackId
    text: Annotated[str, StringConstraints(max_length=4000)] = ""
    response_url: Url
    trigger_id: Short
    enterprise_id: SlackId | None = None
    team: None = None
    user: None = None
    channel: None = None
    enterprise: None = None
    view: None = None
    payload: None = None


PAYLOADS: dict[str, type[_Shape]] = {
    "block_actions": BlockActions, "view_submission": ViewSubmission, "view_closed": ViewClosed,
    "shortcut": Shortcut, "message_action": Shortcut,
    "url_verification": UrlVerification, "event_callback": EventCallback, "app_rate_limited": RateLimited,
}


def check(body: bytes, content_type: str | None) -> None:
    """Raise `Malformed` unless the body is shaped like a request Slack sends the bot."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8") from None
    if not text:
        raise Malformed("the body is empty")
    if "\x00" in text:
        raise Malformed("the body holds a NUL byte")
    is_json = content_type == "application/json" or text.startswith("{")
    if not is_json and "payload" not in text:
        _check_form(text)
        return
    if len(text) > MAX_PAYLOAD_CHARS:
        raise Malformed("the payload is too large")
    try:
        parsed = parse_body(text, content_type)
    except RecursionError:
        raise Malformed("the payload nests too deeply") from None
    except ValueError:  # json.JSONDecodeError and parse_qsl's complaints
        raise Malformed("the payload is not JSON") from None
    _check_typed(parsed)


def check_payload(payload: Any) -> None:
    """The same checks for a payload already parsed (Socket Mode hands over dicts, not bodies)."""
    if isinstance(payload, dict) and "command" in payload:
        _check_tree(payload)
        if any(not isinstance(v, str) for v in payload.values()):
            raise Malformed("the slash command holds a field that is not text")
        _validate(SlashCommand, payload)
        return
    _check_typed(payload)


def _check_typed(payload: Any) -> None:
    """A JSON payload: an object, bounded, of a type Slack sends the bot, shaped as that type is."""
    if not isinstance(payload, dict) or not payload:
        raise Malformed("the payload is not a JSON object")
    _check_tree(payload)
    kind = payload.get("type")
    model = PAYLOADS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise Malformed("the payload type is not one Slack sends the bot")
    _validate(model, payload)


def _check_form(text: str) -> None:
    import urllib.parse

    try:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True,
                                       max_num_fields=MAX_FORM_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise Malformed("the body is not a form") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise Malformed("the form repeats a field")
    if any("\x00" in key or "\x00" in value for key, value in pairs):
        raise Malformed("the form holds a NUL byte")
    if "command" not in form:
        raise Malformed("the form is not a slash command")
    _validate(SlashCommand, form)


def _check_tree(tree: Any) -> None:
    """Bounded nesting, no NUL in any key or string: without recursion, whatever the input."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Malformed("the payload nests too deeply")
        if isinstance(node, dict):
            for key, value in node.items():
                if "\x00" in key:
                    raise Malformed("the payload holds a NUL byte")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str) and "\x00" in node:
            raise Malformed("the payload holds a NUL byte")


def _validate(model: type[_Shape], data: dict) -> None:
    try:
        model.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_input=False, include_url=False)[0]
        # loc[0] is always one of the model's declared field names: never attacker text.
        field = first["loc"][0] if first["loc"] else "body"
        raise Malformed(f"field {field!s} is malformed") from None
