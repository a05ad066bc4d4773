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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sync.daemon.http import OpsApp, OpsServer
from sync.daemon.readiness import CheckResult
from sync.daemon.runtime import Daemon
from sync.errors import ConfigError
from sync.settings import load_settings

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


# --- README's container block, checked against the Dockerfile and compose.yaml -----------------------------
# No container engine runs here: scripts/docker-smoke.sh runs the block wherever Docker does. These tests
# follow the block line by line instead, keeping track of the files it creates, and check each docker
# command against what the image and the compose file need at that point.


def readme_block() -> list[str]:
    """The commands of README's container block (what scripts/docker-smoke.sh runs)."""
    section = (ROOT / "README.md").read_text().split("### The container", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_smoke_script_runs_the_same_block():
    printed = subprocess.run(["bash", str(ROOT / "scripts" / "docker-smoke.sh"), "--print-readme-block"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
    assert [line for line in printed.splitlines() if line.strip() and not line.startswith("#")] == readme_block()
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "docker-smoke.sh")], check=False).returncode == 0


def image_env() -> dict[str, str]:
    env = " ".join(step.args for step in final_stage() if step.keyword == "ENV")
    return dict(item.split("=", 1) for item in shlex.split(env))


def secret_references(node: object) -> Iterator[tuple[str, str]]:
    """Every `{env: NAME}` and `{file: PATH}` in a loaded settings file, as (kind, name)."""
    if isinstance(node, dict):
        if len(node) == 1 and next(iter(node)) in ("env", "file"):
            yield next(iter(node.items()))
        for value in node.values():
            yield from secret_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from secret_references(item)


def compose_needs(created: set[str]) -> None:
    """Everything `docker compose up` reads exists by then, and the settings it mounts can start."""
    spec = compose()
    crmsync = spec["services"]["crmsync"]
    for service in spec["services"].values():
        for env_file in service.get("env_file", []):
            assert env_file in created, f"compose reads {env_file}, which the block has not created yet"
    for name in crmsync.get("secrets", []):
        assert spec["secrets"][name]["file"].removeprefix("./") in created, f"secret {name}: its file is missing"
    mount = next(v for v in crmsync["volumes"] if v.endswith(":/config:ro"))
    config_dir = mount.split(":-", 1)[1].split("}", 1)[0].removeprefix("./")
    settings_name = crmsync["environment"]["CRMSYNC_CONFIG"].removeprefix("/config/")
    assert f"{config_dir}/{settings_name}" in created, "the mounted config folder has no settings file"
    settings = YAML(typ="safe").load((ROOT / "config" / "crmsync.example.yaml").read_text())
    rules = settings["rules"]["path"]
    assert rules.startswith("/config/") and f"{config_dir}/{rules.removeprefix('/config/')}" in created, \
        "the settings name a rules file the config folder does not hold"
    references = list(secret_references(settings))
    for secret in (path.removeprefix("/run/secrets/") for kind, path in references if kind == "file"):
        assert secret in crmsync.get("secrets", []), f"{secret}: read from /run/secrets but not mounted by compose"
    env = dict(line.split("=", 1) for line in (ROOT / "crmsync.env.example").read_text().splitlines()
               if line and not line.startswith("#"))
    for variable in (name for kind, name in references if kind == "env"):
        assert env.get(variable), f"{variable}: read by the settings, empty or missing in crmsync.env.example"
    ignored = (ROOT / ".gitignore").read_text().split()
    for private in (f"{config_dir}/", "secrets/", "crmsync.env", "postgres.env"):
        assert private in ignored, f"{private} is not git-ignored"
    ports = [p for p in crmsync["ports"] if p.startswith("127.0.0.1:")]
    assert ports and all(p.rsplit(":", 1)[1] == image_env()["CRMSYNC_HTTP_PORT"] for p in ports)


