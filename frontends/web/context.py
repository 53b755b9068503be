"""Access to the Postroom the application serves."""

from __future__ import annotations

from flask import current_app

from postroom.core.app import Postroom


def current_postroom() -> Postroom:
    postroom: Postroom = current_app.extensions["postroom"]
    return postroom
