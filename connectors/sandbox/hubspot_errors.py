"""HubSpot's error answers, as the sandbox gives them: the `{status, message, correlationId, category, ...}`
envelope, the rate-limit body (`errorType` RATE_LIMIT with its `policyName`), and the bodies of the faults
the harness injects (`HubSpotApiStyle`: 429, 500, the gateway's HTML 502-504, expired token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.server import Fault, json_response


class HubSpotApiStyle:
    """HubSpot's bodies for the faults the harness injects."""

    def __init__(self, correlation: Callable[[], str]) -> None:
        self._correlation = correlation

    def rate_limited(self, request: Request, fault: Fault) -> Response:
        search = request.path.endswith("/search")
        policy = str(fault.params.get("policy") or ("SECONDLY" if search else "TEN_SECONDLY_ROLLING"))
        return rate_limit_response(policy, self._correlation(), headers=fault.params.get("headers"))

    def server_error(self, request: Request, fault: Fault) -> Response:
        status = int(fault.params.get("status", 500))
        if status == 500:
            return json_response({"status": "error", "message": "internal error", "correlationId": self._correlation(),
                                  "category": "INTERNAL_ERROR"}, status=500)
        return Response(f"<html><body><h1>{status}</h1>The server is temporarily unavailable.</body></html>",
                        status=status, content_type="text/html")

    def auth_expired(self, request: Request) -> Response:
        return error_response(401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired 1 "
                              "second(s) ago.", self._correlation(), context={"expire time": ["1970-01-01T00:00:00Z"]})


def error_response(status: int, category: str, message: str, correlation: str, *, context: dict[str, Any] | None
                   = None, errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
                   ) -> Response:
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": correlation, "category": category}
    if context:
        body["context"] = context
    if errors:
        body["errors"] = errors
    return json_response(body, status=status, headers=headers)


def rate_limit_response(policy: str, correlation: str, headers: dict[str, str] | None = None) -> Response:
    message = {"DAILY": "You have reached your daily limit.", "SECONDLY": "You have reached your secondly limit.",
               }.get(policy, "You have reached your ten_secondly_rolling limit.")
    return json_response({"status": "error", "message": message, "errorType": "RATE_LIMIT",
                          "correlationId": correlation, "policyName": policy, "requestId": correlation},
                         status=429, headers=headers)
