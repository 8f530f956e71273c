"""One settings object, built from CLI flags > env vars (ALPR_*) > YAML file > defaults.

Library classes never read the environment; commands build a Settings once and pass
plain values to constructors.
"""
import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, List, Mapping, Optional

from alpr import defaults
from alpr.errors import ConfigError

ENV_PREFIX = "ALPR_"


@dataclass(frozen=True)
class Settings:
    """Every tunable of every component; field names are the YAML keys and env suffixes."""

    # redis / queues
    redis_url: str = defaults.REDIS_URL
    namespace: str = defaults.NAMESPACE
    redis_ca_certs: str = ""  # rediss:// CA bundle (also ?ssl_ca_certs= in the URL)
    redis_certfile: str = ""  # rediss:// client certificate (mutual TLS)
    redis_keyfile: str = ""  # rediss:// client key
    redis_cert_reqs: str = defaults.TLS_CERT_REQS  # required | optional | none
    queue: str = defaults.FRAME_QUEUE
    node_name: str = ""  # empty = hostname
    node_queue: bool = True  # also listen on the node's own queue (pinning, drain)
    max_frame_age_s: float = defaults.MAX_FRAME_AGE_S
    inflight_cap: int = defaults.INFLIGHT_CAP
    batch_max: int = defaults.BATCH_MAX
    job_timeout_s: int = defaults.JOB_TIMEOUT_S
    result_ttl_s: int = defaults.RESULT_TTL_S
    failure_ttl_s: int = defaults.FAILURE_TTL_S
    results_maxlen: int = defaults.RESULTS_MAXLEN
    events_maxlen: int = defaults.EVENTS_MAXLEN
    heartbeat_s: float = defaults.HEARTBEAT_S
    progress_file: str = ""  # touched while the engine makes progress (deploy/alpr-watchdog sets it)
    metrics_port: int = defaults.METRICS_PORT
    engine: str = defaults.WORKER_ENGINE  # pipeline | null | sleep:<seconds> | hang
    # producer
    camera: str = "cam0"
    site: str = ""
    fps: float = defaults.PRODUCER_FPS
    jpeg_quality: int = defaults.JPEG_QUALITY
    # models / engines
    detector: str = "platedet"  # "platedet" or a path to an ONNX/engine file
    detector_format: str = "yolo_raw"  # yolo_raw | yolo_end2end
    ocr: str = defaults.OCR  # "ppocr", "platerec" or a path to an ONNX file
    ocr_format: str = "ctc"  # for a path: ctc (PP-OCR-style) | encdec | slot
    ocr_line_locator: bool = defaults.OCR_LINE_LOCATOR
    ocr_locator_height: int = defaults.OCR_LOCATOR_HEIGHT
    ocr_one_line_aspect: float = defaults.OCR_ONE_LINE_ASPECT
    ocr_max_width: int = defaults.OCR_MAX_WIDTH
    ocr_config: str = ""  # slot OCR's plate config YAML
    runtime: str = defaults.RUNTIME  # onnxruntime | tensorrt
    providers: List[str] = field(default_factory=lambda: ["CPUExecutionProvider"])
    intra_op_threads: int = defaults.INTRA_OP_THREADS
    ocr_intra_op_threads: int = defaults.OCR_INTRA_OP_THREADS  # 0 = as intra_op_threads
    inter_op_threads: int = defaults.INTER_OP_THREADS
    det_conf: float = defaults.DET_CONF
    det_iou: float = defaults.DET_IOU
    det_zoom_conf: float = defaults.DET_ZOOM_CONF
    det_zoom_every: int = defaults.DET_ZOOM_EVERY  # the worker's; eval / read / bench look at every photo
    det_verify_conf: float = defaults.DET_VERIFY_CONF
    max_plates: int = defaults.MAX_PLATES
    ocr_min_conf: float = defaults.OCR_MIN_CONF
    min_plate_len: int = defaults.MIN_PLATE_LEN
    plate_regex: str = ""
    # the camera's plate regions (br, eu, us, de, fr...: alpr/plate_formats.yaml)
    regions: List[str] = field(default_factory=lambda: list(defaults.PLATE_REGIONS))
    engine_cache_dir: str = defaults.ENGINE_CACHE_DIR
    decode_threads: int = defaults.DECODE_THREADS  # 0 = min(4, cores); 1 = decode whole
    trim_outputs: bool = defaults.TRIM_OUTPUTS  # run a copy without outputs no adapter reads
    trt_workspace_mb: int = defaults.TRT_WORKSPACE_MB
    trt_fp16: bool = defaults.TRT_FP16
    trt_allow_build: bool = defaults.TRT_ALLOW_BUILD  # false: refuse stale engines instead of building
    trt_zero_copy: str = defaults.TRT_ZERO_COPY  # auto | never | inputs | all
    trt_max_batch: int = defaults.TRT_OCR_MAX_BATCH  # OCR engine profile's largest batch
    # dispatcher
    group_window_s: float = defaults.GROUP_WINDOW_S
    group_similarity: float = defaults.GROUP_SIMILARITY
    dedup_window_s: float = defaults.DEDUP_WINDOW_S
    recent_ttl_s: float = defaults.RECENT_TTL_S
    webhooks: List[str] = field(default_factory=list)
    known_plates: str = ""  # path to a YAML/CSV of plate -> allow/deny label
    fleet_watch: bool = True  # `alpr dispatch` runs the fleet watch too (off: `alpr fleet watch` apart)
    # MQTT / Home Assistant, alert rules (dispatcher)
    mqtt_url: str = ""  # mqtt://user:pass@host:1883 or mqtts://... (TLS); empty = no MQTT
    mqtt_prefix: str = defaults.MQTT_PREFIX
    mqtt_ca_certs: str = ""  # mqtts:// CA bundle (default: the system's)
    mqtt_discovery_prefix: str = defaults.MQTT_DISCOVERY_PREFIX  # "" = no Home Assistant discovery
    mqtt_presence_s: float = defaults.MQTT_PRESENCE_S
    console_url: str = ""  # base URL of `alpr serve` for crop links in MQTT events (http://host:8080)
    alerts: List[Any] = field(default_factory=list)  # alert rules (alpr.alert_rules.AlertRule)
    alert_timezone: str = defaults.ALERT_TIMEZONE
    # event store, evidence, API
    db: str = ""  # sqlite:///path.db (or a path) | postgresql://...; empty = no store
    data_dir: str = defaults.DATA_DIR  # evidence packs (and the default SQLite file) live here
    evidence_dir: str = ""  # empty = <data_dir>/evidence
    evidence_max_age_days: float = defaults.EVIDENCE_MAX_AGE_DAYS
    evidence_quota_mb: float = defaults.EVIDENCE_QUOTA_MB
    evidence_crops: bool = True  # worker attaches a plate crop JPEG to each read
    evidence_crop_width: int = defaults.EVIDENCE_CROP_WIDTH
    evidence_crop_quality: int = defaults.EVIDENCE_CROP_QUALITY
    evidence_frame_width: int = defaults.EVIDENCE_FRAME_WIDTH  # 0 = no frame snapshot
    evidence_frame_quality: int = defaults.EVIDENCE_FRAME_QUALITY
    evidence_private_cameras: List[str] = field(default_factory=list)  # no crop, no frame from these
    api_token: str = ""  # required (X-API-Token header) when the API is bound beyond loopback
    console_password: str = ""  # the web console's login also takes this (besides api_token)
    # misc
    log_level: str = defaults.LOG_LEVEL

    @classmethod
    def load(
        cls,
        config_file: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        overrides: Optional[Mapping[str, Any]] = None,
    ) -> "Settings":
        """Build settings: defaults, then YAML file, then ALPR_* env, then non-None overrides."""
        env = os.environ if env is None else env
        values = {}  # type: Dict[str, Any]
        config_file = config_file or env.get(ENV_PREFIX + "CONFIG") or None
        if config_file:
            values.update(_read_yaml(config_file))
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = raw
        for key, value in (overrides or {}).items():
            if value is not None and value != ():
                values[key] = value
        return cls().with_values(values)

    def with_values(self, values: Mapping[str, Any]) -> "Settings":
        """A copy with the given fields coerced to their declared types."""
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError("unknown setting(s): %s" % ", ".join(unknown))
        coerced = {}
        for key, value in values.items():
            coerced[key] = _coerce(key, value, getattr(self, key))
        return replace(self, **coerced)

    def redacted(self) -> Dict[str, Any]:
        """Settings as a dict safe for logs: credentials in URLs are masked."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["redis_url"] = redact_url(self.redis_url)
        out["webhooks"] = [redact_url(u) for u in self.webhooks]
        out["db"] = redact_url(self.db)
        out["api_token"] = "***" if self.api_token else ""
        out["mqtt_url"] = redact_url(self.mqtt_url)
        out["alerts"] = [r.name for r in self.alerts]
        out["console_password"] = "***" if self.console_password else ""
        return out


def redact_url(url: str) -> str:
    """Mask the password (and user) part of a URL, e.g. redis://u:secret@h -> redis://***@h,
    and any ``...password=`` query value (a Sentinel URL's sentinel_password)."""
    import re

    url = re.sub(r"(password=)[^&]*", r"\1***", url)
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return "%s://***@%s" % (scheme, host) if creds else url


def _read_yaml(path: str) -> Dict[str, Any]:
    import yaml

    try:
        with open(os.path.expanduser(path)) as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError("cannot read settings file %s: %s" % (path, exc)) from exc
    if not isinstance(data, dict):
        raise ConfigError("settings file %s must hold a mapping" % path)
    return {str(k).replace("-", "_"): v for k, v in data.items()}


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, value: Any, default: Any) -> Any:
    if name == "alerts":  # a list of rule maps: checked now, a bad rule names itself
        from alpr.alert_rules import parse_rules

        return parse_rules(value)
    if name == "alert_timezone":
        from alpr.alert_rules import check_timezone

        check_timezone(str(value), "alert_timezone")
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError(value)
                return low in _TRUE
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, list):
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value]
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError("setting %s: cannot use %r" % (name, value)) from exc
