"""`alpr doctor`'s checks: what a node needs before its first frame, each ok / warn / fail
with the fix in one sentence.

Python and JetPack/L4T, tensorrt and pycuda (the CUDA device), RAM and swap against the
memory profile, the engine cache (which engines exist, for which model and TensorRT, which
are stale), the models' origin, Redis (reachable, version, auth/TLS), the clock against
Redis's TIME, and the node's settings. Every check returns Check rows and never raises:
a broken part is a "fail" row, so the user sees all of them at once.
"""
import os
import platform
import sys
import time
from collections import namedtuple
from typing import Any, Callable, Dict, List, Optional

from alpr import defaults
from alpr.settings import redact_url

OK, WARN, FAIL = "ok", "warn", "fail"

#: one line of the report: what was checked, ok/warn/fail, what was found, how to fix it
Check = namedtuple("Check", "name status detail fix")

TEGRA_RELEASE = "/etc/nv_tegra_release"
MEMINFO = "/proc/meminfo"


def _row(name: str, status: str, detail: str, fix: str = "") -> Check:
    return Check(name, status, detail, fix)


def _version_tuple(text: str) -> tuple:
    out = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def l4t_release(path: str = TEGRA_RELEASE) -> Optional[str]:
    """'32.7.1' from '# R32 (release), REVISION: 7.1, ...', or None off a Jetson."""
    try:
        with open(path) as fh:
            head = fh.readline()
    except OSError:
        return None
    try:
        major = head.split("R", 1)[1].split()[0]
        revision = head.split("REVISION:", 1)[1].split(",")[0].strip()
    except IndexError:
        return None
    return "%s.%s" % (major, revision)


def check_python(release: Optional[str]) -> List[Check]:
    version = "%d.%d.%d" % sys.version_info[:3]
    detail = "Python %s on %s" % (version, platform.machine())
    if release is None:
        rows = [_row("python", OK, detail)]
        rows.append(_row("jetpack", OK, "not a Jetson (no %s)" % TEGRA_RELEASE))
        return rows
    rows = []
    if sys.version_info[:2] != (3, 6) and release.startswith("32."):
        rows.append(_row("python", WARN, detail, "JetPack 4.6's TensorRT bindings are built for "
                         "Python 3.6: run the worker with /usr/bin/python3 (3.6.9)"))
    else:
        rows.append(_row("python", OK, detail))
    if release.startswith("32.") and _version_tuple(release) < (32, 7):
        rows.append(_row("jetpack", WARN, "L4T R%s (older than JetPack 4.6)" % release,
                         "upgrade to JetPack 4.6.x (L4T r32.7), which the image and pins target"))
    else:
        rows.append(_row("jetpack", OK, "L4T R%s%s" % (release, " (JetPack 4.6.x)"
                                                       if release.startswith("32.7") else "")))
    return rows


def check_tensorrt(runtime: str, import_trt: Callable[[], Any],
                   import_cuda: Callable[[], Any]) -> List[Check]:
    """tensorrt's version, pycuda and device 0 (name, compute capability, memory)."""
    needed = runtime == "tensorrt"
    missing = FAIL if needed else OK
    why = "" if needed else " (not needed: runtime %s)" % runtime
    rows = []
    try:
        trt = import_trt()
        rows.append(_row("tensorrt", OK, "TensorRT %s" % getattr(trt, "__version__", "?")))
    except Exception as exc:  # ImportError, or the ConfigError wrapping it
        rows.append(_row("tensorrt", missing, ("import tensorrt failed: %s" % exc) if needed
                         else "not installed%s" % why,
                         "install JetPack's python3-libnvinfer (bare metal) or run the image "
                         "with --runtime nvidia" if needed else ""))
    try:
        cuda = import_cuda()
        cuda.init()
        device = cuda.Device(0)
        major, minor = device.compute_capability()
        total = device.total_memory() / float(1 << 30)
        rows.append(_row("cuda", OK, "%s, sm %d.%d, %.1f GiB" % (device.name(), major, minor, total)))
    except Exception as exc:  # no pycuda, no driver, no device
        rows.append(_row("cuda", missing, ("CUDA device 0 unavailable: %s" % exc) if needed
                         else "no CUDA device or pycuda%s" % why,
                         "build pycuda with CUDA's bin dir on PATH and add the user to the "
                         "video group (deploy/jetson.md, Troubleshooting)" if needed else ""))
    return rows


def meminfo(path: str = MEMINFO) -> Dict[str, int]:
    """/proc/meminfo in MB (MemTotal, MemAvailable, SwapTotal, ...)."""
    out = {}
    try:
        with open(path) as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    out[key] = int(parts[0]) // 1024
    except OSError:
        pass
    return out


