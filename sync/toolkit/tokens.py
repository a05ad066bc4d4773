"""Credentials as the gateway sees them: something that hands over a grant valid for the next request,
and renews it once when the API says it expired.

Two kinds cover the three CRMs. `StaticToken` is a key an admin rotates by hand (a HubSpot private-app
token, a Pipedrive API token): when the API rejects it, nothing can be refreshed, and the account stops
with a message saying how to fix it. `RefreshingToken` is an OAuth access token (HubSpot and Pipedrive
apps, every Salesforce session): it is fetched before the first request, refreshed `margin` before the
expiry the token answer announced, and once more when the API answers that it expired. A token whose
expiry is unknown (one configured by hand) is used until the API rejects it. A rotated refresh token,
when the token answer carries one, replaces the old one. Every token is registered with the log masker
the moment it is known.

How a grant is fetched is the one CRM-specific part (`fetch`): the token endpoint, its form, the extra
values its answer carries (Salesforce's `instance_url`, Pipedrive's `api_domain`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from sync.clock import Clock
from sync.log import register_secret

log = structlog.get_logger("crmsync.toolkit.tokens")


@dataclass(frozen=True, slots=True)
class Grant:
    """One access token and what came with it."""

    access_token: str
    expires_at: datetime | None = None
    refresh_token: str | None = None  # set when the token answer rotated it
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. the instance URL later calls go to


class Credentials(Protocol):
    """What the gateway asks of an account's credentials."""

    @property
    def can_refresh(self) -> bool: ...

    @property
    def fix(self) -> str:
        """What an admin does when the API rejects these credentials and they cannot be refreshed."""
        ...

    def current(self) -> Grant:
        """A grant valid for at least the refresh margin (fetched or refreshed first when it is not)."""
        ...

    def renew(self) -> Grant:
        """A new grant, after the API answered that the current one expired."""
        ...


class StaticToken:
    """A key that never changes while crmsync runs."""

    can_refresh = False

    def __init__(self, token: str, *, fix: str) -> None:
        register_secret(token)
        self._grant = Grant(token)
        self.fix = fix

    def current(self) -> Grant:
        return self._grant

    def renew(self) -> Grant:
        raise RuntimeError("a static token cannot be renewed")  # the gateway checks can_refresh first


class RefreshingToken:
    """An OAuth access token, refreshed before it expires and once when rejected. Thread-safe."""

    can_refresh = True
    fix = "re-authorise the app"

    def __init__(self, fetch: Callable[[str | None], Grant], *, clock: Clock, margin: timedelta,
                 crm: str, refresh_token: str | None = None, access_token: str | None = None,
                 expires_at: datetime | None = None) -> None:
        """`fetch(refresh_token)` asks the token endpoint for a new grant (one request, no retry of its own:
        it runs inside the attempt of the call that needed it)."""
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._crm = crm
        self._lock = threading.Lock()
        self._refresh_token = refresh_token
        register_secret(refresh_token)
        self._grant = Grant(access_token, expires_at) if access_token else None
        register_secret(access_token)
        self.refreshes = 0

    def current(self) -> Grant:
        with self._lock:
            grant = self._grant
            if grant is None or (grant.expires_at is not None
                                 and self._clock.now() >= grant.expires_at - self._margin):
                grant = self._refresh_locked()
            return grant

    def renew(self) -> Grant:
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> Grant:
        grant = self._fetch(self._refresh_token)
        register_secret(grant.access_token)
        if grant.refresh_token:
            register_secret(grant.refresh_token)
            self._refresh_token = grant.refresh_token
        self._grant = grant
        self.refreshes += 1
        expires_in = (grant.expires_at - self._clock.now()).total_seconds() if grant.expires_at else None
        log.info("token_refreshed", crm=self._crm, expires_in=expires_in)
        return grant
