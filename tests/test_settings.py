"""Configuration from the environment."""

import datetime as dt

import pytest

from commands.settings import SettingsError, load_settings

REQUIRED = {"IAM_BOT_APPROVALS_CHANNEL": "C0APPROVALS", "IAM_BOT_APPROVERS": "U0BOB,S0ADMINS"}


@pytest.fixture
def env(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith(("IAM_BOT_", "SLACK_")) or name in ("PORT", "DATABASE_URL"):
            monkeypatch.delenv(name)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults(env):
    settings = load_settings()
    assert settings.iam_bot_approvers == ("U0BOB", "S0ADMINS")
    assert settings.iam_bot_request_ttl == dt.timedelta(hours=24)
    assert settings.iam_bot_user_path == "/" and settings.port == 3000
    assert settings.database_url == "sqlite:///iam-bot.db"
    assert settings.slack_api_url == "https://slack.com/api/"


def test_settings_are_frozen(env):
    settings = load_settings()
    with pytest.raises(Exception):
        settings.port = 1


def test_secrets_do_not_show_in_repr(env):
    env.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    settings = load_settings()
    assert "xoxb-very-secret" not in repr(settings) and "xoxb-very-secret" not in str(settings)


@pytest.mark.parametrize("name, value, says", [
    ("IAM_BOT_REQUEST_TTL", "soon", "IAM_BOT_REQUEST_TTL is malformed"),
    ("IAM_BOT_REVEAL_TTL", "0h", "IAM_BOT_REVEAL_TTL is malformed"),
    ("IAM_BOT_APPROVERS", "bob", "IAM_BOT_APPROVERS is malformed"),
    ("IAM_BOT_APPROVERS", " , ", "IAM_BOT_APPROVERS is malformed"),
    ("IAM_BOT_APPROVALS_CHANNEL", "#iam", "IAM_BOT_APPROVALS_CHANNEL is malformed"),
    ("IAM_BOT_USER_PATH", "people", "IAM_BOT_USER_PATH is malformed"),
    ("DATABASE_URL", "mysql://x", "DATABASE_URL is malformed"),
    ("DATABASE_URL", "sqlite:///", "DATABASE_URL is malformed"),
    ("PORT", "http", "PORT is malformed"),
    ("SLACK_API_URL", "slack.com", "SLACK_API_URL is malformed"),
])
def test_a_malformed_value_names_its_variable(env, name, value, says):
    env.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(says)
    assert "\n" not in str(raised.value)


def test_a_missing_value_names_its_variable(env):
    env.delenv("IAM_BOT_APPROVERS")
    with pytest.raises(SettingsError, match="^IAM_BOT_APPROVERS is required but not set$"):
        load_settings()


@pytest.mark.parametrize("value, expected", [("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604800), ("3600", 3600)])
def test_durations(env, value, expected):
    env.setenv("IAM_BOT_REQUEST_TTL", value)
    assert load_settings().iam_bot_request_ttl == dt.timedelta(seconds=expected)


def test_a_postgres_url_is_accepted_and_its_password_not_shown(env):
    env.setenv("DATABASE_URL", "postgres://bot:hunter2-secret@db.example.com:5432/iam")
    settings = load_settings()
    assert settings.database_url.startswith("postgres://bot:")
    assert "hunter2-secret" not in repr(settings) and "hunter2-secret" not in str(settings)
