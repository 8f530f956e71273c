"""A small harness for real fleet processes: start, signal, watch and always reap them.

Benchmarks and the chaos suite run `python -m alpr worker|dispatch|produce` as real
subprocesses (the repo on PYTHONPATH), against a throwaway redis-server (bench.redis_server);
nothing is left running when the harness closes, even after an exception.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def child_env(extra: Optional[Dict[str, Any]] = None, python_path: str = ROOT) -> Dict[str, str]:
    """Environment for children that import this checkout (unbuffered); flags beat ALPR_* env."""
    env = dict(os.environ)
    env["PYTHONPATH"] = python_path + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in (extra or {}).items():
        env[key] = str(value)
    return env


def wait_until(cond: Callable[[], Any], timeout: float, interval: float = 0.05,
               what: str = "condition") -> Any:
    """Poll `cond` until it returns a truthy value (returned); TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_proc_status_kb(pid: int, field: str) -> int:
    """A kB field of /proc/PID/status (e.g. VmHWM = peak RSS); 0 when the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def read_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            stat = fh.read()
        parts = stat.rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / float(_CLK_TCK)
    except (OSError, ValueError, IndexError):
        return 0.0


def stop_popen(popen: "subprocess.Popen", timeout: float = 10.0) -> Optional[int]:
    """SIGTERM (graceful), then SIGKILL after `timeout` s; returns the exit code."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(10)
    return popen.returncode


class Proc(object):
    """One child process with its own log file; stdout and stderr both go there."""

    def __init__(self, name: str, argv: Sequence[str], log_path: str,
                 env: Optional[Dict[str, str]] = None, cwd: str = ROOT) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.popen = None  # type: Optional[subprocess.Popen]
        self.returncode = None  # type: Optional[int]
        self.starts = 0
        self.last_cpu_s = 0.0
        self.last_hwm_kb = 0

    def start(self) -> "Proc":
        """(Re)start the process, appending to its log."""
        log = open(self.log_path, "ab")
        try:
            self.popen = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.cwd, start_new_session=True)
        finally:
            log.close()
        self.returncode = None
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen is not None else -1

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def sample(self) -> None:
        """Remember CPU time and peak RSS while the process still exists."""
        if self.alive():
            cpu = read_cpu_s(self.pid)
            hwm = read_proc_status_kb(self.pid, "VmHWM")
            self.last_cpu_s = cpu or self.last_cpu_s
            self.last_hwm_kb = max(self.last_hwm_kb, hwm)

    def cpu_s(self) -> float:
        self.sample()
        return self.last_cpu_s

    def peak_rss_mb(self) -> float:
        self.sample()
        return self.last_hwm_kb / 1024.0

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> Optional[int]:
        """SIGKILL and reap (a crash, as far as the fleet can tell)."""
        if self.popen is None:
            return self.returncode
        self.sample()
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.returncode = self.popen.wait(10)
        return self.returncode

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """SIGTERM (graceful), then SIGKILL after `timeout` s; returns the exit code."""
        if self.popen is None:
            return self.returncode
        self.sample()
        self.returncode = stop_popen(self.popen, timeout)
        return self.returncode

    def wait(self, timeout: float) -> Optional[int]:
        """Wait for the process to exit on its own; None if still running after `timeout`."""
        if self.popen is None:
            return self.returncode
        try:
            self.returncode = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def log_text(self) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class Harness(object):
    """Owns every process it starts; `close()` (or leaving the `with`) stops them all."""

    def __init__(self, python: Optional[str] = None, log_dir: Optional[str] = None,
                 env: Optional[Dict[str, Any]] = None, keep_logs: bool = False) -> None:
        self.python = python or sys.executable
        self.own_dir = log_dir is None
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="alpr-procs-")
        self.env = child_env(env)
        self.keep_logs = keep_logs
        self.procs = []  # type: List[Proc]

    def __enter__(self) -> "Harness":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def spawn(self, name: str, verb: str, *args: Any, **env: Any) -> Proc:
        """Start `python -m alpr VERB ARGS...` (extra env vars as keyword arguments)."""
        argv = [self.python, "-m", "alpr", verb] + [str(a) for a in args]
        return self.spawn_argv(name, argv, **env)

    def spawn_argv(self, name: str, argv: Sequence[str], **env: Any) -> Proc:
        """Start any command under the harness (e.g. a redis-benchmark)."""
        proc_env = dict(self.env)
        proc_env.update({k: str(v) for k, v in env.items()})
        log_path = os.path.join(self.log_dir, "%s-%d.log" % (name, len(self.procs)))
        proc = Proc(name, argv, log_path, env=proc_env)
        self.procs.append(proc)
        return proc.start()

    def named(self, prefix: str) -> List[Proc]:
        return [p for p in self.procs if p.name.startswith(prefix)]

    def sample(self) -> None:
        for proc in self.procs:
            proc.sample()

    def dead(self) -> List[Proc]:
        """Processes that exited without being asked to."""
        return [p for p in self.procs if p.popen is not None and p.popen.poll() is not None
                and p.returncode is None]

    def logs(self, prefix: str = "") -> str:
        return "\n".join(p.log_text() for p in self.procs if p.name.startswith(prefix))

    def close(self, timeout: float = 10.0) -> None:
        """SIGTERM everything still running, wait, SIGKILL stragglers, drop the logs."""
        running = [p for p in self.procs if p.alive()]
        for proc in running:
            proc.sample()
            try:
                proc.signal(signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for proc in running:
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            proc.kill()
        if self.own_dir and not self.keep_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)
