"""How the Pipedrive sandbox reads list arguments and pages lists, the way API v2 does: `limit` up to 500,
`sort_by` / `sort_direction`, `updated_since` / `updated_until` (RFC 3339), `ids=` (at most 100), and an
opaque keyset `cursor` that encodes the last row's sort value and id. A bad argument is a 400
(`StoreError`), as Pipedrive answers it."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Response

from connectors.pipedrive.mapping import format_rfc3339, parse_time
from connectors.sandbox.pipedrive_store import Row, StoreError
from connectors.sandbox.server import json_response


def _encode_cursor(sort_by: str, value: Any, row_id: int, direction: str) -> str:
    raw = json.dumps(
        {"field": sort_by, "fieldValue": value, "sortDirection": direction, "id": row_id},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return raw["fieldValue"], int(raw["id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise StoreError(400, "Invalid cursor") from None


def int_arg(
    args: Any, name: str, default: int | None = None, *, low: int = 0, high: int | None = None
) -> int:
    raw = args.get(name)
    if raw is None:
        if default is None:
            raise StoreError(400, f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StoreError(400, f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        raise StoreError(400, f"{name} must be between {low} and {high}")
    return value


def _time_arg(args: Any, name: str) -> str | None:
    raw = args.get(name)
    if raw is None:
        return None
    moment = parse_time(raw)
    if moment is None or "T" not in raw:
        raise StoreError(400, f"{name} must be an RFC 3339 date-time")
    return format_rfc3339(moment)


def ids_arg(args: Any) -> set[int] | None:
    raw = args.get("ids")
    if raw is None:
        return None
    try:
        ids = {int(part) for part in raw.split(",") if part}
    except ValueError:
        raise StoreError(400, "ids must be a comma separated list of integers") from None
    if len(ids) > 100:
        raise StoreError(400, "ids accepts at most 100 ids")
    return ids


def list_page(rows: Iterable[Row], args: Any, *, sortable: frozenset[str],
              render: Callable[[Row], Row] | None = None) -> Response:
    """Keyset pagination the way v2 does it: the cursor encodes the last row's sort value and id. `render`
    turns each stored row of the page into what the API answers."""
    limit = int_arg(args, "limit", 100, low=1, high=500)
    sort_by = args.get("sort_by", "id")
    direction = args.get("sort_direction", "asc")
    if sort_by not in sortable or direction not in ("asc", "desc"):
        raise StoreError(400, "Invalid sort_by or sort_direction")
    since, until = _time_arg(args, "updated_since"), _time_arg(args, "updated_until")
    selected = [
        row
        for row in rows
        if (since is None or row["update_time"] >= since) and (until is None or row["update_time"] < until)
    ]

    def key(row: Row) -> tuple[Any, int]:
        return (row["id"] if sort_by == "id" else row.get(sort_by) or "", row["id"])

    selected.sort(key=key, reverse=direction == "desc")
    cursor = args.get("cursor")
    if cursor:
        mark = _decode_cursor(cursor)
        selected = [row for row in selected if (key(row) > mark if direction == "asc" else key(row) < mark)]
    page, more = selected[:limit], len(selected) > limit
    last = page[-1] if page else None
    next_cursor = _encode_cursor(sort_by, key(last)[0], last["id"], direction) if more and last else None
    data = [render(row) for row in page] if render is not None else page
    return json_response({"success": True, "data": data, "additional_data": {"next_cursor": next_cursor}})
