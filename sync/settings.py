"""crmsync's settings: the admin's YAML validated into typed, frozen objects before anything runs.

The pipeline: read the YAML keeping positions;
validate the file's own shape (`SettingsFile`); then, per account, validate
its `settings:` block with that CRM connector's settings model (found through
`sync.registry`), after merging the per-CRM `crm_defaults:` under it and
resolving secret references; then cross-field checks. Every problem of every
step is collected and reported as `PATH:LINE:COL: message`. Only a fully valid
file becomes a `Settings`; a reload swaps settings only if the new file is valid. (Over 450 lines: every
block of the file is declared here, so the published JSON Schema and the validation read from one place.)
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sync.configfile import Loc, PositionedDocument, read_yaml, validate
from sync.errors import ConfigError, ConfigIssue
from sync.registry import NotInstalled, crm_kind
from sync.secrets import SecretProblem, is_reference, nested_models, resolve_reference, secret_fields
from sync.state.engine import StoreTimeouts
from sync.state.records import AccountRef

CONFIG_ENV = "CRMSYNC_CONFIG"
# The ops server's address from the environment, over `http:` in the file: the container image sets them
# (0.0.0.0:8080), so a mounted settings file written for a laptop (127.0.0.1) still listens on the published
# port, and the HEALTHCHECK, which reads CRMSYNC_HTTP_PORT, probes the port the daemon really listens on.
HTTP_HOST_ENV = "CRMSYNC_HTTP_HOST"
HTTP_PORT_ENV = "CRMSYNC_HTTP_PORT"
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                       r"(?:(\d+(?:\.\d+)?)s)?\s*$")
DURATION_PATTERN = r"^(\d+(\.\d+)?d)?(\d+(\.\d+)?h)?(\d+(\.\d+)?m)?(\d+(\.\d+)?s)?$"


def parse_duration(value: Any) -> Any:
    """"90s", "5m", "1h30m", "2d" or a number of seconds; anything else is left for pydantic to reject."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like 30s, 5m, 1h30m, 1d")  # noqa: TRY004 (pydantic reports ValueError as a located problem)
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match or not value.strip() or not any(match.groups()):
            raise ValueError(f"{value!r} is not a duration: write e.g. 30s, 5m, 1h30m, 1d")
        days, hours, minutes, seconds = (float(amount) if amount else 0.0 for amount in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    return value


def _format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(_format_duration, return_type=str),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "number", "minimum": 0}],
                    "description": "a duration: 30s, 5m, 1h30m, 1d, or a number of seconds"}),
]
CrmName = Literal["hubspot", "salesforce", "pipedrive", "fake"]


class _Frozen(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class StateSettings(_Frozen):
    url: str = Field("sqlite:///var/crmsync.db", description=(
        "SQLAlchemy URL of the state store: sqlite:///RELATIVE/PATH (from the working directory), "
        "sqlite:////ABSOLUTE/PATH, or postgresql://USER@HOST:PORT/DB. A password belongs in a .pgpass file or "
        "PGPASSWORD, never in this URL."))

    @pydantic.field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL") from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported state store {backend!r}: use sqlite:///PATH or postgresql://...")
        if make_url(value).password:
            raise ValueError("the URL carries a password: put it in PGPASSWORD or ~/.pgpass instead")
        return value

    connect_timeout: Duration = Field(timedelta(seconds=10), description=(
        "how long opening a database connection may take before the store counts as unreachable"))
    lock_timeout: Duration = Field(timedelta(seconds=10), description=(
        "how long a statement may wait for a lock another connection holds (SQLite: the busy timeout); "
        "past it the run fails, saying so, instead of hanging"))
    statement_timeout: Duration = Field(timedelta(seconds=20), description=(
        "how long one statement may run (PostgreSQL only; migrations are exempt). Keep it under the "
        "25 s shutdown bound so a SIGTERM never waits on a statement"))

    def timeouts(self) -> StoreTimeouts:
        return StoreTimeouts(connect=self.connect_timeout, lock=self.lock_timeout, statement=self.statement_timeout)


