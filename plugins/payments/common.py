"""What the built-in payment sources share: reading instrument fields and deterministic
references (the same idempotency key always answers the same reference)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from postroom.core.errors import ValidationError

MAX_FIELD = 140


def field(instrument: Mapping[str, str], name: str, *, required: bool = True) -> str:
    """The stripped text of ``name``; ``missing_field`` when required and absent or empty."""
    value = instrument.get(name, "")
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text", code="invalid_field", field=name)
    value = value.strip()
    if len(value) > MAX_FIELD:
        raise ValidationError(f"{name} is too long", code="invalid_field", field=name)
    if required and not value:
        raise ValidationError(f"{name} is required", code="missing_field", field=name)
    return value


def reference(prefix: str, *parts: str) -> str:
    """A stable reference derived from ``parts`` (idempotency key, instrument...)."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:24]
    return f"{prefix}_{digest}"


def holder(instrument: Mapping[str, str]) -> str:
    name = field(instrument, "account_holder")
    if any(ord(char) < 32 for char in name):
        raise ValidationError("account_holder has control characters", code="invalid_field")
    return name


def mask(text: str, keep: int = 4) -> str:
    return "..." + text[-keep:]
