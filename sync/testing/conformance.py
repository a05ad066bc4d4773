"""The conformance suite every connector runs against its sandbox, like the Singer SDK's
`get_tap_test_class`: the contract's promises, and every fault an API can throw, written once.

A connector's test folder holds one small file:

    class TestHubSpotConformance(ConformanceSuite):
        harness = HubSpotHarness()

with a `Harness` saying what differs for that CRM (where its contact reads go, how it throttles, which
settings give refreshable credentials), and the fixtures every connector test folder provides under the
same names: `sandbox` (a started sandbox on the test clock), `make_connector(**overrides)` (a connector
on that sandbox whose sleep moves the clock), `clock` and `virtual_sleep` (its `.waits`).

The suite covers: a full pull and an incremental one; push, and a partial batch where one record fails and
the others land; throttling that waits what the API said (Retry-After in seconds and as an HTTP-date);
server errors retried with back-off, then surfacing after the configured attempts; a malformed body
retried, never taken for an empty page; a slow answer and a dropped connection retried; a push sent again
after its connection dropped; an expired token renewed once and the call sent once more, a token refused right
after renewal stopping the account; the daily budget refusing before it sends; health for a throttled account and for refused credentials; and no
secret in any log line. What only one CRM does stays in that CRM's own test files.

This module imports pytest: it is for test suites, never imported by crmsync itself.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from email.utils import format_datetime
from typing import Any, ClassVar

import pytest

from sync.contract import FieldUpdate, PullPage
from sync.errors import AuthFailed, RateLimited, TransientError
from sync.log import configure_logging, reset_logging
from sync.synthetic import synthetic_contacts


@contextmanager
def closing_factory(build: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """A test fixture's factory (`make_connector`, `make_world`...): builds things with `build(*args,
    **options)` and closes each one when the test ends."""
    built: list[Any] = []

    def make(*args: Any, **options: Any) -> Any:
        built.append(build(*args, **options))
        return built[-1]

    yield make
    for thing in built:
        thing.close()


class Harness:
    """What the suite needs to know of one CRM. Paths are request-path prefixes in the sandbox."""

    crm: ClassVar[str]
    contacts_path: ClassVar[str]  # where the contact reads of a pull go (faults are scheduled there)
    push_path: ClassVar[str]  # where a push's writes go, and their method
    push_method: ClassVar[str]
    health_path: ClassVar[str]  # where the health probe goes
    refreshing: ClassVar[Mapping[str, Any]] = {}  # `make_connector` options for credentials that refresh
    tiny_daily_budget: ClassVar[Mapping[str, Any]]  # options leaving the budget for a handful of calls

    def throttle(self, sandbox: Any, retry_after: str, times: int = 1, path: str | None = None) -> None:
        """Schedule `times` throttled answers carrying `Retry-After: retry_after` on `path` (contacts)."""
        sandbox.faults.add("rate_limit", times, path=path or self.contacts_path, retry_after=retry_after)

    def change(self, sandbox: Any, native_id: str) -> None:
        """Modify one contact the way a user would (an incremental pull must see it)."""
        sandbox.set_field(native_id, "budget", "approved")

    def refuse_credentials(self, sandbox: Any) -> None:
        """Make the CRM refuse the connector's credentials from now on, for good."""
        sandbox.faults.add("expire_token", 100)

    def secrets(self, sandbox: Any) -> list[str]:
        return [value for key, value in sandbox.credentials().items() if key != "client_id"]


def pull(connector: Any, cursor: str | None = None) -> tuple[list[str], str, list[PullPage]]:
    pages = list(connector.pull(cursor))
    return [contact.id for page in pages for contact in page.contacts], pages[-1].cursor, pages


class ConformanceSuite:
    """Subclass with `harness = <the CRM's Harness>()` in a test folder providing the fixtures above."""

    harness: ClassVar[Harness]

    # -- the contract --------------------------------------------------------------------------------------

    def test_a_full_pull_reads_every_contact_once_and_reports_its_calls(self, sandbox: Any,
                                                                       make_connector: Callable[..., Any]) -> None:
        ids = sandbox.seed(synthetic_contacts(30))
        connector = make_connector()
        pulled, cursor, pages = pull(connector)
        assert sorted(pulled) == sorted(ids.values())
        assert cursor and sum(page.api_calls for page in pages) == sum(connector.api_calls.values())

    def test_an_incremental_pull_reads_only_what_changed(self, sandbox: Any, make_connector: Callable[..., Any],
                                                         clock: Any) -> None:
        ids = list(sandbox.seed(synthetic_contacts(10)).values())
        connector = make_connector()
        _, cursor, _ = pull(connector)
        clock.advance(timedelta(minutes=5))
        self.harness.change(sandbox, ids[3])
        clock.advance(timedelta(minutes=5))
        changed, cursor, _ = pull(connector, cursor)
        assert changed == [ids[3]]
        clock.advance(timedelta(minutes=5))
        assert pull(connector, cursor)[0] == []  # nothing changed since: nothing emitted, overlap included

    def test_a_push_writes_each_record_and_returns_results_in_order(self, sandbox: Any,
                                                                   make_connector: Callable[..., Any]) -> None:
        ids = list(sandbox.seed(synthetic_contacts(4)).values())
        connector = make_connector()
        connector.ensure_fields()
        results = connector.push([FieldUpdate(native, {"score": 40 + offset}) for offset, native in enumerate(ids)])
        assert [result.contact_id for result in results] == ids and all(result.ok for result in results)
        assert [sandbox.written(native)["score"] for native in ids] == [40, 41, 42, 43]

    def test_a_partial_batch_fails_the_rejected_record_and_lands_the_others(
            self, sandbox: Any, make_connector: Callable[..., Any]) -> None:
        ids = list(sandbox.seed(synthetic_contacts(3)).values())
        connector = make_connector()
        connector.ensure_fields()
        sandbox.delete_contact(ids[1])
        results = connector.push([FieldUpdate(native, {"score": 70}) for native in ids])
        assert [result.ok for result in results] == [True, False, True]
        assert results[1].error is not None and results[1].error.record_id == ids[1]
        assert sandbox.written(ids[0])["score"] == 70 and sandbox.written(ids[2])["score"] == 70

    # -- faults --------------------------------------------------------------------------------------------

    @pytest.mark.parametrize("form", ["seconds", "http-date"])
    def test_throttling_waits_what_the_api_said(self, sandbox: Any, make_connector: Callable[..., Any],
                                                clock: Any, virtual_sleep: Any, form: str) -> None:
        ids = sandbox.seed(synthetic_contacts(3))
        connector = make_connector()
        when = format_datetime(clock.now() + timedelta(seconds=7), usegmt=True) if form == "http-date" else "7"
        self.harness.throttle(sandbox, when)
        assert sorted(pull(connector)[0]) == sorted(ids.values())
        assert virtual_sleep.waits == [7.0]

    def test_server_errors_are_retried_with_backoff(self, sandbox: Any, make_connector: Callable[..., Any],
                                                    virtual_sleep: Any) -> None:
        ids = sandbox.seed(synthetic_contacts(3))
        sandbox.faults.add("server_error", 2, path=self.harness.contacts_path, status=503)
        assert sorted(pull(make_connector())[0]) == sorted(ids.values())
        assert len(virtual_sleep.waits) == 2 and all(0 < wait <= 120 for wait in virtual_sleep.waits)

    def test_persistent_server_errors_surface_after_the_configured_attempts(
            self, sandbox: Any, make_connector: Callable[..., Any]) -> None:
        sandbox.seed(synthetic_contacts(1))
        sandbox.faults.add("server_error", 10, path=self.harness.contacts_path, status=503)
        with pytest.raises(TransientError) as caught:
            pull(make_connector(retry_attempts=3))
        assert caught.value.status == 503
        assert sandbox.requests.count(path_prefix=self.harness.contacts_path) == 3

    def test_a_malformed_body_is_retried_never_taken_for_an_empty_page(
            self, sandbox: Any, make_connector: Callable[..., Any]) -> None:
        ids = sandbox.seed(synthetic_contacts(3))
        sandbox.faults.add("malformed", 1, path=self.harness.contacts_path)
        assert sorted(pull(make_connector())[0]) == sorted(ids.values())
        sandbox.faults.add("malformed", 10, path=self.harness.contacts_path)
        with pytest.raises(TransientError):
            pull(make_connector(retry_attempts=2))

    def test_a_slow_answer_times_out_and_is_retried(self, sandbox: Any, make_connector: Callable[..., Any],
                                                    virtual_sleep: Any) -> None:
        ids = sandbox.seed(synthetic_contacts(2))
        sandbox.faults.add("slow", 1, path=self.harness.contacts_path, seconds=2.5)
        assert sorted(pull(make_connector(timeout_s=1.0))[0]) == sorted(ids.values())
        assert len(virtual_sleep.waits) == 1

    def test_a_dropped_connection_is_retried(self, sandbox: Any, make_connector: Callable[..., Any]) -> None:
        ids = sandbox.seed(synthetic_contacts(2))
        sandbox.faults.add("drop", 1, path=self.harness.contacts_path)
        assert sorted(pull(make_connector())[0]) == sorted(ids.values())

    def test_a_push_whose_connection_dropped_is_sent_again(self, sandbox: Any,
                                                          make_connector: Callable[..., Any]) -> None:
        ids = list(sandbox.seed(synthetic_contacts(3)).values())
        connector = make_connector()
        connector.ensure_fields()
        sandbox.faults.add("drop", 1, path=self.harness.push_path, method=self.harness.push_method)
        results = connector.push([FieldUpdate(native, {"score": 55}) for native in ids])
        assert all(result.ok for result in results) and all(sandbox.written(native)["score"] == 55 for native in ids)

    def test_an_expired_token_is_renewed_once_and_the_call_sent_once_more(
            self, sandbox: Any, make_connector: Callable[..., Any]) -> None:
        ids = sandbox.seed(synthetic_contacts(3))
        connector = make_connector(**self.harness.refreshing)
        pull(connector)
        grants = connector.api_calls["auth"]
        sandbox.faults.expire_token_after(1)
        assert sorted(pull(connector)[0]) == sorted(ids.values())
        assert connector.api_calls["auth"] == grants + 1
        assert [request.status for request in sandbox.requests.all()].count(401) == 1

    def test_a_token_refused_right_after_renewal_stops_the_account(
            self, sandbox: Any, make_connector: Callable[..., Any], virtual_sleep: Any) -> None:
        connector = make_connector(**self.harness.refreshing)
        connector.health()  # the first grant is fetched
        sandbox.faults.add("expire_token", 2, path=self.harness.contacts_path)
        with pytest.raises(AuthFailed, match="just issued"):
            pull(connector)
        assert virtual_sleep.waits == []

    def test_the_daily_budget_refuses_before_sending_and_never_sleeps(
            self, sandbox: Any, make_connector: Callable[..., Any], virtual_sleep: Any) -> None:
        sandbox.seed(synthetic_contacts(2))
        with pytest.raises(RateLimited) as caught:
            pull(make_connector(**self.harness.tiny_daily_budget))
        assert caught.value.scope == "daily" and caught.value.status is None and virtual_sleep.waits == []

    # -- health ----------------------------------------------------------------------------------------------

    def test_a_healthy_account_reports_its_budget(self, sandbox: Any, make_connector: Callable[..., Any]) -> None:
        health = make_connector().health()
        assert health.reachable and health.authorised and health.message == "ok"
        assert health.budget.limit is not None and health.budget.remaining is not None

    def test_a_throttled_account_is_reachable_and_authorised(self, sandbox: Any,
                                                            make_connector: Callable[..., Any]) -> None:
        connector = make_connector(retry_attempts=1)
        self.harness.throttle(sandbox, "30", path=self.harness.health_path)
        health = connector.health()
        assert health.reachable and health.authorised and health.message != "ok"
        assert health.budget.limit is not None

    def test_refused_credentials_are_reachable_but_not_authorised(self, sandbox: Any,
                                                                 make_connector: Callable[..., Any]) -> None:
        connector = make_connector()
        self.harness.refuse_credentials(sandbox)
        health = connector.health()
        assert health.reachable and not health.authorised

    def test_no_secret_reaches_a_log_line_or_an_error(self, sandbox: Any, make_connector: Callable[..., Any]) -> None:
        sandbox.seed(synthetic_contacts(2))
        stream = io.StringIO()
        configure_logging(json=True, level="DEBUG", stream=stream)
        try:
            sandbox.faults.add("server_error", 1, path=self.harness.contacts_path, status=503)
            connector = make_connector(**self.harness.refreshing)
            pull(connector)
            sandbox.faults.expire_token_after(1)
            pull(connector)
            self.harness.refuse_credentials(sandbox)
            health = connector.health()
        finally:
            reset_logging()
        text = stream.getvalue() + health.message
        text += " ".join(f"{request.path}?{request.query}" for request in sandbox.requests.all())
        assert "api_call_retry" in text
        assert all(secret not in text for secret in self.harness.secrets(sandbox))
