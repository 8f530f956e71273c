"""Build a serialized TensorRT engine from ONNX, for both API generations.

8.2 (JetPack 4.6): explicit-batch network flag, `config.max_workspace_size`; 8.4+/10:
`config.set_memory_pool_limit(WORKSPACE, n)`, and 10's networks are always explicit
batch. FP16 when the platform has fast FP16 (LayerNorm layers kept FP32, cuBLAS/cuDNN tactics
off: engines.tensorrt.precision), INT8 with an entropy calibrator fed from a folder of
frames only where the GPU has fast INT8 (refused on a Nano), optional min/opt/max profiles for dynamic (batched OCR)
inputs. Elapsed time is reported while the builder works (minutes on a Nano).
"""
import glob
import os
import threading
import time
from collections import OrderedDict, namedtuple
from types import ModuleType
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from alpr import defaults
from alpr.errors import ConfigError, EngineError, ModelError
from engines.tensorrt.modules import api_generation, version_of
from engines.tensorrt.precision import drop_library_tactics, pin_layernorm_fp32

Shape = Tuple[int, ...]
Profile = Tuple[Shape, Shape, Shape]  # min, opt, max


class BuildOptions(object):
    """What to build: precision, workspace, profiles, INT8 calibration frames."""

    def __init__(self, fp16: bool = defaults.TRT_FP16,
                 workspace_mb: int = defaults.TRT_WORKSPACE_MB, int8: bool = False,
                 calib_dir: Optional[str] = None, calib_cache: Optional[str] = None,
                 profiles: Optional[Dict[str, Profile]] = None,
                 max_batch: int = defaults.TRT_OCR_MAX_BATCH,
                 max_seq: int = defaults.TRT_PROFILE_MAX_SEQ,
                 calib_max_images: int = defaults.TRT_CALIB_MAX_IMAGES,
                 lean_tactics: bool = defaults.TRT_LEAN_TACTICS,
                 layernorm_fp32: bool = defaults.TRT_LAYERNORM_FP32) -> None:
        if int8 and not calib_dir and not (calib_cache and os.path.isfile(calib_cache)):
            raise ConfigError("--int8 needs --calib DIR (frames) or an existing calibration cache")
        if workspace_mb <= 0:
            raise ConfigError("workspace must be positive, got %d MB" % workspace_mb)
        self.fp16 = fp16
        self.workspace_mb = int(workspace_mb)
        self.int8 = int8
        self.calib_dir = calib_dir
        self.calib_cache = calib_cache
        self.profiles = dict(profiles or {})
        self.max_batch = max_batch
        self.max_seq = max_seq
        self.calib_max_images = calib_max_images
        self.lean_tactics = bool(lean_tactics)
        self.layernorm_fp32 = bool(layernorm_fp32)

    def as_dict(self) -> Dict[str, object]:
        """The options that change the engine (stored in the cache sidecar)."""
        return OrderedDict([
            ("fp16", self.fp16), ("int8", self.int8), ("workspace_mb", self.workspace_mb),
            ("profiles", {k: [list(s) for s in v] for k, v in sorted(self.profiles.items())}),
            ("max_batch", self.max_batch), ("max_seq", self.max_seq),
            ("calib_dir", os.path.abspath(self.calib_dir) if self.calib_dir else None),
            ("lean_tactics", self.lean_tactics), ("layernorm_fp32", self.layernorm_fp32),
        ])


BuildResult = namedtuple("BuildResult",
                         "engine seconds precision input_shapes profiles notes trt_version api")


def parse_profile(text: str) -> Tuple[str, Profile]:
    """'name:1x3x224x224,4x3x224x224,8x3x224x224' -> (name, (min, opt, max))."""
    name, sep, shapes = text.rpartition(":")
    parts = shapes.split(",")
    if not sep or len(parts) != 3:
        raise ConfigError("profile %r: expected NAME:MIN,OPT,MAX with shapes like 1x3x224x224" % text)
    try:
        dims = tuple(tuple(int(d) for d in p.lower().split("x")) for p in parts)
    except ValueError:
        raise ConfigError("profile %r: shapes must be integers joined by 'x'" % text)
    if len({len(d) for d in dims}) != 1 or any(a > b for lo, hi in ((dims[0], dims[1]), (dims[1], dims[2]))
                                                for a, b in zip(lo, hi)):
        raise ConfigError("profile %r: need same rank and min <= opt <= max" % text)
    return name, dims  # type: ignore


