"""Pipedrive's error answers, as the sandbox gives them: the `{success: false, error, error_info}` envelope,
the API gateway's 401, the Cloudflare 403 page that follows ignored 429s, and the bodies of the faults the
harness injects (`PipedriveStyle`)."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.server import json_response

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
CLOUDFLARE_PAGE = (
    "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>"
    "<h1>Sorry, you have been blocked</h1><p>You are unable to access pipedrive.com</p>"
    "<p>Cloudflare Ray ID: 7d1c2b3a4e5f6a7b</p></body></html>"
)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(
        {"success": False, "error": message, "error_info": ERROR_INFO, "data": None, "additional_data": None},
        status=status,
        headers=headers,
    )


def unauthorized() -> Response:
    return json_response(
        {
            "success": False,
            "error": "unauthorized access",
            "errorCode": 401,
            "error_info": "Please check developers.pipedrive.com",
        },
        status=401,
        headers={"x-401-by-gw": "true"},
    )


def cloudflare_block() -> Response:
    return Response(
        CLOUDFLARE_PAGE,
        status=403,
        content_type="text/html; charset=UTF-8",
        headers={"server": "cloudflare", "cf-ray": "7d1c2b3a4e5f6a7b-AMS"},
    )


class PipedriveStyle:
    """Injected faults in Pipedrive's shapes: 429 with `x-ratelimit-*` (or a daily-budget 429), 5xx
    with the error envelope, and the gateway's 401 for an expired token."""

    def rate_limited(self, request: Request, fault: Any) -> Response:
        params = fault.params
        headers = {
            "x-ratelimit-limit": str(params.get("limit", 20)),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(params.get("reset", 2)),
        }
        if "retry_after" in params:
            headers["Retry-After"] = str(params["retry_after"])
        if params.get("daily"):
            headers["x-daily-ratelimit-token-limit"] = "30000"
            headers["x-daily-ratelimit-token-remaining"] = "0"
            return error_response(429, "Daily token budget exceeded", headers=headers)
        return error_response(429, "Request over limit", headers=headers)

    def server_error(self, request: Request, fault: Any) -> Response:
        status = int(fault.params.get("status", 500))
        return error_response(status, "Internal server error" if status == 500 else "Service unavailable")

    def auth_expired(self, request: Request) -> Response:
        return unauthorized()
