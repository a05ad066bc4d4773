"""SIGTERM / SIGINT, in-process for the handler logic and against a real subprocess running a tiny daemon
for the whole path: the signal reaches Python, the run in flight sees the stop event, the exit code."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from sync.daemon.signals import GracefulShutdown

BOUND = 15.0  # seconds a subprocess gets to do each step; the steps take well under one

TINY_DAEMON = textwrap.dedent('''
    import sys, threading
    from datetime import timedelta
    from sync.clock import SystemClock
    from sync.daemon.report import RunOutcome, RunSummary
    from sync.daemon.runtime import Daemon
    from sync.daemon.scheduling import AccountJob
    from sync.log import configure_logging

    mode, bound = sys.argv[1], float(sys.argv[2])
    configure_logging(json=True)
    clock = SystemClock()

    def cycle(stop):
        started = clock.now()
        print("batch_started", flush=True)
        if mode == "cooperative":
            stop.wait(60)  # the cycle checks the stop event between pages and batches
            print("batch_checkpointed", flush=True)
        else:
            threading.Event().wait(60)  # a batch that never yields
        return RunSummary(crm="fake", account="main", run_id="r1", started_at=started, finished_at=clock.now(),
                          outcome=RunOutcome.INTERRUPTED)

    daemon = Daemon([AccountJob("fake/main", timedelta(hours=1), timedelta(0), cycle, crm="fake", account="main")],
                    port=0, shutdown_timeout=timedelta(seconds=bound))
    sys.exit(daemon.run())
''')


class Tiny:
    """A daemon subprocess with its stdout lines and stderr JSON log lines readable with a timeout."""

    def __init__(self, mode: str, bound: float = 10.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", TINY_DAEMON, mode, str(bound)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out: queue.Queue[str] = queue.Queue()
        self.events: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.out, False), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.events, True), daemon=True).start()

    @staticmethod
    def _pump(stream, into: queue.Queue[str], is_log: bool) -> None:
        for line in stream:
            if is_log:
                try:
                    line = json.loads(line)["event"]
                except (ValueError, KeyError):
                    line = f"<not json> {line}"
            into.put(line.strip())

    def expect(self, where: queue.Queue[str], wanted: str) -> None:
        seen = []
        deadline = time.monotonic() + BOUND
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = where.get(timeout=left)
            except queue.Empty:
                break
            if line == wanted:
                return
            seen.append(line)
        raise AssertionError(f"{wanted!r} never came; saw {seen}")

    def finish(self) -> int:
        return self.proc.wait(timeout=BOUND)


@pytest.fixture
def tiny() -> Iterator[list[Tiny]]:
    made: list[Tiny] = []
    yield made
    for daemon in made:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_lets_the_batch_in_flight_checkpoint_then_exits_0(tiny, signum):
    daemon = Tiny("cooperative")
    tiny.append(daemon)
    daemon.expect(daemon.out, "batch_started")

    sent = time.monotonic()
    daemon.proc.send_signal(signum)
    daemon.expect(daemon.out, "batch_checkpointed")
    assert daemon.finish() == 0
    assert time.monotonic() - sent < BOUND
    daemon.expect(daemon.events, "shutdown_requested")
    daemon.expect(daemon.events, "run_finished")
    daemon.expect(daemon.events, "shutdown_complete")


def test_a_second_signal_forces_the_exit(tiny):
    daemon = Tiny("stubborn", bound=60)
    tiny.append(daemon)
    daemon.expect(daemon.out, "batch_started")
    daemon.proc.send_signal(signal.SIGTERM)
    daemon.expect(daemon.events, "shutdown_started")
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.finish() == 128 + signal.SIGTERM
    daemon.expect(daemon.events, "shutdown_forced")


def test_a_batch_that_ignores_the_stop_is_abandoned_after_the_bound(tiny):
    daemon = Tiny("stubborn", bound=0.5)
    tiny.append(daemon)
    daemon.expect(daemon.out, "batch_started")
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.finish() == 1
    daemon.expect(daemon.events, "shutdown_timed_out")


def test_handlers_request_once_then_force_and_are_restored():
    requested: list[int] = []
    forced: list[int] = []
    previous = signal.getsignal(signal.SIGTERM)
    with GracefulShutdown(requested.append, force_exit=forced.append, signals=[signal.SIGTERM]) as handlers:
        signal.raise_signal(signal.SIGTERM)
        assert handlers.requested.is_set() and handlers.signum == signal.SIGTERM
        assert requested == [signal.SIGTERM] and forced == []
        signal.raise_signal(signal.SIGTERM)
        assert forced == [128 + signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is previous
