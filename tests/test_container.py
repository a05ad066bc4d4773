"""The container files, checked without a container engine: the Dockerfile's final stage runs crmsync as a
non-root user with an exec-form ENTRYPOINT (so SIGTERM reaches Python) and a HEALTHCHECK that works (it is
run here against a live ops server), the build context holds what the image copies, and compose.yaml
describes crmsync next to a healthy PostgreSQL 16 with secrets kept out of the file."""

from __future__ import annotations

import fnmatch
import inspect
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sync.daemon.http import OpsApp, OpsServer
from sync.daemon.readiness import CheckResult
from sync.daemon.runtime import Daemon

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        parsed = json.loads(self.args)
        assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), self
        return parsed


def instructions() -> list[Instruction]:
    logical: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return [Instruction(*(part.strip() for part in line.split(None, 1))) for line in logical]


def final_stage() -> list[Instruction]:
    steps = instructions()
    last_from = max(i for i, step in enumerate(steps) if step.keyword == "FROM")
    return steps[last_from:]


def test_multi_stage_build_on_python_slim():
    bases = [step.args.split()[0] for step in instructions() if step.keyword == "FROM"]
    assert len(bases) >= 2 and set(bases) == {"python:3.11-slim"}
    assert any(step.keyword == "COPY" and step.args.startswith("--from=build") for step in final_stage())


def test_the_final_stage_runs_as_a_non_root_user():
    users = [step.args for step in final_stage() if step.keyword == "USER"]
    assert users, "no USER in the final stage: the daemon would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and int(user) >= 1000


def test_entrypoint_and_cmd_are_exec_form_so_sigterm_reaches_python():
    stage = {step.keyword: step for step in final_stage()}
    assert stage["ENTRYPOINT"].exec_form() == ["crmsync"]
    assert stage["CMD"].exec_form() == ["run"]
    assert stage["STOPSIGNAL"].args == "SIGTERM"


def test_config_and_data_are_volumes_and_the_config_path_is_set():
    stage = final_stage()
    volumes = [v for step in stage if step.keyword == "VOLUME" for v in json.loads(step.args)]
    assert {"/config", "/data"} <= set(volumes)
    env = " ".join(step.args for step in stage if step.keyword == "ENV")
    assert "CRMSYNC_CONFIG=/config/crmsync.yaml" in shlex.split(env)


def healthcheck_command() -> list[str]:
    (check,) = [step for step in final_stage() if step.keyword == "HEALTHCHECK"]
    options, _, command = check.args.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = Instruction("CMD", command.strip()).exec_form()
    assert argv[0] == "python" and not {"curl", "wget"} & set(argv)
    return argv


@pytest.mark.parametrize("alive, expected", [(True, 0), (False, 1)])
def test_the_healthcheck_command_probes_healthz(alive, expected):
    app = OpsApp(liveness=lambda: {"scheduler": CheckResult(alive)}, readiness=dict, metrics=lambda: b"",
                 metrics_content_type="text/plain")
    server = OpsServer(app, port=0).start()
    try:
        argv = [sys.executable, *healthcheck_command()[1:]]
        env = {**os.environ, "CRMSYNC_HTTP_PORT": str(server.port)}
        result = subprocess.run(argv, check=False, env=env, capture_output=True, timeout=30)
    finally:
        server.stop()
    assert result.returncode == expected, result.stderr


def test_the_healthcheck_fails_when_nothing_listens():
    server = OpsServer(OpsApp(liveness=dict, readiness=dict, metrics=lambda: b"", metrics_content_type="x"), port=0)
    port = server.port
    server.stop()  # the port is now closed
    argv = [sys.executable, *healthcheck_command()[1:]]
    result = subprocess.run(argv, check=False, env={**os.environ, "CRMSYNC_HTTP_PORT": str(port)}, capture_output=True, timeout=30)
    assert result.returncode == 1


def dockerignore_allows(relative: str) -> bool:
    allowed = False
    for pattern in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(relative, pattern) or relative.startswith(pattern + "/"):
            allowed = negate
    return allowed


def test_everything_the_image_copies_is_in_the_build_context():
    sources = []
    for step in instructions():
        if step.keyword == "COPY" and not step.args.startswith("--from="):
            parts = [p for p in step.args.split() if not p.startswith("--")]
            sources += [p.rstrip("/") for p in parts[:-1]]
    assert {"pyproject.toml", "sync", "connectors", "config"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert dockerignore_allows(source), f"COPY {source}: excluded by .dockerignore"
    for private in (".venv", ".git", "tests", "crmsync.env", "postgres.env", "var"):
        assert not dockerignore_allows(private), f"{private} would be sent to the build context"


def compose() -> dict:
    return YAML(typ="safe").load((ROOT / "compose.yaml").read_text())


def test_compose_runs_crmsync_next_to_a_healthy_postgres_16():
    services = compose()["services"]
    assert set(services) == {"crmsync", "postgres"}
    postgres, crmsync = services["postgres"], services["crmsync"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert crmsync["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert crmsync["build"] == "."
    assert any(v.endswith(":/data") for v in crmsync["volumes"]) and any(":/config:ro" in v for v in crmsync["volumes"])
    named = {v.split(":")[0] for s in services.values() for v in s["volumes"] if not v.startswith(("$", ".", "/"))}
    assert named <= set(compose()["volumes"])


def test_compose_keeps_secrets_in_env_files_each_service_reading_only_its_own():
    services = compose()["services"]
    assert services["crmsync"]["env_file"] == ["crmsync.env"]
    assert services["postgres"]["env_file"] == ["postgres.env"]  # the database never receives a CRM token
    for service in services.values():
        for key, value in (service.get("environment") or {}).items():
            assert not any(word in key.upper() for word in ("PASSWORD", "TOKEN", "SECRET")), key
            assert "://" not in str(value) or "@" not in str(value), f"{key} carries credentials"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "crmsync.env" in ignored and "postgres.env" in ignored
    crmsync_env = (ROOT / "crmsync.env.example").read_text()
    postgres_env = [line for line in (ROOT / "postgres.env.example").read_text().splitlines()
                    if line and not line.startswith("#")]
    assert "PGPASSWORD=" in crmsync_env and "POSTGRES_PASSWORD=" not in crmsync_env
    assert [line.split("=")[0] for line in postgres_env] == ["POSTGRES_PASSWORD"]


def test_compose_grace_period_exceeds_the_daemon_shutdown_bound():
    bound = inspect.signature(Daemon).parameters["shutdown_timeout"].default.total_seconds()
    grace = compose()["services"]["crmsync"]["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) >= bound + 5
