"""Read and clear the calls recorded by the fake pycuda (a module of its own: test files
cannot import helpers from `conftest`, whose name clashes across test folders)."""
import fake_pycuda


def calls(names=None):
    """The recorded fake calls (optionally only those whose name is in `names`)."""
    return [c for c in fake_pycuda.CALLS if names is None or c[0] in names]


def clear_calls():
    del fake_pycuda.CALLS[:]
