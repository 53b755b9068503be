"""``postroom users``: the people who sign in to the portal, and staff (an admin's tool:
whoever runs the CLI on the installation)."""

from __future__ import annotations

from typing import Any

import click

from postroom.core.clock import iso_utc
from postroom.core.identity.model import User
from postroom.frontends.cli.options import account_option as shared_account_option
from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import CliState, emit, pass_state

PORTAL_ROLES = ("owner", "admin", "user")
STAFF_ROLES = ("agent", "supervisor", "account-manager", "admin")


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "account": user.account_number,
        "staff": user.staff,
        "role": user.role,
        "status": user.status,
        "language": user.language,
        "created_at": iso_utc(user.created_at),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no users"
    lines = [f"{'ID':>5}  {'EMAIL':<32} {'ROLE':<16} {'STATUS':<10} NAME"]
    lines += [
        f"{r['id']:>5}  {r['email']:<32} {r['role']:<16} {r['status']:<10} {r['name']}"
        for r in rows
    ]
    return "\n".join(lines)


def _scope(account: str | None, staff: bool) -> str | None:
    """The customer account the command works in (None: staff); exactly one is given."""
    if staff == (account is not None):
        raise click.UsageError("give either --account NUMBER or --staff")
    return account


account_option = shared_account_option(
    required=False,
    param="account",
    help="Customer account number (10 digits); or --staff.",
    when_missing="",
)
staff_option = click.option("--staff", is_flag=True, help="Staff instead of a customer account.")


@click.group()
def users() -> None:
    """Portal users of customer accounts, and staff."""


@users.command("list")
@account_option
@staff_option
@json_option
@pass_state
def list_(state: CliState, account: str | None, staff: bool, as_json: bool) -> None:
    """List the users of a customer account (--account) or the staff (--staff)."""
    number = _scope(account, staff)
    identity = state.postroom().identity
    if number is None:
        found = identity.staff()
    else:
        state.postroom().accounts.get(number)  # an unknown account is an error, not []
        found = identity.users(number)
    emit([user_json(u) for u in found], as_json, _table)


@users.command()
@account_option
@staff_option
@click.option("--email", required=True, help="The person's email address (their login).")
@click.option(
    "--role",
    required=True,
    help="owner|admin|user, or agent|supervisor|account-manager|admin for staff.",
)
@click.option(
    "--language",
    type=click.Choice(["en", "fr"]),
    default="en",
    show_default=True,
    help="The language of the invitation (the person may change it later).",
)
@json_option
@pass_state
def add(
    state: CliState,
    account: str | None,
    staff: bool,
    email: str,
    role: str,
    language: str,
    as_json: bool,
) -> None:
    """Invite a person: an email with a single-use link to choose their password."""
    number = _scope(account, staff)
    identity = state.postroom().identity
    issued = (
        identity.invite_staff(email, role, language=language)
        if number is None
        else identity.invite(number, email, role, language=language)
    )
    emit(user_json(issued.user), as_json, lambda d: f"invited {d['email']} as {d['role']}")


@users.command()
@account_option
@staff_option
@click.option("--email", required=True, help="The person's email address.")
@json_option
@pass_state
def remove(state: CliState, account: str | None, staff: bool, email: str, as_json: bool) -> None:
    """Remove a person: their sessions and links end at once (an account keeps an owner)."""
    number = _scope(account, staff)
    identity = state.postroom().identity
    person = identity.by_email(email)
    removed = identity.remove(number, person.id)
    emit(user_json(removed), as_json, lambda d: f"removed {d['email']}")


@users.command("set-role")
@account_option
@staff_option
@click.option("--email", required=True, help="The person's email address.")
@click.option("--role", required=True, help="The new role.")
@json_option
@pass_state
def set_role(
    state: CliState, account: str | None, staff: bool, email: str, role: str, as_json: bool
) -> None:
    """Change a person's role (an account keeps at least one owner)."""
    number = _scope(account, staff)
    identity = state.postroom().identity
    person = identity.by_email(email)
    changed = identity.set_role(number, person.id, role)
    emit(user_json(changed), as_json, lambda d: f"{d['email']} is now {d['role']}")
