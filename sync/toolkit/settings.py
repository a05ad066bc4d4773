"""The options every connector's settings share: how long one request may take and how it is retried.

Each connector's settings model derives from `ConnectorSettings`, so the three CRMs take the same options
under the same names with the same bounds, and the gateway installs one retry policy from them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sync import retry
from sync.toolkit.gateway import RetrySettings
from sync.toolkit.ownership import Ownership


def option(default: Any, description: str, example: Any, **constraints: Any) -> Any:
    """One connector setting: its default (a mapping default is copied for each instance), what it means and
    an example, which the published settings schema shows in an editor; `constraints` are pydantic's
    (`ge`, `le`, `pattern`...)."""
    if isinstance(default, dict):
        return Field(default_factory=lambda: dict(default), description=description, examples=[example],
                     **constraints)
    return Field(default, description=description, examples=[example], **constraints)


class ConnectorSettings(BaseModel):
    """Immutable once validated; a reload builds a new instance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = option(30.0, "seconds one HTTP request may take before it counts as failed (and is "
                                    "retried)", 30, gt=0, le=600)
    retry_attempts: int = option(retry.DEFAULT_ATTEMPTS, "attempts of one request after throttling, a "
                                 "server error, a timeout or a malformed answer, the first included", 5,
                                 ge=1, le=10)
    retry_max_wait_s: float = option(retry.DEFAULT_MAX_WAIT, "longest wait between two attempts, even when "
                                     "the CRM asks for more", 120, gt=0, le=3600)
    ownership: dict[str, Ownership] = option(
        {}, "who owns each native field people also edit, by the CRM's field name: `always` (crmsync writes "
            "it), `unless_changed_by_person` (crmsync writes it only while the CRM holds nothing or the value "
            "crmsync wrote last) or `never`; a field not named here takes `unless_changed_by_person`, and "
            "crmsync's own custom fields are always crmsync's", {"lifecyclestage": "always", "Rating": "never"})

    @field_validator("base_url", check_fields=False)
    @classmethod
    def _http_base_url(cls, value: str) -> str:
        """A connector's `base_url`, where it has one: an http(s) URL, kept without its trailing slash."""
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

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
