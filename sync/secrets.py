"""Secret references: the only way a credential gets into crmsync's settings.

A secret is written in the settings file as `{env: NAME}` (an environment
variable) or `{file: PATH}` (a file, e.g. a mounted Docker/Kubernetes secret;
a relative path is taken from the settings file's folder; one trailing newline
is dropped), at any depth of a connector's settings (a secret inside a nested
block, such as an OAuth installation, is a secret all the same). The loader resolves it into a `pydantic.SecretStr` and registers
the value with the log masker. An inline value in a secret field is refused
with a located error that never repeats the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from sync.log import register_secret

REFERENCE_KEYS = frozenset({"env", "file"})


@dataclass(frozen=True, slots=True)
class SecretProblem:
    message: str


def is_reference(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in REFERENCE_KEYS


def resolve_reference(value: Mapping[str, Any], *, environ: Mapping[str, str],
                      base: Path) -> pydantic.SecretStr | SecretProblem:
    """Resolve `{env: NAME}` or `{file: PATH}`; a problem names the variable or file, never a value."""
    (kind, target), = value.items()
    if not isinstance(target, str) or not target:
        return SecretProblem(f"`{kind}:` needs a non-empty name")
    if kind == "env":
        if target not in environ:
            return SecretProblem(f"environment variable {target} is not set")
        secret = environ[target]
        if not secret:
            return SecretProblem(f"environment variable {target} is empty")
    else:
        path = Path(os.path.expanduser(target))
        path = path if path.is_absolute() else base / path
        try:
            secret = path.read_text(encoding="utf-8").removesuffix("\n")
        except OSError as exc:
            return SecretProblem(f"secret file {path} cannot be read ({exc.strerror or type(exc).__name__})")
        if not secret:
            return SecretProblem(f"secret file {path} is empty")
    register_secret(secret)
    return pydantic.SecretStr(secret)


def nested_models(model: type[pydantic.BaseModel]) -> dict[str, type[pydantic.BaseModel]]:
    """Top-level fields of a settings model that are settings models themselves (or None), by name: their
    secrets are references too (Pipedrive's `oauth: {client_secret: {env: NAME}, ...}`)."""
    nested = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, pydantic.BaseModel):
                nested[info.alias or name] = candidate
    return nested


def secret_fields(model: type[pydantic.BaseModel]) -> frozenset[str]:
    """Top-level fields of a settings model typed `SecretStr` (or `SecretStr | None`)."""
    names = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        if annotation is pydantic.SecretStr or pydantic.SecretStr in args:
            names.add(info.alias or name)
    return frozenset(names)
