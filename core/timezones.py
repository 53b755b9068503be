"""Time zones of people and customer accounts: the usual zone of a country, and IANA
zone names checked against this machine's tz database. Kernel: every area may use it."""

from __future__ import annotations

import zoneinfo
from functools import cache

from babel.core import get_global

from postroom.core.errors import ValidationError

#: The zone most of a country's people live in, where it has several or Babel's first
#: listed zone is not that one; other countries take Babel's territory zones.
MAIN_TIME_ZONE = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
    "DE": "Europe/Berlin",
    "BE": "Europe/Brussels",
    "CH": "Europe/Zurich",
    "LU": "Europe/Luxembourg",
    "ES": "Europe/Madrid",
    "IT": "Europe/Rome",
    "NL": "Europe/Amsterdam",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City",
    "RU": "Europe/Moscow",
}


@cache
def time_zones() -> frozenset[str]:
    """Every IANA zone this machine's tz database knows."""
    return frozenset(zoneinfo.available_timezones())


def default_time_zone(country: str) -> str:
    """The usual zone of an ISO country (``FR`` → ``Europe/Paris``), UTC when unknown."""
    code = country.upper()
    if code in MAIN_TIME_ZONE:
        return MAIN_TIME_ZONE[code]
    zones = get_global("territory_zones").get(code, ())
    return next(
        (zone for zone in zones if zone in time_zones() and not zone.startswith("Etc/")), "UTC"
    )


def parse_time_zone(text: object) -> str:
    """An IANA time zone name (``Europe/Paris``); ``invalid_time_zone`` otherwise."""
    clean = text.strip() if isinstance(text, str) else ""
    if clean not in time_zones():
        raise ValidationError(
            f"{text!r} is not an IANA time zone such as Europe/Paris",
            code="invalid_time_zone",
            field="time_zone",
        )
    return clean