class RulesSettings(_Frozen):
    path: Path | None = Field(None, description="the rules file; null uses the rules shipped with crmsync")
    reload_interval: Duration = Field(timedelta(seconds=5), description="how often the rules file is checked")


class HttpSettings(_Frozen):
    host: str = Field("127.0.0.1", description="the address /healthz, /readyz and /metrics listen on; "
                                               "$CRMSYNC_HTTP_HOST overrides it (the container image sets 0.0.0.0)")
    port: int = Field(8080, ge=0, le=65535, description="$CRMSYNC_HTTP_PORT overrides it")


class LoggingSettings(_Frozen):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = Field("auto", description="auto: JSON unless on a terminal")


class SweepSettings(_Frozen):
    interval: Duration = Field(timedelta(minutes=5), description="how often SLA timers and review dates are checked")
    review_within: Duration = Field(timedelta(days=1), description=(
        "a prospect is re-examined at least this often even when nothing changes (inactivity window, decay)"))


class FullRescoreSettings(_Frozen):
    interval: Duration | None = Field(timedelta(days=1), description=(
        "rescore every contact from its snapshot this often (scores decay with time); null disables"))


class PushSettings(_Frozen):
    batch_size: int | None = Field(None, ge=1, description="records per push call; null: the connector's own size")
    max_attempts: int = Field(5, ge=1, le=50, description="a write that keeps failing retryably is dropped after this")
    health_interval: Duration = Field(timedelta(minutes=15), description="how often a run records the API budget")


class EscalationSettings(_Frozen):
    """What crmsync does when a prospect's SLA is breached, for this account."""

    to: Literal["manager", "user", "none"] = Field("none", description=(
        "task for the owner's manager (where the CRM records managers: Salesforce User.ManagerId; elsewhere, or "
        "for an owner without a manager, `user_id`), for the configured user, or no escalation task"))
    user_id: str | None = Field(None, min_length=1, max_length=255, description=(
        "CRM user id the escalation task is assigned to (HubSpot owner id, Salesforce User id, Pipedrive user "
        "id): a person or a shared queue user"))
    webhook: bool = Field(True, description="post each breach of this account to `sla_webhook`, when one is set")

    @pydantic.model_validator(mode="after")
    def _user_for_user(self) -> EscalationSettings:
        if self.to == "user" and self.user_id is None:
            raise ValueError("to: user needs user_id")
        return self


