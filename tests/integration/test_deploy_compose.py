"""deploy/compose.yaml is checked, not only written.

No Docker engine runs on our machines, so `docker compose up` never runs here. Instead the file is
interpolated as Compose does (the `${VAR:-default}` forms it uses) and validated against the Compose
specification's JSON schema, vendored in tests/data/ (no network at test time): an unknown or
misspelt key, a wrong type or a bad port fails. Then what must agree with the processes is read
back: every setting passed through, the secrets required, the API's stop grace period against its
drain, the `scale` profile's HAProxy balancing over every `api` replica on the API's health route.
`haproxy -c` checks the proxy's file where HAProxy is installed (Debian's `haproxy`), and a real
Compose v2 (`docker compose` or `docker-compose`), where one is installed, must accept the file too:
its `config` command needs no engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
HAPROXY_CONFIG = DEPLOY / "haproxy" / "haproxy.cfg"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
SECRETS = {"POSTGRES_PASSWORD": "pg-password", "S3_ACCESS_KEY": "access-key", "S3_SECRET_KEY": "secret-key"}
API_PORT = 8080
DEFAULTS = Settings(database_url="postgresql://", redis_url="redis://", storage_url="file:///")

# Compose's interpolation: $$ is a dollar sign; ${VAR}, ${VAR:-default} / ${VAR-default} (the first
# also when VAR is empty), ${VAR:?error} / ${VAR?error}.
VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        present = env.get(name) if op is None or not op.startswith(":") else (env.get(name) or None)
        if present is not None:
            return present
        if op is not None and op.endswith("?"):
            raise MissingVariable(f"{name}: {arg}")
        return arg if op is not None else ""

    return VARIABLE.sub(substitute, value)


def compose_file(env: Mapping[str, str] = SECRETS) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    interpolated: dict[str, Any] = interpolate(loaded, env)
    return interpolated


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


def setting_variables() -> dict[str, Any]:
    return {
        (field.name if field.default is MISSING else f"outcome_imports_{field.name}").upper(): field.default
        for field in fields(Settings)
    }


def test_the_file_validates_against_the_compose_specification() -> None:
    # The schema covers every service whatever its profile (monitoring, scale).
    assert schema_errors(compose_file()) == []
    assert schema_errors(compose_file({**SECRETS, "OUTCOME_IMPORTS_PORT": ""})) == []


def test_the_validation_rejects_misspelt_keys_and_bad_values() -> None:
    document = compose_file()
    document["services"]["api"]["stop_grace_periode"] = "35s"
    document["services"]["proxy"]["depends_on"]["api"]["condition"] = "service_ready"
    errors = schema_errors(document)
    assert len(errors) == 2, errors
    assert any("stop_grace_periode" in error for error in errors)
    assert any("service_ready" in error for error in errors)


def test_compose_refuses_to_start_until_each_secret_is_set() -> None:
    for name in SECRETS:
        with pytest.raises(MissingVariable, match=name):
            compose_file({key: value for key, value in SECRETS.items() if key != name})
        with pytest.raises(MissingVariable, match=name):
            compose_file({**SECRETS, name: ""})


def test_every_setting_reaches_the_containers_and_unset_ones_keep_their_defaults() -> None:
    raw = yaml.safe_load(COMPOSE.read_text())["x-app"]["environment"]
    variables = setting_variables()
    missing = set(variables) - set(raw)
    assert not missing, f"pass {sorted(missing)} through in deploy/compose.yaml's x-app environment"
    # Wired to the file's own services, or given a default of the file's own.
    fixed = {"OUTCOME_IMPORTS_S3_ENDPOINT_URL", "OUTCOME_IMPORTS_S3_REGION", "OUTCOME_IMPORTS_LOG_LEVEL"}
    for name, default in variables.items():
        if default is MISSING or name in fixed:
            continue
        # Empty means "the built-in default" to Settings.from_env: nothing is duplicated here.
        assert raw[name] == f"${{{name}:-}}", name
    environment = compose_file()["x-app"]["environment"]
    assert environment["OUTCOME_IMPORTS_LOG_LEVEL"] == "INFO"
    assert Settings.from_env({name: str(value) for name, value in environment.items()}).shutdown_drain_seconds == 25


def _seconds(duration: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(s|m)", duration).groups()  # type: ignore[union-attr]
    return int(number) * (60 if unit == "m" else 1)


def test_the_api_gets_time_to_drain_and_workers_to_hand_imports_back() -> None:
    services = compose_file()["services"]
    drain = DEFAULTS.shutdown_drain_seconds
    assert _seconds(services["api"]["stop_grace_period"]) >= drain + 10
    assert 10 <= _seconds(services["worker"]["stop_grace_period"]) <= 60
    assert services["worker"]["deploy"]["replicas"] == 2  # `--scale worker=N` overrides it


def test_the_api_port_is_fixed_by_default_and_free_for_replicas_when_emptied() -> None:
    (port,) = compose_file()["services"]["api"]["ports"]
    assert port == {"target": API_PORT, "published": "8080"}
    # OUTCOME_IMPORTS_PORT= : no fixed host port, so `--scale api=N` starts N replicas without a clash.
    (port,) = compose_file({**SECRETS, "OUTCOME_IMPORTS_PORT": ""})["services"]["api"]["ports"]
    assert port == {"target": API_PORT, "published": ""}
    assert compose_file()["services"]["api"]["command"][-2:] == ["--port", str(API_PORT)]


def test_the_scale_profile_balances_over_every_api_replica_on_its_health_route() -> None:
    services = compose_file()["services"]
    proxy = services["proxy"]
    assert proxy["profiles"] == ["scale"]
    assert "./haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in proxy["volumes"]
    assert proxy["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert proxy["ports"] == ["8000:8080"]
    assert "/proxy-health" in " ".join(proxy["healthcheck"]["test"])
    assert proxy["stop_signal"] == "SIGUSR1"  # HAProxy's graceful stop; SIGTERM drops connections

    config = HAPROXY_CONFIG.read_text()
    lines = {line.strip() for line in config.splitlines()}
    # Docker's DNS answers `api` with every replica; HAProxy keeps asking it.
    assert f"server-template api 1-10 api:{API_PORT}" in lines
    assert "parse-resolv-conf" in lines
    assert any(line.startswith("default-server") and "check resolvers docker" in line for line in lines)
    assert "http-check send meth GET uri /health" in lines
    assert "http-check expect status 200" in lines
    assert "bind :8080" in lines
    assert "monitor-uri /proxy-health" in lines
    # The API's own healthcheck asks the same route.
    assert "http://127.0.0.1:8080/health" in services["api"]["healthcheck"]["test"][-1]


def test_haproxy_accepts_the_proxy_configuration() -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed (Debian: apt-get install haproxy)")
    result = subprocess.run([haproxy, "-c", "-f", str(HAPROXY_CONFIG)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout + result.stderr


def _real_compose() -> list[str] | None:
    """A Compose v2 command: the docker CLI's plugin, or a standalone docker-compose 2.x."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        version = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=30)
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2."):
            return command
    return None


def test_a_real_compose_accepts_the_file() -> None:
    command = _real_compose()
    if command is None:
        pytest.skip("no Docker Compose v2 installed (`docker compose` plugin or docker-compose 2.x)")
    env = {**os.environ, **SECRETS}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "--profile", "monitoring", "--profile", "scale", "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
