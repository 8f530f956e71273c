"""deploy/jetson.md section 4 (bare metal) run for real, as far as a non-Jetson box can: its pip
steps in a fresh Python 3.6 venv, its copy into an /opt/alpr stand-in, then alpr-worker.service's
ExecStartPre (the engine build, against the fake TensorRT 8.2) and ExecStart (watchdog + worker,
against a real redis-server) with the unit's own environment. Not run: apt-get, useradd,
systemctl and pycuda's build (it needs CUDA); the text of those steps is checked instead."""
import configparser
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from redis_server import RedisServer
from testenv import ROOT

pytestmark = pytest.mark.slow

GUIDE = os.path.join(ROOT, "deploy", "jetson.md")
UNIT = os.path.join(ROOT, "deploy", "systemd", "alpr-worker.service")
TRT_TESTS = os.path.join(ROOT, "tests", "engines", "trt")


def guide_block():
    """The shell lines of the first code block in section 4."""
    with open(GUIDE) as fh:
        text = fh.read()
    section = text[text.index("## 4. Bare metal"):]
    block = section[section.index("```sh") + 5:]
    block = block[:block.index("```")]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def python36():
    try:
        prefix = subprocess.check_output(["pyenv", "prefix", "3.6.15"], universal_newlines=True).strip()
    except (OSError, subprocess.CalledProcessError):
        prefix = ""
    candidates = [os.path.join(prefix, "bin", "python3.6")] if prefix else []
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6*/bin/python3.6")))
    for path in candidates:
        if os.path.exists(path):
            return path
    pytest.skip("Python 3.6.15 not installed (pyenv install 3.6.15)")


def unit_service():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    with open(UNIT) as fh:  # repeated keys (Environment=) are kept, one per line
        lines = fh.read().splitlines()
    env = {}
    for line in lines:
        if line.startswith("Environment="):
            for item in shlex.split(line[len("Environment="):]):
                key, _, value = item.partition("=")
                env[key] = value
    parser.read(UNIT)
    return parser["Service"], env


def test_guide_text_upgrades_pip_first_gives_the_user_a_home_and_needs_no_alpr_script():
    lines = guide_block()
    pips = [i for i, l in enumerate(lines) if " -m pip install" in l]
    assert "pip==21.3.1" in lines[pips[0]]  # before anything wheel-only (onnxruntime)
    assert not any(re.search(r"(^|\s)pip3\s", l) for l in lines)  # pip 9's wrapper breaks after the upgrade
    useradd = [l for l in lines if "useradd" in l][0]
    assert "--create-home" in useradd and "--home-dir /var/lib/alpr" in useradd
    service, env = unit_service()
    assert not any(part == "alpr" for part in service["ExecStartPre"].split())
    assert env["ALPR_PYTHON"] == "/usr/bin/python3" and env["ALPR_ENGINE_CACHE_DIR"].startswith("/var/cache/alpr")
    assert service["CacheDirectory"] == "alpr"


def _substitute(text, venv_python, opt, cache):
    return (text.replace("/usr/bin/python3", venv_python).replace("/opt/alpr", opt)
            .replace("/var/cache/alpr", cache))


def test_guide_install_steps_then_the_units_commands_in_a_fresh_python36_venv(tmp_path):
    py36 = python36()
    venv = str(tmp_path / "venv")
    subprocess.check_call([py36, "-m", "venv", venv])
    python = os.path.join(venv, "bin", "python")
    opt, cache, home = str(tmp_path / "opt" / "alpr"), str(tmp_path / "cache" / "alpr"), str(tmp_path / "home")
    ran = []
    for line in guide_block():
        if "python3 -m pip install" in line or "pip3 install" in line:
            if "pycuda" in line:
                continue  # needs CUDA's nvcc; the fake pycuda stands in below
            args = shlex.split(line.replace("/opt/alpr", ROOT))
            args = args[args.index("python3") + 1:] if "python3" in args else \
                ["-m", "pip"] + args[args.index("pip3") + 1:]
            proc = subprocess.run([python] + args + ["-q"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, universal_newlines=True, timeout=900)
            assert proc.returncode == 0, "%s\n%s" % (line, proc.stdout[-3000:])
            ran.append(line)
        elif line.startswith("sudo mkdir -p /opt/alpr") and "cp -r" in line:
            names = line.split("cp -r", 1)[1].split()[:-1]
            for name in names:
                shutil.copytree(os.path.join(ROOT, name), os.path.join(opt, name),
                                ignore=shutil.ignore_patterns("__pycache__"))
            ran.append(line)
    assert len(ran) == 5, ran  # pip upgrade, copy, requirements, pycuda's deps, default models
    pip_version = subprocess.check_output([python, "-m", "pip", "--version"], universal_newlines=True)
    assert pip_version.startswith("pip 21.3.1")

    sys.path.insert(0, TRT_TESTS)
    import fake_install

    service, unit_env = unit_service()
    env = {k: _substitute(v, python, opt, cache) for k, v in unit_env.items()}
    env.update(fake_install.NANO)
    env["PYTHONPATH"] = fake_install.write_shims(str(tmp_path / "shims")) + os.pathsep + env["PYTHONPATH"]
    env.update(PATH="/usr/bin:/bin", HOME=home)  # useradd --create-home
    os.makedirs(home)
    os.makedirs(cache)  # CacheDirectory=alpr

    pre = shlex.split(_substitute(service["ExecStartPre"], python, opt, cache))
    proc = subprocess.run(pre, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert glob.glob(os.path.join(cache, "engines", "*.engine")), proc.stdout[-2000:]

    redis = RedisServer().start()
    try:
        env.update(ALPR_REDIS_URL=redis.url, ALPR_NODE_NAME="nano-guide", ALPR_TRT_ALLOW_BUILD="0")
        start = shlex.split(_substitute(service["ExecStart"], python, opt, cache))
        worker = subprocess.Popen(start, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True)
        try:
            import redis as redis_py

            client = redis_py.Redis.from_url(redis.url)
            deadline = time.time() + 120
            while not client.exists("alpr:node:nano-guide:alive"):
                assert worker.poll() is None, worker.stdout.read()[-3000:]
                assert time.time() < deadline, "the worker never heartbeat"
                time.sleep(0.2)
            # what the first-run checklist runs next: `alpr doctor` (no rich on this venv)
            doctor = subprocess.run([python, "-m", "alpr", "doctor", "--json"], env=env, cwd=opt,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    universal_newlines=True, timeout=120)
        finally:
            worker.terminate()
            out = worker.communicate(timeout=60)[0]
        assert "; building" not in out, out[-2000:]  # the loader built nothing
        assert doctor.returncode == 0, doctor.stdout[-3000:]
        import json

        checks = {c["name"]: c for c in json.loads(doctor.stdout.strip().splitlines()[-1])["checks"]}
        assert checks["tensorrt"]["detail"] == "TensorRT 8.2.1.8"
        assert checks["cuda"]["detail"].startswith("NVIDIA Tegra X1, sm 5.3")
        assert checks["redis"]["status"] == "ok" and checks["clock"]["status"] == "ok"
        assert {c["status"] for n, c in checks.items() if n == "engine"} == {"ok"}
    finally:
        redis.stop()
    assert not os.path.exists(os.path.join(home, ".cache", "alpr"))
