"""Rules engine speed: contacts per second on one core, and peak memory when streaming a million contacts.

    python benchmarks/rules_bench.py                      # 50,000 timed, 1,000,000 streamed
    python benchmarks/rules_bench.py --contacts 20000 --stream 0 --json

Contacts come from `population.py` beside this file: `sync.synthetic`'s people (about 20 profile fields,
0-30 events, 0-10 activities, 0-3 deals at times spread over two years) with job titles, timings and needs
as varied as a real export's, in English and French (tens of thousands of distinct titles), so that no
per-text shortcut flatters the figure. They are generated before the clock starts: only `evaluate` is
timed, with the shipped default rules and explanations on (every Decision carries its fired rules and
reason). Two passes are timed:
- first sync: no memory, so every prospect's hand-off moment is searched in its history;
- steady state: with the memory the first pass returned, as the daemon runs every cycle after the first.
The process is pinned to one CPU; rates are by CPU time of the process (best of --repeat), wall-clock rates
beside them. Peak memory is the process's maximum resident set size after evaluating
`--stream` contacts generated lazily, one at a time, the way the daemon pages through a CRM.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone

from population import varied_contacts

from sync.model import Contact
from sync.rules import CompiledRules, ContactMemory, load_rules

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def peak_rss_mb() -> float:
    """This process's peak resident set size. VmHWM where Linux has it: ru_maxrss survives exec on Linux, so
    a child started by a big parent would report the parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "not pinned (no sched_setaffinity)"


def timed(label: str, fn: Callable[[], object], count: int, repeat: int) -> float:
    """Best of `repeat` runs, by CPU time of this process (on a shared machine, wall time also counts the
    time other processes held the core); the wall-clock rate of the same run is printed beside it."""
    best, best_wall = 0.0, 0.0
    for _ in range(repeat):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        rate = count / (time.process_time() - cpu)
        if rate > best:
            best, best_wall = rate, count / (time.perf_counter() - wall)
    print(f"  {label:<30} {best:>9,.0f} contacts/s  ({1e6 / best:.1f} us per contact; wall clock "
          f"{best_wall:,.0f}/s; best of {repeat})")
    return best


def time_in_memory(rules: CompiledRules, contacts: list[Contact], repeat: int) -> tuple[float, float, float]:
    evaluate = rules.evaluate
    first = [evaluate(c, NOW) for c in contacts]
    memories: dict[str, ContactMemory] = {d.contact_id: d.memory for d in first}
    stages = Counter(str(d.stage) for d in first)
    print("stages: " + ", ".join(f"{stage} {n / len(first):.1%}" for stage, n in stages.most_common()))
    print("evaluate, one core, explanations on:")
    cold = timed("first sync (no memory)", lambda: [evaluate(c, NOW) for c in contacts], len(contacts), repeat)
    get = memories.get
    warm = timed("steady state (with memory)", lambda: [evaluate(c, NOW, get(c.id)) for c in contacts],
                 len(contacts), repeat)
    batch = timed("evaluate_many (with memory)", lambda: rules.evaluate_many(contacts, NOW, memories),
                  len(contacts), repeat)
    return cold, warm, batch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50_000, help="contacts timed in memory")
    parser.add_argument("--stream", type=int, default=1_000_000, help="contacts streamed for peak memory (0: skip)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    args = parser.parse_args()

    pinned = pin_to_one_core()
    rules = load_rules(None)
    print(f"rules {rules.version}, {len(rules.scorers)} scoring rules; Python {platform.python_version()} "
          f"({platform.python_implementation()}); {pinned}")
    started = time.perf_counter()
    contacts = list(varied_contacts(args.contacts, now=NOW))
    if contacts:
        print(f"generated {len(contacts):,} contacts in {time.perf_counter() - started:.1f} s (not timed); "
              f"{len({c.job_title for c in contacts}):,} distinct job titles, "
              f"{len({c.fields.get('timing') for c in contacts}):,} distinct timings; "
              f"{sum(len(c.events) for c in contacts) / len(contacts):.1f} events, "
              f"{sum(len(c.activities) for c in contacts) / len(contacts):.1f} activities, "
              f"{sum(len(c.deals) for c in contacts) / len(contacts):.2f} deals per contact")

    cold = warm = batch = 0.0
    if contacts:
        cold, warm, batch = time_in_memory(rules, contacts, args.repeat)
    del contacts

    peak_mb = None
    if args.stream and args.contacts:
        # a fresh process, so its peak is the streaming one and not the in-memory run's above
        child = subprocess.run([sys.executable, __file__, "--contacts", "0", "--stream", str(args.stream), "--json"],
                               check=True, capture_output=True, text=True)
        print(child.stdout.rsplit("\n", 2)[0])
        peak_mb = json.loads(child.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    elif args.stream:
        baseline = peak_rss_mb()
        started = time.perf_counter()
        seen = 0
        page: list[Contact] = []
        for contact in varied_contacts(args.stream, now=NOW):
            page.append(contact)
            if len(page) == 100:  # pages of 100, as a connector delivers them
                seen += len(rules.evaluate_many(page, NOW))
                page = []
        seen += len(rules.evaluate_many(page, NOW))
        elapsed = time.perf_counter() - started
        peak_mb = peak_rss_mb()
        print(f"streamed {seen:,} contacts in pages of 100 (generated and evaluated) in {elapsed:.0f} s; "
              f"peak RSS {peak_mb:,.0f} MB (after loading the rules: {baseline:,.0f} MB)")
    if args.json:
        print(json.dumps({"first_sync_per_s": round(cold), "steady_state_per_s": round(warm),
                          "evaluate_many_per_s": round(batch), "stream": args.stream, "peak_rss_mb": peak_mb}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