def _not_inline(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError("a secret: write it as {env: VARIABLE} or {file: PATH}, never inline")
    return value


class SecretReference(_Frozen):
    """`{env: NAME}` or `{file: PATH}`: where a secret is read from, never the secret itself."""

    env: str | None = Field(None, min_length=1)
    file: str | None = Field(None, min_length=1)

    @pydantic.model_validator(mode="after")
    def _exactly_one(self) -> SecretReference:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env: or file:")
        return self


class WebhookSettings(_Frozen):
    """Where SLA breaches are posted (Slack-compatible JSON, HMAC-signed), by a job of its own."""

    url: str = Field(pattern=r"^https?://", description="the receiving URL (a Slack incoming webhook works)")
    secret: Annotated[SecretReference, BeforeValidator(_not_inline)] = Field(description=(
        "shared secret of the X-Crmsync-Signature HMAC: {env: VARIABLE} or {file: PATH}"))
    timeout: Duration = Field(timedelta(seconds=10), description="per request")
    interval: Duration = Field(timedelta(seconds=30), description="how often pending deliveries are tried")
    max_attempts: int = Field(8, ge=1, le=50, description="deliveries of one breach before it is given up")


class ReplicasSettings(_Frozen):
    lease: Duration = Field(timedelta(seconds=30), description=(
        "replicas on one PostgreSQL store: how long an account stays with a replica that stopped renewing "
        "(renewed every third of it). A killed replica's accounts resume elsewhere within one interval plus "
        "this; a SQLite store has one process and no lease"))

    @pydantic.field_validator("lease")
    @classmethod
    def _lease_bounds(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=10):
            raise ValueError("the lease must be between 1s and 10m")
        return value


class AccountFile(_Frozen):
    """One CRM account as written in the file."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="unique; used in logs, metrics and state")
    crm: CrmName
    enabled: bool = True
    sandbox: bool = Field(False, description="start this CRM's sandbox in-process and sync against it")
    sandbox_contacts: int = Field(200, ge=0, le=1_000_000, description="synthetic contacts seeded into the sandbox")
    interval: Duration = Field(timedelta(minutes=5), description="time between two sync runs of this account")
    jitter: Duration = Field(timedelta(seconds=30), description="random delay added to each run")
    settings: dict[str, Any] = Field(default_factory=dict, description=(
        "the connector's settings (base URL, credentials, field mapping, limits). Secrets only as "
        "{env: NAME} or {file: PATH}."))
    escalation: EscalationSettings = EscalationSettings()


class SettingsFile(_Frozen):
    """The settings file as written: everything but the connector-specific blocks is checked here."""

    state: StateSettings = StateSettings()
    rules: RulesSettings = RulesSettings()
    http: HttpSettings = HttpSettings()
    logging: LoggingSettings = LoggingSettings()
    sla_sweep: SweepSettings = SweepSettings()
    full_rescore: FullRescoreSettings = FullRescoreSettings()
    push: PushSettings = PushSettings()
    sla_webhook: WebhookSettings | None = Field(None, description="post SLA breaches here; null: no webhook")
    replicas: ReplicasSettings = ReplicasSettings()
    crm_defaults: dict[CrmName, dict[str, Any]] = Field(default_factory=dict, description=(
        "settings shared by every account of a CRM (e.g. a field mapping), merged under each account's settings"))
    accounts: list[AccountFile] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Account:
    """One validated account. `connector` is the connector's settings model instance; for a sandbox account it
    holds only the overrides (`overrides`), applied on top of the sandbox's own settings when it starts."""

    name: str
    crm: str
    enabled: bool
    sandbox: bool
    sandbox_contacts: int
    interval: timedelta
    jitter: timedelta
    connector: pydantic.BaseModel | None
    overrides: Mapping[str, Any]
    escalation: EscalationSettings = EscalationSettings()

    @property
    def ref(self) -> AccountRef:
        return AccountRef(self.crm, self.name)


@dataclass(frozen=True, slots=True)
class Settings:
    source: str
    file: SettingsFile
    accounts: tuple[Account, ...]
    webhook_secret: pydantic.SecretStr | None = None  # `sla_webhook.secret`, resolved

    @property
    def state(self) -> StateSettings:
        return self.file.state

    @property
    def rules(self) -> RulesSettings:
        return self.file.rules

    @property
    def http(self) -> HttpSettings:
        return self.file.http

    @property
    def logging(self) -> LoggingSettings:
        return self.file.logging

    @property
    def sla_sweep(self) -> SweepSettings:
        return self.file.sla_sweep

    @property
    def full_rescore(self) -> FullRescoreSettings:
        return self.file.full_rescore

    @property
    def push(self) -> PushSettings:
        return self.file.push

    @property
    def sla_webhook(self) -> WebhookSettings | None:
        return self.file.sla_webhook

    @property
    def replicas(self) -> ReplicasSettings:
        return self.file.replicas

    def account(self, name: str) -> Account:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)


def default_config_path() -> Path:
    """The embedded default settings (sandbox CRMs, SQLite state), shipped as `sync.defaults/crmsync.yaml`."""
    return Path(str(importlib.resources.files("sync.defaults").joinpath("crmsync.yaml")))


