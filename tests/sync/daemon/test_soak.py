"""Soak: many fake accounts on tight intervals for a bounded time, through the whole daemon (scheduler,
metrics, logs, ops HTTP). Run by `make bench` (marked slow), not by `make test`."""

from __future__ import annotations

import os
import random
import threading
import urllib.request
from collections import Counter
from datetime import timedelta

import pytest

from sync.clock import SystemClock
from sync.daemon.report import RunOutcome, RunSummary
from sync.daemon.runtime import Daemon
from sync.daemon.scheduling import AccountJob
from sync.log import configure_logging, reset_logging

ACCOUNTS = 60
WORKERS = 4
DURATION = 20.0  # seconds of soak
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class Soak:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: Counter[str] = Counter()
        self.overlaps = 0
        self.runs: Counter[str] = Counter()
        self.rng = random.Random(7)
        self.clock = SystemClock()

    def job(self, index: int) -> AccountJob:
        crm = ("hubspot", "salesforce", "pipedrive")[index % 3]
        account = f"a{index}"
        key = f"{crm}/{account}"

        def cycle(stop: threading.Event) -> RunSummary:
            with self.lock:
                self.active[key] += 1
                if self.active[key] > 1:
                    self.overlaps += 1
                run = self.runs[key]
                pause = self.rng.uniform(0.001, 0.03)
            try:
                stop.wait(pause)  # simulated I/O: returns early when the daemon stops
                if index % 10 == 3 and run % 3 == 0:
                    raise RuntimeError("flaky account")
                outcome = RunOutcome.PARKED if index % 10 == 5 and run % 4 == 0 else RunOutcome.OK
                now = self.clock.now()
                return RunSummary(crm=crm, account=account, run_id=f"{key}-{run}", started_at=now, finished_at=now,
                                  outcome=outcome, pulled=10, pushed=2, api_calls=Counter({"contacts": 1, "push": 1}),
                                  retry_at=now + timedelta(milliseconds=50) if outcome is RunOutcome.PARKED else None)
            finally:
                with self.lock:
                    self.active[key] -= 1
                    self.runs[key] += 1

        return AccountJob(key, timedelta(milliseconds=20), timedelta(milliseconds=10), cycle, crm=crm, account=account)


@pytest.mark.slow
def test_many_accounts_for_a_while_never_overlap_and_memory_stays_flat():
    with open(os.devnull, "w") as sink:
        configure_logging(json=True, stream=sink)
        soak = Soak()
        daemon = Daemon([soak.job(i) for i in range(ACCOUNTS)], port=0, workers=WORKERS,
                        park_check=timedelta(milliseconds=20))
        daemon.start()
        try:
            done = threading.Event()
            done.wait(DURATION / 4)  # warm-up: pools, label sets and caches are built
            baseline = rss_bytes()
            done.wait(DURATION * 3 / 4)
            grown = rss_bytes() - baseline
            scrape = urllib.request.urlopen(daemon.url + "/metrics", timeout=5).read().decode()
        finally:
            assert daemon.shutdown(timedelta(seconds=10))
            reset_logging()  # before the sink closes: a thread's last line must not meet a closed file

    total = sum(soak.runs.values())
    print(f"soak: {total} runs of {ACCOUNTS} accounts in {DURATION:.0f} s on {WORKERS} workers, "
          f"RSS growth after warm-up {grown / 1e6:.1f} MB")
    assert soak.overlaps == 0
    assert len(soak.runs) == ACCOUNTS  # every account ran
    assert total > ACCOUNTS * 10
    assert grown < 16e6, f"memory grew {grown / 1e6:.1f} MB during the soak"
    assert 'crmsync_runs_total{account="a3",crm="hubspot",outcome="failed"}' in scrape
    assert 'outcome="parked"' in scrape
