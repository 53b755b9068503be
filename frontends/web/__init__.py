"""The web portal and JSON API: a Flask application factory over one Postroom."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from postroom.core.app import Postroom
from postroom.frontends import kiosk
from postroom.frontends.web import (
    account,
    api,
    api_billing,
    api_cases,
    api_kiosk,
    api_knowledge,
    api_meters,
    api_payments,
    api_postage,
    api_rates,
    api_shop,
    api_tracking,
    api_vault,
    api_webhooks,
    apiref,
    auth,
    billing_pages,
    case_terms,
    chat,
    console,
    console_accounts,
    console_canned,
    console_case,
    console_desks,
    console_reports,
    direct_debit_pages,
    errors,
    health,
    help_centre,
    i18n,
    kiosk_admin,
    limits,
    nav,
    operations,
    portal,
    products,
    rates_pages,
    security,
    shop_pages,
    signin,
    support,
    tracking_pages,
)
from postroom.frontends.web.flask_app import PortalFlask


def create_app(
    config: Mapping[str, Any] | None = None, *, postroom: Postroom | None = None
) -> Flask:
    """Build the application.

    ``postroom`` is the open installation to serve; without one, postroom is
    opened from the settings (``config["DATABASE_URL"]`` or the environment).
    """
    settings = dict(config or {})
    if postroom is None:
        postroom = Postroom.open(settings.pop("DATABASE_URL", None))
    # An explicit instance path: Flask cannot infer one inside a namespace package.
    app = PortalFlask(__name__, instance_path=str(postroom.config.data_dir.resolve()))
    app.config.update(
        SECRET_KEY=postroom.config.resolved_secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=postroom.config.production,
        PERMANENT_SESSION_LIFETIME=8 * 3600,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
        BABEL_DEFAULT_LOCALE=postroom.config.default_locale,
        PREFERRED_URL_SCHEME="https" if postroom.config.production else "http",
    )
    app.config.update(settings)
    app.extensions["postroom"] = postroom
    app.jinja_env.globals["postroom_version"] = postroom.version

    csrf = CSRFProtect(app)
    operations.init_app(app)  # first: its request id and timing wrap every other hook
    i18n.init_app(app)
    nav.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    limits.init_app(app, postroom.config)
    case_terms.init_app(app)

    app.register_blueprint(health.bp)
    app.register_blueprint(i18n.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(kiosk_admin.bp)
    app.register_blueprint(rates_pages.bp)
    app.register_blueprint(products.bp)
    app.register_blueprint(help_centre.bp)
    app.register_blueprint(chat.bp)
    app.register_blueprint(support.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(console_case.bp)
    app.register_blueprint(console_reports.bp)
    app.register_blueprint(console_canned.bp)
    app.register_blueprint(console_desks.bp)
    app.register_blueprint(console_accounts.bp)
    app.register_blueprint(shop_pages.bp)
    app.register_blueprint(billing_pages.bp)
    app.register_blueprint(direct_debit_pages.bp)
    app.register_blueprint(tracking_pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(apiref.bp)
    app.register_blueprint(api_rates.bp)
    app.register_blueprint(api_knowledge.bp)
    app.register_blueprint(api_vault.bp)
    app.register_blueprint(api_meters.bp)
    app.register_blueprint(api_payments.bp)
    app.register_blueprint(api_postage.bp)
    app.register_blueprint(api_tracking.bp)
    app.register_blueprint(api_webhooks.bp)
    app.register_blueprint(api_cases.bp)
    app.register_blueprint(api_kiosk.bp)
    app.register_blueprint(api_shop.bp)
    app.register_blueprint(api_billing.bp)
    if postroom.config.kiosk_served:  # production mounts the kiosk only when told
        app.register_blueprint(kiosk.bp)
    signin.init_app(app)  # before the API's check: it may take the session
    app.before_request(auth.authenticate_request)
    # The API authenticates with bearer tokens, not cookies, so it needs no CSRF token.
    csrf.exempt(api.bp)
    csrf.exempt(api_rates.bp)
    csrf.exempt(api_vault.bp)
    csrf.exempt(api_meters.bp)
    csrf.exempt(api_payments.bp)
    csrf.exempt(api_postage.bp)
    csrf.exempt(api_tracking.bp)
    csrf.exempt(api_webhooks.bp)
    csrf.exempt(api_cases.bp)
    csrf.exempt(api_kiosk.bp)
    csrf.exempt(api_shop.bp)
    csrf.exempt(api_billing.bp)

    postroom.plugins.hook.register_routes(app=app)
    return app
