"""The portal's front page: where a visitor lands. The installation's state (version,
database, worker, plugins) is for its operators only, as on ``/healthz``."""

from __future__ import annotations

from flask import Blueprint, render_template

from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.health import may_see_details

bp = Blueprint("portal", __name__)


@bp.get("/")
def home() -> str:
    """Anyone may read it; the state of the installation only loopback or a token holder."""
    postroom = current_postroom()
    if not may_see_details():
        return render_template("home.html", health=None, plugins=None)
    return render_template(
        "home.html",
        health=postroom.health(),
        plugins=postroom.plugins.plugin_infos(),
    )
