"""Listeners grouped by kind, each group with `register(app)`."""

from slack_bolt import App

from . import actions, audit, keys, offboard, slash, views


def register(app: App) -> None:
    slash.register(app)
    actions.register(app)
    views.register(app)
    keys.register(app)
    audit.register(app)
    offboard.register(app)
