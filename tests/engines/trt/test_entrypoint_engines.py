"""The image entrypoint's engine step, then the worker's loader, against the fake TensorRT 8.2
on a fake Nano GPU: the entrypoint builds what the worker loads, so the worker builds nothing
(and starts even with ALPR_TRT_ALLOW_BUILD=0)."""
import os
import subprocess
import sys

import pytest

import fake_install
import fake_pycuda
import fake_tensorrt8
from trt_calls import calls

from alpr.settings import Settings
from testenv import ROOT, subprocess_env

pytestmark = pytest.mark.slow  # about a minute with the PP-OCR models on the fakes

BUILDS = {"trt.Builder.build_serialized_network", "trt.Builder.build_engine"}
ENTRYPOINT = os.path.join(ROOT, "deploy", "alpr-entrypoint.sh")


def _have_default_models():
    from engines.models import describe_defaults

    return bool(describe_defaults())


def run_entrypoint(tmp_path, *command, **env):
    """The entrypoint as the image runs it, with the fakes installed for its python3."""
    child_env = subprocess_env(ALPR_RUNTIME="tensorrt", ALPR_PYTHON=sys.executable,
                               ALPR_ENGINE_CACHE_DIR=str(tmp_path / "cache"),
                               HOME=str(tmp_path / "home"), **fake_install.NANO)
    child_env.update(env)
    child_env["PYTHONPATH"] = fake_install.write_shims(str(tmp_path / "shims")) + os.pathsep + \
        child_env["PYTHONPATH"]
    return subprocess.run(["sh", ENTRYPOINT] + list(command), env=child_env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)


@pytest.fixture
def nano(gpu, monkeypatch):
    """This process as the worker on the Nano: fake TensorRT 8.2 and a Tegra X1."""
    fake_pycuda.reset(integrated=True, name="NVIDIA Tegra X1", cc=(5, 3))
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt8)
    monkeypatch.setitem(fake_tensorrt8.PLATFORM, "fast_fp16", True)
    return fake_tensorrt8


def test_worker_loads_every_engine_the_entrypoint_built_and_builds_none(nano, tmp_path):
    if not _have_default_models():
        pytest.skip("default models not installed")
    proc = run_entrypoint(tmp_path)
    assert proc.returncode == 0, proc.stdout
    cache = tmp_path / "cache"
    engines = sorted(p.name for p in cache.glob("*.engine"))
    assert engines, proc.stdout
    assert not (tmp_path / "home" / ".cache" / "alpr").exists()  # all of it in ALPR_ENGINE_CACHE_DIR

    from worker.frame_engines import PipelineEngine

    settings = Settings.load(env={"ALPR_RUNTIME": "tensorrt", "ALPR_ENGINE_CACHE_DIR": str(cache),
                                  "ALPR_TRT_ALLOW_BUILD": "0"})
    del fake_pycuda.CALLS[:]
    engine = PipelineEngine(settings)  # refuses any engine it would have to build
    try:
        assert calls(BUILDS) == []
        assert len(engine.pipeline.runtimes) == len(engines)
    finally:
        for runtime in engine.pipeline.runtimes:
            runtime.close()
    assert sorted(p.name for p in cache.glob("*.engine")) == engines


def test_second_start_reuses_the_engines(tmp_path):
    if not _have_default_models():
        pytest.skip("default models not installed")
    first = run_entrypoint(tmp_path)
    assert first.returncode == 0, first.stdout
    stamps = {p.name: p.stat().st_mtime for p in (tmp_path / "cache").glob("*.engine")}
    again = run_entrypoint(tmp_path, "echo", "worker started")
    assert again.returncode == 0, again.stdout
    assert again.stdout.rstrip().endswith("worker started")
    assert "no engine built yet; building" in first.stdout  # the loader's own report
    assert "; building" not in again.stdout
    assert {p.name: p.stat().st_mtime for p in (tmp_path / "cache").glob("*.engine")} == stamps
