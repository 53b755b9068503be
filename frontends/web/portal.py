"""The portal's front page: where a visitor lands, with the installation's state."""

from __future__ import annotations

from flask import Blueprint, render_template

from postroom.frontends.web.context import current_postroom

bp = Blueprint("portal", __name__)


@bp.get("/")
def home() -> str:
    postroom = current_postroom()
    return render_template(
        "home.html",
        health=postroom.health(),
        plugins=postroom.plugins.plugin_infos(),
    )
