"""The deployment files, checked without a cluster or a container engine: the Kubernetes example probes the
daemon's own endpoints on its ops port, reads its secrets from the Secret its settings name, outlives the
shutdown bound, rolls one pod at a time under a PodDisruptionBudget that selects its pods, and mounts
settings that validate and use PostgreSQL; compose.yaml can be scaled (no fixed host port, no container
name, PostgreSQL as the store)."""

from __future__ import annotations

import inspect
from pathlib import Path

from ruamel.yaml import YAML
from werkzeug.test import Client

from sync.configfile import parse_yaml
from sync.daemon.http import OpsApp
from sync.daemon.readiness import CheckResult
from sync.daemon.runtime import Daemon
from sync.settings import validate_settings

ROOT = Path(__file__).resolve().parents[1]
KUBE = ROOT / "deploy" / "kubernetes"


def documents() -> dict[str, dict]:
    found = {}
    for path in sorted(KUBE.glob("*.yaml")):
        for document in YAML(typ="safe").load_all(path.read_text()):
            found[document["kind"]] = document
    return found


def container() -> dict:
    (only,) = documents()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def shutdown_bound_s() -> float:
    return float(inspect.signature(Daemon).parameters["shutdown_timeout"].default.total_seconds())


def test_the_example_holds_a_deployment_a_pdb_a_secret_and_the_settings():
    assert {"Deployment", "PodDisruptionBudget", "Secret", "ConfigMap"} <= set(documents())


def test_probes_hit_the_daemon_s_own_endpoints_on_the_ops_port():
    spec = container()
    env = {item["name"]: item["value"] for item in spec["env"]}
    ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
    assert env["CRMSYNC_HTTP_HOST"] == "0.0.0.0" and int(env["CRMSYNC_HTTP_PORT"]) == ports["ops"]
    probes = {kind: spec[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"] == {"path": "/healthz", "port": "ops"}
    assert probes["readinessProbe"] == {"path": "/readyz", "port": "ops"}
    ok = {"x": CheckResult(True)}
    app = OpsApp(liveness=lambda: ok, readiness=lambda: ok, metrics=lambda: b"", metrics_content_type="text/plain")
    for probe in probes.values():  # the paths are the ones the daemon serves, not a 404
        assert Client(app).get(probe["path"]).status_code == 200


def test_the_grace_period_outlives_the_shutdown_bound_and_rolls_one_pod_at_a_time():
    deployment = documents()["Deployment"]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > shutdown_bound_s()
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert rolling == {"maxSurge": 1, "maxUnavailable": 0}
    assert deployment["spec"]["replicas"] >= 2


def test_the_pdb_selects_the_deployment_s_pods():
    deployment, budget = documents()["Deployment"], documents()["PodDisruptionBudget"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = budget["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] == 1


def test_secrets_come_from_the_secret_and_the_mounted_settings_validate_on_postgresql(tmp_path):
    found = documents()
    secret_name = found["Secret"]["metadata"]["name"]
    assert [source["secretRef"]["name"] for source in container()["envFrom"]] == [secret_name]
    config = found["ConfigMap"]
    volumes = found["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": config["metadata"]["name"]}} in volumes
    mount = next(m for m in container()["volumeMounts"] if m["name"] == "config")
    env = {item["name"]: item["value"] for item in container()["env"]}
    assert env["CRMSYNC_CONFIG"] == f"{mount['mountPath']}/crmsync.yaml" and mount["readOnly"]
    path = tmp_path / "crmsync.yaml"
    path.write_text(config["data"]["crmsync.yaml"])
    settings = validate_settings(parse_yaml(path.read_text(), str(path)), dict(found["Secret"]["stringData"]))
    assert settings.state.url.startswith("postgresql://")  # replicas share PostgreSQL: SQLite is one process
    assert "@" in settings.state.url and ":" not in settings.state.url.split("//")[1].split("@")[0]  # no password


def test_the_pod_runs_as_the_image_s_non_root_user_on_a_read_only_root():
    pod = documents()["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert container()["securityContext"]["readOnlyRootFilesystem"]


def test_compose_can_be_scaled_on_postgresql():
    compose = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())
    crmsync = compose["services"]["crmsync"]
    assert "container_name" not in crmsync  # a fixed name cannot be scaled
    for published in crmsync["ports"]:
        host = published.rsplit(":", 1)[0].split(":", 1)[1]
        assert "-" in host or host == "", f"{published}: a fixed host port collides at --scale"
    assert "postgres" in crmsync["depends_on"]
