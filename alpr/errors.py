"""One exception tree for the whole project, translated at boundaries.

Transient errors may succeed when retried (Redis down, camera reconnecting);
permanent errors are reported as error records and never retried.
"""


class AlprError(Exception):
    """Root of every error this project raises on purpose."""

    #: short machine-readable reason, used in error records and counters
    reason = "error"


class TransientError(AlprError):
    """Worth retrying: the same call may succeed later."""

    reason = "transient"


class PermanentError(AlprError):
    """Retrying will not help: report it and move on."""

    reason = "permanent"


class ConfigError(PermanentError):
    """Settings, files or flags are wrong."""

    reason = "config"


class FrameDecodeError(PermanentError):
    """A frame envelope or its image could not be decoded."""

    reason = "bad_frame"


class ImageDecodeError(FrameDecodeError):
    """The image bytes are not a usable picture."""

    reason = "bad_image"


class RedisVersionError(ConfigError):
    """The Redis server is older than the fleet needs (alpr.defaults.MIN_REDIS_VERSION)."""

    reason = "redis_version"


class ModelError(PermanentError):
    """A model file is missing, malformed or does not fit its adapter."""

    reason = "model"


class EngineError(AlprError):
    """An inference runtime failed while running (ORT/TensorRT/CUDA)."""

    reason = "engine"


class RefusedJobError(PermanentError):
    """A queued job asked for something the worker does not allow."""

    reason = "refused"


class ConnectionLostError(TransientError):
    """Redis (or a camera) could not be reached."""

    reason = "connection"


class StoreError(PermanentError):
    """The event store refused a request (bad query, schema newer than this code)."""

    reason = "store"


class StoreUnavailableError(TransientError):
    """The event store's database cannot be reached or written now (down, locked, disk full)."""

    reason = "store_unavailable"
