"""docker-compose.tensorrt.yml against the Compose JSON schema (from a PyPI package), plus contents."""
import importlib.util
import json
import os
import shutil
import subprocess

import pytest
import yaml

from testenv import ROOT

COMPOSE = os.path.join(ROOT, "docker-compose.tensorrt.yml")
MIB = 1024 * 1024


def _schema():
    """compose_spec.json as shipped by docker-compose 1.29.2 (installed --no-deps, data only)."""
    spec = importlib.util.find_spec("compose")
    path = spec and os.path.join(list(spec.submodule_search_locations)[0], "config",
                                 "compose_spec.json")
    if not path or not os.path.exists(path):
        pytest.skip("Compose schema absent: pip install --no-deps docker-compose==1.29.2")
    with open(path) as fh:
        return json.load(fh)


def _validator():
    jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema")
    return jsonschema.Draft201909Validator(_schema())


def _doc():
    with open(COMPOSE) as fh:
        return yaml.safe_load(fh)


def _bytes(size):
    units = {"k": 1024, "m": MIB, "g": 1024 * MIB}
    return int(float(size[:-1]) * units[size[-1].lower()])


def test_compose_file_matches_the_compose_schema():
    errors = [e.message for e in _validator().iter_errors(_doc())]
    assert errors == []


def test_schema_rejects_a_broken_compose_file():
    doc = _doc()
    doc["services"]["worker"]["mem_limit"] = ["not", "a", "size"]
    doc["services"]["worker"]["runtimes"] = "nvidia"
    assert len(list(_validator().iter_errors(doc))) >= 1


def test_services_runtime_limits_health_and_volumes():
    services = _doc()["services"]
    assert set(services) == {"redis", "worker", "dispatcher", "producer"}
    worker = services["worker"]
    assert worker["runtime"] == "nvidia"
    assert worker["environment"]["ALPR_RUNTIME"] == "tensorrt"
    assert worker["volumes"] == ["engine-cache:/var/cache/alpr"]
    assert "engine-cache" in _doc()["volumes"]
    assert worker["build"]["dockerfile"] == "Dockerfile.tensorrt"
    for name, svc in services.items():
        assert "healthcheck" in svc, name
        assert svc["restart"] == "unless-stopped"
    total = sum(_bytes(s["mem_limit"]) for s in services.values())
    assert total <= 1700 * MIB  # leaves the OS ~300 MB on a 2 GB Nano
    for name in ("dispatcher", "producer"):
        assert "runtime" not in services[name]
        assert services[name]["environment"]["ALPR_SKIP_ENGINE_BUILD"] == "1"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_docker_compose_config_when_the_plugin_exists():
    docker = shutil.which("docker")
    if not docker or subprocess.call([docker, "compose", "version"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL) != 0:
        pytest.skip("docker compose plugin not installed here (schema test covers the file)")
    proc = subprocess.run([docker, "compose", "-f", COMPOSE, "config", "-q"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout
