"""The connector toolkit: what every CRM connector is built on, so each connector is only its CRM's
specifics (endpoints, mapping, and the hooks below).

- `gateway`: `Gateway` sends every request (pace, authenticate, count, send, read, translate, retry);
  `Dialect` holds the per-CRM hooks (`observe` budget headers, `error` answers, `transport_error`,
  `parse`, `seconds_to_daily_reset`); `Call` describes a request, `Answer` its answer, `Limits` the
  account's budgets. `Gateway.health(probe)` judges the account from the latest answer.
- `tokens`: `StaticToken` and `RefreshingToken` (refreshed before expiry and once on rejection).
- `headers`: `Retry-After` in seconds and HTTP-date form, numeric headers.
- `paging`: `Paginator` (`items`, `has_more`, `next` hooks, repeated-token check, `PagingLoop`) and
  `TokenPaginator`, `OffsetPaginator`, `NextUrlPaginator`.
- `cursor`: `Cursor` and `Watermark`, the one incremental cursor, serialised one way, older forms read
  through a connector's legacy reader.
- `settings`: `ConnectorSettings`, the options every connector shares (timeout, retries, ownership).
- `reading`: `RecordReader`, raw values typed by hand read field by field (a bad one is unknown and a
  `RecordProblem`, never a failed page); `read_record` skips a record whose mapping fails.
- `vocabulary`: the values people type in any CRM (seniority, the recurring flag) and how a connector
  reads them as neutral words, after its own CRM's table and its settings.
- `ownership`: who owns a native field people also edit (`always`, `unless_changed_by_person`, `never`)
  and the one `decide` every connector calls before writing it.

The conformance suite every connector runs against its sandbox is `sync.testing.conformance`.
"""
