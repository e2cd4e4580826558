"""The monitoring files under deploy/ agree with the metrics the code serves and with each other.

The Grafana dashboard and the alert rules may name only metrics that a /metrics page really serves
(rendered here by api/metrics.py from made-up figures), and must combine the fleet-wide ones (which
every API process serves alike, read from PostgreSQL and Redis) with max, never sum: two API
replicas would count every import twice. The Compose and Kubernetes files scrape the ports and
paths the processes serve, with the metrics token, under the job names the alerts and panels
select on. Offline and fast; `kubectl kustomize` and `promtool` run when they are installed
(Debian's `prometheus` package has promtool), else those tests are skipped.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import ApiMetrics, FleetFigures
from shared.db.fleet import FleetGauges, LiveWorkers, RunningImports
from shared.fleet_metrics import FleetCounters, HistogramCounts
from shared.models import ImportState
from worker.__main__ import main as worker_main

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "outcome-imports-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
PROMETHEUS_COMPOSE = DEPLOY / "prometheus" / "prometheus.yml"
PROMETHEUS_KUBERNETES = DEPLOY / "prometheus" / "kubernetes-scrape-configs.yml"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
JOBS = {"api": "outcome-imports-api", "worker": "outcome-imports-worker"}
API_PORT, WORKER_METRICS_PORT = 8080, 9100

# The metrics of the issue-12 contract, sorted by how they may be combined over API processes.
# test_the_contract_lists_exactly_what_the_code_serves keeps this in step with api/metrics.py.
ROOT_ACCOUNT_GAUGES = {
    "outcome_imports_imports",
    "outcome_imports_waiting_imports",
    "outcome_imports_oldest_wait_seconds",
    "outcome_imports_running_imports",
    "outcome_imports_queue_paused",
}
FLEET_GAUGES = {
    "outcome_imports_workers_live",
    "outcome_imports_worker_slots",
    "outcome_imports_worker_running_imports",
    "outcome_imports_stalled_imports",
}
ROOT_ACCOUNT_COUNTERS = {
    "outcome_imports_rows_processed_total",
    "outcome_imports_row_errors_total",
    "outcome_imports_finished_total",
    "outcome_imports_upload_bytes_total",
    "outcome_imports_uploads_total",
}
FLEET_HISTOGRAMS = {"outcome_imports_queue_wait_seconds", "outcome_imports_run_seconds"}
PER_PROCESS = {
    "outcome_imports_http_requests_total",
    "outcome_imports_http_request_duration_seconds",
    "outcome_imports_worker_jobs_running",
}
FLEET_WIDE = ROOT_ACCOUNT_GAUGES | FLEET_GAUGES | ROOT_ACCOUNT_COUNTERS | FLEET_HISTOGRAMS
HISTOGRAMS = FLEET_HISTOGRAMS | {"outcome_imports_http_request_duration_seconds"}
KNOWN_METRICS = FLEET_WIDE | PER_PROCESS

# worker/metrics.py serves it from a port of the worker's own; it is not on the API's page.
WORKER_JOBS_RUNNING = "outcome_imports_worker_jobs_running"

METRIC_NAME = re.compile(r"outcome_imports_[a-z_]+")
ANY_METRIC_NAME = re.compile(r"\b(?:outcome_imports|process|python)_[a-z_]+")
# What may stand right before a fleet-wide metric: max over the API processes, or absent().
FLEET_COMBINED = re.compile(r"(max(?: by \([a-z_, ]*\))? ?\((?:(?:rate|increase)\()?|absent\()$")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression, histogram series (_bucket, _sum, _count) as the histogram."""
    names = set()
    for name in METRIC_NAME.findall(expr):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        names.add(base if base in HISTOGRAMS else name)
    return names


def served_sample_names() -> set[str]:
    """The sample names of an API process's /metrics page, every family with a sample, plus the
    worker's gauge. Whatever a panel or a rule names must be one of these, or it shows nothing."""
    metrics = ApiMetrics(cache_seconds=0)
    metrics.observe_request("/health", "GET", 200, 0.01)
    gauges = FleetGauges(
        imports={(1, ImportState.created.value): 1},
        oldest_wait_seconds={1: 5.0},
        paused_root_account_ids=[1],
        workers=LiveWorkers(live=1, slots=4),
        running=RunningImports(held_by_live_workers=0, stalled=0),
    )
    histogram = HistogramCounts(bounds=(1.0,), counts=(1, 0), sum=0.5)
    counters = FleetCounters(
        rows_processed={1: 1},
        row_errors={1: 1},
        finished={(1, ImportState.failed): 1},
        uploads={1: 1},
        upload_bytes={1: 1},
        queue_wait=histogram,
        run_seconds=histogram,
    )
    page = metrics.render(FleetFigures(gauges, counters)).decode()
    served = {sample.name for family in text_string_to_metric_families(page) for sample in family.samples}
    return served | {WORKER_JOBS_RUNNING}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def all_exprs() -> Iterator[tuple[str, str]]:
    for panel in panels():
        for target in panel["targets"]:
            yield f"panel {panel['title']!r}", target["expr"]
    for rule in alert_rules():
        yield f"alert {rule['alert']}", rule["expr"]


