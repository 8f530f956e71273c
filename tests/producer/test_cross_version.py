"""Mixed fleet: jobs enqueued with this interpreter's rq are served by a Python 3.6 / rq 1.15.1 worker.

The Nano nodes run rq 1.15.1 while producers/dispatchers may run rq 2+/3 on a server; the job
hash and the msgpack payload must be understood both ways.
"""
import os
import subprocess
import sys

import pytest

from alpr.keys import Keys
from testenv import ROOT, subprocess_env
from worker_helpers_path import put_frames, results

PY36 = os.path.join(ROOT, ".venv36", "bin", "python")


@pytest.mark.skipif(not os.path.exists(PY36), reason="no .venv36 (Python 3.6 node venv) here")
@pytest.mark.parametrize("producer_python,worker_python", [("self", PY36), (PY36, "self")])
def test_jobs_cross_rq_versions(redis_client, redis_url, tmp_path, producer_python, worker_python):
    keys = Keys("alpr:")
    producer_python = sys.executable if producer_python == "self" else producer_python
    worker_python = sys.executable if worker_python == "self" else worker_python
    if producer_python == sys.executable:
        ids = put_frames(redis_client, keys, 5)
    else:
        script = ("import sys; sys.path[:0] = [%r, %r, %r]; import redis; "
                  "from worker_helpers import put_frames; from alpr.keys import Keys; "
                  "print(' '.join(put_frames(redis.Redis.from_url(%r), Keys('alpr:'), 5)))"
                  % (ROOT, os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "worker"),
                     redis_url))
        ids = subprocess.check_output([producer_python, "-c", script],
                                      env=subprocess_env()).decode().split()
    log = str(tmp_path / "worker.log")
    proc = subprocess.run([worker_python, "-m", "alpr", "worker", "--redis-url", redis_url,
                           "--node", "mixed", "--engine", "null", "--burst"],
                          env=subprocess_env(), stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                          timeout=120)
    assert proc.returncode == 0, open(log).read()[-3000:]
    recs = results(redis_client, keys)
    assert set(ids) == set(recs) and all(r.status == "read" for r in recs.values())
