"""`alpr engines build|list`: build TensorRT engines into the cache, show what is cached."""
import os
from typing import Dict, List, Optional, Tuple

import click

from alpr import defaults
from alpr.errors import AlprError


def _profiles(values: Tuple[str, ...]) -> Dict[str, tuple]:
    from engines.tensorrt.build import parse_profile

    return dict(parse_profile(v) for v in values)


@click.group("engines")
def engines_group() -> None:
    """TensorRT engines: build (per node: an engine only runs on the GPU and TensorRT that built it)."""


@engines_group.command("build")
@click.argument("models", nargs=-1, type=click.Path(dir_okay=False, exists=True))
@click.option("--default", "use_default", is_flag=True,
              help="Build the engines this node's worker loads (its detector and OCR from the same "
                   "ALPR_* settings), through the worker's own loader: same files, names, options.")
@click.option("--cache-dir", default=defaults.ENGINE_CACHE_DIR, show_default=True, envvar="ALPR_ENGINE_CACHE_DIR")
@click.option("--workspace-mb", type=int, default=defaults.TRT_WORKSPACE_MB, show_default=True,
              envvar="ALPR_TRT_WORKSPACE_MB", help="Builder workspace (tactic scratch memory).")
@click.option("--fp16/--no-fp16", default=defaults.TRT_FP16, show_default=True, envvar="ALPR_TRT_FP16",
              help="FP16 kernels when the GPU has fast FP16.")
@click.option("--int8", is_flag=True, help="INT8 with an entropy calibrator (needs --calib).")
@click.option("--calib", "calib_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Folder of representative frames for INT8 calibration.")
@click.option("--profile", "profiles", multiple=True,
              help="Dynamic input profile NAME:MIN,OPT,MAX, e.g. input:1x3x224x224,2x3x224x224,8x3x224x224.")
@click.option("--max-batch", type=int, default=defaults.TRT_OCR_MAX_BATCH, show_default=True,
              envvar="ALPR_TRT_MAX_BATCH", help="Largest batch of the default profile for dynamic inputs.")
@click.option("--rebuild", is_flag=True, help="Build even when a fresh engine is cached.")
@click.option("--device", type=int, default=0, show_default=True, help="CUDA device index.")
@click.option("--print-trtexec", is_flag=True,
              help="Only print the equivalent trtexec command lines (no TensorRT needed).")
@click.option("--trt-version", default=None, help="TensorRT version for --print-trtexec (default: installed, else 8.2).")
@click.pass_context
def build_cmd(ctx: click.Context, models: Tuple[str, ...], use_default: bool, cache_dir: str, workspace_mb: int, fp16: bool,
              int8: bool, calib_dir: Optional[str], profiles: Tuple[str, ...], max_batch: int,
              rebuild: bool, device: int, print_trtexec: bool, trt_version: Optional[str]) -> None:
    """Prepare each ONNX MODEL for this TensorRT, build its engine into the cache, print trtexec."""
    from engines.tensorrt.build import BuildOptions, onnx_profiles, trtexec_command

    try:
        paths = list(models)  # type: List[str]
        if use_default and not print_trtexec:
            if models or int8 or profiles or rebuild:
                raise click.UsageError("--default builds exactly what the worker loads: give it "
                                       "without MODEL files, --int8, --profile or --rebuild")
            given = {name: value for name, value in (("engine_cache_dir", cache_dir),
                                                     ("trt_workspace_mb", workspace_mb),
                                                     ("trt_fp16", fp16), ("trt_max_batch", max_batch))
                     if _given(ctx, name)}
            build_worker_engines(given)
            return
        if use_default:
            from engines.models_cli import default_model_paths

            paths.extend(default_model_paths(cache_dir).values())
        if not paths:
            raise click.UsageError("give MODEL.onnx files or --default")
        if print_trtexec:
            version = trt_version or _installed_trt_version() or "8.2"
            target = "trt10" if version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 10 else "trt8.2"
            for path in paths:
                options = BuildOptions(fp16, workspace_mb, int8, calib_dir,
                                       profiles=_profiles(profiles), max_batch=max_batch)
                from engines.prepare.convert import default_output

                prepared = default_output(path, target)
                engine = os.path.splitext(os.path.basename(path))[0] + ".engine"
                click.echo("alpr models prepare %s --target %s -o %s" % (path, target, prepared))
                click.echo(trtexec_command(prepared, engine, options, version, onnx_profiles(path, options)))
            return
        _build(paths, cache_dir, workspace_mb, fp16, int8, calib_dir, _profiles(profiles), max_batch,
               rebuild, device)
    except AlprError as exc:
        raise click.ClickException(str(exc))


_PARAMS = {"engine_cache_dir": "cache_dir", "trt_workspace_mb": "workspace_mb", "trt_fp16": "fp16",
           "trt_max_batch": "max_batch"}


