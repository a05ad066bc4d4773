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
