"""The Kubernetes manifests under deploy/kubernetes are checked, not only written.

No cluster runs here, so every object both kustomizations render is validated against the Kubernetes
API schemas that `kubernetes-validate` carries (strict: an unknown or misspelt field fails), the KEDA
ScaledObject against KEDA's own CRD schema (tests/data/), and the settings that must agree with the
processes are read back: disruption budgets, termination grace against the API's drain, probes,
resources against the measured peaks, the ConfigMap against shared/settings.py, the scaling query
against the metrics the API serves (and, where promtool is installed, against made-up series).

Rendering: `kubectl kustomize` where kubectl is installed. Without it, a few lines below render the
subset of kustomize these files use (resources, images, a remove patch), and
test_kubectl_renders_what_the_fallback_renders proves them equal wherever kubectl exists. Debian 12's
own kubectl (1.20) is too old to be that fallback: its kustomize cannot load `resources: - ../base`.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared.settings import Settings
from tests.integration.test_deploy_monitoring import FLEET_GAUGES, ROOT_ACCOUNT_GAUGES
from worker.settings import MAX_JOBS

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = (KUBERNETES, KUBERNETES / "autoscaling")
# Applied with `kubectl apply -f`, outside the kustomizations.
LOOSE_FILES = (KUBERNETES / "migrate-job.yaml", KUBERNETES / "secret.example.yaml")
KEDA_CRD = ROOT / "tests" / "data" / "keda-scaledobjects-crd.yaml"
# The oldest Kubernetes the manifests are meant for (the preStop hook is an exec of sleep, not the
# `sleep` action of 1.30+, so that it works everywhere), and the newest the package knows.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
API, WORKER = "outcome-imports-api", "outcome-imports-worker"
# The SMTP URL may carry a password.
SECRET_SETTINGS = {
    "DATABASE_URL",
    "OUTCOME_IMPORTS_BOOTSTRAP_TOKEN",
    "OUTCOME_IMPORTS_METRICS_TOKEN",
    "OUTCOME_IMPORTS_SMTP_URL",
}
# Peak RSS in MB (kernel VmHWM) measured on the development machine; the manifests' comments say how.
# API: eight concurrent uploads and 20 status pollers. Worker: its 4 slots busy re-importing 100k-row files.
MEASURED_PEAK_MB = {API: 75, WORKER: 214}
MIB = 1024**2
DEFAULTS = Settings(database_url="postgresql://", redis_url="redis://", storage_url="file:///")


def _render_without_kubectl(directory: Path) -> list[dict[str, Any]]:
    """What `kubectl kustomize` makes of the features these kustomizations use, and no others."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "resources", "images", "patches"}, directory
    docs: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            docs += _render_without_kubectl(path)
        else:
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for image in kustomization.get("images", []):
        for container in (c for doc in docs for c in _containers(doc)):
            if container["image"].split(":")[0] == image["name"]:
                container["image"] = f"{image['newName']}:{image['newTag']}"
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        (doc,) = [d for d in docs if (d["kind"], d["metadata"]["name"]) == (target["kind"], target["name"])]
        for operation in yaml.safe_load(patch["patch"]):
            assert operation["op"] == "remove", operation
            *parents, last = operation["path"].strip("/").split("/")
            node = doc
            for key in parents:
                node = node[key]
            del node[last]
    return docs


def render(directory: Path) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        return _render_without_kubectl(directory)
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] not in {"Deployment", "Job"}:
        return []
    containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    return containers


def _by_kind_and_name(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def base() -> dict[tuple[str, str], dict[str, Any]]:
    return _by_kind_and_name(render(KUBERNETES))


def every_object() -> list[dict[str, Any]]:
    loose = [doc for path in LOOSE_FILES for doc in yaml.safe_load_all(path.read_text()) if doc]
    return [doc for directory in KUSTOMIZATIONS for doc in render(directory)] + loose


def scaled_object() -> dict[str, Any]:
    (doc,) = [doc for doc in render(KUBERNETES / "autoscaling") if doc["kind"] == "ScaledObject"]
    return doc


def keda_validator() -> jsonschema.protocols.Validator:
    """KEDA's CRD schema, made strict: the API server silently drops unknown fields of a CRD object,
    so a misspelt `minReplicas` would apply without a word and do nothing."""
    crd = yaml.safe_load(KEDA_CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])

    def close(node: dict[str, Any]) -> None:
        if "properties" in node:
            node.setdefault("additionalProperties", False)
            for child in node["properties"].values():
                close(child)
        if isinstance(node.get("items"), dict):
            close(node["items"])

    close(schema)
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def validate(doc: dict[str, Any], version: str) -> None:
    if doc["apiVersion"] == "keda.sh/v1alpha1":
        keda_validator().validate(doc)
    else:
        kubernetes_validate.validate(doc, version, strict=True)


