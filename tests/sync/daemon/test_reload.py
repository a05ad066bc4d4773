"""Hot reload with a small stand-in for `sync.rules.load_rules`: a real positioned-YAML validation (the
same `sync.configfile` pipeline the rules engine uses), so rejected files carry real PATH:LINE:COL issues."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pydantic
import pytest
from structlog.testing import capture_logs

from sync.configfile import read_yaml, validate
from sync.daemon.reload import RulesWatcher
from sync.daemon.runtime import Daemon
from sync.errors import ConfigError


class TinyRules(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    version: str
    threshold: int = 70


def load_tiny(path: Path | None) -> TinyRules:
    assert path is not None
    return validate(read_yaml(path), TinyRules)


GOOD_V1 = "version: v1\nthreshold: 70\n"
GOOD_V2 = "version: v2\nthreshold: 65\n"
BAD = "version: v3\nthreshold: lots\nbogus: 1\n"


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD_V1)
    return path


def test_a_good_change_is_swapped_in(rules_file, clock):
    applied: list[str] = []
    watcher = RulesWatcher(rules_file, load_tiny, clock, on_change=[lambda rules: applied.append(rules.version)])
    watcher.load()
    assert watcher.check() is False  # unchanged file: nothing to do

    rules_file.write_text(GOOD_V2)
    assert watcher.check() is True
    assert watcher.current.version == "v2" and watcher.current.threshold == 65
    assert applied == ["v2"]
    assert watcher.status().ok


def test_a_bad_file_is_rejected_with_located_messages_and_the_last_good_rules_stay(rules_file, clock):
    results: list[bool] = []
    watcher = RulesWatcher(rules_file, load_tiny, clock, on_result=results.append)
    watcher.load()

    rules_file.write_text(BAD)
    with capture_logs() as logs:
        assert watcher.check() is False
        assert watcher.check() is False  # the same bad content is reported once, not every poll

    assert watcher.current.version == "v1"
    expected = [f"{rules_file}:2:1: threshold: Input should be a valid integer, unable to parse string as an integer",
                f"{rules_file}:3:1: unknown key 'bogus'"]
    status = watcher.status()
    assert not status.ok and "v1 stays in force" in status.message
    assert list(status.details) == expected
    rejected = [line for line in logs if line["event"] == "rules_rejected"]
    assert len(rejected) == 1 and rejected[0]["issues"] == expected and rejected[0]["log_level"] == "error"
    assert results == [False]

    rules_file.write_text(GOOD_V2)  # the admin fixes it
    assert watcher.check() is True
    assert watcher.status().ok and watcher.current.version == "v2"
    assert results == [False, True]


def test_a_touched_but_unchanged_file_is_not_reloaded(rules_file, clock):
    loads: list[Path | None] = []
    watcher = RulesWatcher(rules_file, lambda p: loads.append(p) or load_tiny(p), clock)
    watcher.load()
    rules_file.write_text(GOOD_V1)  # same bytes, new mtime
    assert watcher.check() is False
    assert len(loads) == 1


def test_a_removed_file_keeps_the_rules_in_force(rules_file, clock):
    watcher = RulesWatcher(rules_file, load_tiny, clock)
    watcher.load()
    rules_file.unlink()
    assert watcher.check() is False
    assert watcher.current.version == "v1"
    assert watcher.status().details == (f"{rules_file}:1:1: file not found",)


def test_a_crashing_loader_keeps_the_rules_in_force(rules_file, clock):
    calls = []

    def loader(path: Path | None) -> TinyRules:
        calls.append(path)
        if len(calls) > 1:
            raise TypeError("engine bug")
        return load_tiny(path)

    watcher = RulesWatcher(rules_file, loader, clock)
    watcher.load()
    rules_file.write_text(GOOD_V2)
    assert watcher.check() is False
    assert watcher.current.version == "v1"
    assert "TypeError" in watcher.status().details[0]


def test_a_bad_file_at_start_is_a_configuration_error(rules_file, clock):
    rules_file.write_text(BAD)
    watcher = RulesWatcher(rules_file, load_tiny, clock)
    with pytest.raises(ConfigError) as error:
        watcher.load()
    assert str(error.value.issues[0]).startswith(f"{rules_file}:2:1:")
    with pytest.raises(RuntimeError, match="not loaded"):
        _ = watcher.current


def test_without_a_path_the_embedded_rules_are_used_and_nothing_is_watched(clock):
    watcher = RulesWatcher(None, lambda path: TinyRules(version="embedded"), clock)
    assert watcher.load().version == "embedded"
    assert watcher.check() is False and watcher.status().ok


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_readyz_reports_a_rejected_rules_file_until_it_is_fixed(rules_file, clock):
    watcher = RulesWatcher(rules_file, load_tiny, clock, poll=timedelta(hours=1))
    daemon = Daemon([], watcher=watcher, port=0, clock=clock)
    daemon.start()
    try:
        assert get(daemon.url + "/readyz")[0] == 200
        rules_file.write_text(BAD)
        watcher.check()  # what the scheduled poll does
        status, body = get(daemon.url + "/readyz")
        assert status == 503
        assert body["not_ready"] == ["rules"]
        assert body["checks"]["rules"]["details"][1] == f"{rules_file}:3:1: unknown key 'bogus'"
        assert "crmsync_rules_loaded 0.0" in urllib.request.urlopen(daemon.url + "/metrics").read().decode()

        rules_file.write_text(GOOD_V2)
        watcher.check()
        status, body = get(daemon.url + "/readyz")
        assert status == 200 and body["checks"]["rules"]["message"] == "rules version v2 in force"
        assert watcher.current.version == "v2"
    finally:
        assert daemon.shutdown(timedelta(seconds=5))
