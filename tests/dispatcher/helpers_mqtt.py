"""Helpers of the MQTT and alert tests: a fleet namespace per test, its events, `alpr status`."""
import json
import subprocess
import sys
import uuid

from testenv import subprocess_env


def make_fleet(redis_url, tmp_path):
    from demo.fleet import Fleet

    run = uuid.uuid4().hex[:6]
    return Fleet(redis_url, "mq-%s:" % run, "mq-%s" % run, str(tmp_path)), run


def stream_events(fleet):
    return [json.loads(f[b"event"]) for _, f in fleet.redis.xrange(fleet.keys.events)]


def status_json(fleet):
    out = subprocess.run([sys.executable, "-m", "alpr", "status", "--json"], env=subprocess_env(
        ALPR_REDIS_URL=fleet.redis_url, ALPR_NAMESPACE=fleet.namespace),
        capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout.decode().strip().splitlines()[-1])
