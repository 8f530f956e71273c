"""Pluggable engines behind the worker: the real recognition pipeline, or benchmark engines.

Each engine has ``prepare(env)`` (the host-side work that needs no model: JPEG decode; the
worker runs it for the next frame while this one is in the models) and ``process(env,
prepared)``. ``null`` answers instantly with no plates (measures the queue alone); ``sleep:<s>`` holds each
frame for a fixed service time (``sleep:0.0667`` = a 15-FPS Jetson Nano). Both are real code
paths used by `alpr bench`, not test fakes. ``hang`` never returns from a frame, with SIGALRM
masked, the way a stuck CUDA or ONNX Runtime call holds a node (the chaos suite's stuck node).
``pipeline`` imports the models lazily.
"""
import signal
import threading
import time
from typing import Any, Dict

from alpr.errors import ConfigError
from alpr.protocol import FrameEnvelope
from engines.types import FrameResult


class NullEngine(object):
    """Returns no plates instantly."""

    name = "null"

    def warmup(self, runs: int) -> None:
        """Nothing to warm."""

    def prepare(self, env: FrameEnvelope) -> Any:
        """Nothing to prepare."""
        return None

    def process(self, env: FrameEnvelope, prepared: Any = None) -> FrameResult:
        return FrameResult(timings={"engine": 0.0})

    def info(self) -> Dict[str, Any]:
        return {"engine": self.name}

    def close(self) -> str:
        """Nothing to free."""
        return "nothing to free"


class SleepEngine(object):
    """Fixed service time per frame, no plates: emulates a slower node's throughput."""

    def __init__(self, seconds: float) -> None:
        if not 0 <= seconds <= 60:
            raise ConfigError("sleep engine needs 0..60 seconds, got %r" % seconds)
        self.seconds = float(seconds)
        self.name = "sleep:%g" % self.seconds

    def warmup(self, runs: int) -> None:
        """Nothing to warm."""

    def prepare(self, env: FrameEnvelope) -> Any:
        """Nothing to prepare: a Nano's host work is in the worker's own figures."""
        return None

    def process(self, env: FrameEnvelope, prepared: Any = None) -> FrameResult:
        started = time.perf_counter()
        time.sleep(self.seconds)
        return FrameResult(timings={"engine": (time.perf_counter() - started) * 1000.0})

    def info(self) -> Dict[str, Any]:
        return {"engine": self.name}

    def close(self) -> str:
        """Nothing to free."""
        return "nothing to free"


class HangEngine(object):
    """Blocks inside every frame and never returns: a GPU or runtime call that is stuck.

    The wait runs with SIGALRM masked in the calling thread (a C call inside CUDA or ONNX
    Runtime does not return to the interpreter, so RQ's SIGALRM job timeout cannot stop it
    either); only the node's liveness (worker.liveness) and the fleet's reaper notice it.
    """

    name = "hang"

    def __init__(self) -> None:
        self._never = threading.Event()

    def warmup(self, runs: int) -> None:
        """Warm-up returns: a node hangs on a frame, not at start."""

    def prepare(self, env: FrameEnvelope) -> Any:
        return None

    def process(self, env: FrameEnvelope, prepared: Any = None) -> FrameResult:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        try:
            while not self._never.wait(3600.0):  # never set: the call is stuck for good
                pass
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return FrameResult(error="engine: hang engine returned")

    def info(self) -> Dict[str, Any]:
        return {"engine": self.name}


class PipelineEngine(object):
    """The recognition pipeline (detector + OCR) built once from Settings."""

    name = "pipeline"

    def __init__(self, settings: Any) -> None:
        from engines.models import build_pipeline  # heavy: onnxruntime / tensorrt

        from engines.evidence import options_from

        self.settings = settings
        self.pipeline = build_pipeline(settings, zoom_every=settings.det_zoom_every)
        self.evidence = options_from(settings)
        self.private_cameras = set(settings.evidence_private_cameras)
        # models on CPU cores: decode the next frame once this one's detector is done
        self.prepare_after_detect = self.pipeline.models_use_cpu

    def warmup(self, runs: int) -> None:
        self.pipeline.warmup(runs)

    def prepare(self, env: FrameEnvelope) -> Any:
        """Decode an encoded frame and make the detector's input (the pipeline's decode and
        det_prep stages, in fresh arrays); raw frames need nothing."""
        if env.fmt == "raw":
            return None
        return self.pipeline.decode(env.data, _roi(env), detector_input=True)

    def process(self, env: FrameEnvelope, prepared: Any = None,
                on_detected: Any = None) -> FrameResult:
        roi = _roi(env)
        if env.fmt == "raw":
            import numpy as np

            try:
                image = np.frombuffer(env.data, dtype=np.dtype(env.dtype)).reshape(env.shape)
            except (TypeError, ValueError) as exc:
                return FrameResult(error="bad_frame: raw data does not match its shape/dtype: %s"
                                   % exc)
            result = self.pipeline.process_image(image, roi, env.regions)
            return self._with_evidence(env, image, result)
        if prepared is None:
            prepared = self.pipeline.decode(env.data)
        result = self.pipeline.process_decoded(prepared, roi, on_detected=on_detected,
                                               regions=env.regions)
        return self._with_evidence(env, prepared.frame, result)

    def _with_evidence(self, env: FrameEnvelope, frame: Any, result: FrameResult) -> FrameResult:
        """Crops (and the snapshot) of the reads, unless the camera is private."""
        if not result.reads or frame is None or env.camera in self.private_cameras:
            return result
        from engines.evidence import make_evidence

        started = time.perf_counter()
        try:
            result.evidence = make_evidence(frame, result.reads, self.evidence)
        except Exception as exc:  # noqa: BLE001 - evidence is a bonus; the reads still count
            result.timings["evidence_error"] = 1.0
            import logging

            logging.getLogger(__name__).warning("evidence failed on %s: %s", env.frame_id, exc)
        result.timings["evidence"] = (time.perf_counter() - started) * 1000.0
        return result

    def close(self) -> str:
        """Free the runtimes (ORT sessions; TensorRT contexts, buffers and the CUDA context,
        which left on the stack aborts the process at exit) and the decode threads."""
        runtimes = self.pipeline.runtimes
        self.pipeline.close()
        return "%d/%d runtimes closed" % (sum(1 for r in runtimes if r.closed), len(runtimes))

    def info(self) -> Dict[str, Any]:
        out = {"engine": self.name, "runtime": self.settings.runtime,
               "detector": self.settings.detector, "ocr": self.settings.ocr}
        describe = getattr(self.pipeline, "describe", None)
        if callable(describe):
            try:
                out.update({str(k): v for k, v in describe().items()})
            except Exception:  # info is cosmetic; never fail the worker on it
                pass
        return out


def _roi(env: FrameEnvelope) -> Any:
    return tuple(env.roi) if env.roi else None


def frame_engine_for(spec: str, settings: Any) -> Any:
    """``pipeline`` | ``null`` | ``sleep:<seconds>`` | ``hang`` -> an engine with process/warmup/info."""
    spec = (spec or "pipeline").strip()
    if spec == "null":
        return NullEngine()
    if spec == "hang":
        return HangEngine()
    if spec.startswith("sleep:"):
        try:
            return SleepEngine(float(spec.split(":", 1)[1]))
        except ValueError:
            raise ConfigError("bad engine %r: use sleep:<seconds>, e.g. sleep:0.0667" % spec) from None
    if spec == "pipeline":
        return PipelineEngine(settings)
    raise ConfigError("unknown engine %r (pipeline, null, sleep:<seconds> or hang)" % spec)
