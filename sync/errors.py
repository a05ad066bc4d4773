"""Errors grouped by how the daemon recovers from them, not by where they come from.

Each connector translates its SDK's exceptions into these at its own boundary;
the engine, the scheduler and the CLI catch only these. `user_message` is what
an admin reads; `detail` is internal and may only reach debug logs after the
secret-masking processor has seen it. Never put a token, a URL with a token, or
contact data in either.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class CrmsyncError(Exception):
    """Base of every error crmsync raises on purpose."""

    def __init__(self, user_message: str, *, detail: str | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in an admin-edited file, located the way editors and compilers do."""

    path: str
    line: int  # 1-based
    column: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class ConfigError(CrmsyncError):
    """The admin must fix a file: rejected at start, or on reload while the last good version stays in force."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues) or "invalid configuration")


class UnreadableFile(ConfigError):
    """A file crmsync was told to read cannot be read at all (missing, a folder, no permission): nothing in
    it to fix line by line, so the CLI reports it apart from a file that does not validate (a file too large
    or not UTF-8 is one that does not validate: its problem is located in it)."""


class ConnectorError(CrmsyncError):
    """A CRM call failed. `crm` names the connector kind (hubspot, salesforce, pipedrive)."""

    def __init__(self, user_message: str, *, crm: str, status: int | None = None, detail: str | None = None) -> None:
        super().__init__(user_message, detail=detail)
        self.crm = crm
        self.status = status


class RateLimited(ConnectorError):
    """Retry after `retry_after` seconds. `scope` tells a burst window from a daily budget: on a daily budget
    the account stops until `retry_after` and resumes from its cursor (sleeping a whole day inside a run is
    never right)."""

    def __init__(
        self,
        user_message: str,
        *,
        crm: str,
        retry_after: float,
        scope: str = "burst",
        status: int | None = 429,
        detail: str | None = None,
    ) -> None:
        super().__init__(user_message, crm=crm, status=status, detail=detail)
        self.retry_after = retry_after
        self.scope = scope


class TransientError(ConnectorError):
    """5xx, timeouts, dropped connections, malformed bodies from a healthy API: retry with back-off."""


class AuthExpired(ConnectorError):
    """The access token or session expired: refresh or re-authenticate once, then retry the call once."""


class AuthFailed(ConnectorError):
    """Credentials are wrong or revoked, or a scope / permission is missing: stop that account and alert."""


class PermanentError(ConnectorError):
    """The request itself is wrong (400, 404, validation): retrying cannot help."""


@dataclass(frozen=True, slots=True)
class RecordError:
    """One record of a batch failed; the rest of the batch is unaffected."""

    record_id: str
    code: str
    message: str
    retryable: bool = False
    fields: tuple[str, ...] = field(default_factory=tuple)

