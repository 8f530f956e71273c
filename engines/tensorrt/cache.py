"""Engine cache: each .engine has a sidecar JSON saying what it was built from and for.

An engine only runs on the TensorRT version and GPU (compute capability) that built it,
from the exact model bytes and build options. A sidecar that disagrees on any of these
marks the engine stale or foreign: the loader rebuilds it (or refuses), never runs it.
"""
import datetime
import hashlib
import json
import os
import socket
from collections import OrderedDict, namedtuple
from typing import Dict, List, Optional, Tuple

from alpr.errors import ConfigError

SIDECAR_FORMAT = 1

#: what the running node is: TensorRT version, GPU name, compute capability "5.3"
Identity = namedtuple("Identity", "trt_version gpu_name compute_capability")

#: one cache slot for (model, options): its engine path and sidecar path
Entry = namedtuple("Entry", "engine_path sidecar_path model_sha256 options")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def options_key(options: Dict[str, object]) -> str:
    """Short stable hash of the build options (part of the engine file name)."""
    return sha256_bytes(json.dumps(options, sort_keys=True).encode("utf-8"))[:8]


class EngineCache(object):
    """A folder of <stem>-<model sha12>-<options8>.engine files with .json sidecars."""

    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = os.path.abspath(os.path.expanduser(cache_dir))

    def entry(self, model_name: str, model_sha256: str, options: Dict[str, object]) -> Entry:
        """The slot for a model (by name and content hash) built with `options`."""
        stem = os.path.splitext(os.path.basename(model_name))[0]
        base = os.path.join(self.cache_dir, "%s-%s-%s" % (stem, model_sha256[:12], options_key(options)))
        return Entry(base + ".engine", base + ".json", model_sha256, options)

    @staticmethod
    def read_sidecar(path: str) -> Optional[Dict[str, object]]:
        """The sidecar dict, or None when missing or unreadable."""
        try:
            with open(path) as fh:
                data = json.load(fh)
            return data if isinstance(data, dict) else None
        except (OSError, ValueError):
            return None

    def stale_reasons(self, entry: Entry, identity: Identity) -> List[str]:
        """Why the engine in `entry` must not run here; empty = fresh and usable."""
        if not os.path.isfile(entry.engine_path):
            return ["no engine built yet"]
        side = self.read_sidecar(entry.sidecar_path)
        if side is None:
            return ["engine has no readable sidecar %s" % entry.sidecar_path]
        return sidecar_mismatches(side, identity, entry.model_sha256, entry.options,
                                  entry.engine_path)

    def store(self, entry: Entry, engine: bytes, identity: Identity, precision: str,
              input_shapes: Dict[str, object], build_seconds: float, model_path: str,
              api: int) -> Dict[str, object]:
        """Write engine then sidecar atomically (a crash never leaves a sidecar for a half engine)."""
        if not os.path.isdir(self.cache_dir):
            os.makedirs(self.cache_dir)
        side = OrderedDict([
            ("format", SIDECAR_FORMAT),
            ("tensorrt_version", identity.trt_version), ("api", api),
            ("gpu_name", identity.gpu_name), ("compute_capability", identity.compute_capability),
            ("precision", precision), ("input_shapes", input_shapes),
            ("model_sha256", entry.model_sha256), ("model_path", os.path.abspath(model_path)),
            ("build_options", entry.options), ("build_seconds", round(build_seconds, 2)),
            ("built_at", datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"),
            ("host", socket.gethostname()), ("engine_sha256", sha256_bytes(engine)),
            ("engine_bytes", len(engine)),
        ])
        _atomic_write(entry.engine_path, engine)
        _atomic_write(entry.sidecar_path, json.dumps(side, indent=2).encode("utf-8"))
        return side

    def read_engine(self, entry: Entry) -> bytes:
        with open(entry.engine_path, "rb") as fh:
            return fh.read()

    def list(self) -> List[Tuple[str, Optional[Dict[str, object]]]]:
        """(engine path, sidecar or None) for every .engine in the cache, sorted."""
        if not os.path.isdir(self.cache_dir):
            return []
        out = []
        for name in sorted(os.listdir(self.cache_dir)):
            if name.endswith(".engine"):
                path = os.path.join(self.cache_dir, name)
                out.append((path, self.read_sidecar(path[:-len(".engine")] + ".json")))
        return out


def sidecar_mismatches(side: Dict[str, object], identity: Identity,
                       model_sha256: Optional[str], options: Optional[Dict[str, object]],
                       engine_path: str) -> List[str]:
    """Every way a sidecar disagrees with this node, model and options (None = not checked)."""
    reasons = []
    if side.get("format") != SIDECAR_FORMAT:
        reasons.append("sidecar format %r, expected %d" % (side.get("format"), SIDECAR_FORMAT))
    if side.get("tensorrt_version") != identity.trt_version:
        reasons.append("built by TensorRT %s, this node has %s"
                       % (side.get("tensorrt_version"), identity.trt_version))
    if side.get("compute_capability") != identity.compute_capability or side.get("gpu_name") != identity.gpu_name:
        reasons.append("built for GPU %s (sm %s), this node has %s (sm %s)"
                       % (side.get("gpu_name"), side.get("compute_capability"),
                          identity.gpu_name, identity.compute_capability))
    if model_sha256 is not None and side.get("model_sha256") != model_sha256:
        reasons.append("model changed (sha256 %s..., now %s...)"
                       % (str(side.get("model_sha256"))[:12], model_sha256[:12]))
    if options is not None and json.loads(json.dumps(side.get("build_options"))) != json.loads(json.dumps(options)):
        reasons.append("build options differ")
    try:
        with open(engine_path, "rb") as fh:
            if sha256_bytes(fh.read()) != side.get("engine_sha256"):
                reasons.append("engine file does not match its sidecar (truncated or replaced)")
    except OSError as exc:
        reasons.append("engine unreadable: %s" % exc)
    return reasons


def refuse_message(engine_path: str, reasons: List[str], model_path: str) -> str:
    """The clear message a worker that may not build gives for a stale/foreign engine."""
    return ("TensorRT engine %s cannot be used on this node: %s. This worker is not allowed to "
            "build engines; run `alpr engines build %s` on this node (or allow builds)."
            % (engine_path, "; ".join(reasons), model_path))


def _atomic_write(path: str, data: bytes) -> None:
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def ensure_dir_writable(path: str) -> None:
    """ConfigError unless the cache folder exists (or can be made) and is writable."""
    path = os.path.abspath(os.path.expanduser(path))
    try:
        if not os.path.isdir(path):
            os.makedirs(path)
    except OSError as exc:
        raise ConfigError("engine cache %s cannot be created: %s" % (path, exc)) from exc
    if not os.access(path, os.W_OK):
        raise ConfigError("engine cache %s is not writable" % path)
