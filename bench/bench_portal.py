"""The signed-in dashboard under load on `postroom serve` (waitress), side by side with
`/healthz` on the same server in the same run, and the argon2id cost of a sign-in.

A fresh data directory gets the demo (its funded customer, meter, contracts, card and
portal owner); `postroom serve` runs in its own process; CLIENTS threads, each on its
own keep-alive connection, ask for one path as fast as the server answers for SECONDS.
The dashboard is read by the demo's owner with her session cookie, as a browser would.

Run: python bench/bench_portal.py [--clients 16] [--seconds 30] [--threads 8] [--processes 1]
                                  [--hashes 50] [--sign-ins 100]
Target (issue #13): dashboard >= 0.25 x healthz requests/s, dashboard p99 < 150 ms.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from bench_signin import hash_costs, sign_ins_per_second

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.demo import load_demo
from postroom.frontends.web.signin import COOKIE

SERVE = [sys.executable, "-m", "postroom.frontends.cli", "serve"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo_owner(data_dir: Path) -> tuple[str, str]:
    """Load the demo into ``data_dir``; the owner's email and password it hands out."""
    facts: dict[str, str] = {}
    config = Config.load({}, data_dir=data_dir)
    with Postroom.open(config=config, migrate_schema=True) as postroom:
        load_demo(postroom, facts=facts)
    email, rest = facts["demo portal owner"].split(", password ", 1)
    return email, rest.split(" ", 1)[0]


def start_server(
    data_dir: Path, port: int, threads: int, processes: int
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "POSTROOM_DATA_DIR": str(data_dir), "POSTROOM_LOG_LEVEL": "WARNING"}
    env.pop("POSTROOM_DATABASE_URL", None)
    process = subprocess.Popen(
        [*SERVE, "--port", str(port), "--threads", str(threads), "--processes", str(processes)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("postroom serve did not answer within 30 s")


def sign_in(port: int, email: str, password: str) -> str:
    """Sign in through the form (CSRF token and all); the Cookie header of the session."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/account/sign-in")
    response = connection.getresponse()
    page = response.read().decode()
    flask_session = response.getheader("Set-Cookie", "").split(";", 1)[0]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None, "no CSRF token on the sign-in page"
    body = urllib.parse.urlencode(
        {"csrf_token": token.group(1), "email": email, "password": password}
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": flask_session}
    connection.request("POST", "/account/sign-in", body, headers)
    response = connection.getresponse()
    response.read()
    assert response.status == 303, f"sign-in answered {response.status}"
    cookies = [c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie") or []]
    session = next(c for c in cookies if c.startswith(f"{COOKIE}="))
    return "; ".join([session, *[c for c in cookies if c.startswith("session=")]])


def load(port: int, path: str, cookie: str, clients: int, seconds: float) -> dict[str, float]:
    """``clients`` threads asking for ``path`` for ``seconds``: requests/s, p50, p99 (ms)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(n: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Cookie": cookie} if cookie else {}
        start.wait()
        mine = latencies[n]
        while True:
            began = time.perf_counter()
            if began >= stop_at[0]:
                break
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures[n] += 1
            mine.append(time.perf_counter() - began)
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for mine in latencies for x in mine)
    if sum(failures):
        raise SystemExit(f"{path}: {sum(failures)} answers were not 200")
    return {
        "requests": len(every),
        "rps": len(every) / elapsed,
        "p50": statistics.median(every) * 1000,
        "p99": every[max(0, int(len(every) * 0.99) - 1)] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=8, help="waitress threads")
    parser.add_argument("--processes", type=int, default=1, help="server processes")
    parser.add_argument("--hashes", type=int, default=50)
    parser.add_argument("--sign-ins", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        email, password = demo_owner(data_dir)
        port = free_port()
        server = start_server(data_dir, port, args.threads, args.processes)
        try:
            cookie = sign_in(port, email, password)
            load(port, "/dashboard", cookie, args.clients, 2)  # warm both paths up
            load(port, "/healthz", "", args.clients, 2)
            health = load(port, "/healthz", "", args.clients, args.seconds)
            board = load(port, "/dashboard", cookie, args.clients, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(
        f"postroom serve (waitress, {args.processes} x {args.threads} threads, SQLite), "
        f"{args.clients} clients "
        f"with keep-alive, {args.seconds:.0f} s per path"
    )
    print(f"{'path':<12}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, figures in (("/healthz", health), ("/dashboard", board)):
        print(
            f"{name:<12}{figures['requests']:>10.0f}{figures['rps']:>10.1f}"
            f"{figures['p50']:>10.1f}{figures['p99']:>10.1f}"
        )
    ratio = board["rps"] / health["rps"]
    met = ratio >= 0.25 and board["p99"] < 150
    print(
        f"dashboard/healthz throughput {ratio:.2f} (target >= 0.25), dashboard p99 "
        f"{board['p99']:.1f} ms (target < 150): {'met' if met else 'MISSED'}"
    )

    costs = hash_costs(args.hashes)
    print(
        f"argon2id m=19456 KiB t=2 p=1: median {statistics.median(costs):.1f} ms per hash "
        f"({args.hashes} verifications, one thread)"
    )
    threads = os.cpu_count() or 1
    rate = sign_ins_per_second(args.sign_ins, threads)
    print(f"sign-ins through pr.identity.sign_in: {rate:.1f}/s with {threads} threads")


if __name__ == "__main__":
    main()
