"""Run the database-facing tests against PostgreSQL, or say in one line why not (tox -e postgres).

Without arguments: the integration tests that reach the store (``--database-facing``),
minus their SQLite variants and the demo's (the demo is the embedded default's, the
README's first command; it seeds through the same area services whose own tests run
here, and seeding it took a tenth of this pass). Unit tests do no
I/O and the e2e servers run on their own embedded SQLite, so the main run covers them;
arguments replace the default selection. The HTML pages' own modules (``PAGE_MODULES``)
are left to the SQLite pass too: what they test is the page (forms, CSRF, escaping,
languages, redirects), and each store query behind them is a service's, tested on
PostgreSQL by that area's own modules. The dashboard's summaries, the identity pages'
sessions and lock-outs, the support console's queue filters (which only the pages
reach) and the direct-debit mandates stay in this pass. Each pytest-xdist worker runs on
a database of its own beside the named one (tests/conftest.py makes and drops it).
"""

import os
import sys

import pytest

PAGE_MODULES = [
    "test_billing_pages",
    "test_products_pages",
    "test_rates_pages",
    "test_shop_pages",
    "test_tracking_pages",
    "test_chat_web",
    "test_web",
    "test_help_centre",
    # the OpenAPI document's checks of request bodies, before any store is reached
    "test_request_schemas",
]

DEFAULT = [
    "tests/integration",
    *(f"--ignore=tests/integration/{module}.py" for module in PAGE_MODULES),
    "-k",
    "not sqlite and not demo",
    "--database-facing",
    "--durations=10",
    "-n",
    "auto",
    "--dist",
    "worksteal",
]

if __name__ == "__main__":
    if not os.environ.get("POSTROOM_TEST_DATABASE_URL"):
        print("postgres: skipped, POSTROOM_TEST_DATABASE_URL is not set")
        sys.exit(0)
    sys.exit(pytest.main(sys.argv[1:] or DEFAULT))
