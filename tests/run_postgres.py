"""Run the database-facing tests against PostgreSQL, or say in one line why not (tox -e postgres).

Without arguments: the integration tests that reach the store (``--database-facing``),
minus their SQLite variants and the demo's (the demo is the embedded default's, the
README's first command; it seeds through the same area services whose own tests run
here, and seeding it took a tenth of this pass). Unit tests do no
I/O and the e2e servers run on their own embedded SQLite, so the main run covers them;
arguments replace the default selection. Each pytest-xdist worker runs on a database of
its own beside the named one (tests/conftest.py makes and drops it).
"""

import os
import sys

import pytest

DEFAULT = [
    "tests/integration",
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