def _given(ctx: click.Context, setting: str) -> bool:
    """Whether the user set this option (flag or env), so it overrides the settings file."""
    source = ctx.get_parameter_source(_PARAMS[setting])
    return source is not None and source.name != "DEFAULT"


def build_worker_engines(overrides: Dict[str, object]) -> None:
    """Open the worker's detector and OCR on TensorRT with builds allowed, then close them:
    the worker's own code path (engines.models) prepares, names and caches every engine, so
    a worker started afterwards (even with ALPR_TRT_ALLOW_BUILD=0) builds nothing."""
    from alpr.settings import Settings
    from engines.models import build_detector, build_ocr

    values = dict(overrides)
    values.update({"runtime": "tensorrt", "trt_allow_build": True})
    settings = Settings.load(overrides=values)
    click.echo("engines for the worker's detector %r and OCR %r, cache %s"
               % (settings.detector, settings.ocr, settings.engine_cache_dir))
    for label, builder in (("detector", build_detector), ("ocr", build_ocr)):
        adapter = builder(settings)
        count = len(adapter.runtimes)
        for runtime in adapter.runtimes:
            runtime.close()
        click.echo("%s: %d engine(s) ready" % (label, count))


def _installed_trt_version() -> Optional[str]:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return None
    return str(getattr(tensorrt, "__version__", "")) or None


def _build(paths: List[str], cache_dir: str, workspace_mb: int, fp16: bool, int8: bool,
           calib_dir: Optional[str], profiles: Dict[str, tuple], max_batch: int, rebuild: bool,
           device: int) -> None:
    from engines.tensorrt.build import BuildOptions, trtexec_command
    from engines.tensorrt.cuda_context import release, shared_context
    from engines.tensorrt.loader import ensure_prepared, get_engine, prepare_target
    from engines.tensorrt.modules import import_cuda, import_tensorrt, version_of

    trt, cuda = import_tensorrt(), import_cuda()
    ctx = shared_context(device, cuda)
    try:
        click.echo("TensorRT %s on %s (sm %d.%d)%s" % (version_of(trt), ctx.name, ctx.compute_capability[0],
                                                     ctx.compute_capability[1],
                                                     ", unified memory" if ctx.integrated else ""))
        for path in paths:
            onnx_path = ensure_prepared(path, prepare_target(trt), cache_dir)
            calib_cache = None
            if int8:
                calib_cache = os.path.join(os.path.abspath(os.path.expanduser(cache_dir)),
                                           os.path.splitext(os.path.basename(onnx_path))[0] + ".calib")
            options = BuildOptions(fp16, workspace_mb, int8, calib_dir, calib_cache, profiles,
                                   max_batch=max_batch)
            entry, side, built = get_engine(onnx_path, options, trt, ctx, cache_dir, True, cuda,
                                            click.echo, rebuild)
            click.echo("%s %s (%s, %s s)" % ("built" if built else "cached", entry.engine_path,
                                             side.get("precision"), side.get("build_seconds")))
            shapes = side.get("input_shapes") or {}
            used = {k: tuple(tuple(s) for s in v) for k, v in shapes.items()
                    if isinstance(v, list) and v and isinstance(v[0], list)}
            click.echo("  trtexec equivalent: " + trtexec_command(onnx_path, entry.engine_path, options,
                                                                 version_of(trt), used))
    finally:
        release(ctx)


@engines_group.command("list")
@click.option("--cache-dir", default=defaults.ENGINE_CACHE_DIR, show_default=True, envvar="ALPR_ENGINE_CACHE_DIR")
def list_cmd(cache_dir: str) -> None:
    """Show cached engines with what their sidecars say they were built from and for."""
    from engines.tensorrt.cache import EngineCache

    cache = EngineCache(cache_dir)
    entries = cache.list()
    if not entries:
        click.echo("no engines in %s" % cache.cache_dir)
        return
    click.echo("%-44s %-10s %-22s %-6s %-10s %-8s %s" % ("engine", "tensorrt", "gpu", "sm", "precision",
                                                         "MB", "built"))
    for path, side in entries:
        if side is None:
            click.echo("%-44s (no sidecar: will be rebuilt, never run)" % os.path.basename(path))
            continue
        click.echo("%-44s %-10s %-22s %-6s %-10s %-8.1f %s" % (
            os.path.basename(path)[:44], side.get("tensorrt_version"), str(side.get("gpu_name"))[:22],
            side.get("compute_capability"), side.get("precision"),
            os.path.getsize(path) / 1e6, side.get("built_at")))
        click.echo("    model %s sha256 %s... inputs %s" % (side.get("model_path"),
                                                           str(side.get("model_sha256"))[:12],
                                                           side.get("input_shapes")))
