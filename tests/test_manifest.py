"""manifest.yml asks Slack for what the code uses: a bot scope for every Web API method it calls
(by Slack's published method list, /work/shared/slack), every event a feature listens to, and the
Home tab, since there is an App Home."""

import re
from pathlib import Path

import yaml

from bot.shell.slack import slack_methods

ROOT = Path(__file__).resolve().parent.parent
CALL = re.compile(r"\.((?:chat|conversations|users|usergroups|views|auth)_[A-Za-z_]+)\b")  # called, or handed to Notifier.call
EVENTS = re.compile(r"events=\{([^}]*)\}")
# Slack's 2020 method list names the old split scope; today's bot token asks for chat:write.
TODAY = {"chat:write:bot": "chat:write", "chat:write:user": "chat:write"}


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def code() -> str:
    return "\n".join(path.read_text() for path in (ROOT / "bot").rglob("*.py") if "shell" not in path.parts)


def called() -> set[str]:
    methods = slack_methods()
    names = {match.replace("_", ".") for match in CALL.findall(code())}
    return {name for name in names if name in methods}


def test_every_web_api_method_the_bot_calls_has_its_scope():
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    methods = called()
    assert {"chat.postMessage", "views.publish", "chat.getPermalink", "views.open"} <= methods
    for method in sorted(methods):
        allowed = {TODAY.get(scope, scope) for scope in slack_methods()[method]["scopes"]}
        assert "none" in allowed or allowed & scopes, f"{method} needs one of {sorted(allowed)}"


def test_every_event_a_feature_listens_to_is_subscribed():
    listened = {name for block in EVENTS.findall(code()) for name in re.findall(r'"([a-z_]+)":', block)}
    assert listened == {"user_change", "app_home_opened"}
    assert set(manifest()["settings"]["event_subscriptions"]["bot_events"]) == listened


def test_the_home_tab_is_on_and_the_dms_stay_readable():
    home = manifest()["features"]["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is True
