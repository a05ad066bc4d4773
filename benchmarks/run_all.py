"""Every benchmark, one after the other, each in a process of its own (so each measures its own memory):
the CLI's start-up, the rules engine, the API efficiency of the three connectors, the full resync
through the daemon, one cycle of nine accounts on three replicas against one (PostgreSQL), and the state
store at 100,000 and 1,000,000 contacts (the rescore of every contact at 100,000 only: at 1,000,000 it alone
takes 7 to 12 minutes on a quiet machine, more on a busy one; `state_store.py --sizes 1000000` runs it).

    python benchmarks/run_all.py                 # what `make bench` runs: the sizes each benchmark defaults to
    python benchmarks/run_all.py --quick         # small sizes, a few minutes: a smoke run of the benchmarks

The full resync's defaults are the issue's (100,000 contacts, documented rate limits on): about half an
hour, most of it Pipedrive's pacing of one update call per person (see its docstring); `--quick` is the way
to check that every benchmark still runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmarks(quick: bool) -> list[list[str]]:
    if quick:
        return [["cli_startup.py", "--runs", "5"],
                ["rules_bench.py", "--contacts", "5000", "--stream", "20000"],
                ["api_efficiency.py", "1000"],
                ["engine_reads.py", "200"],
                ["full_resync.py", "--contacts", "3000", "--memory-at", "900"],
                ["replicas.py", "--contacts", "50"],
                ["state_store.py", "--sizes", "2000", "10000"]]
    return [["cli_startup.py"], ["rules_bench.py"], ["api_efficiency.py"], ["engine_reads.py"], ["full_resync.py"],
            ["replicas.py"],
            ["state_store.py", "--sizes", "100000", "1000000", "--operations", "idle_cycle", "sla_sweep"],
            ["state_store.py", "--sizes", "100000"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: check that every benchmark runs")
    args = parser.parse_args()
    failed = []
    for script, *rest in benchmarks(args.quick):
        print(f"\n=== {script} {' '.join(rest)}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / script), *rest])
        print(f"=== {script}: exit {code} in {time.perf_counter() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
