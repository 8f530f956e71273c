"""docker-compose.tensorrt.yml read by docker-compose's own config loaders (1.29.2, the version
deploy/jetson.md tells Nano users to install, and 1.25.0, an older v1 loader), against the
Compose JSON schema, plus its contents and memory budget."""
import configparser
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from testenv import ROOT

COMPOSE = os.path.join(ROOT, "docker-compose.tensorrt.yml")
MIB = 1024 * 1024
COMPOSE_125 = os.path.join(sys.prefix, "docker-compose-1.25.0")  # the venv's; Makefile: pip --target

# --- the memory budget (deploy/jetson.md, "Memory profiles") --------------------------------
WORKER_RSS_MB = 449  # measured worker RSS on Python 3.6 (docs/benchmarks.md, `alpr bench rss`)
CUDA_INIT_MB = 230  # CUDA context on a Nano (issue 15's estimate; unmeasured here)
CUBLAS_CUDNN_MB = 400  # if TensorRT still loads cuBLAS/cuDNN despite the lean tactics (unmeasured)
PROFILE_4GB_STACK_MB = 2100  # whole stack on a 4 GB Nano (~3.9 GB usable, headless OS + GPU buffers)
PROFILE_2GB_WORKER_MB = 1500  # worker alone on a 2 GB Nano (~1.9 GB usable, ~400 MB headless OS)


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
    for name in ("dispatcher", "producer"):
        assert "runtime" not in services[name]
        assert services[name]["environment"]["ALPR_SKIP_ENGINE_BUILD"] == "1"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def _loader_1_29():
    """docker-compose 1.29.2's config package (needs python-dotenv and docker, see Makefile)."""
    try:
        from compose.config import config
        from compose.config.environment import Environment
    except ImportError as exc:
        pytest.skip("docker-compose 1.29.2's loader cannot import here (%s): see the Makefile" % exc)
    return config, Environment


def _load_1_29(path, env=None):
    config, Environment = _loader_1_29()
    environment = Environment(env or {})
    details = config.find(os.path.dirname(path), [os.path.basename(path)], environment)
    return config.load(details)


def test_docker_compose_1_29_2_loads_the_file_with_its_own_loader():
    loaded = _load_1_29(COMPOSE, {"ALPR_NODE_NAME": "nano-7"})
    services = {s["name"]: s for s in loaded.services}
    assert set(services) == {"redis", "worker", "dispatcher", "producer"}
    worker = services["worker"]
    assert worker["runtime"] == "nvidia" and worker["mem_limit"] == "1400m"
    assert worker["environment"]["ALPR_NODE_NAME"] == "nano-7"  # interpolated
    assert worker["environment"]["ALPR_REDIS_URL"] == "redis://redis:6379/0"
    assert services["dispatcher"]["depends_on"]["redis"]["condition"] == "service_healthy"
    remote = {s["name"]: s for s in _load_1_29(COMPOSE, {"ALPR_REDIS_URL": "redis://hub:6379/0"}).services}
    assert remote["worker"]["environment"]["ALPR_REDIS_URL"] == "redis://hub:6379/0"  # 2 GB profile


def test_docker_compose_1_29_2_loader_rejects_a_broken_file(tmp_path):
    from compose.config.errors import ConfigurationError

    doc = _doc()
    doc["services"]["worker"]["runtime"] = ["nvidia"]
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigurationError, match="runtime"):
        _load_1_29(str(path))


def test_docker_compose_1_25_loader_reads_it_as_format_2_4(tmp_path):
    """JetPack users on an older v1 docker-compose: with no `version:` key 1.25.0 failed with
    `Invalid interpolation format ... service "x-alpr-common"` (issue 15)."""
    if not os.path.isdir(os.path.join(COMPOSE_125, "compose")):
        pytest.skip("docker-compose 1.25.0 not installed in %s (see the Makefile)" % COMPOSE_125)
    script = ("import os, sys\n"
              "from compose.config import config\n"
              "from compose.config.environment import Environment\n"
              "d = config.find(os.path.dirname(sys.argv[1]), [os.path.basename(sys.argv[1])], Environment({}))\n"
              "c = config.load(d)\n"
              "print(c.version, sorted(s['name'] for s in c.services))\n")
    env = dict(os.environ, PYTHONPATH=COMPOSE_125)
    proc = subprocess.run([sys.executable, "-c", script, COMPOSE], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.split()[0] == "2.4" and "'worker'" in proc.stdout


def _memory_max_mb():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(os.path.join(ROOT, "deploy", "systemd", "alpr-worker.service"))
    value = parser["Service"]["MemoryMax"]
    assert value.endswith("M")
    return int(value[:-1])


def test_memory_limits_are_one_budget_for_both_profiles():
    services = _doc()["services"]
    worker_mb = _bytes(services["worker"]["mem_limit"]) // MIB
    assert worker_mb == _memory_max_mb()  # docker and systemd give the worker the same room
    assert worker_mb >= WORKER_RSS_MB + CUDA_INIT_MB + CUBLAS_CUDNN_MB
    assert worker_mb <= PROFILE_2GB_WORKER_MB
    total_mb = sum(_bytes(s["mem_limit"]) for s in services.values()) // MIB
    assert total_mb <= PROFILE_4GB_STACK_MB
    assert _bytes(services["worker"]["memswap_limit"]) >= 4 * 1024 * MIB  # the first build may swap
    with open(os.path.join(ROOT, "deploy", "jetson.md")) as fh:
        guide = fh.read()
    assert "--memory %dm" % worker_mb in guide and "MemoryMax=%dM" % worker_mb in guide


def test_redis_skips_the_arm64_cow_self_test_only_without_persistence():
    command = _doc()["services"]["redis"]["command"]
    assert command[command.index("--ignore-warnings") + 1] == "ARM64-COW-BUG"
    assert command[command.index("--save") + 1] == "" and command[command.index("--appendonly") + 1] == "no"


def test_redis_accepts_the_compose_command_line(tmp_path):
    """A real redis-server starts with exactly the compose options (on a unix socket here)."""
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("redis-server not installed")
    import redis

    sock = str(tmp_path / "redis.sock")
    command = _doc()["services"]["redis"]["command"]
    proc = subprocess.Popen([binary] + command[1:] + ["--port", "0", "--unixsocket", sock,
                                                      "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                assert redis.Redis(unix_socket_path=sock).config_get("maxmemory") == \
                    {"maxmemory": str(160 * MIB)}
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.time() < deadline, "redis-server did not start"
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_docker_compose_config_when_the_plugin_exists():
    docker = shutil.which("docker")
    if not docker or subprocess.call([docker, "compose", "version"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL) != 0:
        pytest.skip("docker compose plugin not installed here (schema test covers the file)")
    proc = subprocess.run([docker, "compose", "-f", COMPOSE, "config", "-q"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout
