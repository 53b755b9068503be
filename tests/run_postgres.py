"""Run the test suite against PostgreSQL, or say in one line why not (tox -e postgres)."""

import os
import sys

import pytest

if __name__ == "__main__":
    if not os.environ.get("POSTROOM_TEST_DATABASE_URL"):
        print("postgres: skipped, POSTROOM_TEST_DATABASE_URL is not set")
        sys.exit(0)
    sys.exit(pytest.main(sys.argv[1:]))