def test_the_readme_container_block_runs_top_to_bottom():
    """Each line of the block finds what it needs: made by an earlier line or in the repository."""
    created: set[str] = set()
    built: set[str] = set()
    published: set[str] = set()
    running: set[str] = set()
    bound = inspect.signature(Daemon).parameters["shutdown_timeout"].default.total_seconds()
    for line in readme_block():
        for command in (part.strip() for part in line.split("&&")):
            words = shlex.split(command)
            if words[:2] == ["docker", "build"]:
                assert words[-1] == "." and (ROOT / "Dockerfile").exists()
                built.add(words[words.index("-t") + 1])
            elif words[:2] == ["docker", "run"]:
                assert words[-1] in built, "docker run of an image the block did not build"
                timeout = int(words[words.index("--stop-timeout") + 1])
                assert timeout >= bound + 5, "Docker's default stop timeout (10 s) kills the batch in flight"
                for index, word in enumerate(words):
                    if word == "--env-file":
                        assert words[index + 1] in created, f"--env-file {words[index + 1]} before it exists"
                    if word == "-v" and words[index + 1].startswith((".", "$")):
                        assert words[index + 1].split(":")[0].removeprefix("./") in created
                host, container = words[words.index("-p") + 1].rsplit(":", 2)[1:]
                assert container == image_env()["CRMSYNC_HTTP_PORT"] and "EXPOSE" in {s.keyword for s in final_stage()}
                assert image_env()["CRMSYNC_HTTP_HOST"] == "0.0.0.0"  # a published port reaches it
                published.add(host)
                running.add(words[words.index("--name") + 1])
            elif words[:2] == ["docker", "stop"] or words[:2] == ["docker", "rm"]:
                assert words[2] in running
            elif words[:3] == ["docker", "compose", "up"]:
                compose_needs(created)
                published.add("8080")
            elif words[0] == "curl":
                url = words[-1]
                assert url.split(":")[1].split("/")[0] in published and url.endswith(("/healthz", "/readyz"))
            elif words[:2] == ["mkdir", "-p"]:
                created.update(words[2:])
            elif words[0] == "cp":
                source, target = words[1], words[2]
                assert (ROOT / source).is_file() or source in created, f"cp {source}: no such file"
                assert "/" not in target or target.rsplit("/", 1)[0] in created, f"cp into a missing folder: {line}"
                created.add(target)
            elif words[0] == "printf":
                target = words[words.index(">") + 1] if ">" in words else command.rsplit(">", 1)[1].strip()
                assert target.rsplit("/", 1)[0] in created
                created.add(target)
            else:
                raise AssertionError(f"a command these tests do not know how to check: {command}")
    assert built and published and "crmsync.env" in created


def test_the_image_s_bind_address_and_port_come_from_the_environment(tmp_path):
    config = tmp_path / "crmsync.yaml"
    config.write_text("http: {host: 127.0.0.1, port: 9000}\naccounts: [{name: a, crm: fake, sandbox: true}]\n")
    env = image_env()
    settings = load_settings(config, environ={k: env[k] for k in ("CRMSYNC_HTTP_HOST", "CRMSYNC_HTTP_PORT")})
    assert (settings.http.host, settings.http.port) == ("0.0.0.0", int(env["CRMSYNC_HTTP_PORT"]))
    assert load_settings(config, environ={}).http.host == "127.0.0.1"  # outside the image, the file says
    with pytest.raises(ConfigError, match="CRMSYNC_HTTP_PORT='http' in the environment is not a port"):
        load_settings(config, environ={"CRMSYNC_HTTP_PORT": "http"})


def test_the_copied_example_settings_validate_with_the_example_secrets(tmp_path):
    """What the block leaves in crmsync-config/, crmsync.env and secrets/ is accepted by `crmsync run`'s
    loader (the secret files read from a stand-in for /run/secrets)."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "salesforce_client_secret").write_text("change-me")
    config = tmp_path / "crmsync.yaml"
    config.write_text((ROOT / "config" / "crmsync.example.yaml").read_text().replace("/run/secrets/", f"{secrets}/"))
    env = dict(line.split("=", 1) for line in (ROOT / "crmsync.env.example").read_text().splitlines()
               if line and not line.startswith("#"))
    settings = load_settings(config, environ={**env, **image_env()})
    assert [a.name for a in settings.accounts] == ["hubspot-eu", "hubspot-us", "salesforce", "pipedrive"]
    assert str(settings.rules.path) == "/config/rules.yaml" and settings.http.host == "0.0.0.0"
