"""Click option sets shared by verbs, and the one place that turns them into Settings."""
import logging
from typing import Any, Callable, Dict

import click

from alpr.settings import Settings


def common_options(func: Callable) -> Callable:
    """--config, --redis-url, --namespace, --log-level (every verb that talks to Redis)."""
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     envvar="ALPR_CONFIG", help="YAML settings file (flags > ALPR_* env > file)."),
        click.option("--redis-url", default=None, help="Redis URL: redis://, rediss://, unix://."),
        click.option("--namespace", default=None, help="Key prefix in Redis (default alpr:)."),
        click.option("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def model_options(func: Callable) -> Callable:
    """Which detector / OCR models and runtime a verb builds its pipeline from."""
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     envvar="ALPR_CONFIG", help="YAML settings file (flags > ALPR_* env > file)."),
        click.option("--detector", default=None, help="'platedet' or a detector ONNX/engine path."),
        click.option("--detector-format", default=None,
                     type=click.Choice(["yolo_raw", "yolo_end2end"]), help="Detector output contract."),
        click.option("--ocr", default=None,
                     help="'ppocr' (default), 'platerec' or an OCR ONNX path."),
        click.option("--ocr-format", default=None, type=click.Choice(["ctc", "encdec", "slot"]),
                     help="OCR model family of an --ocr path."),
        click.option("--plate-regions", "regions", default=None,
                     help="The camera's plate regions, comma-separated (br, eu, us, de, fr...; "
                          "'none': reads as read)."),
        click.option("--ocr-config", default=None, help="Slot OCR plate config YAML."),
        click.option("--runtime", default=None, type=click.Choice(["onnxruntime", "tensorrt"]),
                     help="Inference runtime."),
        click.option("--providers", default=None,
                     help="ONNX Runtime providers, comma-separated (e.g. CUDAExecutionProvider,CPUExecutionProvider)."),
        click.option("--intra-op-threads", type=int, default=None, help="ONNX Runtime intra-op threads (0 = auto)."),
        click.option("--det-conf", type=float, default=None, help="Detector score threshold."),
        click.option("--det-zoom-conf", type=float, default=None,
                     help="Threshold of the zoomed second look at frames with no plate (0 = off)."),
        click.option("--plate-regex", default=None, help="Keep only reads matching this regex."),
        click.option("--min-plate-len", type=int, default=None, help="Drop reads shorter than this."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_settings(config_file: Any = None, **flags: Any) -> Settings:
    """Flags (None = not given) over env over file over defaults; also sets the log level."""
    settings = Settings.load(config_file, overrides=flags)
    logging.getLogger().setLevel(settings.log_level.upper())
    return settings


def split_flags(params: Dict[str, Any], names) -> Dict[str, Any]:
    """Pick the settings fields out of a verb's click params."""
    return {k: params.get(k) for k in names if k in params}