def test_kubectl_renders_what_the_fallback_renders() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed; the other tests render with the fallback")
    for directory in KUSTOMIZATIONS:
        assert _by_kind_and_name(render(directory)) == _by_kind_and_name(_render_without_kubectl(directory))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_against_the_schemas_of_its_kind(version: str) -> None:
    objects = every_object()
    assert {doc["kind"] for doc in objects} == {
        "ConfigMap",
        "Secret",
        "Service",
        "Deployment",
        "Job",
        "PodDisruptionBudget",
        "ScaledObject",
    }
    for doc in objects:
        validate(doc, version)


def test_the_validation_rejects_misspelt_fields() -> None:
    api = base()["Deployment", API]
    api["spec"]["template"]["spec"]["terminationGracePeriod"] = 45
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(api, KUBERNETES_VERSIONS[-1])
    keda = scaled_object()
    keda["spec"]["minReplicas"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validate(keda, KUBERNETES_VERSIONS[-1])


def test_each_deployment_has_a_disruption_budget_of_one_pod() -> None:
    objects = base()
    budgets = [doc for (kind, _), doc in objects.items() if kind == "PodDisruptionBudget"]
    deployments = [doc for (kind, _), doc in objects.items() if kind == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {API, WORKER}
    for deployment in deployments:
        selector = deployment["spec"]["selector"]
        (budget,) = [b for b in budgets if b["spec"]["selector"] == selector]
        assert budget["spec"]["maxUnavailable"] == 1
        assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert len(budgets) == len(deployments)


def test_the_api_stops_after_the_endpoints_are_gone_and_has_time_to_drain() -> None:
    objects = base()
    pod = objects["Deployment", API]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    drain = int(objects["ConfigMap", "outcome-imports-config"]["data"]["OUTCOME_IMPORTS_SHUTDOWN_DRAIN_SECONDS"])
    assert drain == DEFAULTS.shutdown_drain_seconds
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    assert 3 <= pause <= 10
    # The grace period runs from the preStop hook: pause, drain, then at least 10 s to close and exit.
    assert pod["terminationGracePeriodSeconds"] >= pause + drain + 10
    port = int(container["args"][container["args"].index("--port") + 1])
    assert {"name": "http", "containerPort": port} in container["ports"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert "httpGet" not in container["livenessProbe"]  # a database outage must not restart every pod
    assert objects["Deployment", API]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_a_worker_has_a_short_grace_period() -> None:
    # arq cancels its running imports on SIGTERM and they go back to the queue at once
    # (tests/faults/test_worker_sigterm.py): waiting longer would let nothing finish.
    pod = base()["Deployment", WORKER]["spec"]["template"]["spec"]
    assert 10 <= pod["terminationGracePeriodSeconds"] <= 60
    assert "lifecycle" not in pod["containers"][0]


def _mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_memory_requests_sit_at_the_measured_peak_and_limits_leave_headroom() -> None:
    objects = base()
    for name, peak_mb in MEASURED_PEAK_MB.items():
        (container,) = objects["Deployment", name]["spec"]["template"]["spec"]["containers"]
        resources = container["resources"]
        request, limit = _mib(resources["requests"]["memory"]), _mib(resources["limits"]["memory"])
        peak = peak_mb * 1e6 / MIB
        assert peak <= request <= 1.5 * peak, (name, request, peak)
        assert limit >= 2 * request, (name, limit, request)
        assert "cpu" in resources["requests"]
        assert "cpu" not in resources["limits"]  # throttling would only slow imports and health checks


def test_the_config_map_sets_every_setting_that_is_not_secret_at_its_default() -> None:
    data = base()["ConfigMap", "outcome-imports-config"]["data"]
    secret = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())["stringData"]
    defaults = {
        (field.name if field.default is MISSING else f"outcome_imports_{field.name}").upper(): field.default
        for field in fields(Settings)
    }
    assert set(data) == set(defaults) - SECRET_SETTINGS, (
        "every setting of shared/settings.py that is not secret belongs in deploy/kubernetes/base/configmap.yaml, "
        "at its default (and in the x-app environment of deploy/compose.yaml)"
    )
    assert set(secret) == SECRET_SETTINGS | {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    for name, value in data.items():
        # Without a default (URLs, S3 endpoint and region) the value is an example to edit.
        if defaults[name] not in (MISSING, None):
            assert value == str(defaults[name]), name


def test_the_autoscaling_kustomization_is_the_base_plus_keda_owning_the_worker_count() -> None:
    plain = base()
    scaled = _by_kind_and_name(render(KUBERNETES / "autoscaling"))
    assert plain["Deployment", WORKER]["spec"]["replicas"] == 2
    assert "replicas" not in scaled["Deployment", WORKER]["spec"]  # the HPA KEDA creates sets it
    scaled["Deployment", WORKER]["spec"]["replicas"] = 2
    assert {key: doc for key, doc in scaled.items() if key[0] != "ScaledObject"} == plain


def test_workers_scale_on_root_accounts_with_work_four_per_worker() -> None:
    spec = scaled_object()["spec"]
    assert spec["scaleTargetRef"] == {"name": WORKER}
    (trigger,) = spec["triggers"]
    assert (trigger["type"], trigger["metricType"]) == ("prometheus", "AverageValue")
    assert trigger["metadata"]["threshold"] == str(MAX_JOBS)  # one slot per busy root account
    assert 2 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    assert spec["fallback"]["replicas"] == spec["minReplicaCount"]
    query = trigger["metadata"]["query"]
    names = set(re.findall(r"outcome_imports_[a-z_]+", query))
    assert names == {
        "outcome_imports_waiting_imports",
        "outcome_imports_running_imports",
        "outcome_imports_queue_paused",
        "outcome_imports_workers_live",
    }
    assert names <= ROOT_ACCOUNT_GAUGES | FLEET_GAUGES
    # Fleet-wide figures, the same on every API replica: each combined with max, never summed.
    for name in names:
        assert re.search(rf"max(?: by \(root_account_id\) )?\({name}\)", query), name
    assert "sum" not in query


PROMTOOL_SERIES = [
    # (metric, root account, value at 0m, 1m): served alike by two API replicas.
    ("outcome_imports_waiting_imports", "1", "3 0"),  # a backlog with one running: needs one slot
    ("outcome_imports_running_imports", "1", "1 0"),
    ("outcome_imports_waiting_imports", "2", "2 0"),  # paused: waits for no slot
    ("outcome_imports_running_imports", "2", "0 0"),
    ("outcome_imports_queue_paused", "2", "1 1"),
    ("outcome_imports_waiting_imports", "3", "0 0"),  # paused, but its running import holds a slot
    ("outcome_imports_running_imports", "3", "1 0"),
    ("outcome_imports_queue_paused", "3", "1 1"),
    ("outcome_imports_waiting_imports", "4", "0 0"),  # nothing to do
    ("outcome_imports_running_imports", "4", "0 0"),
    ("outcome_imports_waiting_imports", "5", "1 0"),  # waiting its turn for a worker
    ("outcome_imports_running_imports", "5", "0 0"),
]


def test_the_scaling_query_counts_busy_root_accounts_once_whatever_the_api_replicas(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    query = scaled_object()["spec"]["triggers"][0]["metadata"]["query"]
    series = [
        {"series": f'{metric}{{job="outcome-imports-api",instance="{replica}",root_account_id="{root}"}}', "values": v}
        for metric, root, v in PROMTOOL_SERIES
        for replica in ("api-a:8080", "api-b:8080")
    ]
    series += [
        {"series": f'outcome_imports_workers_live{{job="outcome-imports-api",instance="{replica}"}}', "values": "2 2"}
        for replica in ("api-a:8080", "api-b:8080")
    ]
    tests = {
        "rule_files": [],
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {"expr": query, "eval_time": "0m", "exp_samples": [{"labels": "{}", "value": 3}]},
                    {"expr": query, "eval_time": "1m", "exp_samples": [{"labels": "{}", "value": 0}]},
                ],
            },
            {
                # The API's metrics missing from Prometheus: no value at all, so KEDA falls back.
                "interval": "1m",
                "input_series": [{"series": 'up{job="outcome-imports-api"}', "values": "0"}],
                "promql_expr_test": [{"expr": query, "eval_time": "0m", "exp_samples": []}],
            },
        ],
    }
    path = tmp_path / "scaling.test.yaml"
    path.write_text(yaml.safe_dump(tests))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