def config_path(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """`--config`, else `$CRMSYNC_CONFIG`, else the embedded default."""
    environ = os.environ if environ is None else environ
    if path:
        return Path(path)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return default_config_path()


def _cross_checks(file: SettingsFile, doc: PositionedDocument) -> list[ConfigIssue]:
    issues = []
    seen: dict[str, int] = {}
    for index, account in enumerate(file.accounts):
        if account.name in seen:
            issues.append(doc.issue(("accounts", index, "name"),
                                    f"account name {account.name!r} is already used by accounts[{seen[account.name]}]"))
        seen.setdefault(account.name, index)
        if account.jitter >= account.interval:
            issues.append(doc.issue(("accounts", index, "jitter"), "jitter must be shorter than interval"))
        if account.interval < timedelta(seconds=1):
            issues.append(doc.issue(("accounts", index, "interval"), "interval must be at least 1s"))
    return issues


def connector_defaults(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The default of every connector setting that is a mapping (field mappings, stage maps...)."""
    out = {}
    for name, info in model.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if isinstance(default, dict):
            out[info.alias or name] = default
    return out


def merge_mappings(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` over `base`, where a mapping given for a mapping setting overrides only the entries it names:
    `field_map: {score: My_Score__c}` moves the score and keeps the connector's defaults for every other
    field (an entry set to null, where the connector allows it, stops writing that field)."""
    merged = {**base, **given}
    for key, value in given.items():
        current = base.get(key)
        if isinstance(value, dict) and isinstance(current, dict) and not _is_reference(value):
            merged[key] = {**current, **value}
    return merged


def _is_reference(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in ("env", "file")


def _sub_document(doc: PositionedDocument, data: dict[str, Any], sources: list[Loc]) -> PositionedDocument:
    """A document for one connector block: positions re-rooted so the block's errors point into the file."""
    positions: dict[Loc, tuple[int, int]] = {(): doc.locate(sources[-1])}
    for prefix in sources:  # later sources (the account's own block) win over earlier ones (crm_defaults)
        for loc, at in doc.positions.items():
            if loc[:len(prefix)] == prefix and len(loc) > len(prefix):
                positions[loc[len(prefix):]] = at
    return PositionedDocument(path=doc.path, data=data, positions=positions)


def _account(doc: PositionedDocument, file: SettingsFile, index: int, environ: Mapping[str, str],
             base: Path) -> tuple[Account | None, list[ConfigIssue]]:
    raw = file.accounts[index]
    here: Loc = ("accounts", index)
    try:
        model = crm_kind(raw.crm).settings_model()
    except NotInstalled as exc:
        return None, [doc.issue((*here, "crm"), f"the {raw.crm} connector cannot be loaded: {exc}")]
    defaults = file.crm_defaults.get(raw.crm, {})  # type: ignore[call-overload]
    merged = merge_mappings(defaults, raw.settings)  # a mapping in both: the account names what differs
    sources: list[Loc] = [("crm_defaults", raw.crm), (*here, "settings")]
    issues: list[ConfigIssue] = []

    def where(key: str) -> Loc:
        return (*here, "settings", key) if key in raw.settings else ("crm_defaults", raw.crm, key)

    resolved = _resolve_references(model, merged, where, doc, issues, environ=environ, base=base)
    if issues:
        return None, issues
    if not raw.sandbox:  # a sandbox account's overrides are merged over the sandbox's own settings instead
        completed = merge_mappings(connector_defaults(model), resolved)
        resolved = {key: completed[key] for key in resolved}
    sub = _sub_document(doc, resolved, sources if raw.crm in file.crm_defaults else sources[1:])
    connector: pydantic.BaseModel | None = None
    try:
        if raw.sandbox:
            unknown = sorted(set(resolved) - set(model.model_fields) -
                             {field_info.alias for field_info in model.model_fields.values() if field_info.alias})
            issues += [sub.issue((key,), f"unknown key {key!r}") for key in unknown]
        else:
            connector = validate(sub, model)
    except ConfigError as exc:
        issues += exc.issues
    if issues:
        return None, issues
    return Account(name=raw.name, crm=raw.crm, enabled=raw.enabled, sandbox=raw.sandbox,
                   sandbox_contacts=raw.sandbox_contacts, interval=raw.interval, jitter=raw.jitter,
                   connector=connector, overrides=resolved if raw.sandbox else {}, escalation=raw.escalation), []


def _resolve_references(model: type[pydantic.BaseModel], values: Mapping[str, Any], where: Callable[[str], Loc],
                        doc: PositionedDocument, issues: list[ConfigIssue], *, environ: Mapping[str, str],
                        base: Path, prefix: str = "") -> dict[str, Any]:
    """`values` with every `{env:}` / `{file:}` reference resolved, in nested settings blocks too; an inline
    value in a secret field is an issue (located, never repeating the value)."""
    secrets, nested = secret_fields(model), nested_models(model)
    resolved: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if is_reference(value):
            secret = resolve_reference(value, environ=environ, base=base)
            if isinstance(secret, SecretProblem):
                issues.append(doc.issue(where(key), f"{name}: {secret.message}"))
                continue
            resolved[key] = secret if key in secrets else secret.get_secret_value()
        elif key in secrets and value is not None:
            issues.append(doc.issue(where(key), f"{name} is a secret: write it as {{env: VARIABLE}} or "
                                                "{file: PATH}, never inline"))
        elif key in nested and isinstance(value, Mapping):
            resolved[key] = _resolve_references(nested[key], value, _inside(where, key), doc, issues,
                                                environ=environ, base=base, prefix=f"{name}.")
        else:
            resolved[key] = value
    return resolved


def _inside(where: Callable[[str], Loc], outer: str) -> Callable[[str], Loc]:
    """Where a key of the nested block `outer` is in the file."""
    return lambda inner: (*where(outer), inner)


def _http_from_environment(file: SettingsFile, doc: PositionedDocument,
                           environ: Mapping[str, str]) -> tuple[SettingsFile, list[ConfigIssue]]:
    """`http:` with $CRMSYNC_HTTP_HOST / $CRMSYNC_HTTP_PORT over it, when they are set and not empty."""
    update: dict[str, Any] = {}
    if environ.get(HTTP_HOST_ENV, "").strip():
        update["host"] = environ[HTTP_HOST_ENV].strip()
    if environ.get(HTTP_PORT_ENV, "").strip():
        text = environ[HTTP_PORT_ENV].strip()
        if not text.isdigit() or int(text) > 65535:
            return file, [doc.issue(("http", "port"), f"{HTTP_PORT_ENV}={text!r} in the environment is not a port "
                                                      "number (0-65535)")]
        update["port"] = int(text)
    if not update:
        return file, []
    return file.model_copy(update={"http": file.http.model_copy(update=update)}), []


def validate_settings(doc: PositionedDocument, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed settings document; ConfigError lists every problem, located."""
    environ = os.environ if environ is None else environ
    file = validate(doc, SettingsFile, checks=[_cross_checks])
    file, issues = _http_from_environment(file, doc, environ)
    base = Path(doc.path).resolve().parent
    accounts = []
    for index in range(len(file.accounts)):
        account, problems = _account(doc, file, index, environ, base)
        issues += problems
        if account is not None:
            accounts.append(account)
    secret = None
    if file.sla_webhook is not None:
        reference = file.sla_webhook.secret
        found = resolve_reference({"env": reference.env} if reference.env else {"file": reference.file},
                                  environ=environ, base=base)
        if isinstance(found, SecretProblem):
            issues.append(doc.issue(("sla_webhook", "secret"), f"sla_webhook.secret: {found.message}"))
        else:
            secret = found
    if issues:
        raise ConfigError(sorted(issues, key=lambda issue: (issue.line, issue.column)))
    return Settings(source=doc.path, file=file, accounts=tuple(accounts), webhook_secret=secret)


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings file named by `path`, `$CRMSYNC_CONFIG` or the embedded default."""
    return validate_settings(read_yaml(config_path(path, environ)), environ)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the settings file (editor validation; `config/crmsync.schema.json`), each connector's
    `settings:` block included (`sync.settings_schema`)."""
    from sync.settings_schema import settings_schema  # it reads every connector's settings model

    return settings_schema(SettingsFile)
