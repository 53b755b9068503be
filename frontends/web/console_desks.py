"""``/console/desks``: which staff members serve which departments' queues and who takes
new cases now (the routing gives a new case to the least-loaded available agent of its
department). Supervisors and staff admins only; anyone else gets 404."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from postroom.core.cases.model import Department
from postroom.core.errors import PostroomError
from postroom.frontends.web.case_messages import error_text
from postroom.frontends.web.case_terms import SUPERVISORS
from postroom.frontends.web.console import staff_actor
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import roles_required

bp = Blueprint("console_desks", __name__, url_prefix="/console/desks")


@bp.get("")
@roles_required(*SUPERVISORS)
def index() -> str:
    pr = current_postroom()
    desks = {agent.user_id: agent for agent in pr.cases.agents(by=staff_actor())}
    people: list[dict[str, Any]] = [
        {
            "id": user.id,
            "name": user.name or user.email,
            "role": user.role,
            "departments": {d.value for d in desks[user.id].departments}
            if user.id in desks
            else set(),
            "available": desks[user.id].available if user.id in desks else False,
        }
        for user in pr.identity.staff()
    ]
    return render_template(
        "console/desks.html", people=people, departments=[d.value for d in Department]
    )


@bp.post("/<int(max=999999999):user_id>")
@roles_required(*SUPERVISORS)
def save(user_id: int) -> Response:
    """Put a staff member on the ticked departments' desks, available or not."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        current_postroom().cases.set_agent(
            user_id,
            departments=request.form.getlist("department"),
            available=request.form.get("available") == "1",
            by=staff_actor(),
        )
    except PostroomError as error:
        if error.code == "staff_not_found":
            abort(404)
        flash(error_text(error), "error")
    else:
        flash(_("Desks saved."), "success")
    return redirect(url_for("console_desks.index"), code=303)
