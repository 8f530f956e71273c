"""Re-export the worker tests' helpers (tests/worker is not a package)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "worker"))

from worker_helpers import put_frames, results, wait_for  # noqa: E402,F401
