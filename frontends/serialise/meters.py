"""Printed pieces, indicium checks, device registers and reset tokens as the API and
``postroom meter ... --json`` write them."""

from __future__ import annotations

from typing import Any

from postroom.core.clock import iso_utc
from postroom.core.meters.device import MeterRegisters as DeviceRegisters
from postroom.core.meters.model import PRODUCTS, Provisioned
from postroom.core.meters.printing import IndiciumCheck, PrintedIndicium
from postroom.core.meters.token_states import TokenStatus
from postroom.core.meters.tokens import ResetToken
from postroom.core.meters.virtual import PrintedPostage
from postroom.frontends.serialise import money
from postroom.frontends.serialise.rates import quote_json


def device_registers_json(registers: DeviceRegisters) -> dict[str, Any]:
    """A device's own registers, in mills."""
    return {
        "serial": registers.serial,
        "currency": registers.control.currency,
        "descending": registers.descending.mills,
        "ascending": registers.ascending.mills,
        "pieces": registers.pieces,
        "control": registers.control.mills,
    }


def printed_indicium_json(printed: PrintedIndicium) -> dict[str, Any]:
    record, registers = printed.piece.record, printed.piece.registers
    priced = quote_json(printed.quote)
    return {
        "total": priced["total"],
        "lines": priced["lines"],
        "table": priced["table"],
        "piece": record.piece,
        "serial": record.serial,
        "mailing_date": record.mailing_date.isoformat(),
        "origin_zip": record.origin_zip,
        "rate_category": record.rate_category,
        "rate_digest": record.rate_digest.hex(),
        "cost_center": printed.cost_center,
        "request_id": printed.request_id,
        "payload": printed.piece.record_bytes.hex(),
        "signature": printed.piece.signature.hex(),
        "symbol": printed.symbol.hex(),
        "registers": device_registers_json(registers),
        "format": printed.image_format,
    }


def indicium_check_json(check: IndiciumCheck) -> dict[str, Any]:
    data: dict[str, Any] = {"valid": check.valid}
    if not check.valid:
        data["error"] = {"code": check.code, "message": check.reason}
    record = check.record
    if record is not None:
        data.update(
            {
                "version": record.version,
                "serial": record.serial,
                "piece": record.piece,
                "postage": money(record.postage),
                "postage_mills": record.postage.mills,
                "mailing_date": record.mailing_date.isoformat(),
                "origin_zip": record.origin_zip,
                "rate_category": record.rate_category,
                "ascending": record.ascending,
                "descending": record.descending,
                "control": record.ascending + record.descending,
                "rate_digest": record.rate_digest.hex(),
            }
        )
    data["payload"] = check.record_bytes.hex()
    data["signature"] = check.signature.hex()
    return data


def printed_postage_json(printed: PrintedPostage) -> dict[str, Any]:
    record = printed.record
    return {
        "serial": printed.serial,
        "piece": printed.piece,
        "postage": money(printed.postage),
        "postage_mills": printed.postage.mills,
        "carrier": printed.carrier,
        "service": printed.service,
        "cost_center": printed.cost_center,
        "idempotency_key": printed.idempotency_key,
        "mailing_date": record.mailing_date.isoformat(),
        "origin_zip": record.origin_zip,
        "ascending": record.ascending,
        "descending": record.descending,
        "rate_digest": record.rate_digest.hex(),
        "payload": printed.record_bytes.hex(),
        "signature": printed.signature.hex(),
        "printed_at": printed.printed_at.isoformat(),
    }


def reset_token_json(reset: ResetToken) -> dict[str, Any]:
    return {
        "serial": reset.serial,
        "sequence": reset.sequence,
        "amount_mills": reset.amount.mills,
        "currency": reset.amount.currency,
        "expires_at": iso_utc(reset.expires_at),
    }


def token_status_json(status: TokenStatus) -> dict[str, Any]:
    applied_at = status.token.device_applied_at
    return {
        **reset_token_json(status.token.reset),
        "state": status.state.value,
        "device_applied_at": None if applied_at is None else applied_at.isoformat(),
    }


def provisioned_json(provisioned: Provisioned) -> dict[str, Any]:
    return {
        "installation_number": provisioned.installation_number,
        "product_code": provisioned.product_code,
        "serial": provisioned.serial,
        "model": PRODUCTS[provisioned.product_code],
        "issued_at": provisioned.issued_at.isoformat(),
        "registered": provisioned.registered,
    }
