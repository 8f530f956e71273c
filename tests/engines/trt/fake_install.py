"""Install the fakes as `tensorrt` and `pycuda.driver` for a child process (the entrypoint,
`alpr doctor`, a systemd unit's commands): shim modules on its PYTHONPATH that replace
themselves with fake_tensorrt8/10 and fake_pycuda, and a fake GPU set from the environment."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
#: the Jetson Nano as the fake GPU reports it (integrated, sm 5.3)
NANO = {"FAKE_GPU_NAME": "NVIDIA Tegra X1", "FAKE_GPU_CC": "5.3", "FAKE_GPU_INTEGRATED": "1"}

_TENSORRT = '''import os, sys
import fake_tensorrt8, fake_tensorrt10
sys.modules[__name__] = fake_tensorrt10 if os.environ.get("FAKE_TRT") == "10" else fake_tensorrt8
'''
_DRIVER = '''import os, sys
import fake_pycuda
cc = tuple(int(p) for p in os.environ.get("FAKE_GPU_CC", "7.5").split("."))
fake_pycuda.reset(integrated=os.environ.get("FAKE_GPU_INTEGRATED") == "1",
                  name=os.environ.get("FAKE_GPU_NAME", "Fake GPU"), cc=cc)
sys.modules[__name__] = fake_pycuda
'''


def write_shims(folder: str) -> str:
    """Write the shims into `folder`; returns the PYTHONPATH entries to put first."""
    os.makedirs(os.path.join(folder, "pycuda"), exist_ok=True)
    for rel, text in (("tensorrt.py", _TENSORRT), (os.path.join("pycuda", "__init__.py"), ""),
                      (os.path.join("pycuda", "driver.py"), _DRIVER)):
        with open(os.path.join(folder, rel), "w") as fh:
            fh.write(text)
    return os.pathsep.join([folder, HERE, os.path.dirname(HERE)])
