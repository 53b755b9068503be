"""Sign-in cost: the argon2id hash alone (ms per hash) and whole sign-ins per second
through ``pr.identity.sign_in`` on the embedded SQLite store, from several threads.

Run: python bench/bench_signin.py [--hashes 50] [--sign-ins 200] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.identity.model import PASSWORD_HASHER, Registration

PASSWORD = "correct horse battery staple"


def hash_costs(count: int) -> list[float]:
    stored = PASSWORD_HASHER.hash(PASSWORD)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        PASSWORD_HASHER.verify(stored, PASSWORD)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def sign_ins_per_second(count: int, threads: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        config = Config.load({}, data_dir=folder, secret_key="bench")
        with Postroom.open(config=config, immediate_jobs=True) as pr:
            people = []
            for n in range(threads):
                email = f"bench{n}@example.com"
                issued = pr.identity.register(
                    Registration(
                        email=email,
                        password=PASSWORD,
                        security_question="Q?",
                        security_answer="A",
                        name="Bench",
                        company="Bench",
                        phone="+1 202 555 0143",
                    )
                )
                assert issued is not None
                pr.identity.verify(issued.token)
                people.append(email)

            def sign_in(n: int) -> None:
                # one person per thread and address: the throttle never steps in
                pr.identity.sign_in(people[n % threads], PASSWORD, client=f"10.0.0.{n % threads}")

            start = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(sign_in, range(count)))
            return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hashes", type=int, default=50)
    parser.add_argument("--sign-ins", type=int, default=200)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    costs = hash_costs(args.hashes)
    print(
        f"argon2id m=19456 KiB t=2 p=1: median {statistics.median(costs):.1f} ms, "
        f"p90 {sorted(costs)[int(len(costs) * 0.9) - 1]:.1f} ms per hash "
        f"({args.hashes} verifications, one thread)"
    )
    rate = sign_ins_per_second(args.sign_ins, args.threads)
    print(f"sign-ins: {rate:.1f}/s with {args.threads} threads ({args.sign_ins} sign-ins)")


if __name__ == "__main__":
    main()
