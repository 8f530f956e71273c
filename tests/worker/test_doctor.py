"""`alpr doctor` on this machine: the fake TensorRT 8.2 on a fake Nano GPU, a real redis-server,
an old Redis's INFO reply from a fake RESP server (no old Redis at hand), real engine-cache
sidecars built with the fakes, and the plain output a bare Nano without rich gets."""
import json
import re
import os
import sys
import types

import pytest

from old_redis import OldRedis
from click.testing import CliRunner

from testenv import ROOT

TRT_TESTS = os.path.join(ROOT, "tests", "engines", "trt")
if TRT_TESTS not in sys.path:
    sys.path.insert(0, TRT_TESTS)
    sys.path.insert(1, os.path.dirname(TRT_TESTS))

import fake_pycuda  # noqa: E402
import fake_tensorrt8  # noqa: E402
import fake_tensorrt10  # noqa: E402
import onnx_builders as build  # noqa: E402

from alpr.settings import Settings  # noqa: E402
from worker import doctor  # noqa: E402
from worker.doctor_cli import doctor_cmd, render_plain  # noqa: E402

NANO_RELEASE = "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022\n"


@pytest.fixture
def nano(monkeypatch):
    """This process on a Nano: fake TensorRT 8.2, fake pycuda with a Tegra X1 (sm 5.3, 4 GB)."""
    from engines.tensorrt import cuda_context

    fake_pycuda.reset(integrated=True, name="NVIDIA Tegra X1", cc=(5, 3))
    monkeypatch.setattr(cuda_context, "_SHARED", {})
    package = types.ModuleType("pycuda")
    package.driver = fake_pycuda
    monkeypatch.setitem(sys.modules, "pycuda", package)
    monkeypatch.setitem(sys.modules, "pycuda.driver", fake_pycuda)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt8)
    yield fake_tensorrt8
    fake_pycuda.reset()


