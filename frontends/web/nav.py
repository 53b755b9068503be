"""The main menu's links (and the dashboard's), built once per mount point rather than
on every page.

Every page shows the menu (about twenty links); building each with ``url_for`` cost
more than some pages' own work. The links take no arguments, so they depend only on
where the application is mounted (``request.script_root``, the same for every request
behind one proxy): they are built the first time a page asks under that root and kept.
Who sees which link is decided in ``base.html``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from flask import Flask, current_app, request, url_for

#: the menu's name for a link -> its endpoint
LINKS = {
    "home": "portal.home",
    "dashboard": "portal.dashboard",
    "price": "rates_pages.price",
    "track": "tracking_pages.lookup",
    "shipments": "tracking_pages.shipments",
    "products": "products.index",
    "billing": "billing_pages.index",
    "shop": "shop_pages.catalog",
    "support": "support.index",
    "chat": "chat.start_page",
    "help": "help.index",
    "api_reference": "apiref.reference",
    "profile": "account.profile",
    "users": "account.users",
    "api_keys": "account.api_keys",
    "kiosk_operators": "kiosk_admin.operators",
    "console": "console.queue",
    "live_chats": "chat.console",
    "knowledge_base": "help.staff",
    "sign_in": "account.sign_in",
    "register": "account.register",
    "sign_out": "account.sign_out",
    "language": "i18n.choose_language",
    # the dashboard's links to the areas' pages
    "register_product": "products.register",
    "orders": "shop_pages.orders",
    "open_case": "support.open_case",
}
#: the menu's name for a static file every page loads -> the file
FILES = {"style": "style.css", "favicon": "favicon.svg", "menu_script": "nav.js"}


def init_app(app: Flask) -> None:
    app.extensions["postroom_nav"] = {}
    app.context_processor(_menu_links)


def _menu_links() -> dict[str, Any]:
    built: dict[str, MappingProxyType[str, str]] = current_app.extensions["postroom_nav"]
    root = request.script_root
    links = built.get(root)
    if links is None:
        urls = {name: url_for(endpoint) for name, endpoint in LINKS.items()}
        urls.update((name, url_for("static", filename=file)) for name, file in FILES.items())
        links = built[root] = MappingProxyType(urls)
    return {"nav": links}
