"""The options every connector's settings share: how long one request may take and how it is retried, who
owns the native fields people also edit, and the account's own words for seniority and recurring deals.

Each connector's settings model derives from `ConnectorSettings`, so the three CRMs take the same options
under the same names with the same bounds, and the gateway installs one retry policy from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sync import retry
from sync.model import PipelineStage
from sync.toolkit.gateway import RetrySettings
from sync.toolkit.ownership import Ownership
from sync.toolkit.vocabulary import folded


def option(default: Any, description: str, example: Any, **constraints: Any) -> Any:
    """One connector setting: its default (a mapping default is copied for each instance), what it means and
    an example, which the published settings schema shows in an editor; `constraints` are pydantic's
    (`ge`, `le`, `pattern`...)."""
    if isinstance(default, dict):
        return Field(default_factory=lambda: dict(default), description=description, examples=[example],
                     **constraints)
    return Field(default, description=description, examples=[example], **constraints)


# --- the mapping options every CRM has in its own words: one wording each, the CRM's default and example ---

def stage_override_option(default: str, field: str) -> Any:
    """The field sales sets to force a stage (`field`: what the CRM calls it)."""
    return option(default, f"{field} sales sets to force a stage; null: no override", default)


def pipeline_stages_option(default: Mapping[Any, str], key: str, example: Mapping[Any, str], unnamed: str = "") -> Any:
    """The CRM's deal stages (`key`: what identifies one) onto the canonical pipeline stages."""
    stages = ", ".join(stage.value for stage in PipelineStage)
    return option(default, f"{key} -> one of the canonical pipeline stages ({stages}){unnamed}", example)


def recurring_field_option(default: str, field: str, reads: str, example: str) -> Any:
    """The deal field that says whether a deal recurs; `reads`: which values it may hold."""
    return option(default, f"{field} that says whether a deal recurs: {reads}; null: unknown (the rules decide "
                           "from contract length or repeat wins)", example)


def contract_months_option(default: str, field: str) -> Any:
    return option(default, f"{field} with the contract length in months; null: unknown", default)


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

    seniority_values: dict[str, str] = option(
        {}, "the account's seniority values -> crmsync's levels (c_level, director, manager, individual, student), "
        "looked up first, before the CRM's own values and the common ones (VP, Head of, Directeur...); compared "
        "without case; a value in none is read as it is (the rules may still name it)",
        {"Top management": "c_level", "Chef de projet": "manager"})
    recurring_values: dict[str, bool] = option(
        {}, "the account's values of the deal field that says a deal recurs -> recurring (true) or one-off (false), "
        "looked up first, before the CRM's own values and the common ones (yes/no, subscription, one-off...); "
        "compared without case", {"Abonnement annuel": True, "Prestation": False})

    @field_validator("base_url", check_fields=False)
    @classmethod
    def _http_base_url(cls, value: str) -> str:
        """A connector's `base_url`, where it has one: an http(s) URL, kept without its trailing slash."""
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    @cached_property
    def seniority_table(self) -> dict[str, str]:
        """`seniority_values` keyed as `sync.toolkit.vocabulary` looks values up: folded once, not per record."""
        return folded(self.seniority_values)

    @cached_property
    def recurring_table(self) -> dict[str, bool]:
        """`recurring_values` keyed as `sync.toolkit.vocabulary` looks values up: folded once, not per record."""
        return folded(self.recurring_values)

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
