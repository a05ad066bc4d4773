"""Pipedrive's rate limits as the sandbox counts them: a burst window per token (higher for OAuth access
tokens than for API tokens), the company's daily token budget spent at each endpoint's `x-token-cost`, the
legacy daily write counter of API tokens, the headers that report them, and, when enforced, the 429s and the
Cloudflare 403 block that follows a second ignored 429."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from werkzeug.wrappers import Response

from connectors.sandbox.pipedrive_errors import cloudflare_block, error_response


def token_cost(method: str, endpoint: str) -> int:
    """`x-token-cost` of the official specs for the endpoints served here."""
    if endpoint.startswith("v1_"):
        return {"v1_fields_get": 20, "v1_fields_post": 10, "v1_me": 2, "v1_merge": 40}[endpoint]
    if endpoint == "stages":
        return 5
    if endpoint == "person":
        return {"GET": 1, "PATCH": 5, "DELETE": 3}[method]
    return 10


@dataclass
class Limits:
    """Per-token burst window and the company's daily token budget, in sandbox-clock seconds. Not
    thread-safe: the app calls `admit` and `headers` under its lock."""

    burst: int  # per API token
    oauth_burst: int  # per OAuth access token (higher on every plan)
    window: float
    daily_tokens: int
    enforce: bool
    calls: dict[str, deque[float]] = field(default_factory=dict)
    throttled_until: dict[str, float] = field(default_factory=dict)
    violations: dict[str, int] = field(default_factory=dict)
    spent: int = 0
    day: str = ""
    writes_today: int = 0

    def burst_of(self, token: str) -> int:
        return self.oauth_burst if token.startswith("oauth:") else self.burst

    def headers(self, token: str, *, now: float) -> dict[str, str]:
        """The `x-ratelimit-*` and `x-daily-*` headers of an answer to `token`."""
        burst = self.burst_of(token)
        window = self.calls.setdefault(token, deque())
        while window and window[0] <= now - self.window:
            window.popleft()
        used = len(window) if self.enforce else 0
        reset = math.ceil(window[0] + self.window - now) if window and self.enforce else 0
        spent = self.spent if self.enforce else 0
        headers = {
            "x-ratelimit-limit": str(burst),
            "x-ratelimit-remaining": str(max(burst - used, 0)),
            "x-ratelimit-reset": str(max(reset, 0)),
            "x-daily-ratelimit-token-limit": str(self.daily_tokens),
            "x-daily-ratelimit-token-remaining": str(max(self.daily_tokens - spent, 0)),
        }
        if token.startswith("api:"):
            headers["x-daily-requests-left"] = str(max(10_000 - self.writes_today, 0))
        return headers

    def admit(self, token: str, method: str, endpoint: str, *, now: float, day: str) -> Response | None:
        """Count the call; when limits are enforced, answer 429 (burst or daily) or Cloudflare's 403."""
        if day != self.day:
            self.day, self.spent, self.writes_today = day, 0, 0
        window = self.calls.setdefault(token, deque())
        while window and window[0] <= now - self.window:
            window.popleft()
        if self.enforce:
            if now < self.throttled_until.get(token, 0.0):
                self.violations[token] = self.violations.get(token, 0) + 1
                if self.violations[token] >= 2:
                    return cloudflare_block()
            else:
                self.violations[token] = 0
            if len(window) >= self.burst_of(token):
                self.throttled_until[token] = window[0] + self.window
                return error_response(429, "Request over limit", headers=self.headers(token, now=now))
            cost = token_cost(method, endpoint)
            if self.spent + cost > self.daily_tokens:
                headers = self.headers(token, now=now)
                headers["x-daily-ratelimit-token-remaining"] = "0"
                return error_response(429, "Daily token budget exceeded", headers=headers)
            self.spent += cost
        window.append(now)
        if method in ("POST", "PUT", "PATCH"):
            self.writes_today += 1
        return None
