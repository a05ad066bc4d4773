"""Salesforce's answers to the faults the harness injects, as the sandbox gives them: throttling is 403
REQUEST_LIMIT_EXCEEDED (429 only when a test asks for it), server errors UNKNOWN_EXCEPTION /
SERVER_UNAVAILABLE, an expired session 401 INVALID_SESSION_ID (a SOAP fault on the Metadata API), each an
array of `{message, errorCode}` ("Status Codes and Error Responses", REST API Developer Guide)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from connectors.sandbox import salesforce_soap as soap
from connectors.sandbox.server import Fault, json_response

if TYPE_CHECKING:
    from connectors.sandbox.salesforce import SalesforceSandbox


class SalesforceStyle:
    """Renders scheduled faults the way Salesforce does: throttling is 403 REQUEST_LIMIT_EXCEEDED (429 only
    when a test asks for it), server errors UNKNOWN_EXCEPTION / SERVER_UNAVAILABLE, expiry 401
    INVALID_SESSION_ID (a SOAP fault on the Metadata API)."""

    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self.sandbox = sandbox

    def _headers(self, fault: Fault | None = None) -> dict[str, str]:
        headers = {"Sforce-Limit-Info": self.sandbox.limit_info()}
        if fault is not None and "retry_after" in fault.params:
            headers["Retry-After"] = str(fault.params["retry_after"])
        return headers

    def rate_limited(self, request: Request, fault: Fault) -> Response:
        daily = fault.params.get("scope") == "daily"
        message = "TotalRequests Limit exceeded." if daily else "ConcurrentPerOrgLongTxn Limit exceeded."
        return json_response(
            [{"message": message, "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            status=int(fault.params.get("status", 403)),
            headers=self._headers(fault),
        )

    def server_error(self, request: Request, fault: Fault) -> Response:
        status = int(fault.params.get("status", 500))
        if status == 503:
            body = [{"message": "Server temporarily unavailable", "errorCode": "SERVER_UNAVAILABLE"}]
        else:
            body = [
                {
                    "message": "An unexpected error occurred. Please include this ErrorId if you contact "
                    "support: 1404896545-25431 (-1594716925)",
                    "errorCode": "UNKNOWN_EXCEPTION",
                }
            ]
        return json_response(body, status=status, headers=self._headers(fault))

    def auth_expired(self, request: Request) -> Response:
        if request.path.startswith("/services/Soap/"):
            return soap.invalid_session()
        return json_response(
            [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            status=401,
            headers=self._headers(),
        )
