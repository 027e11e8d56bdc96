"""The no-loss chaos run at scale: N stream records through the local hub under injected faults.

    uv run --locked python bench/chaos.py --size 3000 --seed 7            # about 45 min here
    uv run --locked python bench/chaos.py --size 100000 --seed 7          # about a day here
    uv run --locked python bench/chaos.py --size 2000 --rate 0.2          # every fault at 20 %
    uv run --locked python bench/chaos.py --size 2000 --handler-timeout 0.3 --crash-mid-batch 0

Prints the same ledger as tests/e2e/test_no_loss_under_faults.py and exits 1
when anything is lost, applied twice, or differs from the source table.
See docs/reliability.md for the fault model and measured figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time

from fanout.chaos.runner import DEFAULT_RATES, run_chaos
from fanout.chaos.workload import Mix
from fanout.local.faults import FaultRates


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="stream records to write")
    parser.add_argument("--seed", type=int, default=7, help="seeds the workload and every fault")
    parser.add_argument(
        "--rate", type=float, default=None, help="set every fault rate to this (then per-fault)"
    )
    for rate in dataclasses.fields(FaultRates):
        parser.add_argument(
            f"--{rate.name.replace('_', '-')}",
            dest=rate.name,
            type=float,
            default=None,
            help=f"rate of {rate.name} (default {getattr(DEFAULT_RATES, rate.name):g})",
        )
    parser.add_argument("--max-faults-per-item", type=int, default=3)
    for share in dataclasses.fields(Mix):
        parser.add_argument(
            f"--{share.name}",
            dest=f"mix_{share.name}",
            type=float,
            default=share.default,
            help=f"share of {share.name} records (default {share.default:g})",
        )
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait for the hub to go quiet"
    )
    parser.add_argument(
        "--chunk", type=int, default=50, help="records written at a time (default 50)"
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=300,
        help="write the next chunk once at most this many records/messages are in flight "
        "(default 300; -1: drain the hub after every chunk)",
    )
    parser.add_argument(
        "--visibility",
        type=int,
        default=None,
        help="consumer queues' visibility timeout for the run (default: the template's)",
    )
    parser.add_argument(
        "--embedded-moto",
        action="store_true",
        help="run moto in this process (default: a child process, on its own core)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    base = DEFAULT_RATES if args.rate is None else FaultRates.uniform(args.rate)
    rates = dataclasses.replace(
        base,
        **{
            f.name: getattr(args, f.name)
            for f in dataclasses.fields(FaultRates)
            if getattr(args, f.name) is not None
        },
    )
    mix = Mix(**{f.name: getattr(args, f"mix_{f.name}") for f in dataclasses.fields(Mix)})
    # Draining is roughly linear in the records (about 1 s each on a busy 2-core machine).
    timeout = args.timeout or max(600.0, args.size * 3.0)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_XRAY_SDK_ENABLED": "false",
    }.items():
        os.environ.setdefault(name, value)
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}",
        flush=True,
    )
    result = run_chaos(
        args.size,
        args.seed,
        rates,
        mix=mix,
        max_faults_per_item=args.max_faults_per_item,
        timeout=timeout,
        chunk=args.chunk,
        backlog=None if args.backlog < 0 else args.backlog,
        moto_process=not args.embedded_moto,
        visibility_seconds=args.visibility,
        say=lambda text: print(text, flush=True),
    )
    print("\n".join(result.ledger))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
