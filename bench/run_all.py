"""Every benchmark, one after another, in one command (``make bench``).

Prints Markdown tables (with the machine, date and load average at each
section) that paste into docs/benchmarks.md. Takes about 10-15 minutes on
a 2-core machine; each part also runs alone (see its own --help).

    uv run python bench/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import build_bench
import coldstart_bench
import consumer_bench
import e2e_bench
import normalise_bench
import router_bench
from common import header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and fewer runs (a smoke test)"
    )
    args = parser.parse_args()
    started = time.monotonic()
    header("fanout-hub benchmarks")
    normalise_bench.run(normalise_bench.DEFAULT_BASELINE_REF, rounds=3 if args.quick else 7, top=12)
    router_bench.run(
        10.0,
        [10, 100] if args.quick else [10, 100, 1000, 10000],
        1024,
        50 if args.quick else 200,
        subscribed=not args.quick,
        sweep_ms=[0, 10] if args.quick else [0, 10, 50],
    )
    coldstart_bench.run(runs=3 if args.quick else 7)
    build_bench.run(runs=1 if args.quick else 3)
    e2e_bench.run(items=10 if args.quick else 40)
    consumer_bench.run(messages=20 if args.quick else consumer_bench.DEFAULT_MESSAGES)
    print(f"\n# all benchmarks: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