def default_profile(shape: Sequence[int], max_batch: int, max_seq: int) -> Profile:
    """min/opt/max for an input with -1 dims: dim 0 is the batch (1..max_batch, opt 2);
    the height and width of an [N, 1|3, H, W] image (PP-OCR's line recogniser and text
    detector) span TRT_IMAGE_DIMS (multiples of the models' stride 32); any other dynamic
    dim is a sequence (1..max_seq, opt max_seq // 2). A model's adapter knows tighter
    bounds: pass them as `profiles` where it does."""
    image = len(shape) == 4 and shape[1] in (1, 3)
    rows = []
    for i, d in enumerate(shape):
        if d >= 0:
            rows.append((d, d, d))
        elif i == 0:
            rows.append((1, min(2, max_batch), max_batch))
        elif image:
            rows.append(defaults.TRT_IMAGE_DIMS)
        else:
            rows.append((1, max(1, max_seq // 2), max_seq))
    lo, opt, hi = zip(*rows)
    return tuple(lo), tuple(opt), tuple(hi)


def onnx_profiles(onnx_path: str, options: BuildOptions) -> Dict[str, Profile]:
    """The profiles a build would use, read from the ONNX inputs (no TensorRT needed)."""
    import onnx

    from engines.prepare.equivalence import graph_inputs

    out = OrderedDict()  # type: Dict[str, Profile]
    for name, dims, _ in graph_inputs(onnx.load(onnx_path, load_external_data=False)):
        shape = [d if isinstance(d, int) and d > 0 else -1 for d in dims]
        if any(d < 0 for d in shape):
            out[name] = options.profiles.get(name) or default_profile(shape, options.max_batch,
                                                                      options.max_seq)
    return out


def _version_tuple(version: str) -> Tuple[int, int]:
    parts = (version.split(".") + ["0", "0"])[:2]
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return (0, 0)


def trtexec_command(onnx_path: str, engine_path: str, options: BuildOptions,
                    trt_version: str, profiles: Dict[str, Profile]) -> str:
    """The equivalent trtexec invocation (trtexec < 8.4 takes --workspace=MB, later
    --memPoolSize=workspace:MB)."""
    args = ["trtexec", "--onnx=%s" % onnx_path, "--saveEngine=%s" % engine_path]
    if _version_tuple(trt_version) < (8, 4):
        args.append("--workspace=%d" % options.workspace_mb)
    else:
        args.append("--memPoolSize=workspace:%d" % options.workspace_mb)
    if options.fp16:
        args.append("--fp16")
    if options.lean_tactics and _version_tuple(trt_version) < (10, 0):  # 10 has them off already
        args.append("--tacticSources=-CUBLAS,-CUBLAS_LT,-CUDNN")
    if options.int8:
        args.append("--int8")
        if options.calib_cache:
            args.append("--calib=%s" % options.calib_cache)
    for key, index in (("--minShapes", 0), ("--optShapes", 1), ("--maxShapes", 2)):
        if profiles:
            args.append("%s=%s" % (key, ",".join(
                "%s:%s" % (name, "x".join(str(d) for d in prof[index]))
                for name, prof in sorted(profiles.items()))))
    return " ".join(args)


def make_progress_monitor(trt: ModuleType, report: Callable[[str], None]) -> Optional[object]:
    """A trt.IProgressMonitor (TensorRT 8.6+/10) reporting build phases and steps, else None."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class PhaseReporter(base):
        def __init__(self) -> None:
            base.__init__(self)
            self.steps = {}  # type: Dict[str, int]

        def phase_start(self, phase_name: str, parent_phase: Optional[str], num_steps: int) -> None:
            self.steps[phase_name] = num_steps
            report("  %s%s (%d steps)" % ("  " if parent_phase else "", phase_name, num_steps))

        def step_complete(self, phase_name: str, step: int) -> bool:
            total = self.steps.get(phase_name, 0)
            if total and (step + 1 == total or (step + 1) % max(1, total // 4) == 0):
                report("    %s %d/%d" % (phase_name, step + 1, total))
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            self.steps.pop(phase_name, None)

    return PhaseReporter()


class _Ticker(object):
    """Calls report(elapsed_s) every `every` seconds from a daemon thread while building."""

    def __init__(self, report: Callable[[float], None], every: float = 5.0) -> None:
        self.report, self.every = report, every
        self.start = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="trt-build-ticker")
        self._thread.daemon = True

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.report(time.time() - self.start)

    def __enter__(self) -> "_Ticker":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)


def calibration_files(calib_dir: str, limit: int) -> List[str]:
    """Sorted image files (jpg/jpeg/png/bmp) in `calib_dir`, at most `limit`."""
    files = []
    for pattern in ("*.jpg", "*.jpeg", "*.png", "*.bmp", "*.JPG", "*.JPEG", "*.PNG"):
        files.extend(glob.glob(os.path.join(calib_dir, pattern)))
    files = sorted(set(files))[:limit]
    if not files:
        raise ConfigError("no calibration images (jpg/png/bmp) in %s" % calib_dir)
    return files


def calibration_batches(files: Sequence[str], shape: Shape) -> List[np.ndarray]:
    """Frames letterboxed with the detector's CPU preprocessing, grouped into shape[0] batches."""
    import cv2

    from engines.preprocess_cpu import letterbox_reference

    if len(shape) != 4 or shape[1] != 3:
        raise ConfigError("INT8 calibration from frames needs an NCHW 3-channel input, got %s" % (shape,))
    frames = []
    for path in files:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            continue  # unreadable file: skip rather than fail a long build
        frames.append(letterbox_reference(img, shape[2], shape[3])[0][0])
    n = shape[0]
    return [np.ascontiguousarray(np.stack(frames[i:i + n]), dtype=np.float32)
            for i in range(0, len(frames) - n + 1, n)]


def make_calibrator(trt: ModuleType, cuda: ModuleType, batches: List[np.ndarray],
                    cache_path: Optional[str]) -> object:
    """An IInt8EntropyCalibrator2 that feeds `batches` through one device buffer."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = list(batches)
            self.index = 0
            nbytes = self.batches[0].nbytes if self.batches else 4
            self.device = cuda.mem_alloc(nbytes)

        def get_batch_size(self) -> int:
            return int(self.batches[0].shape[0]) if self.batches else 1

        def get_batch(self, names: List[str]):
            if self.index >= len(self.batches):
                return None
            cuda.memcpy_htod(self.device, self.batches[self.index])
            self.index += 1
            return [int(self.device)]

        def read_calibration_cache(self):
            if cache_path and os.path.isfile(cache_path):
                with open(cache_path, "rb") as fh:
                    return fh.read()
            return None

        def write_calibration_cache(self, cache) -> None:
            if cache_path:
                with open(cache_path, "wb") as fh:
                    fh.write(bytes(cache))

    return EntropyCalibrator()


def _serialize(builder: object, network: object, config: object) -> Optional[object]:
    if hasattr(builder, "build_serialized_network"):
        return builder.build_serialized_network(network, config)
    built = builder.build_engine(network, config)  # TensorRT < 8.0
    return built.serialize() if built is not None else None


def build_engine(onnx_path: str, options: BuildOptions, trt: ModuleType,
                 cuda: Optional[ModuleType] = None,
                 report: Callable[[str], None] = lambda message: None,
                 tick_s: float = 5.0) -> BuildResult:
    """Parse `onnx_path` and build a serialized engine with `options` (cuda needed for INT8)."""
    api = api_generation(trt)
    version = version_of(trt)
    major = _version_tuple(version)[0]
    notes = []  # type: List[str]
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    if options.int8 and not builder.platform_has_fast_int8:
        raise ConfigError("--int8 refused: this GPU has no fast INT8 (platform_has_fast_int8 is "
                          "false, e.g. the Jetson Nano's sm_53 Maxwell), so an INT8 engine would "
                          "be no faster and less accurate; build without --int8 (FP16)")
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) if major < 10 else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    with open(onnx_path, "rb") as fh:
        data = fh.read()
    if not parser.parse(data):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ModelError("TensorRT %s cannot parse %s: %s (prepare it first with `alpr models "
                         "prepare --target %s`)" % (version, onnx_path, "; ".join(errors),
                                                    "trt8.2" if major < 10 else "trt10"))
    config = builder.create_builder_config()
    workspace = options.workspace_mb << 20
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    else:
        config.max_workspace_size = workspace
    precision = "fp32"
    if options.fp16:
        if builder.platform_has_fast_fp16:
            config.set_flag(trt.BuilderFlag.FP16)
            precision = "fp16"
            if options.layernorm_fp32:
                pinned = pin_layernorm_fp32(network, config, trt)
                if pinned:
                    notes.append("kept %d LayerNorm layers in FP32 (Pow/Reduce/Sqrt overflow in "
                                 "FP16): %s" % (len(pinned), ", ".join(pinned[:8])))
        else:
            notes.append("fp16 requested but this GPU has no fast FP16: building fp32")
    default_tactics = drop_library_tactics(config, trt) if options.lean_tactics else None
    input_shapes = OrderedDict()  # type: Dict[str, object]
    profiles = OrderedDict()  # type: Dict[str, Profile]
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = tuple(int(d) for d in tensor.shape)
        if any(d < 0 for d in shape):
            prof = options.profiles.get(tensor.name) or default_profile(shape, options.max_batch,
                                                                        options.max_seq)
            profiles[tensor.name] = prof
            input_shapes[tensor.name] = [list(s) for s in prof]
        else:
            input_shapes[tensor.name] = list(shape)
    unknown = sorted(set(options.profiles) - set(input_shapes))
    if unknown:
        raise ConfigError("profiles given for unknown inputs %s (inputs: %s)" % (unknown, list(input_shapes)))
    profile = None
    if profiles:
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in profiles.items():
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
    calibrator = None
    ctx = None
    try:
        if options.int8:
            if cuda is None:
                raise ConfigError("INT8 calibration needs pycuda")
            from engines.tensorrt.cuda_context import shared_context

            ctx = shared_context(0, cuda)  # calibration batches live in device memory
            first = network.get_input(0)
            shape = tuple(int(d) for d in first.shape)
            if first.name in profiles:
                shape = profiles[first.name][1]  # calibrate at the opt shape
                config.set_calibration_profile(profile)
            batches = []  # type: List[np.ndarray]
            if options.calib_dir:
                batches = calibration_batches(calibration_files(options.calib_dir,
                                                                options.calib_max_images), shape)
                report("INT8 calibration: %d batches of %d frames from %s"
                       % (len(batches), shape[0], options.calib_dir))
            calibrator = make_calibrator(trt, cuda, batches, options.calib_cache)
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = calibrator
            precision = "int8+fp16" if precision == "fp16" else "int8"
        monitor = make_progress_monitor(trt, report)
        if monitor is not None:
            config.progress_monitor = monitor
        report("building %s engine from %s with TensorRT %s (workspace %d MB)..."
               % (precision, os.path.basename(onnx_path), version, options.workspace_mb))
        start = time.time()
        with _Ticker(lambda s: report("  still building... %.0f s" % s), tick_s):
            serialized = _serialize(builder, network, config)
            if serialized is None and default_tactics is not None:
                notes.append("the build without cuBLAS/cuDNN tactics failed: built with TensorRT's "
                             "default tactic sources (more memory at engine load)")
                config.set_tactic_sources(default_tactics)
                serialized = _serialize(builder, network, config)
    finally:
        if calibrator is not None:
            calibrator.device.free()
        if ctx is not None:
            from engines.tensorrt.cuda_context import release

            release(ctx)
    seconds = time.time() - start
    if serialized is None:
        raise EngineError("TensorRT %s failed to build an engine from %s (see the TensorRT log; "
                          "a larger --workspace-mb or swap may help on a Nano)" % (version, onnx_path))
    report("built in %.1f s" % seconds)
    return BuildResult(bytes(serialized), seconds, precision, input_shapes, profiles, notes,
                       version, api)
