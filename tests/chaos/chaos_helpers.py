"""Helpers of the chaos suite: short/full sizes, figure lines, one fleet run's command lines."""
import json
import os
import subprocess
import sys
import uuid

from bench.procs import ROOT

FULL = os.environ.get("ALPR_CHAOS_FULL", "") not in ("", "0", "false", "no")


def size(short, full):
    """The short-form value in CI, the full one under `make chaos`."""
    return full if FULL else short


CRASH_MARKS = ("Traceback (most recent call last)", "worker loop ended", "Fatal")


def crash_lines(proc):
    """Log lines of a long-running process that show a crash: any traceback (a refusal or a
    bad frame is a one-line warning, never a traceback), a worker loop that ended, a fatal."""
    return [line for line in proc.log_text().splitlines()
            if any(mark in line for mark in CRASH_MARKS)]


def figures(name, **values):
    """Print a scenario's figures in one greppable line (`pytest -s` shows them)."""
    line = "CHAOS %s %s" % (name, json.dumps(values, sort_keys=True, default=str))
    sys.stdout.write(line + "\n")
    path = os.environ.get("ALPR_CHAOS_FIGURES")
    if path:
        with open(path, "a") as fh:
            fh.write(line + "\n")


class FleetRun(object):
    """One namespace + queue on a Redis URL, and the argv pieces every verb needs."""

    def __init__(self, redis_url, harness, env=None):
        run = uuid.uuid4().hex[:8]
        self.redis_url = redis_url
        self.namespace = "chaos-%s:" % run
        self.queue = "chaos-%s" % run
        self.procs = harness
        self.env = dict(env or {})

    def common(self):
        return ["--redis-url", self.redis_url, "--namespace", self.namespace]

    def worker(self, name, engine="null", *extra):
        return self.procs.spawn(name, "worker", *(self.common() + [
            "--engine", engine, "--queue", self.queue, "--node", name] + list(extra)),
            **self.env)

    def dispatcher(self, name="dispatch", *extra):
        env = dict(self.env, ALPR_QUEUE=self.queue)
        return self.procs.spawn(name, "dispatch", *(self.common() + list(extra)), **env)

    def producer(self, name, source, camera, fps, frames=None, *extra):
        args = self.common() + ["--camera", camera, "--fps", fps, "--queue", self.queue,
                                "--loop", "--json"]
        if frames is not None:
            args += ["--frames", frames]
        return self.procs.spawn(name, "produce", source, *(args + list(extra)), **self.env)

    def status(self, timeout=30):
        """`alpr status --json` of this run (a real subprocess), parsed."""
        env = dict(self.procs.env, **self.env)
        env["ALPR_QUEUE"] = self.queue
        out = subprocess.check_output(
            [self.procs.python, "-m", "alpr", "status", "--json"] + self.common(),
            env=env, cwd=ROOT, timeout=timeout)
        return json.loads(out.decode().strip().splitlines()[-1])
