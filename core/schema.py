"""Every table of every area, for Alembic's autogenerate and for schema checks.

An area adds its store module here when it adds tables.
"""

from postroom.core import instance
from postroom.core.db import metadata
from postroom.core.rates import store as rates_store

__all__ = ["instance", "metadata", "rates_store"]
