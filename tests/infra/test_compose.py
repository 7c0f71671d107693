"""docker-compose.yml stays in step with the code: the compose CLI accepts it, every CHIMERA_*
variable is a setting, every worker group's environment builds a valid Settings, and every
service runs in some group."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chimera.settings import ALL_SERVICES, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The file as the compose CLI resolves it (anchors, merges, ${VAR:-default})."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: `bash infra/stack.sh install` installs it")
    out = subprocess.run(
        [exe, "-f", str(COMPOSE), "config"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    config: dict[str, Any] = yaml.safe_load(out.stdout)
    return config


def chimera_services(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: {k: str(v) for k, v in (svc.get("environment") or {}).items() if k.startswith("CHIMERA_")}
        for name, svc in config["services"].items()
        if svc.get("image") == "chimera:latest"
    }


def test_compose_has_the_production_parts(resolved: dict[str, Any]) -> None:
    assert {"kafka", "redis", "clickhouse", "minio", "gateway"} <= set(resolved["services"])
    kafka_env = resolved["services"]["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


def test_every_chimera_variable_is_a_setting(resolved: dict[str, Any]) -> None:
    fields = {f"CHIMERA_{name.upper()}" for name in Settings.model_fields}
    for name, env in chimera_services(resolved).items():
        unknown = set(env) - fields
        assert not unknown, f"{name}: {sorted(unknown)} are not settings"


def test_each_group_builds_valid_settings_and_all_services_run(
    resolved: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    running: set[str] = set()
    groups = chimera_services(resolved)
    assert groups
    for env in groups.values():
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.kafka_bootstrap == "kafka:9092"
        assert settings.clickhouse_backend == "server"
        if "CHIMERA_SERVICES" in env:
            assert set(json.loads(env["CHIMERA_SERVICES"])) <= set(ALL_SERVICES)
            running |= set(settings.services)
        monkeypatch.delenv("CHIMERA_SERVICES", raising=False)
    assert running == set(ALL_SERVICES)
