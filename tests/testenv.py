"""Paths and the child-process environment shared by tests (a module of its own: test files
cannot import from `conftest`, whose name clashes across test folders)."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "openalpr-endtoend")


def subprocess_env(**extra):
    """Environment for child processes (workers, producers) that import this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env
