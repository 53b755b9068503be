"""The ledger's objects as the API and ``postroom vault ... --json`` write them, and the
transaction report as JSON (Money objects) and CSV."""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Final

from postroom.core.errors import ValidationError
from postroom.core.ledger.model import (
    REPORT_CSV_COLUMNS,
    REPORT_TYPE_OF,
    Checkpoint,
    HistoryItem,
    LedgerAccount,
    Problem,
    ReportEntry,
    ReportTotal,
    TransactionReport,
    Transfer,
    VerifyReport,
)
from postroom.core.money import Money
from postroom.frontends.serialise import converter, mills, utc


def ledger_account_json(account: LedgerAccount) -> dict[str, Any]:
    b = account.balances
    return {
        "id": account.id,
        "code": account.code,
        "kind": account.kind.value,
        "currency": account.currency,
        "credit_limit_mills": account.credit_limit,
        "balance_mills": b.balance,
        "available_mills": b.available + account.credit_limit,
        "debits_pending_mills": b.debits_pending,
        "debits_posted_mills": b.debits_posted,
        "credits_pending_mills": b.credits_pending,
        "credits_posted_mills": b.credits_posted,
    }


def transfer_json(transfer: Transfer) -> dict[str, Any]:
    return {
        "seq": transfer.seq,
        "id": transfer.id,
        "debit_account_id": transfer.debit_account_id,
        "credit_account_id": transfer.credit_account_id,
        "amount_mills": transfer.amount,
        "currency": transfer.currency,
        "phase": transfer.phase.value,
        "code": transfer.code.value,
        "pending_id": transfer.pending_id,
        "timeout_at": utc(transfer.timeout_at),
        "batch": transfer.batch,
        "pieces": transfer.pieces,
        "reference": transfer.reference,
        "cost_center": transfer.cost_center,
        "created_at": utc(transfer.created_at),
        "row_hash": transfer.row_hash,
    }


def history_item_json(item: HistoryItem) -> dict[str, Any]:
    """A transfer of a customer's history, amounts in mills (the API names them Money)."""
    t = item.transfer
    return {
        "id": t.id,
        "seq": t.seq,
        "debit": item.debit,
        "credit": item.credit,
        "amount_mills": t.amount,
        "currency": t.currency,
        "phase": t.phase.value,
        "code": t.code.value,
        "type": REPORT_TYPE_OF[t.code].value,
        "pending_id": t.pending_id,
        "timeout_at": utc(t.timeout_at),
        "pieces": t.pieces,
        "reference": t.reference,
        "cost_center": t.cost_center,
        "created_at": utc(t.created_at),
    }


def problem_json(problem: Problem) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(problem)
    return data


def verify_report_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "transfers_checked": report.transfers_checked,
        "accounts_checked": report.accounts_checked,
        "meters_checked": report.meters_checked,
        "problems": [problem_json(problem) for problem in report.problems],
    }


_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """The checkpoint file ``postroom vault checkpoint`` writes."""
    return {
        "format": Checkpoint.FORMAT,
        "seq": checkpoint.seq,
        "row_hash": checkpoint.row_hash,
        "signature": checkpoint.signature,
    }


def checkpoint_from_json(data: object) -> Checkpoint:
    """A checkpoint read back from its file; ValidationError when it is not one."""
    if not isinstance(data, dict) or data.get("format") != Checkpoint.FORMAT:
        raise ValidationError("not a ledger checkpoint", code="invalid_checkpoint")
    seq, row_hash, signature = data.get("seq"), data.get("row_hash"), data.get("signature")
    if (
        type(seq) is not int
        or not 0 <= seq < 2**63
        or not isinstance(row_hash, str)
        or not isinstance(signature, str)
        or not _HEX64.fullmatch(row_hash)
        or not _HEX64.fullmatch(signature)
    ):
        raise ValidationError("the ledger checkpoint is malformed", code="invalid_checkpoint")
    return Checkpoint(seq, row_hash, signature)


def _entry_row(entry: ReportEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "transfer_id": entry.transfer_id,
        "created_at": utc(entry.created_at),
        "type": entry.type.value,
        "code": entry.code.value,
        "account": entry.account,
        "counterparty": entry.counterparty,
        "meter": entry.meter,
        "amount_mills": entry.amount,
        "currency": entry.currency,
        "pieces": entry.pieces,
        "reference": entry.reference,
        "cost_center": entry.cost_center,
    }


def _entry_json(entry: ReportEntry) -> dict[str, Any]:
    row = _entry_row(entry)
    del row["amount_mills"], row["currency"]
    row["amount"] = mills(entry.amount, entry.currency)
    return row


def _total_json(total: ReportTotal) -> dict[str, Any]:
    return {
        "account": total.account,
        "count": total.count,
        "credits": mills(total.credits, total.currency),
        "debits": mills(total.debits, total.currency),
        "net": mills(total.net, total.currency),
    }


def report_json(report: TransactionReport) -> dict[str, Any]:
    """A transaction report for people and programs: amounts as Money objects."""
    cur = report.currency
    return {
        "customer_number": report.customer_number,
        "currency": cur,
        "from": utc(report.since),
        "to": utc(report.until),
        "types": [t.value for t in report.types],
        "meter": report.meter,
        "entries": [_entry_json(e) for e in report.entries],
        "totals": [_total_json(t) for t in report.totals],
        "by_type": [{"type": t.value, "net": mills(n, cur)} for t, n in report.by_type],
        "cost_center": report.cost_center,
        "by_cost_center": [
            {"cost_center": name, "pieces": pieces, "net": mills(net, cur)}
            for name, net, pieces in report.by_cost_center
        ],
    }


def report_csv(report: TransactionReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_CSV_COLUMNS)
    for e in report.entries:
        row = _entry_row(e)
        row["amount"] = Money(e.amount, e.currency).amount
        writer.writerow([_cell(row[c]) for c in REPORT_CSV_COLUMNS])
    return out.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must not run a reference someone typed as a formula.
    return (
        "'" + text
        if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number_like(text)
        else text
    )


def _number_like(text: str) -> bool:
    return text.lstrip("-").replace(".", "", 1).isdigit()
