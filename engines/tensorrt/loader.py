"""`open_trt_runtime`: ONNX (or .engine) path -> a TensorRT Runtime, via the engine cache.

ONNX input: prepared for this TensorRT generation if it is not already (trt8.2 / trt10
copy kept in the cache folder), then the cached engine is used if its sidecar matches
this node, model and options; otherwise it is built (or refused when building is not
allowed). A bare .engine is run only when its sidecar says it was built here.
"""
import logging
import os
from types import ModuleType
from typing import Callable, Dict, Optional, Tuple

from alpr import defaults
from alpr.errors import ConfigError
from engines.model_files import sha256_file
from engines.runtime import Runtime
from engines.tensorrt import cache as cache_mod
from engines.tensorrt.build import BuildOptions, Profile, build_engine
from engines.tensorrt.cuda_context import CudaContext, release, shared_context
from engines.tensorrt.modules import api_generation, import_cuda, import_tensorrt, version_of
from engines.tensorrt.runtime import runtime_class

log = logging.getLogger(__name__)


def node_identity(trt: ModuleType, ctx: CudaContext) -> cache_mod.Identity:
    """TensorRT version, GPU name and compute capability of this node."""
    return cache_mod.Identity(version_of(trt), ctx.name, "%d.%d" % tuple(ctx.compute_capability))


def prepare_target(trt: ModuleType) -> str:
    """The `alpr models prepare` target matching this TensorRT (8.x -> trt8.2, 10 -> trt10)."""
    major = version_of(trt).split(".")[0]
    return "trt10" if major.isdigit() and int(major) >= 10 else "trt8.2"


def _prepared_for(onnx_path: str) -> Optional[str]:
    import onnx

    model = onnx.load(onnx_path, load_external_data=False)
    for entry in model.metadata_props:
        if entry.key == "alpr.prepared_for":
            return entry.value
    return None


def ensure_prepared(onnx_path: str, target: str, cache_dir: str) -> str:
    """`onnx_path` if already prepared for a TensorRT target, else a cached prepared copy."""
    from engines.prepare import convert

    if _prepared_for(onnx_path) in ("trt8.2", "trt10"):
        return onnx_path
    sha = sha256_file(onnx_path)
    stem = os.path.splitext(os.path.basename(onnx_path))[0]
    out = os.path.join(os.path.abspath(os.path.expanduser(cache_dir)),
                       "%s-%s.%s.onnx" % (stem, sha[:12], target))
    if not os.path.isfile(out):
        log.info("preparing %s for %s -> %s", onnx_path, target, out)
        convert.prepare(onnx_path, target, out)
    return out


def open_engine_file(engine_path: str, trt: ModuleType, ctx: CudaContext,
                     zero_copy: str) -> Runtime:
    """Run a bare .engine, only if its sidecar says this TensorRT and GPU built it."""
    side = cache_mod.EngineCache.read_sidecar(os.path.splitext(engine_path)[0] + ".json")
    if side is None:
        raise ConfigError("engine %s has no sidecar JSON, so it cannot be checked against this "
                          "node; build it here with `alpr engines build`" % engine_path)
    reasons = cache_mod.sidecar_mismatches(side, node_identity(trt, ctx), None, None, engine_path)
    if reasons:
        raise ConfigError(cache_mod.refuse_message(engine_path, reasons, str(side.get("model_path"))))
    with open(engine_path, "rb") as fh:
        return runtime_class(trt)(fh.read(), trt, ctx, zero_copy=zero_copy, owns_context=True)


def get_engine(onnx_path: str, options: BuildOptions, trt: ModuleType, ctx: CudaContext,
               cache_dir: str, allow_build: bool = True, cuda: Optional[ModuleType] = None,
               report: Callable[[str], None] = log.info,
               rebuild: bool = False) -> Tuple[cache_mod.Entry, Dict[str, object], bool]:
    """(cache entry, sidecar, built_now) for `onnx_path`: a fresh cached engine or a new build."""

    if not os.path.isfile(onnx_path):
        raise ConfigError("model file not found: %s" % onnx_path)
    cache = cache_mod.EngineCache(cache_dir)
    entry = cache.entry(onnx_path, sha256_file(onnx_path), options.as_dict())
    identity = node_identity(trt, ctx)
    reasons = ["rebuild requested"] if rebuild else cache.stale_reasons(entry, identity)
    if not reasons:
        return entry, cache.read_sidecar(entry.sidecar_path) or {}, False
    if not allow_build:
        raise ConfigError(cache_mod.refuse_message(entry.engine_path, reasons, onnx_path))
    report("engine %s: %s; building" % (os.path.basename(entry.engine_path), "; ".join(reasons)))
    cache_mod.ensure_dir_writable(cache_dir)
    result = build_engine(onnx_path, options, trt, cuda, report)
    for note in result.notes:
        report(note)
    side = cache.store(entry, result.engine, identity, result.precision, result.input_shapes,
                       result.seconds, onnx_path, api_generation(trt))
    return entry, side, True


def open_trt_runtime(onnx_path: str, cache_dir: str = defaults.ENGINE_CACHE_DIR,
                     allow_build: bool = defaults.TRT_ALLOW_BUILD,
                     fp16: bool = defaults.TRT_FP16,
                     workspace_mb: int = defaults.TRT_WORKSPACE_MB,
                     int8: bool = False, calib_dir: Optional[str] = None,
                     profiles: Optional[Dict[str, Profile]] = None,
                     max_batch: int = defaults.TRT_OCR_MAX_BATCH,
                     device: int = 0, zero_copy: str = "auto", auto_prepare: bool = True,
                     trt: Optional[ModuleType] = None, cuda: Optional[ModuleType] = None,
                     report: Callable[[str], None] = log.info) -> Runtime:
    """A TensorRT Runtime for an ONNX model (prepared, built and cached as needed) or a
    checked .engine file. The runtime owns its CUDA context and releases it on close()."""
    trt = trt or import_tensorrt()
    cuda = cuda or import_cuda()
    ctx = shared_context(device, cuda)
    try:
        if onnx_path.endswith(".engine"):
            return open_engine_file(onnx_path, trt, ctx, zero_copy)
        if auto_prepare:
            onnx_path = ensure_prepared(onnx_path, prepare_target(trt), cache_dir)
        calib_cache = None
        if int8:
            calib_cache = os.path.join(os.path.abspath(os.path.expanduser(cache_dir)),
                                       os.path.splitext(os.path.basename(onnx_path))[0] + ".calib")
        options = BuildOptions(fp16=fp16, workspace_mb=workspace_mb, int8=int8, calib_dir=calib_dir,
                               calib_cache=calib_cache, profiles=profiles, max_batch=max_batch)
        entry, _, _ = get_engine(onnx_path, options, trt, ctx, cache_dir, allow_build, cuda, report)
        with open(entry.engine_path, "rb") as fh:
            engine = fh.read()
        return runtime_class(trt)(engine, trt, ctx, zero_copy=zero_copy, owns_context=True)
    except BaseException:
        release(ctx)  # no runtime took over this reference
        raise
