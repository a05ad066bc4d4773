"""SIGTERM and SIGINT: the first asks for a graceful stop, a second one forces the exit.

A container runtime sends SIGTERM, waits its grace period (10 s by default in Docker, `stop_grace_period`
in compose, `terminationGracePeriodSeconds` in Kubernetes), then SIGKILLs. The first signal therefore
only *requests* the stop: the daemon stops taking work, sets the stop event that the sync cycle checks
between pages and batches (so the batch in flight finishes or checkpoints), waits a bounded time for
the runs in flight, and exits 0. A second signal means the operator will not wait: exit at once with
128 + the signal number, as a shell reports a process killed by it. Either way the state store's
guarantees make the next start converge (a crash never loses or doubles an update).

The handlers only set events: a handler that logs could interrupt a thread in the middle of writing
the same stream (Python raises "reentrant call" then). The daemon's main loop logs the request once it
wakes; the forced exit writes one line with `os.write`, which is safe in a handler.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn, Self

HANDLED = (signal.SIGTERM, signal.SIGINT)


def hard_exit(code: int) -> NoReturn:
    """Exit now, even with worker threads still running (a normal exit would join them and hang)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


class GracefulShutdown:
    """Installs the handlers (main thread only) and restores the previous ones on `restore()`."""

    def __init__(self, on_request: Callable[[int], None] | None = None, *,
                 force_exit: Callable[[int], Any] = hard_exit, signals: Sequence[int] = HANDLED) -> None:
        self.requested = threading.Event()
        self.signum: int | None = None
        self._on_request = on_request
        self._force_exit = force_exit
        self._signals = tuple(signals)
        self._previous: dict[int, Any] = {}

    def install(self) -> Self:
        for signum in self._signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def __enter__(self) -> Self:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested.is_set():
            line = json.dumps({"event": "shutdown_forced", "signal": signal.Signals(signum).name,
                               "level": "warning", "exit_code": 128 + signum})
            try:
                os.write(2, (line + "\n").encode())
            except OSError:
                pass
            self._force_exit(128 + signum)
            return
        self.signum = signum
        self.requested.set()
        if self._on_request is not None:
            self._on_request(signum)
