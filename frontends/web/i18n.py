"""Languages: English and French. The user's choice wins, then Accept-Language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, request, session
from flask_babel import Babel, get_locale, get_translations
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup
from werkzeug.wrappers import Response

LANGUAGES = {"en": "English", "fr": "Français"}

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    best = request.accept_languages.best_match(list(LANGUAGES))
    if best:
        return best
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def select_time_zone() -> str | None:
    """The signed-in person's zone (their choice, else their country's); visitors and
    the JSON API's clients get the default, UTC."""
    user = getattr(g, "identity_user", None)
    return None if user is None else str(user.shown_time_zone)


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, timezone_selector=select_time_zone)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, get_locale=get_locale)
    app.context_processor(translations_for_this_page)


def translations_for_this_page() -> dict[str, Any]:
    """``gettext`` and ``ngettext`` bound to this request's catalogue, once per page.

    Flask-Babel's template globals look the locale and catalogue up again for every
    text (a dozen context-local reads each): a page of 40 texts paid more for that than
    for its database reads. The page's context shadows the globals, with the same
    new-style semantics as Jinja's i18n extension (autoescape-aware, ``%(name)s``)."""
    catalogue = get_translations()
    gettext = _newstyle(catalogue.ugettext)
    # ``_`` too: the i18n extension's ``_`` is a context-passing alias that resolves
    # ``gettext`` again and derives a new context for each text inside a block
    return {
        "_": gettext,
        "gettext": gettext,
        "ngettext": _newstyle_plural(catalogue.ungettext),
        "pgettext": _newstyle_context(catalogue.upgettext),
    }


def _newstyle(translate: Callable[[str], str]) -> Callable[..., str]:
    @pass_eval_context
    def gettext(eval_ctx: EvalContext, text: str, **variables: Any) -> str:
        translated = translate(text)
        if eval_ctx.autoescape:
            translated = Markup(translated)  # noqa: S704 - our catalogue; % escapes the values
        return translated % variables

    return gettext


def _newstyle_context(translate: Callable[[str, str], str]) -> Callable[..., str]:
    @pass_eval_context
    def pgettext(eval_ctx: EvalContext, context: str, text: str, **variables: Any) -> str:
        translated = translate(context, text)
        if eval_ctx.autoescape:
            translated = Markup(translated)  # noqa: S704 - our catalogue; % escapes the values
        return translated % variables

    return pgettext


def _newstyle_plural(translate: Callable[[str, str, int], str]) -> Callable[..., str]:
    @pass_eval_context
    def ngettext(
        eval_ctx: EvalContext, singular: str, plural: str, num: int, **variables: Any
    ) -> str:
        variables.setdefault("num", num)
        translated = translate(singular, plural, num)
        if eval_ctx.autoescape:
            translated = Markup(translated)  # noqa: S704 - our catalogue; % escapes the values
        return translated % variables

    return ngettext


@bp.post("/language")
def choose_language() -> Response:
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
    target = request.form.get("next", "")
    # Only local paths: never redirect a visitor to another site.
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        target = f"{request.script_root}/"  # the home of whichever app serves it (portal, kiosk)
    return redirect(target, code=303)
