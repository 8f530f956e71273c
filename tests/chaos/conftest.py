"""Chaos-suite fixtures: real fleets of real processes on real redis-servers, short or full form.

`make test` runs the short form (fits a 2-core CI); `make chaos` sets ALPR_CHAOS_FULL=1 for
the sizes of issue 5 (5,000 frames, 10 kills, 10,000 fuzz inputs, 2-minute overload).
"""
import os
import sys

import pytest

from bench.probes import noise_jpegs
from bench.procs import Harness

@pytest.fixture
def harness(tmp_path, request):
    """Processes of one test; all stopped at teardown; their logs are printed when it fails."""
    procs = Harness(log_dir=str(tmp_path / "logs"))
    os.makedirs(procs.log_dir, exist_ok=True)
    yield procs
    procs.close()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for proc in procs.procs:
            sys.stdout.write("---- %s (exit %s) ----\n%s\n" % (
                proc.name, proc.returncode, proc.log_tail(15)))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def noise_dir(tmp_path_factory):
    """A folder of 200 KB noise JPEGs (the producer passes JPEG files through untouched)."""
    folder = str(tmp_path_factory.mktemp("noise"))
    noise_jpegs(folder, count=6, target_kb=200)
    return folder


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory):
    """A folder of ~20 KB noise JPEGs, for runs where frame size does not matter."""
    folder = str(tmp_path_factory.mktemp("small"))
    noise_jpegs(folder, count=6, target_kb=20)
    return folder
