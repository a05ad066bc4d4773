"""REST resources of the Salesforce sandbox: SOQL query/queryAll with `nextRecordsUrl` paging, describe,
limits and sObject Collections update, each answering in Salesforce's shapes (errors are arrays of
`{message, errorCode, fields?}`; per-record SaveResults `{id?, success, errors[{statusCode, message,
fields}]}` matched by position, failed entries without an id).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.salesforce.values import parse_time, to18
from connectors.sandbox.salesforce_soql import SoqlError
from connectors.sandbox.salesforce_schema import PICKLISTS, PREFIX, READ_ONLY
from connectors.sandbox.salesforce_store import Org, _base62

# "Update Records Using sObject Collections" (REST API Developer Guide): the list holds up to 200 objects, of
# any types; consecutive objects of one type are processed as a chunk, and a request processes up to 10
MAX_COLLECTION = 200
MAX_CHUNKS = 10
MIN_BATCH, MAX_BATCH = 200, 2000


@dataclass(frozen=True)
class ServedPage:
    """One page of SOQL results the sandbox answered: which object, how many rows. What the benchmarks and
    tests count reads with (a page is one API call)."""

    sobject: str
    rows: int
    first: bool  # the query itself, not a `nextRecordsUrl` follow-up


def error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = fields
    return Response(json.dumps([entry]), status=status, content_type="application/json;charset=UTF-8")


def ok(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json;charset=UTF-8")


def record_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields or []}]}


def rolled_back(checked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The SaveResults of an allOrNone request with a failure ("sObject Collections": allOrNone rolls back
    every record): the refused keep their errors, every other record is answered rolled back."""
    return [result if "errors" in result else record_error(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header")
        for result in checked]


class RestApi:
    def __init__(self, org: Org) -> None:
        self.org = org
        self._cursors: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self.served: list[ServedPage] = []
        self._cursor_count = 0
        self._lock = threading.Lock()
        self.record_failures: dict[str, list[tuple[str, str]]] = {}  # id -> queued (statusCode, message)

    def served_by_object(self, since: int = 0) -> tuple[Counter[str], Counter[str]]:
        """Query pages served (calls) and rows per sObject since the first `since` pages: what tests and the
        benchmark compare with each object's floor."""
        calls: Counter[str] = Counter()
        rows: Counter[str] = Counter()
        with self._lock:
            pages = self.served[since:]
        for page in pages:
            calls[page.sobject] += 1
            rows[page.sobject] += page.rows
        return calls, rows

    # --- SOQL -------------------------------------------------------------------------------------------
    def query(self, request: Request, version: str, *, include_deleted: bool) -> Response:
        soql = request.args.get("q")
        if not soql:
            return error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            sobject, rows = self.org.execute(soql, include_deleted=include_deleted)
        except SoqlError as exc:
            return error(400, exc.code, str(exc))
        with self._lock:
            self._cursor_count += 1
            locator = to18("01g8d" + _base62(self._cursor_count, 10))
            self._cursors[locator] = (sobject, rows)
        return self._page(version, locator, 0, _batch_size(request))

    def query_more(self, request: Request, version: str, cursor: str) -> Response:
        locator, _, offset = cursor.partition("-")
        rows = self._cursors.get(locator, ("", None))[1]
        if rows is None or not offset.isdigit() or int(offset) > len(rows):
            return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(version, locator, int(offset), _batch_size(request))

    def _page(self, version: str, locator: str, offset: int, batch: int) -> Response:
        sobject, rows = self._cursors[locator]
        end = min(offset + batch, len(rows))
        with self._lock:
            self.served.append(ServedPage(sobject, end - offset, first=offset == 0))
        payload: dict[str, Any] = {
            "totalSize": len(rows),
            "done": end >= len(rows),
            "records": rows[offset:end],
        }
        if end < len(rows):
            payload["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        return ok(payload)

    # --- describe / limits ------------------------------------------------------------------------------
    def describe(self, sobject: str) -> Response:
        """An object the user cannot access is answered as one that does not exist: 404 NOT_FOUND ("Status
        Codes and Error Responses": the resource couldn't be found, or there are sharing issues)."""
        if not self.org.accessible(sobject):
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        return ok(self.org.describe(sobject))

    def describe_global(self) -> Response:
        return ok(self.org.describe_global())

    @staticmethod
    def limits(used: int, limit: int) -> Response:
        return ok(
            {
                "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            }
        )

    # --- sObject Collections update ----------------------------------------------------------------------
    def collections_update(self, request: Request) -> Response:
        parsed = collection_body(request)
        if isinstance(parsed, Response):
            return parsed
        body, records = parsed
        types = [str((record.get("attributes") or {}).get("type")) if isinstance(record, dict) else ""
                 for record in records]
        if sum(1 for index, kind in enumerate(types) if index == 0 or kind != types[index - 1]) > MAX_CHUNKS:
            return error(
                400,
                "INVALID_BATCH_REQUEST",
                "Cannot have more than 10 chunks in a single operation. "
                "Please rearrange the data to reduce chunking.",
            )
        for record, sobject in zip(records, types, strict=True):
            for name in record:
                if (
                    name not in ("attributes", "id")
                    and sobject in self.org.schema
                    and not self.org.visible(sobject, name)
                ):
                    return error(
                        400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
                    )
        with self.org.lock:
            checked = [self._check(record, sobject) for record, sobject in zip(records, types, strict=True)]
            failed = any("errors" in result for result in checked)
            if body.get("allOrNone") and failed:
                return ok(rolled_back(checked))
            results = []
            for outcome in checked:
                if "errors" in outcome:
                    results.append(outcome)
                    continue
                self.org.update(outcome["sobject"], outcome["id"], outcome["values"])
                results.append({"id": outcome["id"], "success": True, "errors": []})
        return ok(results)

    def _check(self, record: Any, sobject: str) -> dict[str, Any]:
        if not isinstance(record, dict) or sobject not in self.org.schema:
            return record_error("INVALID_TYPE", "sObject type is not supported or missing in attributes")
        raw_id = record.get("id")
        if not isinstance(raw_id, str) or not raw_id:
            return record_error("MISSING_ARGUMENT", "Id not specified in an update call")
        try:
            record_id = to18(raw_id)
        except ValueError:
            return record_error(
                "MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {raw_id}", ["Id"]
            )
        if record_id[:3] != PREFIX[sobject]:
            return record_error(
                "MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {raw_id}", ["Id"]
            )
        stored = self.org.records[sobject].get(record_id)
        if stored is None:
            return record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if stored.get("IsDeleted"):
            return record_error("ENTITY_IS_DELETED", "entity is deleted")
        if sobject == "Lead" and stored.get("IsConverted"):
            return record_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        queued = self.record_failures.get(record_id)
        if queued:
            code, message = queued.pop(0)
            if not queued:
                del self.record_failures[record_id]
            return record_error(code, message)
        values: dict[str, Any] = {}
        for name, value in record.items():
            if name in ("attributes", "id"):
                continue
            converted = self._convert(sobject, name, value)
            if isinstance(converted, _Invalid):
                return record_error(converted.code, converted.message, [name])
            values[name] = converted
        return {"sobject": sobject, "id": record_id, "values": values}

    def _convert(self, sobject: str, name: str, value: Any) -> Any:
        if name in READ_ONLY:
            return _Invalid(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {name}. Please "
                "check the security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
            )
        field_type = self.org.schema[sobject][name]
        meta: Mapping[str, Any] = self.org.custom_meta.get((sobject, name), {})
        if field_type == "boolean":
            if value is None or isinstance(value, bool):
                return bool(value)
            return _Invalid("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}")
        if value is None:
            return None
        if field_type in ("double", "int", "currency"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return _Invalid(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}"
                )
            return int(value) if field_type == "int" or meta.get("scale") == "0" else float(value)
        if field_type == "datetime":
            try:
                parsed = parse_time(str(value))
            except ValueError:
                parsed = None
            if parsed is None:
                return _Invalid(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}"
                )
            return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)
        if not isinstance(value, str):
            return _Invalid("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}")
        allowed = PICKLISTS.get((sobject, name))
        if allowed is not None and value not in allowed:
            return _Invalid(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{name}: bad value for restricted picklist field: {value}",
            )
        length = int(meta.get("length") or 255)
        if len(value) > length:
            return _Invalid(
                "STRING_TOO_LONG", f"{name}: data value too large: {value[:20]}... (max length={length})"
            )
        return value


def collection_body(request: Request) -> tuple[dict[str, Any], list[Any]] | Response:
    """An sObject Collections body and its records, or the error Salesforce answers for it (malformed JSON, no
    `records` list, more than 200 records)."""
    try:
        body = json.loads(request.get_data() or b"null")
    except ValueError:
        return error(400, "JSON_PARSER_ERROR", "Unexpected character: was expecting JSON")
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        return error(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject[] from records")
    if len(records) > MAX_COLLECTION:
        return error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into "
                                               "this call")
    return body, records


class _Invalid:
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


def _batch_size(request: Request) -> int:
    options = request.headers.get("Sforce-Query-Options", "")
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(MIN_BATCH, min(MAX_BATCH, int(value)))
    return MAX_BATCH