def _doctor(env, monkeypatch, *args):
    for key in [k for k in os.environ if k.startswith("ALPR_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(doctor_cmd, ["--json"] + list(args))
    report = json.loads(result.output.strip().splitlines()[-1])
    return result.exit_code, {c["name"]: c for c in report["checks"]}, report


def test_tensorrt_node_with_real_redis_passes_and_names_the_gpu(nano, redis_url, tmp_path, monkeypatch):
    code, checks, report = _doctor({"ALPR_RUNTIME": "tensorrt", "ALPR_REDIS_URL": redis_url,
                                    "ALPR_ENGINE_CACHE_DIR": str(tmp_path / "cache")}, monkeypatch)
    assert code == 0 and report["fail"] == 0, report
    assert checks["tensorrt"]["detail"] == "TensorRT 8.2.1.8"
    assert checks["cuda"]["detail"] == "NVIDIA Tegra X1, sm 5.3, 4.0 GiB"
    assert checks["redis"]["status"] == "ok" and "is Redis " in checks["redis"]["detail"]
    assert checks["clock"]["status"] == "ok"
    assert checks["engines"]["status"] == "warn" and "alpr engines build --default" in checks["engines"]["fix"]
    assert all(c["fix"] for c in checks.values() if c["status"] != "ok")  # every problem says its fix


def test_missing_tensorrt_and_unreachable_redis_fail_with_their_fixes(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt raises ImportError
    monkeypatch.setitem(sys.modules, "pycuda", None)
    import redis_server

    code, checks, _ = _doctor({"ALPR_RUNTIME": "tensorrt", "ALPR_ENGINE_CACHE_DIR": str(tmp_path),
                               "ALPR_REDIS_URL": "redis://127.0.0.1:%d/0" % redis_server.free_port()},
                              monkeypatch)
    assert code == 1
    assert checks["tensorrt"]["status"] == "fail" and "python3-libnvinfer" in checks["tensorrt"]["fix"]
    assert checks["cuda"]["status"] == "fail"
    assert checks["redis"]["status"] == "fail" and "ALPR_REDIS_URL" in checks["redis"]["fix"]


@pytest.mark.parametrize("version", ["5.0.7", "6.0.16"])
def test_an_old_redis_is_refused_with_the_version_to_install(version, monkeypatch, tmp_path):
    old = OldRedis(version)
    try:
        code, checks, _ = _doctor({"ALPR_REDIS_URL": "redis://127.0.0.1:%d/0" % old.port,
                                   "ALPR_ENGINE_CACHE_DIR": str(tmp_path)}, monkeypatch)
    finally:
        old.close()
    assert code == 1
    assert checks["redis"]["status"] == "fail"
    detail = checks["redis"]["detail"]
    assert ("Redis %s, older than 6.2" % version) in detail or \
        ("needs Redis >= 6.2" in detail and version in detail) or \
        (version < "6" and "older than 6.0 (it does not know HELLO)" in detail), detail
    assert "upgrade Redis to 6.2" in checks["redis"]["fix"]


def test_clock_skew_against_redis_time_warns_then_fails(redis_url):
    import time

    settings = Settings.load(env={"ALPR_REDIS_URL": redis_url})
    from alpr.redis_conn import connect_settings

    def skewed(seconds):
        rows = doctor.check_redis(settings, connect_settings, now=lambda: time.time() + seconds)
        return [r for r in rows if r.name == "clock"][0]

    assert skewed(0.0).status == "ok"
    assert skewed(1.0).status == "warn" and "+1.0" in skewed(1.0).detail
    late = skewed(-3.0)
    assert late.status == "fail" and "timedatectl set-ntp true" in late.fix


def test_engine_cache_rows_say_which_engines_are_stale(nano, tmp_path):
    from engines.tensorrt.loader import open_trt_runtime

    cache = str(tmp_path / "cache")
    model = build.fp16_detector(str(tmp_path / "det.onnx"))
    open_trt_runtime(model, cache_dir=cache, trt=fake_tensorrt8, cuda=fake_pycuda).close()
    rows = doctor.check_engine_cache(cache, doctor.node_identity(), "tensorrt")
    assert [r.status for r in rows] == ["ok"] and "TensorRT 8.2.1.8" in rows[0].detail
    sys.modules["tensorrt"] = fake_tensorrt10  # the node was upgraded (restored by the fixture)
    rows = doctor.check_engine_cache(cache, doctor.node_identity(), "tensorrt")
    assert rows[0].status == "warn" and "built by TensorRT 8.2.1.8, this node has 10.3.0" in rows[0].detail
    assert rows[0].fix == "run `alpr engines build --default` on this node"


def test_a_nano_without_swap_or_openblas_fix_gets_warnings(tmp_path):
    release = tmp_path / "nv_tegra_release"
    release.write_text(NANO_RELEASE)
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:        2027044 kB\nMemAvailable:    1636000 kB\nSwapTotal:       0 kB\n")
    settings = Settings.load(env={"ALPR_RUNTIME": "tensorrt", "ALPR_REDIS_URL": "redis://127.0.0.1:1/0"})
    rows = {r.name: r for r in doctor.run_checks(settings, env={}, tegra_release=str(release),
                                                 meminfo_path=str(info))}
    assert rows["jetpack"].detail == "L4T R32.7.1 (JetPack 4.6.x)"
    assert rows["swap"].status == "warn" and "4 GB swap file" in rows["swap"].fix
    assert rows["memory"].status == "ok" and "2 GB profile" in rows["memory"].detail
    assert rows["openblas"].status == "warn" and "OPENBLAS_CORETYPE=ARMV8" in rows["openblas"].fix


def test_plain_lines_where_rich_is_absent(monkeypatch, tmp_path, redis_url):
    monkeypatch.setitem(sys.modules, "rich", None)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    monkeypatch.setenv("ALPR_REDIS_URL", redis_url)
    monkeypatch.setenv("ALPR_ENGINE_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(doctor_cmd, [])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("OK    python ")
    assert re.match(r"^0 fail, \d+ warn, \d+ ok$", result.output.splitlines()[-1])
    row = doctor.Check("redis", "fail", "Redis 5.0.7", "upgrade Redis")
    assert render_plain([row]) == "FAIL  redis          Redis 5.0.7\n                     -> upgrade Redis"


def test_doctor_is_an_alpr_verb():
    from alpr.cli import main

    result = CliRunner().invoke(main, ["doctor", "--help"])
    assert result.exit_code == 0 and "--json" in result.output


def test_a_rich_table_where_rich_is_installed(monkeypatch, tmp_path, redis_url):
    pytest.importorskip("rich")
    monkeypatch.setenv("ALPR_REDIS_URL", redis_url)
    monkeypatch.setenv("ALPR_ENGINE_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(doctor_cmd, [])
    assert result.exit_code == 0, result.output
    assert "alpr doctor" in result.output and "┃ status" in result.output


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """A real TLS redis-server with a password (certificates as tests/core/test_redis_tls.py)."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    sys.path.insert(0, os.path.join(ROOT, "tests", "core"))
    from test_redis_tls import make_certs
    from redis_server import start_tls_server

    d = tmp_path_factory.mktemp("doctor-tls")
    make_certs(str(d))
    server, port = start_tls_server(str(d), "doc-s3cret")
    yield port, d
    server.cleanup()


def test_tls_and_auth_are_reported_and_a_wrong_password_fails_without_showing_it(
        tls_redis, monkeypatch, tmp_path):
    port, d = tls_redis
    files = {"ALPR_REDIS_CA_CERTS": str(d / "ca.crt"), "ALPR_REDIS_CERTFILE": str(d / "client.crt"),
             "ALPR_REDIS_KEYFILE": str(d / "client.key"), "ALPR_ENGINE_CACHE_DIR": str(tmp_path)}
    code, checks, _ = _doctor(dict(files, ALPR_REDIS_URL="rediss://:doc-s3cret@127.0.0.1:%d/0" % port),
                              monkeypatch)
    assert code == 0 and checks["redis"]["status"] == "ok"
    assert checks["redis auth"]["detail"] == "auth yes, TLS yes"
    assert "doc-s3cret" not in json.dumps(checks)
    code, checks, _ = _doctor(dict(files, ALPR_REDIS_URL="rediss://:wrong-pw@127.0.0.1:%d/0" % port),
                              monkeypatch)
    assert code == 1 and checks["redis"]["status"] == "fail"
    assert "credentials" in checks["redis"]["detail"] and "wrong-pw" not in json.dumps(checks)