def test_the_contract_lists_exactly_what_the_code_serves() -> None:
    served = {name for name in served_sample_names() if name.startswith("outcome_imports_")}
    assert {name for name in served if not name.endswith("_created")} == {
        *(KNOWN_METRICS - HISTOGRAMS),
        *(f"{histogram}_{suffix}" for histogram in HISTOGRAMS for suffix in ("bucket", "sum", "count")),
    }


def test_every_metric_of_the_panels_and_rules_is_one_the_code_serves() -> None:
    served = served_sample_names()
    for where, expr in all_exprs():
        unknown = set(ANY_METRIC_NAME.findall(expr)) - served
        assert not unknown, f"{where} uses {unknown}, which no process serves"
    for histogram in HISTOGRAMS:
        for where, expr in all_exprs():
            assert not re.search(rf"{histogram}(?!_bucket|_sum|_count)\b", expr), f"{where}: bare {histogram}"


def test_the_dashboard_shows_every_metric_of_the_contract() -> None:
    used = set().union(*(metric_names(expr) for expr in dashboard_exprs()))
    assert used == KNOWN_METRICS


def test_fleet_wide_metrics_are_combined_with_max_never_added_up_over_api_processes() -> None:
    for where, expr in all_exprs():
        for match in METRIC_NAME.finditer(expr):
            name = metric_names(match.group())
            if name & FLEET_WIDE:
                assert FLEET_COMBINED.search(expr[: match.start()]), f"{where}: {match.group()} not under max"


def test_the_dashboard_is_an_importable_grafana_dashboard() -> None:
    board = dashboard()
    assert board["uid"] == "outcome-imports"
    assert 36 <= board["schemaVersion"] <= 41
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    root = variables["root_account_id"]
    assert root["type"] == "query"
    assert root["datasource"] == DATASOURCE
    query = "label_values(outcome_imports_waiting_imports, root_account_id)"
    assert root["definition"] == root["query"]["query"] == query
    assert root["includeAll"] and root["multi"] and root["allValue"] == ".*"

    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_every_panel_queries_the_chosen_data_source_and_filters_by_root_account() -> None:
    for panel in panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]
            for name in re.findall(r"(outcome_imports_[a-z_]+)(\{[^}]*\})?", target["expr"]):
                if name[0] in ROOT_ACCOUNT_GAUGES | ROOT_ACCOUNT_COUNTERS:
                    assert 'root_account_id=~"$root_account_id"' in name[1], f"{panel['title']!r}: {name[0]}"


def test_alert_rules_have_what_an_operator_needs() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["description"]) > 80, rule["alert"]
        assert re.fullmatch(r"\d+m", rule["for"]), rule["alert"]
    by_name = {rule["alert"]: rule for rule in rules}
    assert by_name["OutcomeImportsStalled"]["expr"] == "max(outcome_imports_stalled_imports) > 0"
    assert by_name["OutcomeImportsStalled"]["for"] == "2m"
    assert by_name["OutcomeImportsNoLiveWorker"]["expr"] == "max(outcome_imports_workers_live) == 0"
    assert by_name["OutcomeImportsNoLiveWorker"]["labels"]["severity"] == "critical"
    assert by_name["OutcomeImportsMetricsAbsent"]["expr"] == "absent(outcome_imports_workers_live)"
    assert "by (root_account_id)" in by_name["OutcomeImportsQueueWaitHigh"]["expr"]
    assert "outcome_imports_finished_total" in by_name["OutcomeImportsFailureRatioHigh"]["expr"]
    assert set(JOBS.values()) <= job_names_matched(by_name["OutcomeImportsTargetDown"]["expr"])


def job_names_matched(expr: str) -> set[str]:
    """The outcome-imports job names that the `up{job=~...}` selector of expr matches."""
    pattern = re.search(r'up\{job=~"([^"]+)"\}', expr)
    assert pattern, expr
    return {job for job in JOBS.values() if re.fullmatch(pattern.group(1), job)}


def test_panels_named_in_alert_descriptions_exist() -> None:
    # The descriptions quote ("...") nothing but titles of the dashboard's panels.
    titles = {panel["title"] for panel in dashboard()["panels"]}
    for rule in alert_rules():
        for title in re.findall(r'"([^"]+)"', rule["annotations"]["description"]):
            assert title in titles, f"{rule['alert']} names panel {title!r}"


def test_compose_scrapes_the_api_with_the_token_and_every_worker_replica() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    monitoring = {name for name, service in services.items() if "monitoring" in service.get("profiles", [])}
    assert monitoring == {"prometheus", "grafana"}
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]
    assert compose["x-app"]["environment"]["OUTCOME_IMPORTS_METRICS_TOKEN"] == "${OUTCOME_IMPORTS_METRICS_TOKEN:-}"
    assert compose["configs"]["metrics-token"]["content"] == "${OUTCOME_IMPORTS_METRICS_TOKEN:-}"
    assert services["api"]["command"][-2:] == ["--port", str(API_PORT)]
    assert services["worker"]["command"] == ["worker", "--metrics-port", str(WORKER_METRICS_PORT)]

    prometheus = services["prometheus"]
    mounts = {target: source for source, target, *_ in (volume.split(":") for volume in prometheus["volumes"])}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"
    assert mounts["/etc/prometheus/alerts.yaml"] == "./prometheus/alerts.yaml"
    (token,) = prometheus["configs"]
    assert token["source"] == "metrics-token"

    config = yaml.safe_load(PROMETHEUS_COMPOSE.read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yaml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api = jobs[JOBS["api"]]
    assert api["metrics_path"] == "/metrics"
    assert api["authorization"] == {"type": "Bearer", "credentials_file": token["target"]}
    # The service names resolve to every replica (`--scale api=N`, `--scale worker=N`): one target each.
    assert api["dns_sd_configs"][0] == {"names": ["api"], "type": "A", "port": API_PORT, "refresh_interval": "30s"}
    assert jobs[JOBS["worker"]]["dns_sd_configs"][0] == {
        "names": ["worker"],
        "type": "A",
        "port": WORKER_METRICS_PORT,
        "refresh_interval": "30s",
    }

    grafana = services["grafana"]
    mounts = {target: source for source, target, *_ in (volume.split(":") for volume in grafana["volumes"])}
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/outcome-imports.yaml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert mounts[f"{dashboards_path}/{DASHBOARD.name}"] == f"./grafana/{DASHBOARD.name}"
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"


def test_the_kubernetes_scrape_jobs_find_the_pods_by_their_labels_and_send_the_token_to_the_api() -> None:
    jobs = {job["job_name"]: job for job in yaml.safe_load(PROMETHEUS_KUBERNETES.read_text())["scrape_configs"]}
    assert set(jobs) == set(JOBS.values())
    for component, job_name in JOBS.items():
        keep = jobs[job_name]["relabel_configs"][0]
        assert keep["action"] == "keep"
        assert keep["regex"] == f"outcome-imports;{component};true"
    assert jobs[JOBS["api"]]["authorization"]["type"] == "Bearer"
    assert "authorization" not in jobs[JOBS["worker"]]


def test_the_worker_command_takes_the_metrics_port_flag_the_deploy_files_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        worker_main(["--help"])
    assert exit_info.value.code == 0
    assert "--metrics-port" in capsys.readouterr().out


def kustomize(directory: Path) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` renders the manifests")
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def test_kubernetes_pods_carry_the_scrape_annotations_of_the_ports_they_serve() -> None:
    docs = kustomize(DEPLOY / "kubernetes")
    assert not [doc["kind"] for doc in docs if doc["apiVersion"].startswith("monitoring.coreos.com/")]
    deployments = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Deployment"}
    expected = {"outcome-imports-api": ("http", API_PORT), "outcome-imports-worker": ("metrics", WORKER_METRICS_PORT)}
    for name, (port_name, port) in expected.items():
        template = deployments[name]["spec"]["template"]
        assert template["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }
        (container,) = template["spec"]["containers"]
        assert {"name": port_name, "containerPort": port} in container["ports"]
        assert {"secretRef": {"name": "outcome-imports-secrets"}} in container["envFrom"]
    worker = deployments["outcome-imports-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"] == ["worker", "--metrics-port", str(WORKER_METRICS_PORT)]
    secret = yaml.safe_load((DEPLOY / "kubernetes/secret.example.yaml").read_text())
    assert "OUTCOME_IMPORTS_METRICS_TOKEN" in secret["stringData"]


def test_the_operator_manifests_scrape_both_roles_and_carry_the_same_rules() -> None:
    docs = {doc["kind"]: doc for doc in kustomize(DEPLOY / "kubernetes" / "monitoring")}
    assert set(docs) == {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    (endpoint,) = docs["ServiceMonitor"]["spec"]["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"] == {
        "name": "outcome-imports-secrets",
        "key": "OUTCOME_IMPORTS_METRICS_TOKEN",
    }
    assert docs["ServiceMonitor"]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    (pod_endpoint,) = docs["PodMonitor"]["spec"]["podMetricsEndpoints"]
    assert pod_endpoint["port"] == "metrics"
    assert {"targetLabel": "job", "replacement": JOBS["worker"]} in pod_endpoint["relabelings"]
    assert docs["PrometheusRule"]["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


# --- promtool (Debian: apt-get install prometheus) ---------------------------------------------

# Alert scenarios for `promtool test rules`: input series, then (minute, alert, labels of each firing alert).
# Two API processes ("a", "b") serve every fleet-wide series, as two replicas do.
SCENARIOS: list[dict[str, Any]] = [
    {
        "series": {
            "outcome_imports_stalled_imports": "0 1x6",
            "outcome_imports_workers_live": "2x6",
        },
        "expect": [
            (2, "OutcomeImportsStalled", []),
            (4, "OutcomeImportsStalled", [{"severity": "warning"}]),
            (4, "OutcomeImportsNoLiveWorker", []),
            (6, "OutcomeImportsMetricsAbsent", []),
        ],
    },
    {
        "series": {
            'outcome_imports_oldest_wait_seconds{root_account_id="1"}': "600+60x15",
            'outcome_imports_queue_paused{root_account_id="1"}': "0x15",
            'outcome_imports_oldest_wait_seconds{root_account_id="2"}': "2000+60x15",
            'outcome_imports_queue_paused{root_account_id="2"}': "1x15",
        },
        "expect": [
            (10, "OutcomeImportsQueueWaitHigh", []),
            (12, "OutcomeImportsQueueWaitHigh", [{"severity": "warning", "root_account_id": "1"}]),
        ],
    },
    {
        "series": {
            'outcome_imports_finished_total{root_account_id="1", state="succeeded"}': "0+1x70",
            'outcome_imports_finished_total{root_account_id="1", state="failed"}': "0+1x70",
        },
        "expect": [(70, "OutcomeImportsFailureRatioHigh", [{"severity": "warning"}])],
    },
    {
        # Six imports an hour: under the minimum volume, unless the two processes were added up.
        "series": {
            'outcome_imports_finished_total{root_account_id="1", state="succeeded"}': "0+0.05x70",
            'outcome_imports_finished_total{root_account_id="1", state="failed"}': "0+0.05x70",
        },
        "expect": [(70, "OutcomeImportsFailureRatioHigh", [])],
    },
    {
        "series": {"outcome_imports_workers_live": "2 2 0x6"},
        "expect": [(5, "OutcomeImportsNoLiveWorker", [{"severity": "critical"}])],
    },
    {
        "series": {},
        "raw_series": {
            'up{job="outcome-imports-api", instance="api:8080"}': "0x10",
            'up{job="outcome-imports-worker", instance="10.0.0.5:9100"}': "1x10",
        },
        "expect": [
            (6, "OutcomeImportsMetricsAbsent", [{"severity": "critical"}]),
            (6, "OutcomeImportsNoLiveWorker", []),
            (6, "OutcomeImportsTargetDown", [{"severity": "warning", "job": JOBS["api"], "instance": "api:8080"}]),
        ],
    },
]


def promtool(*args: str) -> None:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    result = subprocess.run([found, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def with_labels(series: str, **labels: str) -> str:
    name, _, rest = series.partition("{")
    existing = rest.rstrip("}")
    added = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return f"{name}{{{existing + ', ' if existing else ''}{added}}}"


def test_promtool_accepts_the_rules_and_the_compose_prometheus_config(tmp_path: Path) -> None:
    promtool("check", "rules", str(ALERTS))
    (tmp_path / "metrics-token").write_text("token\n")
    shutil.copy(ALERTS, tmp_path / "alerts.yaml")
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS_COMPOSE.read_text().replace("/etc/prometheus/", f"{tmp_path}/"))
    promtool("check", "config", str(config))


def test_the_alerts_fire_in_their_scenarios_and_only_then(tmp_path: Path) -> None:
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            del rule["annotations"]  # the scenarios check labels; `check rules` checks the templates
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(rules))
    tests = []
    for scenario in SCENARIOS:
        input_series = [
            {"series": with_labels(series, job=JOBS["api"], instance=instance), "values": values}
            for series, values in scenario["series"].items()
            for instance in ("a", "b")
        ]
        raw_series = scenario.get("raw_series", {}).items()
        input_series += [{"series": series, "values": values} for series, values in raw_series]
        tests.append(
            {
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [
                    {
                        "eval_time": f"{minute}m",
                        "alertname": alert,
                        "exp_alerts": [{"exp_labels": one} for one in firing],
                    }
                    for minute, alert, firing in scenario["expect"]
                ],
            }
        )
    test_file = tmp_path / "alerts.test.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": ["alerts.yaml"], "evaluation_interval": "1m", "tests": tests}))
    promtool("test", "rules", str(test_file))
