"""The pull window on the shared cursor, and the cursors earlier versions stored, without a server."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import timedelta

import pytest

from connectors.pipedrive.paging import ACTIVITIES, DEALS, PERSONS, PHASE_PERSONS, Window
from sync.errors import PermanentError

OVERLAP = timedelta(seconds=60)


def version_1(raw: dict) -> str:
    """A cursor as crmsync 0.1 stored it."""
    packed = zlib.compress(json.dumps(raw, separators=(",", ":")).encode(), 9)
    return "pd1." + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def test_a_window_in_progress_round_trips():
    mark = Window(since="2026-11-01T00:00:00Z", until="2026-11-02T09:00:00Z", phase=PHASE_PERSONS,
                  after_time="2026-11-01T12:00:00Z", after_ids=(3, 9), after_id=0,
                  seen=frozenset({(PERSONS, 3, "2026-11-02T08:59:30Z"), (DEALS, 7, "2026-11-02T08:59:59Z")}))
    assert Window.decode(mark.encode(), overlap=OVERLAP) == mark
    assert Window.decode(None, overlap=OVERLAP) == Window()


def test_a_finished_window_starts_the_next_one_an_overlap_before_its_end():
    done = Window(until="2026-11-02T09:00:00Z", phase=PHASE_PERSONS).finished(
        [(ACTIVITIES, 4, "2026-11-02T08:59:10Z")], OVERLAP)
    assert done == Window(since="2026-11-02T08:59:00Z", seen=frozenset({(ACTIVITIES, 4, "2026-11-02T08:59:10Z")}))
    assert done.already_read(ACTIVITIES, 4, "2026-11-02 08:59:10")  # v1 and v2 spellings of one instant
    assert not done.already_read(ACTIVITIES, 4, "2026-11-02T08:59:11Z")  # changed since: read again


def test_a_version_1_cursor_is_read_as_the_same_state():
    finished = version_1({"v": 1, "s": "2026-11-01T00:00:00Z", "u": "2026-11-02T09:00:00Z", "p": "done",
                          "at": None, "ai": [], "aid": 0, "seen": [["p", 3, "2026-11-02T08:59:30Z"]]})
    assert Window.decode(finished, overlap=OVERLAP) == Window(
        since="2026-11-02T08:59:00Z", seen=frozenset({(PERSONS, 3, "2026-11-02T08:59:30Z")}))
    running = version_1({"v": 1, "s": None, "u": "2026-11-02T09:00:00Z", "p": "triggered", "at": None,
                         "ai": [], "aid": 41, "seen": []})
    assert Window.decode(running, overlap=OVERLAP) == Window(until="2026-11-02T09:00:00Z", phase="triggered",
                                                              after_id=41)


def test_a_window_with_thousands_of_tied_ids_stays_compact():
    seen = frozenset((PERSONS, i, "2026-11-02T08:59:59Z") for i in range(10_000))
    encoded = Window(since="2026-11-02T08:59:00Z", seen=seen).encode()
    assert len(encoded) < 60_000
    assert Window.decode(encoded, overlap=OVERLAP).seen == seen


@pytest.mark.parametrize("bad", ["garbage", "pd1.not-base64!", "pd1.eJwLycgsVgCi4tSyzLyUxByFzLxUAA",
                                 '{"v": 7}'])
def test_cursors_it_did_not_write_are_refused(bad):
    with pytest.raises(PermanentError):
        Window.decode(bad, overlap=OVERLAP)
