"""Build the recognition pipeline from Settings: default models from their wheels, or the
user's files (--detector/--ocr with --detector-format/--ocr-format/--ocr-config).

The default models' files are located with importlib.util.find_spec, never imported:
platedet's and platerec's own modules pull in onnxruntime sessions and Pillow.
"""
import importlib.util
import logging
import math
import os
from typing import Any, Dict, Optional, Tuple

from alpr.errors import ConfigError, ModelError
from engines.adapters.base import Detector, Recognizer
from engines.model_files import sha256_file
from engines.open_runtime import open_from_settings, open_runtime, trt_options_from
from engines.pipeline import Pipeline
from engines.runtime import Runtime
from engines.textproc import TextProcessor
from engines.trim import only_outputs

log = logging.getLogger(__name__)

#: default model name -> (package, file inside the package)
DEFAULT_FILES = {
    "platedet": ("platedet", "artifacts/platedet.onnx"),
    "platerec-encoder": ("platerec", "artifacts/encoder.onnx"),
    "platerec-decoder": ("platerec", "artifacts/decoder.onnx"),
    "platerec-tokenizer": ("platerec", "artifacts/tokenizer.json"),
    # PP-OCR (Apache-2.0): the recogniser from rapidocr 3.10, the text-line detector from
    # rapidocr-onnxruntime 1.4.4 (both installed --no-deps: only the .onnx files are used)
    "ppocr-rec": ("rapidocr", "models/PP-OCRv6_rec_small.onnx"),
    "ppocr-det": ("rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx"),
}
#: pip line that installs the default models' wheels
INSTALL_HINT = ("pip install --no-deps platedet==0.0.2 platerec==0.0.3 rapidocr==3.10.0 "
                "rapidocr-onnxruntime==1.4.4 (add --ignore-requires-python on Python < 3.8)")
ENCDEC_FILES = ("encoder.onnx", "decoder.onnx", "tokenizer.json")


def default_file(name: str) -> str:
    """Path of a default model file inside its installed wheel."""
    package, rel = DEFAULT_FILES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("default model package %s is not installed (%s)"
                         % (package, INSTALL_HINT))
    path = os.path.join(list(spec.submodule_search_locations)[0], rel)
    if not os.path.isfile(path):
        raise ModelError("%s has no %s (broken install?)" % (package, rel))
    return path


def encdec_files(location: str) -> Tuple[str, str, str]:
    """(encoder, decoder, tokenizer) for 'platerec', a folder holding the three files, or
    the encoder's path with decoder.onnx and tokenizer.json beside it."""
    if location == "platerec":
        return (default_file("platerec-encoder"), default_file("platerec-decoder"),
                default_file("platerec-tokenizer"))
    path = os.path.expanduser(location)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    files = tuple(os.path.join(folder, name) for name in ENCDEC_FILES)
    if not os.path.isdir(path):
        files = (path,) + files[1:]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise ConfigError("encoder-decoder OCR at %s lacks %s (a folder needs %s)"
                          % (location, ", ".join(missing), ", ".join(ENCDEC_FILES)))
    return files  # type: ignore


def open_model(path: str, settings: Any, default: bool = False,
               profiles: Optional[Dict[str, Any]] = None) -> Runtime:
    """A runtime for `path`. A default model this onnxruntime cannot load (platedet is
    opset 17; the Nano's onnxruntime 1.10 stops at 15) is converted once with
    `alpr models prepare --target ort1.10` logic into the engine cache and that copy runs.
    `profiles`: the TensorRT input ranges the adapter will feed (the builder's generic
    ones are wider, and size buffers for them)."""
    try:
        if profiles and settings.runtime == "tensorrt":
            options = dict(trt_options_from(settings), profiles=profiles)
            return open_runtime(path, "tensorrt", **options)
        return open_from_settings(path, settings)
    except ModelError:
        if not default or settings.runtime != "onnxruntime":
            raise
        copy = prepared_copy(path, "ort1.10", settings.engine_cache_dir)
        log.info("onnxruntime cannot load %s; using its ort1.10 copy %s", path, copy)
        return open_from_settings(copy, settings)


