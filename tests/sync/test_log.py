from __future__ import annotations

import io
import json

import structlog

from sync.log import configure_logging, forget_secrets, register_secret


def test_secrets_never_reach_a_log_line():
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    register_secret("pat-na1-0123456789abcdef")
    try:
        log = structlog.get_logger("t")
        log.info("calling", url="https://x/?api_token=pat-na1-0123456789abcdef", headers={"Authorization": "Bearer z"})
        log.info("failed", error=RuntimeError("token pat-na1-0123456789abcdef rejected"), access_token="anything")
    finally:
        forget_secrets()
    text = stream.getvalue()
    assert "pat-na1-0123456789abcdef" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["url"].endswith("api_token=***")
    assert lines[0]["headers"]["Authorization"] == "***"
    assert lines[1]["access_token"] == "***" and "***" in lines[1]["error"]


def test_every_line_names_its_logger():
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    structlog.get_logger("crmsync.hubspot").info("hubspot_token_refreshed")
    structlog.get_logger().info("nameless")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["logger"] == "crmsync.hubspot" and "logger" not in second


def test_a_logger_cached_on_first_use_follows_a_later_configuration():
    log = structlog.get_logger("crmsync.cached")
    first, second = io.StringIO(), io.StringIO()
    configure_logging(json=True, stream=first, level="INFO")
    log.info("one")
    log.debug("hidden")
    configure_logging(json=True, stream=second, level="DEBUG")
    log.debug("two")
    with structlog.testing.capture_logs() as captured:
        log.info("three")
    assert [json.loads(line)["event"] for line in first.getvalue().splitlines()] == ["one"]
    assert [json.loads(line)["event"] for line in second.getvalue().splitlines()] == ["two"]
    assert [entry["event"] for entry in captured] == ["three"]
    assert structlog.get_config()["cache_logger_on_first_use"] is True
