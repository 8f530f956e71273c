"""A bad setting at start answers one clear line and exit code 2, for every verb that takes
settings: no traceback, no usage block (click's CliRunner; one real worker subprocess)."""
import subprocess
import sys

import pytest
from click.testing import CliRunner

from alpr.cli import main
from testenv import subprocess_env

# every verb that builds Settings (ALPR_* env, --config, flags), with its required arguments
VERBS = [["worker"], ["produce", "scenes"], ["dispatch"], ["status"], ["fleet", "nodes"],
         ["fleet", "drain", "n1"], ["fleet", "undrain", "n1"], ["read", "x.jpg"],
         ["bench", "engines"], ["bench", "pipeline"]]


def one_line_error(result):
    lines = [l for l in (result.output or "").splitlines() if l.strip()]
    return result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error: ") \
        and "Traceback" not in result.output


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: " ".join(v))
def test_bad_env_setting_is_one_line_exit_2(verb):
    result = CliRunner().invoke(main, verb, env={"ALPR_JOB_TIMEOUT_S": "soon"})
    assert one_line_error(result), (result.exit_code, result.output, result.exception)
    assert "job_timeout_s" in result.output


@pytest.mark.parametrize("args", [
    ["worker", "--engine", "sleep:1000"],
    ["worker", "--engine", "warp-drive"],
    ["worker", "--batch-max", "many"],
    ["produce", "scenes", "--fps", "fast"],
    ["produce", "scenes", "--camera", ""],
    ["status", "--redis-url", "http://127.0.0.1:1/0"],
    ["dispatch", "--redis-url", "nowhere"],
], ids=lambda a: " ".join(a))
def test_bad_flag_is_one_line_exit_2(args):
    result = CliRunner().invoke(main, args)
    assert one_line_error(result), (result.exit_code, result.output, result.exception)


def test_real_worker_with_a_bad_engine_exits_2_with_one_line(redis_url):
    proc = subprocess.run([sys.executable, "-m", "alpr", "worker", "--redis-url", redis_url,
                           "--engine", "sleep:1000"], env=subprocess_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    text = proc.stdout.decode()
    assert proc.returncode == 2, text
    assert text.strip().splitlines() == ["Error: sleep engine needs 0..60 seconds, got 1000.0"]