def check_memory(info: Dict[str, int], runtime: str) -> List[Check]:
    """Free RAM and swap against the worker's limit and a first build's swap."""
    if "MemTotal" not in info:
        return [_row("memory", WARN, "cannot read %s" % MEMINFO)]
    total, avail = info["MemTotal"], info.get("MemAvailable", 0)
    swap = info.get("SwapTotal", 0)
    profile = "2 GB" if total < 3000 else "4 GB"
    detail = "RAM %d MB (%d available), swap %d MB; %s profile" % (total, avail, swap, profile)
    rows = []
    if avail < defaults.WORKER_MEMORY_MB:
        rows.append(_row("memory", WARN, detail, "free memory (stop the desktop: sudo systemctl "
                         "isolate multi-user.target) so the worker's %d MB fit"
                         % defaults.WORKER_MEMORY_MB))
    else:
        rows.append(_row("memory", OK, detail))
    if runtime == "tensorrt" and total < 3000 and swap < defaults.FIRST_BUILD_SWAP_MB * 0.95:
        rows.append(_row("swap", WARN, "%d MB swap; a first engine build on a 2 GB board needs "
                         "%d MB" % (swap, defaults.FIRST_BUILD_SWAP_MB),
                         "add a 4 GB swap file (deploy/jetson.md, section 1)"))
    return rows


def check_engine_cache(cache_dir: str, identity: Optional[Any], runtime: str) -> List[Check]:
    """Every cached engine: built by which TensorRT for which model, and whether it is stale."""
    from engines.model_files import sha256_file
    from engines.tensorrt.cache import EngineCache, sidecar_mismatches

    cache = EngineCache(cache_dir)
    rows = []
    folder = cache.cache_dir
    if os.path.isdir(folder) and not os.access(folder, os.W_OK):
        rows.append(_row("engine cache", FAIL if runtime == "tensorrt" else WARN,
                         "%s is not writable" % folder,
                         "chown it to the worker's user or set ALPR_ENGINE_CACHE_DIR"))
    entries = cache.list()
    if not entries:
        status = WARN if runtime == "tensorrt" else OK
        rows.append(_row("engines", status, "no engines in %s" % folder,
                         "run `alpr engines build --default` (or let the first start build "
                         "them, minutes on a Nano)" if status == WARN else ""))
        return rows
    for path, side in entries:
        name = os.path.basename(path)
        if side is None:
            rows.append(_row("engine", WARN, "%s has no sidecar" % name,
                             "run `alpr engines build --default` (it rebuilds it)"))
            continue
        reasons = sidecar_mismatches(side, identity, None, None, path) if identity else []
        model = str(side.get("model_path"))
        if not os.path.isfile(model):
            reasons.append("its model %s is gone" % model)
        elif sha256_file(model) != side.get("model_sha256"):
            reasons.append("its model changed since the build")
        detail = "%s: TensorRT %s, model %s sha256 %s..." % (
            name, side.get("tensorrt_version"), os.path.basename(model),
            str(side.get("model_sha256"))[:12])
        if reasons:
            rows.append(_row("engine", WARN, "%s; stale: %s" % (detail, "; ".join(reasons)),
                             "run `alpr engines build --default` on this node"))
        else:
            rows.append(_row("engine", OK, detail + ("" if identity else " (not checked against a GPU)")))
    return rows


def check_models(settings: Any) -> List[Check]:
    """Where the detector and OCR come from (an installed wheel or the user's file)."""
    from engines.models import describe_defaults

    rows = []
    installed = describe_defaults()
    for label, value in (("detector", settings.detector), ("ocr", settings.ocr)):
        files = sorted(v for k, v in installed.items() if k == value or k.startswith(value + "-"))
        if files:
            rows.append(_row("model " + label, OK, "%s from its wheel (%s)"
                             % (value, os.path.dirname(files[0]))))
        elif os.path.exists(os.path.expanduser(value)):
            rows.append(_row("model " + label, OK, "user file %s" % value))
        elif os.sep not in value and "." not in value:  # a default's name this list does not know
            rows.append(_row("model " + label, WARN, "default model %r: no installed file found "
                             "under that name" % value, "check it with `alpr models defaults`"))
        else:
            rows.append(_row("model " + label, FAIL, "%s is neither an installed default model "
                             "nor a file" % value, "install the default models (deploy/jetson.md, "
                             "section 4) or point ALPR_%s at a file" % label.upper()))
    return rows


