"""deploy/systemd units through `systemd-analyze verify` and their restart/watchdog policy."""
import configparser
import os
import shutil
import subprocess

import pytest

from testenv import ROOT

UNITS = os.path.join(ROOT, "deploy", "systemd")


def _unit(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(os.path.join(UNITS, name))
    return parser


@pytest.mark.parametrize("name,instance", [
    ("alpr-worker.service", "alpr-worker.service"),
    ("alpr-dispatcher.service", "alpr-dispatcher.service"),
    ("alpr-fleet-watch.service", "alpr-fleet-watch.service"),
    ("alpr-producer@.service", "alpr-producer@gate1.service"),
    ("alpr-tegrastats.service", "alpr-tegrastats.service"),
])
def test_systemd_analyze_verify(name, instance, tmp_path):
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze not installed")
    with open(os.path.join(UNITS, name)) as fh:
        text = fh.read().replace("/opt/alpr", ROOT)  # executables must exist for verify
    path = tmp_path / instance
    path.write_text(text)
    proc = subprocess.run([tool, "verify", str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert "Unknown" not in proc.stdout and "Failed" not in proc.stdout, proc.stdout


def test_worker_restarts_always_and_is_watched_through_the_heartbeat():
    service = _unit("alpr-worker.service")["Service"]
    assert service["Type"] == "notify" and service["Restart"] == "always"
    assert service["WatchdogSec"] == "30s"
    assert service["ExecStart"].split()[1] == "/opt/alpr/deploy/alpr-watchdog"
    assert "-m alpr worker" in service["ExecStart"]
    assert service["ExecStartPre"] == "/opt/alpr/deploy/alpr-entrypoint.sh"
    assert "video" in service["SupplementaryGroups"]


def test_producer_template_is_per_camera():
    service = _unit("alpr-producer@.service")["Service"]
    assert "--camera %i" in service["ExecStart"] and service["Restart"] == "always"
