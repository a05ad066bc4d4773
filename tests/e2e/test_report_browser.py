"""The report in a real browser: Debian's Chromium, headless, renders the page the demo wrote from its own
state store; the test takes a screenshot and reads the rendered DOM back: the charts are there, drawn, and
the funnel's numbers are the state store's. `make test` installs Chromium when it is missing."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sync.clock import SystemClock
from sync.demo import run_demo
from sync.insight.funnel import ALL, STAGES
from sync.state import StateStore

# Chromium on a machine with no network: no first-run, sync, component or background requests
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--window-size=1280,2400")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    return found


def browse(page: Path, profile: Path, *action: str) -> str:
    done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    where = tmp_path_factory.mktemp("demo")
    return run_demo(where, clock=SystemClock(), contacts=40)


def test_chromium_renders_the_report_with_its_charts_and_the_store_s_funnel(demo, tmp_path):
    page = demo.report_page
    assert page is not None and page.exists()
    dom = browse(page, tmp_path / "profile-dom", "--dump-dom")
    shot = tmp_path / "report.png"
    browse(page, tmp_path / "profile-shot", f"--screenshot={shot}")

    assert png_size(shot) == (1280, 2400) and shot.stat().st_size > 50_000  # a drawn page, not a blank one
    assert "<title>crmsync report" in dom
    charts = re.findall(r'<svg [^>]*role="img"', dom)
    assert len(charts) >= 9  # funnel now, 4 weekly funnels, SLA, touch times x2, scores
    assert dom.count('class="rect reactive') > 20  # bars drawn in them
    shown: dict[tuple[str, str], int] = {(account, stage): int(value) for account, stage, value in re.findall(
        r'<span data-account="([^"]+)" data-stage="([^"]+)">(\d+)</span>', dom)}
    with StateStore(demo.state_url) as store:
        counts = {str(ref): stages for ref, stages in store.stage_counts().items()}
    assert len(counts) == 3
    for account, stages in counts.items():
        for stage in STAGES:
            assert shown[(account, stage)] == stages.get(stage, 0), (account, stage)
    for stage in STAGES:
        assert shown[(ALL, stage)] == sum(stages.get(stage, 0) for stages in counts.values())
    assert sum(shown[(ALL, stage)] for stage in STAGES) == 120