def check_redis(settings: Any, connect: Callable[[Any], Any],
                now: Callable[[], float] = time.time) -> List[Check]:
    """Reachable, version >= MIN_REDIS_VERSION, auth/TLS, clock skew against TIME."""
    from alpr.errors import RedisVersionError

    url = settings.redis_url
    shown = redact_url(url)
    minimum = "%d.%d" % defaults.MIN_REDIS_VERSION
    upgrade = ("upgrade Redis to %s or newer (the compose file runs redis:7-alpine)" % minimum)
    try:
        client = connect(settings)
        server = client.info("server")
    except RedisVersionError as exc:  # connect_settings checks the version itself
        return [_row("redis", FAIL, str(exc), upgrade)]
    except Exception as exc:  # ConfigError (auth, TLS), ConnectionLostError, redis errors
        if "unknown command" in str(exc) and "HELLO" in str(exc).upper():  # a RESP3 client
            return [_row("redis", FAIL, "%s is a Redis older than 6.0 (it does not know HELLO)"
                         % shown, upgrade)]
        return [_row("redis", FAIL, "%s: %s" % (shown, exc),
                     "start Redis or fix ALPR_REDIS_URL (host, port, password, rediss:// CA)")]
    version = str(server.get("redis_version", "0"))
    rows = []
    if _version_tuple(version) < _version_tuple(minimum):
        rows.append(_row("redis", FAIL, "%s is Redis %s, older than %s" % (
            shown, version, minimum), upgrade))
    else:
        rows.append(_row("redis", OK, "%s is Redis %s" % (shown, version)))
    tls = url.lower().startswith("rediss")  # rediss:// and rediss+sentinel://
    auth = "@" in url.split("://", 1)[-1].split("/", 1)[0]
    local = any(h in url for h in ("127.0.0.1", "localhost", "unix://", "[::1]"))
    detail = "auth %s, TLS %s" % ("yes" if auth else "no", "yes" if tls else "no")
    if not auth and not local:
        rows.append(_row("redis auth", WARN, detail, "set a password (requirepass or an ACL user) "
                         "and put it in ALPR_REDIS_URL: anyone on the network can write frames"))
    else:
        rows.append(_row("redis auth", OK, detail))
    before = now()
    seconds, micros = client.time()
    after = now()
    skew = (seconds + micros / 1e6) - (before + after) / 2.0
    detail = "this clock is %+.3f s from Redis's (round trip %.0f ms)" % (-skew, (after - before) * 1e3)
    fix = "enable NTP on every node and the Redis host (sudo timedatectl set-ntp true)"
    if abs(skew) >= defaults.CLOCK_SKEW_FAIL_S:
        rows.append(_row("clock", FAIL, detail, fix))
    elif abs(skew) >= defaults.CLOCK_SKEW_WARN_S:
        rows.append(_row("clock", WARN, detail, fix))
    else:
        rows.append(_row("clock", OK, detail))
    return rows


def check_settings(settings: Any, env: Dict[str, str], release: Optional[str]) -> List[Check]:
    """The node's effective settings, and the environment a Nano needs."""
    detail = "runtime %s, node %s, namespace %s, cache %s, detector %s, OCR %s" % (
        settings.runtime, settings.node_name or platform.node(), settings.namespace,
        settings.engine_cache_dir, settings.detector, settings.ocr)
    rows = [_row("settings", OK, detail)]
    if release is not None and env.get("OPENBLAS_CORETYPE") != "ARMV8":
        rows.append(_row("openblas", WARN, "OPENBLAS_CORETYPE is %r" % env.get("OPENBLAS_CORETYPE", ""),
                         "export OPENBLAS_CORETYPE=ARMV8 (numpy 1.19.5's OpenBLAS crashes on the "
                         "Nano's Cortex-A57 without it)"))
    return rows


def run_checks(settings: Any, env: Optional[Dict[str, str]] = None,
               connect: Optional[Callable[[Any], Any]] = None,
               tegra_release: str = TEGRA_RELEASE, meminfo_path: str = MEMINFO) -> List[Check]:
    """Every check, in the order a user fixes them."""
    from engines.tensorrt.modules import import_cuda, import_tensorrt

    if connect is None:
        from alpr.redis_conn import connect_settings as connect
    env = dict(os.environ if env is None else env)
    release = l4t_release(tegra_release)
    rows = check_python(release)
    rows += check_tensorrt(settings.runtime, import_tensorrt, import_cuda)
    rows += check_memory(meminfo(meminfo_path), settings.runtime)
    rows += check_engine_cache(settings.engine_cache_dir, node_identity(), settings.runtime)
    rows += check_models(settings)
    rows += check_redis(settings, connect)
    rows += check_settings(settings, env, release)
    return rows


def node_identity() -> Optional[Any]:
    """This node's TensorRT version and GPU, or None where either is missing."""
    try:
        from engines.tensorrt.cuda_context import release, shared_context
        from engines.tensorrt.loader import node_identity as identity_of
        from engines.tensorrt.modules import import_cuda, import_tensorrt

        trt, cuda = import_tensorrt(), import_cuda()
        ctx = shared_context(0, cuda)
        try:
            return identity_of(trt, ctx)
        finally:
            release(ctx)
    except Exception:  # reported by check_tensorrt already
        return None
