"""The options every connector's settings share: how long one request may take and how it is retried.

Each connector's settings model derives from `ConnectorSettings`, so the three CRMs take the same options
under the same names with the same bounds, and the gateway installs one retry policy from them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sync import retry
from sync.toolkit.gateway import RetrySettings


class ConnectorSettings(BaseModel):
    """Immutable once validated; a reload builds a new instance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(30.0, gt=0, le=600, description=(
        "seconds one HTTP request may take before it counts as failed (and is retried)"), examples=[30])
    retry_attempts: int = Field(retry.DEFAULT_ATTEMPTS, ge=1, le=10, description=(
        "attempts of one request after throttling, a server error, a timeout or a malformed answer, the "
        "first included"), examples=[5])
    retry_max_wait_s: float = Field(retry.DEFAULT_MAX_WAIT, gt=0, le=3600, description=(
        "longest wait between two attempts, even when the CRM asks for more"), examples=[120])

    def retries(self) -> RetrySettings:
        return RetrySettings(attempts=self.retry_attempts, max_wait_s=self.retry_max_wait_s)

    def secrets(self) -> list[str]:
        """Every credential value, nested ones included, for the log masker."""
        return list(_secret_values(self))


def _secret_values(model: BaseModel) -> Any:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from _secret_values(value)
