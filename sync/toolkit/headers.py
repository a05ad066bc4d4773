"""Reading the HTTP headers that say how long to wait and how much budget is left.

`Retry-After` takes two forms (RFC 9110, section 10.2.3 "Retry-After"): a number of seconds, or an
HTTP-date after which to try again. Both are read here, once, for every connector; the date is measured
against the connector's clock, so a test moves time instead of waiting and a skewed server date never
gives a negative wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """The value of `name`, whatever the case the transport kept (urllib3 and requests ignore case,
    a plain dict from a test does not)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, found in headers.items():
        if key.lower() == wanted:
            return found
    return None


def header_number(headers: Mapping[str, str] | None, name: str) -> float | None:
    """A numeric header (`X-HubSpot-RateLimit-Remaining`, `x-ratelimit-reset`...); None when absent or not a
    number."""
    value = header(headers, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def retry_after(headers: Mapping[str, str] | None, now: datetime) -> float | None:
    """Seconds to wait according to `Retry-After`, in either of its forms; None when absent or unreadable."""
    value = header(headers, "Retry-After")
    if value is None:
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # an HTTP-date is always GMT; parsedate gives it naive when written "-0000"
        moment = moment.replace(tzinfo=timezone.utc)
    return max((moment - now).total_seconds(), 0.0)
