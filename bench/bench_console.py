"""What the support pages cost per request, beside `/healthz` in the same process and run:
the agent console's queue (50 cases a page), a case page, the reports over the period,
and the customer's list of cases, read through the Flask test client (no network, one
thread), on SQLite with CASES cases across channels, departments and statuses.

Run: python bench/bench_console.py [--cases 2000] [--requests 200]
Figures: wall ms per request (p50, p99) and CPU ms per request (process time).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from postroom.core.app import Postroom
from postroom.core.cases.model import Actor, Channel, Department, Priority
from postroom.core.config import Config
from postroom.frontends.web import create_app

PASSWORD = "a long and quiet harbour lantern"


def person(postroom: Postroom, account: str | None, email: str, role: str) -> int:
    if account is None:
        link = postroom.identity.invite_staff(email, role)
    else:
        link = postroom.identity.invite(account, email, role)
    user = postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="Q?",
        security_answer="A",
        phone="+1 212 555 0100",
        language="en",
    )
    return user.id


def fill(postroom: Postroom, count: int) -> tuple[str, str]:
    """``count`` cases on two accounts; the first account's number and a case of it."""
    accounts = [postroom.accounts.create(f"Bench {n}", "US", "USD").number for n in range(2)]
    person(postroom, accounts[0], "owner@bench.example", "owner")
    agent_id = person(postroom, None, "agent@bench.example", "agent")
    agent = Actor.staff(agent_id, "Agent")
    channels, departments, priorities = list(Channel), list(Department), list(Priority)
    number = ""
    for n in range(count):
        account = accounts[n % 2]
        case = postroom.cases.open(
            by=Actor.customer(account, 1, "Owner"),
            customer_number=account,
            subject=f"Case {n}: the meter stops",
            description="It stops after ten pieces.",
            channel=channels[n % len(channels)],
            department=departments[n % len(departments)].value,
            priority=priorities[n % len(priorities)],
        )
        if n % 3 == 0:
            postroom.cases.reply(case.number, "Please restart it.", by=agent)
        number = number or case.number
    return accounts[0], number


def signed_in(app, email: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    page = client.get("/account/sign-in").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    answer = client.post(
        "/account/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.status_code
    return client


def measure(client, path: str, requests: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """p50 and p99 wall ms, and mean CPU ms, of ``requests`` GETs of ``path``."""
    for _ in range(5):  # warm-up: templates compiled, caches filled
        assert client.get(path).status_code == 200, path
    walls: list[float] = []
    cpu_start = time.process_time()
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path)
        walls.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, path
    cpu = (time.process_time() - cpu_start) * 1000 / requests
    walls.sort()
    return statistics.median(walls), walls[int(0.99 * (len(walls) - 1))], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = Config.load({}, data_dir=Path(folder), secret_key="bench")
        with Postroom.open(config=config, migrate_schema=True) as postroom:
            started = time.perf_counter()
            _account, number = fill(postroom, args.cases)
            print(f"{args.cases} cases opened in {time.perf_counter() - started:.1f} s")
            app = create_app({}, postroom=postroom)
            agent = signed_in(app, "agent@bench.example")
            owner = signed_in(app, "owner@bench.example")
            rows = [
                ("/healthz", app.test_client()),
                ("/console?view=all", agent),
                ("/console?view=department&department=billing&priority=high", agent),
                (f"/console/cases/{number}", agent),
                ("/console/reports", agent),
                ("/support", owner),
            ]
            print("| path | p50 ms | p99 ms | CPU ms/request |")
            print("|---|---:|---:|---:|")
            for path, client in rows:
                p50, p99, cpu = measure(client, path, args.requests)
                print(f"| `{path}` | {p50:.1f} | {p99:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