def prepared_copy(path: str, target: str, cache_dir: str) -> str:
    """A cached copy of `path` converted for `target` (made on first use)."""
    try:
        from engines.prepare import convert  # needs onnx: only on this fallback path
    except ImportError as exc:
        raise ModelError("%s needs converting for this onnxruntime, and that needs the onnx "
                         "package (%s); or run `alpr models prepare --target %s` elsewhere "
                         "and point --detector/--ocr at the copies" % (path, exc, target)) from exc

    sha = sha256_file(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    out = os.path.join(os.path.abspath(os.path.expanduser(cache_dir)),
                       "%s-%s.%s.onnx" % (stem, sha[:12], target))
    if not os.path.isfile(out):
        convert.prepare(path, target, out)
    return out


def build_detector(settings: Any) -> Detector:
    """The detector adapter on the configured runtime."""
    from engines.adapters.yolo_end2end import YoloEnd2EndDetector
    from engines.adapters.yolo_raw import YoloRawDetector, masks_of

    default = settings.detector == "platedet"
    path = default_file("platedet") if default else settings.detector
    fmt = "yolo_raw" if default else settings.detector_format
    num_masks = None
    if fmt == "yolo_raw" and settings.trim_outputs:  # it reads the first output only
        path, dropped = only_outputs(path, [0], settings.engine_cache_dir)
        num_masks = masks_of([shape for _, shape in dropped]) if dropped else None
    runtime = open_model(path, settings, default)
    try:
        if fmt == "yolo_raw":
            # platedet's own post-processing feeds centre boxes to NMS; keep its behaviour
            return YoloRawDetector(runtime, conf=settings.det_conf, iou=settings.det_iou,
                                   max_det=settings.max_plates, center_nms=default,
                                   num_masks=num_masks)
        if fmt == "yolo_end2end":
            return YoloEnd2EndDetector(runtime, conf=settings.det_conf,
                                       max_det=settings.max_plates)
    except Exception:
        runtime.close()
        raise
    runtime.close()
    raise ConfigError("unknown detector format %r (yolo_raw | yolo_end2end)" % fmt)


def build_ocr(settings: Any) -> Recognizer:
    """The OCR adapter on the configured runtime (ONNX Runtime with the OCR's own
    intra-op thread count)."""
    fmt = {"platerec": "encdec", "ppocr": "ppocr"}.get(settings.ocr, settings.ocr_format)
    if getattr(settings, "ocr_intra_op_threads", 0):
        settings = settings.with_values({"intra_op_threads": settings.ocr_intra_op_threads})
    if fmt in ("ppocr", "ctc"):
        return build_plate_ocr(settings, fmt)
    if fmt == "encdec":
        from engines.adapters.encdec_ocr import EncDecOcr, Tokenizer

        enc_path, dec_path, tok_path = encdec_files(settings.ocr)
        tokenizer = Tokenizer.from_json(tok_path)
        default = settings.ocr == "platerec"
        encoder = open_model(enc_path, settings, default)
        try:
            decoder = open_model(dec_path, settings, default)
        except Exception:
            encoder.close()
            raise
        return EncDecOcr(encoder, decoder, tokenizer)
    if fmt == "slot":
        from engines.adapters.slot_ocr import load_slot_ocr

        runtime = open_from_settings(os.path.expanduser(settings.ocr), settings)
        try:
            return load_slot_ocr(runtime, settings.ocr_config)
        except Exception:
            runtime.close()
            raise
    raise ConfigError("unknown OCR format %r (ppocr | ctc | encdec | slot)" % fmt)


def build_plate_ocr(settings: Any, fmt: str) -> Recognizer:
    """The PP-OCR plate reader: line locator + CTC recogniser with the plate-alphabet head.
    `ppocr`: the default models; `ctc`: --ocr names a PP-OCR-style recogniser (its
    vocabulary in the ONNX metadata), read line by line with the default locator."""
    from engines.adapters.ctc_ocr import MIN_WIDTH, CtcOcr
    from engines.adapters.plate_ocr import PlateOcr
    from engines.adapters.text_lines import TextLineLocator
    from engines.head_trim import trimmed_copy

    default = fmt == "ppocr"
    source = default_file("ppocr-rec") if default else os.path.expanduser(settings.ocr)
    rec_path, vocabulary, classes = trimmed_copy(source, settings.engine_cache_dir)
    height = settings.ocr_locator_height
    rec_profile = ((1, 3, 48, MIN_WIDTH), (2, 3, 48, 160),
                   (settings.trt_max_batch, 3, 48, settings.ocr_max_width))
    widest = int(math.ceil(settings.ocr_one_line_aspect * height / 32.0)) * 32 + 32
    det_profile = ((1, 3, height, 32), (1, 3, height, 2 * height), (1, 3, height, widest))
    rec_profiles = {"x": rec_profile} if default else None  # the wheel's input name
    recogniser = CtcOcr(open_model(rec_path, settings, default, rec_profiles), vocabulary,
                        max_width=settings.ocr_max_width, classes=classes,
                        max_batch=settings.trt_max_batch if settings.runtime == "tensorrt" else 0)
    locator = None
    if settings.ocr_line_locator:
        try:
            runtime = open_model(default_file("ppocr-det"), settings, True, {"x": det_profile})
        except Exception:
            recogniser.runtime.close()
            raise
        locator = TextLineLocator(runtime, height=settings.ocr_locator_height)
    return PlateOcr(recogniser, locator, one_line_aspect=settings.ocr_one_line_aspect)


def build_textproc(settings: Any) -> TextProcessor:
    try:
        return TextProcessor(settings.regions, regex=settings.plate_regex,
                             min_len=settings.min_plate_len, min_conf=settings.ocr_min_conf)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def build_pipeline(settings: Any, **options: Any) -> Pipeline:
    """Detector + OCR + text rules from Settings; `options` go to Pipeline (fast_decode,
    crop_source, crop_pad)."""
    detector = build_detector(settings)
    try:
        ocr = build_ocr(settings)
    except Exception:
        for runtime in detector.runtimes:
            runtime.close()
        raise
    options.setdefault("decode_threads", settings.decode_threads)
    options.setdefault("zoom_conf", settings.det_zoom_conf)
    options.setdefault("verify_conf", settings.det_verify_conf)
    return Pipeline(detector, ocr, build_textproc(settings), max_plates=settings.max_plates,
                    **options)


def describe_defaults() -> Dict[str, str]:
    """name -> path of every default model file that is installed."""
    out = {}
    for name in DEFAULT_FILES:
        try:
            out[name] = default_file(name)
        except ModelError:
            pass
    return out
