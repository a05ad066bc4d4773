"""The real sandbox CRMs running in this process, reached as ordinary accounts of a settings file: what
end-to-end tests and benchmarks run a `crmsync` subprocess against."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import pydantic

from sync import registry
from sync.clock import Clock
from sync.contract import FieldValue
from sync.synthetic import synthetic_contacts


def external_account(name: str, crm: str, settings: pydantic.BaseModel, *,
                     env_prefix: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A sandbox running in this process, written as a NON-sandbox account for a settings file that another
    process (a `crmsync` subprocess) reads: every connector setting the sandbox chose, each secret as
    `{env: NAME}`, with the secret values in the returned environment. As an admin would configure a real
    CRM, so the subprocess goes through the whole settings pipeline (secret references included)."""
    block: dict[str, Any] = {}
    env: dict[str, str] = {}
    for field_name in sorted(settings.model_fields_set):
        value = getattr(settings, field_name)
        key = type(settings).model_fields[field_name].alias or field_name
        if isinstance(value, pydantic.SecretStr):
            variable = f"{env_prefix}_{key.upper()}"
            env[variable] = value.get_secret_value()
            block[key] = {"env": variable}
        elif isinstance(value, pydantic.BaseModel) and any(
                isinstance(getattr(value, model_field), pydantic.SecretStr)
                for model_field in type(value).model_fields):
            nested, nested_env = external_account(name, crm, value, env_prefix=f"{env_prefix}_{key.upper()}")
            block[key], env = nested["settings"], {**env, **nested_env}
        else:
            block[key] = settings.model_dump(mode="json", include={field_name}, by_alias=True)[key]
    return {"name": name, "crm": crm, "settings": block}, env


class SandboxCrms:
    """One sandbox CRM of each kind running in this process (threads), seeded with `contacts` synthetic people
    each (every CRM its own slice of the population, as sandbox accounts get), all on one `clock`.

    For end-to-end tests and benchmarks: `settings_file` writes a crmsync settings file that reaches them
    as ordinary accounts (for a `crmsync` subprocess), `written` reads back what crmsync stored in each CRM
    through the sandboxes' own helpers, and `state` is every managed field of every contact of every CRM."""

    def __init__(self, crms: Sequence[str] | None = None, *, contacts: int, clock: Clock,
                 enforce_limits: bool = False, seed: int = 7,
                 options: Mapping[str, Mapping[str, Any]] | None = None, tag: str = "") -> None:
        """`options`: extra constructor arguments per CRM (a Pipedrive plan, a Salesforce daily limit...); `tag`
        is appended to each account's name, so several sets of CRMs can share one settings file."""
        self.clock = clock
        self.tag = tag
        self.sandboxes: dict[str, Any] = {}
        self.ids: dict[str, dict[str, str]] = {}  # crm -> synthetic id -> native id
        try:
            for index, (crm, factory) in enumerate(registry.sandbox_classes(crms).items()):
                extra = dict((options or {}).get(crm, {}))
                sandbox = factory(clock=clock, port=0, enforce_limits=enforce_limits, seed=seed, **extra).start()
                self.sandboxes[crm] = sandbox
                people = synthetic_contacts(contacts, seed=seed, now=clock.now(), crm=crm, start=index * contacts)
                self.ids[crm] = sandbox.seed(people)
        except BaseException:
            self.close()
            raise

    def __getitem__(self, crm: str) -> Any:
        return self.sandboxes[crm]

    def close(self) -> None:
        for sandbox in reversed(list(self.sandboxes.values())):
            sandbox.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def accounts(self) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Each sandbox as an ordinary account (named after its CRM and the tag), and the environment its
        secrets need."""
        accounts, env = [], {}
        for crm, sandbox in self.sandboxes.items():
            account, secrets = external_account(self.account_name(crm), crm, sandbox.settings(),
                                                env_prefix=f"CRMSYNC_E2E_{crm.upper()}{self.tag.upper()}")
            accounts.append({**account, "interval": "1h", "jitter": "0s"})
            env.update(secrets)
        return accounts, env

    def account_name(self, crm: str) -> str:
        return f"{crm}{self.tag}"

    def settings_file(self, path: Path, *, state_url: str, **sections: Any) -> dict[str, str]:
        """Write a settings file (JSON, which YAML reads) for these CRMs; returns the environment to run with."""
        accounts, env = self.accounts()
        path.write_text(json.dumps({"state": {"url": state_url}, **sections, "accounts": accounts}, indent=2))
        return env

    def written(self, crm: str, native_id: str) -> dict[str, FieldValue]:
        """crmsync's fields of one contact as the CRM stores them (absent fields left out)."""
        return {key: value for key, value in self.sandboxes[crm].written(native_id).items() if value is not None}

    def state(self) -> dict[str, dict[str, dict[str, FieldValue]]]:
        """Every crmsync field of every seeded contact of every CRM."""
        return {crm: {native: self.written(crm, native) for native in sorted(ids.values())}
                for crm, ids in self.ids.items()}
