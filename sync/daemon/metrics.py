"""Prometheus metrics of the daemon, on a registry of its own.

A private `CollectorRegistry` rather than prometheus-client's global one: two daemons in one test
process (or a daemon and the `demo` command) never collide on a metric name, and `/metrics` exposes
exactly crmsync's series (plus the standard `process_*` ones: memory, CPU, open files), not whatever
some imported library registered globally.

Every series is labelled by `crm` and `account` (several accounts of one CRM are distinct). Counters
only grow, from the `RunSummary` of each finished run (`record_run`); gauges hold the latest value
an account reported. Names carry the `crmsync_` namespace; `docs/operations.md` lists them all.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from sync.daemon.report import RunSummary

NAMESPACE = "crmsync"
ACCOUNT = ("crm", "account")
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The series `/metrics` serves. Thread-safe: prometheus-client metrics lock internally."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        if registry is None:
            ProcessCollector(registry=r)  # process_resident_memory_bytes & co: what a memory alert watches
        self.runs = Counter("runs", "Sync runs finished, by outcome (ok, partial, failed, parked, interrupted).",
                            (*ACCOUNT, "outcome"), namespace=NAMESPACE, registry=r)
        self.contacts_pulled = Counter("contacts_pulled", "Contacts read from the CRM.", ACCOUNT,
                                       namespace=NAMESPACE, registry=r)
        self.contacts_pushed = Counter("contacts_pushed", "Contacts whose changed fields were written.", ACCOUNT,
                                       namespace=NAMESPACE, registry=r)
        self.push_failures = Counter("push_failures", "Contacts the CRM refused to update (record errors).",
                                     ACCOUNT, namespace=NAMESPACE, registry=r)
        self.api_calls = Counter("api_calls", "CRM API calls, by category (contacts, deals, push, setup...).",
                                 (*ACCOUNT, "category"), namespace=NAMESPACE, registry=r)
        self.rate_limited = Counter("rate_limited", "Calls the CRM answered with a rate limit (429 or quota).",
                                    ACCOUNT, namespace=NAMESPACE, registry=r)
        self.errors = Counter("errors", "User-facing errors reported by runs.", ACCOUNT,
                              namespace=NAMESPACE, registry=r)
        self.skipped = Counter("runs_skipped", "Scheduled runs not started, by reason (still_running, parked, "
                               "stopping, missed).", ("job", "reason"), namespace=NAMESPACE, registry=r)
        self.breaches_open = Gauge("sla_breaches_open", "Contacts whose SLA is breached and not yet touched.",
                                   ACCOUNT, namespace=NAMESPACE, registry=r)
        self.cursor_lag = Gauge("cursor_lag_seconds", "Now minus the high-water mark of the account's cursor.",
                                ACCOUNT, namespace=NAMESPACE, registry=r)
        self.last_run = Gauge("last_run_timestamp_seconds", "Unix time the account's last run finished.",
                              ACCOUNT, namespace=NAMESPACE, registry=r)
        self.duration = Histogram("run_duration_seconds", "Wall time of one sync run.", ACCOUNT,
                                  namespace=NAMESPACE, registry=r,
                                  buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600))
        self.record_problems = Gauge("record_problems", "Records with a problem now, by source (pull: a record "
                                     "or field the mapping could not read; push: a write the CRM refused for "
                                     "good).", (*ACCOUNT, "source"), namespace=NAMESPACE, registry=r)
        self.setup_warnings = Gauge("setup_warnings", "Setup problems that switch a feature off (a label, an "
                                    "object or a field out of reach).", ACCOUNT, namespace=NAMESPACE, registry=r)
        self.fields_kept = Counter("fields_kept", "Native fields left as a person set them (ownership).", ACCOUNT,
                                   namespace=NAMESPACE, registry=r)
        self.sla_reminders = Counter("sla_reminders", "SLA reminder work, by kind (reminder, escalation, webhook) "
                                     "and outcome (decided, queued, created, recovered, retried, failed, skipped, "
                                     "completed, left, cancelled, not_completed; delivered, retrying for webhooks).",
                                     (*ACCOUNT, "kind", "outcome"), namespace=NAMESPACE, registry=r)
        self.rules_loaded = Gauge("rules_loaded", "1 while the rules file on disk is the one in force, 0 while a "
                                  "rejected file waits for a fix.", namespace=NAMESPACE, registry=r)
        self.leases_held = Gauge("leases_held", "Accounts this replica owns now (replicas on PostgreSQL).",
                                 namespace=NAMESPACE, registry=r)
        self.replicas_alive = Gauge("replicas_alive", "Replicas whose heartbeat is within a lease time, as this "
                                    "replica last saw them.", namespace=NAMESPACE, registry=r)
        self.lease_losses = Counter("lease_losses", "Account leases this replica lost (taken over, or not renewed in "
                                    "time): it stopped writing for the account.", ACCOUNT, namespace=NAMESPACE,
                                    registry=r)
        self.rules_reloads = Counter("rules_reloads", "Rules file changes seen, by result (applied, rejected).",
                                     ("result",), namespace=NAMESPACE, registry=r)

    def record_run(self, summary: RunSummary) -> None:
        """Fold one finished run into the series."""
        labels = {"crm": summary.crm, "account": summary.account}
        self.runs.labels(**labels, outcome=summary.outcome.value).inc()
        self.contacts_pulled.labels(**labels).inc(summary.pulled)
        self.contacts_pushed.labels(**labels).inc(summary.pushed)
        self.push_failures.labels(**labels).inc(summary.push_failed)
        self.rate_limited.labels(**labels).inc(summary.rate_limited)
        self.errors.labels(**labels).inc(len(summary.errors))
        for category, calls in sorted(summary.api_calls.items()):
            self.api_calls.labels(**labels, category=category).inc(calls)
        self.breaches_open.labels(**labels).set(summary.breaches_open)
        self.fields_kept.labels(**labels).inc(summary.kept)
        for (kind, outcome), count in sorted(summary.reminders.items()):
            self.record_reminders(summary.crm, summary.account, kind, outcome, count)
        for source, count in sorted(summary.record_problems.items()):
            self.record_problems.labels(**labels, source=source).set(count)
        if summary.setup_warnings is not None:
            self.setup_warnings.labels(**labels).set(summary.setup_warnings)
        if summary.cursor_lag_seconds is not None:
            self.cursor_lag.labels(**labels).set(summary.cursor_lag_seconds)
        if summary.finished_at is not None:
            self.last_run.labels(**labels).set(summary.finished_at.timestamp())
            self.duration.labels(**labels).observe(
                max((summary.finished_at - summary.started_at).total_seconds(), 0.0))

    def record_reminders(self, crm: str, account: str, kind: str, outcome: str, count: int = 1) -> None:
        """SLA reminder work done outside a run too (the webhook job's deliveries)."""
        self.sla_reminders.labels(crm=crm, account=account, kind=kind, outcome=outcome).inc(count)

    def record_leases(self, held: int, alive: int) -> None:
        self.leases_held.set(held)
        self.replicas_alive.set(alive)

    def record_lease_loss(self, name: str) -> None:
        crm, _, account = name.partition("/")
        self.lease_losses.labels(crm=crm, account=account or crm).inc()

    def record_skip(self, job: str, reason: str) -> None:
        self.skipped.labels(job=job, reason=reason).inc()

    def record_rules(self, *, applied: bool) -> None:
        self.rules_reloads.labels(result="applied" if applied else "rejected").inc()
        self.rules_loaded.set(1 if applied else 0)

    def render(self) -> bytes:
        """The Prometheus text exposition format (`CONTENT_TYPE`)."""
        return generate_latest(self.registry)
