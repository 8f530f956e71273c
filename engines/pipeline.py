"""Frame -> plate boxes -> crops -> one OCR batch -> reads, with per-stage timings.

Stages (FrameResult.timings, milliseconds): decode (the detector's picture, DCT-reduced
when the JPEG is much larger than the detector input), det_prep, det_infer, det_post,
crop_decode (full-resolution decode, only when a plate is too small in the reduced
picture for the OCR), ocr_prep, ocr_infer, ocr_post, model (the runtimes' own inference
time in this frame, from Runtime.total_ms) and total. total - model is the pipeline's
host overhead. Read-ahead (process_many, the worker) makes the next frame's decode and
detector input in another thread while this frame is in the models; those frames report
det_prep_ahead, and det_prep ~0.

Bad input never raises: undecodable bytes or a malformed array give a FrameResult whose
`error` says why ("bad_image: ...").
"""
import os
import time
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np

from alpr import defaults
from alpr.errors import FrameDecodeError
from engines.adapters.base import Box, Detector, Recognizer, score_threshold
from engines.image_io import ArrayFrame, Decoded, DecodedFrame, DetectorInput, probe, reduction_for
from engines.jpeg_strips import StripDecoder
from engines.runtime import Runtime
from engines.textproc import TextProcessor
from engines.types import Detection, FrameResult, PlateRead, to_frame

Roi = Tuple[int, int, int, int]  # [x, y, w, h], the envelope's (alpr.protocol)
STAGES = ("decode", "det_prep", "det_infer", "det_post", "crop_decode", "ocr_prep",
          "ocr_infer", "ocr_post", "model", "total")
CROP_SOURCES = ("auto", "full", "reduced")
#: "auto" crops from the DCT-reduced picture while every plate there is at least this wide
#: (alias of alpr.defaults.MIN_REDUCED_CROP_PX, which says why)
MIN_REDUCED_CROP_PX = defaults.MIN_REDUCED_CROP_PX


class Pipeline(object):
    """Detector + OCR + text post-processing on one node; not thread-safe (one per worker)."""

    def __init__(self, detector: Detector, ocr: Recognizer,
                 textproc: Optional[TextProcessor] = None,
                 max_plates: int = defaults.MAX_PLATES, fast_decode: bool = True,
                 crop_source: str = "auto", crop_pad: float = 0.0,
                 min_crop_px: int = MIN_REDUCED_CROP_PX,
                 decode_threads: int = defaults.DECODE_THREADS,
                 zoom_conf: float = defaults.DET_ZOOM_CONF,
                 zoom_every: int = 1,
                 verify_conf: float = defaults.DET_VERIFY_CONF) -> None:
        if crop_source not in CROP_SOURCES:
            raise ValueError("crop_source must be one of %s" % (CROP_SOURCES,))
        self.detector = detector
        self.ocr = ocr
        self.textproc = textproc or TextProcessor()
        self.max_plates = int(max_plates)
        self.fast_decode = fast_decode
        self.crop_source = crop_source
        self.crop_pad = float(crop_pad)
        self.min_crop_px = int(min_crop_px)
        self.zoom_conf = float(zoom_conf)  # 0: no second look where nothing was found
        # a stream's frames with no plate get the (4 detector runs) look one in zoom_every;
        # a car stays in view for many frames, a photo is looked at every time (1)
        self.zoom_every = max(1, int(zoom_every))
        self._unseen = 0  # frames with no sure plate since the last zoomed look
        self.verify_conf = float(verify_conf)  # 0: no weak candidates verified by format
        threads = int(decode_threads) or min(4, os.cpu_count() or 1)
        self.strips = StripDecoder(threads) if threads > 1 else None

    @property
    def runtimes(self) -> List[Runtime]:
        """Every runtime the pipeline runs; their total_ms is pure model time."""
        return list(self.detector.runtimes) + list(self.ocr.runtimes)

    def model_ms(self) -> float:
        """Cumulative inference milliseconds of all runtimes so far."""
        return sum(r.total_ms for r in self.runtimes)

    # -- entry points -------------------------------------------------------------------
    def process_bytes(self, data: bytes, roi: Optional[Roi] = None,
                      regions: Optional[Sequence[str]] = None) -> FrameResult:
        """Decode (validated, maybe DCT-reduced) and process; bad bytes -> result.error.
        `regions`: the camera's plate regions (None: the node's)."""
        start = time.perf_counter()
        return self.process_decoded(self.decode(data), roi, start, regions=regions)

    def decode(self, data: bytes, roi: Optional[Roi] = None,
               detector_input: bool = False) -> Decoded:
        """The decode stage alone (no model runs; may run in another thread, as the worker's
        read-ahead and process_many do): a Decoded for process_decoded. `detector_input`
        also makes the detector's feeds for `roi` now (det_prep, in fresh arrays)."""
        start = time.perf_counter()
        try:
            info = probe(data)
            factor = 1
            if self.fast_decode:
                in_h, in_w = self.detector.input_size
                factor = reduction_for(info.height, info.width, in_h, in_w)
            frame = DecodedFrame(data, factor, info, self.strips)
        except FrameDecodeError as exc:
            return Decoded(None, _ms(start, time.perf_counter()), exc)
        decoded = Decoded(frame, _ms(start, time.perf_counter()), None)
        if detector_input:
            t0 = time.perf_counter()
            picture, offset, scale = self._detector_view(frame, roi)
            feeds, context = self.detector.prepare(picture, fresh=True)
            decoded.ahead = DetectorInput(roi, feeds, context, offset, scale,
                                          _ms(t0, time.perf_counter()))
        return decoded

    def process_decoded(self, decoded: Decoded, roi: Optional[Roi] = None,
                        start: Optional[float] = None,
                        on_detected: Optional[Callable[[], None]] = None,
                        regions: Optional[Sequence[str]] = None) -> FrameResult:
        """The stages after decode; timings["decode"] is the decode's own time, "total" this
        call's wall time from `start` (default: now). `on_detected` is called once the
        detector is done with the frame and the OCR input is made, as the OCR model starts
        (see `models_use_cpu`)."""
        start = time.perf_counter() if start is None else start
        if decoded.error is not None:
            return _failed(decoded.error, start)
        result = self._run(decoded.frame, roi, start, self.model_ms(), on_detected,
                           decoded.ahead, regions)
        result.timings["decode"] = decoded.ms
        return result

    @property
    def models_use_cpu(self) -> bool:
        """True when the models run on this machine's CPU cores (ONNX Runtime's CPU
        provider). The detector keeps every core busy, the OCR leaves one idle, so the next
        frame's decode is best started once the detector is done; on a GPU the CPU idles
        through both models and the decode starts at once."""
        for runtime in self.runtimes:
            providers = getattr(runtime, "providers", None) or []
            if runtime.backend != "onnxruntime" or any(
                    p != "CPUExecutionProvider" for p in providers):
                return False
        return True

    def process_many(self, items: Iterable[Any],
                     regions: Optional[Sequence[str]] = None) -> Iterator[FrameResult]:
        """process_bytes over a sequence (items: bytes or (bytes, roi)), in order, decoding
        frame k+1 in a background thread while frame k runs (cv2.imdecode drops the GIL).

        timings["decode"] is the background decode's own time; "total" is this thread's
        wall time for the frame (waiting for its decode, then the stages), so per-frame
        totals add up to the sequence's wall time.
        """
        from concurrent.futures import ThreadPoolExecutor

        source = iter(items)
        after_detector = self.models_use_cpu
        with ThreadPoolExecutor(max_workers=1) as pool:
            item = next(source, _END)
            pending = (pool.submit(self.decode, _bytes_of(item), _roi_of(item), True)
                       if item is not _END else None)
            while pending is not None:
                start = time.perf_counter()
                roi = _roi_of(item)
                decoded = pending.result()
                item = next(source, _END)
                pending = None
                if item is not _END:
                    data, next_roi = _bytes_of(item), _roi_of(item)
                    submit = _Once(lambda: pool.submit(self.decode, data, next_roi, True))
                    if not after_detector:
                        submit()
                    result = self.process_decoded(decoded, roi, start, submit, regions)
                    pending = submit()  # no detector ran (bad frame): decode now
                else:
                    result = self.process_decoded(decoded, roi, start, regions=regions)
                yield result

    def process(self, image_bgr: np.ndarray, roi: Optional[Roi] = None,
                regions: Optional[Sequence[str]] = None) -> FrameResult:
        """Process a decoded HxWx3 uint8 BGR frame; a malformed array -> result.error."""
        start = time.perf_counter()
        model0 = self.model_ms()
        image = np.asarray(image_bgr)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 \
                or image.shape[0] < 1 or image.shape[1] < 1:
            return _failed(FrameDecodeError("expected an HxWx3 uint8 BGR frame, got %s %s"
                                            % (image.dtype, image.shape)), start)
        result = self._run(ArrayFrame(image), roi, start, model0, regions=regions)
        result.timings["decode"] = 0.0
        return result

    def process_image(self, image_bgr: np.ndarray, roi: Optional[Roi] = None,
                      regions: Optional[Sequence[str]] = None) -> FrameResult:
        """Alias of `process` (raw frames from the worker)."""
        return self.process(image_bgr, roi, regions)

    def describe(self) -> dict:
        """What runs here, for node info: adapters, runtimes and their backends."""
        return {"detector_adapter": type(self.detector).__name__,
                "ocr_adapter": type(self.ocr).__name__,
                "backends": sorted(set(r.backend for r in self.runtimes)),
                "fast_decode": self.fast_decode, "crop_source": self.crop_source}

    def warmup(self, runs: int = defaults.WARMUP_RUNS) -> None:
        """Run detector and OCR on synthetic input so first real frames are not slow."""
        frame = np.full((720, 1280, 3), 114, dtype=np.uint8)
        frame[400:460, 560:780] = 255
        for _ in range(max(0, runs)):
            self.process(frame)
            self.ocr.read(frame, [(560, 400, 780, 460)])

    def close(self) -> None:
        for runtime in self.runtimes:
            runtime.close()
        if self.strips is not None:
            self.strips.close()

    # -- stages -----------------------------------------------------------------------------
    def _run(self, frame: Any, roi: Optional[Roi], start: float, model0: float,
             on_detected: Optional[Callable[[], None]] = None,
             ahead: Optional[DetectorInput] = None,
             regions: Optional[Sequence[str]] = None) -> FrameResult:
        t = {name: 0.0 for name in STAGES}
        result = FrameResult(width=frame.width, height=frame.height, timings=t)
        t0 = time.perf_counter()
        if ahead is not None and ahead.roi == roi:  # made with the decode, off this thread
            feeds, context, offset, scale = ahead.feeds, ahead.context, ahead.offset, ahead.scale
            t["det_prep_ahead"] = ahead.ms
        else:
            picture, offset, scale = self._detector_view(frame, roi)
            feeds, context = self.detector.prepare(picture)
        t1 = time.perf_counter()
        outputs = self.detector.infer(feeds)
        t2 = time.perf_counter()
        dets, weak = self._detections(outputs, context)
        dets = [to_frame(d, offset, scale, frame.width, frame.height) for d in dets]
        t3 = time.perf_counter()
        t["det_prep"], t["det_infer"], t["det_post"] = _ms(t0, t1), _ms(t1, t2), _ms(t2, t3)
        if len(weak) == len(dets) and self._zoom_due():  # no sure plate: a zoomed look
            zoomed = self._zoomed(frame, roi)
            if zoomed:  # below the detector's own threshold: verified by format too
                sure = getattr(self.detector, "conf", 0.0)
                dets, weak = zoomed, set(i for i, d in enumerate(zoomed) if d.score < sure)
            t["det_zoom"] = _ms(t3, time.perf_counter())
            t3 = time.perf_counter()
        # `on_detected` starts the next frame's decode: once this thread's own host work is
        # done and only the OCR model runs (it leaves a core, and the GIL, free)
        if on_detected is not None and not dets:
            on_detected()
            on_detected = None

        if dets:
            source, src_scale = self._crop_source(frame, dets)
            t4 = time.perf_counter()
            t["crop_decode"] = _ms(t3, t4)
            boxes = [self._crop_box(d, src_scale, source.shape[0], source.shape[1])
                     for d in dets]
            usable = [i for i, b in enumerate(boxes) if b[2] > b[0] and b[3] > b[1]]
            batch = self.ocr.prepare(source, [boxes[i] for i in usable]) if usable else None
            t5 = time.perf_counter()
            if on_detected is not None:
                on_detected()
            raw = self.ocr.infer(batch) if usable else None
            t6 = time.perf_counter()
            texts = self.ocr.postprocess(raw) if usable else []
            result.reads = self._reads(dets, usable, texts, regions, weak)
            t7 = time.perf_counter()
            t["ocr_prep"], t["ocr_infer"], t["ocr_post"] = _ms(t4, t5), _ms(t5, t6), _ms(t6, t7)
        t["model"] = self.model_ms() - model0
        t["total"] = _ms(start, time.perf_counter())
        return result

    def _detector_view(self, frame: Any, roi: Optional[Roi]) -> Tuple[np.ndarray, Tuple[float, float], float]:
        """The picture the detector sees, its offset in full-resolution pixels and scale."""
        picture = frame.image
        scale = frame.width / float(picture.shape[1])
        if roi is None:
            return picture, (0.0, 0.0), scale
        x, y, w, h = [int(v) for v in roi]  # the one place [x, y, w, h] becomes corners
        x1, y1, x2, y2 = x, y, x + w, y + h
        x1, x2 = sorted((max(0, min(frame.width, x1)), max(0, min(frame.width, x2))))
        y1, y2 = sorted((max(0, min(frame.height, y1)), max(0, min(frame.height, y2))))
        px1, py1 = int(x1 / scale), int(y1 / scale)
        px2 = max(px1 + 1, int(np.ceil(x2 / scale)))
        py2 = max(py1 + 1, int(np.ceil(y2 / scale)))
        return picture[py1:py2, px1:px2], (px1 * scale, py1 * scale), scale

    def _zoom_due(self) -> bool:
        if self.zoom_conf <= 0:
            return False
        self._unseen += 1
        if self._unseen < self.zoom_every:
            return False
        self._unseen = 0
        return True

    def _zoomed(self, frame: Any, roi: Optional[Roi]) -> List[Detection]:
        """Plates in zoomed tiles of the full-resolution view (engines.zoom)."""
        from engines.zoom import zoomed_detections

        picture, offset, _ = self._detector_view(ArrayFrame(frame.full()), roi)
        dets = zoomed_detections(self.detector, picture, self.zoom_conf)[:self.max_plates]
        return [to_frame(d, offset, 1.0, frame.width, frame.height) for d in dets]

    def _crop_source(self, frame: Any, dets: Sequence[Detection]) -> Tuple[np.ndarray, float]:
        """The reduced picture when every plate stays wide enough there, else full resolution
        (decoded now if the detector saw a reduced picture)."""
        if frame.has_full or self.crop_source == "full":
            return frame.full(), 1.0
        scale = frame.width / float(frame.image.shape[1])
        narrowest = min((d.x2 - d.x1) for d in dets) / scale
        if self.crop_source == "reduced" or narrowest >= self.min_crop_px:
            return frame.image, scale
        return frame.full(), 1.0

    def _crop_box(self, det: Detection, scale: float, h: int, w: int) -> Box:
        """Integer crop box in the source picture (truncation, as platedet crops)."""
        x1, y1, x2, y2 = det.x1, det.y1, det.x2, det.y2
        if self.crop_pad:
            pw, ph = (x2 - x1) * self.crop_pad, (y2 - y1) * self.crop_pad
            x1, y1, x2, y2 = x1 - pw, y1 - ph, x2 + pw, y2 + ph
        x1, x2 = min(max(x1 / scale, 0.0), w), min(max(x2 / scale, 0.0), w)
        y1, y2 = min(max(y1 / scale, 0.0), h), min(max(y2 / scale, 0.0), h)
        return int(x1), int(y1), int(x2), int(y2)

    def _detections(self, outputs: Any, context: Any) -> Tuple[List[Detection], Set[int]]:
        """The detector's boxes (best first, at most max_plates) and the indices of the weak
        ones: scored in [verify_conf, the detector's threshold), kept only if their read
        fits a specific plate format of the camera (see _reads)."""
        sure = getattr(self.detector, "conf", None)
        if not self.verify_conf or sure is None or self.verify_conf >= sure:
            return self.detector.postprocess(outputs, context)[:self.max_plates], set()
        with score_threshold(self.detector, self.verify_conf):
            dets = self.detector.postprocess(outputs, context)[:self.max_plates]
        return dets, set(i for i, d in enumerate(dets) if d.score < sure)

    def _reads(self, dets: Sequence[Detection], usable: Sequence[int],
               texts: Sequence[Any], regions: Optional[Sequence[str]],
               weak: Set[int] = frozenset()) -> List[PlateRead]:
        by_det = dict(zip(usable, texts))
        reads = []
        for i, det in enumerate(dets):
            text = by_det.get(i)
            raw = text.text if text is not None else ""
            confs = text.char_confidences if text is not None else ()
            match = self.textproc.process(raw, confs, regions)
            if match is None or (i in weak and not match.specific):
                continue
            final_confs = match.confidences
            overall = min(final_confs) if final_confs else (text.confidence if text else 0.0)
            box = (int(det.x1), int(det.y1), int(det.x2), int(det.y2))
            region = (text.region if text is not None else "") or ""
            reads.append(PlateRead(match.text, float(overall), tuple(final_confs), region, box,
                                   float(det.score), raw, match.country, match.format))
        return reads


class _Once(object):
    """A call made at most once; later calls return the first one's result."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn, self.done, self.value = fn, False, None  # type: Any, bool, Any

    def __call__(self) -> Any:
        if not self.done:
            self.done, self.value = True, self.fn()
        return self.value


_END = object()  # end of process_many's input


def _bytes_of(item: Any) -> bytes:
    return item[0] if isinstance(item, tuple) else item


def _roi_of(item: Any) -> Optional[Roi]:
    return item[1] if isinstance(item, tuple) and len(item) > 1 else None


def _failed(exc: Exception, start: float) -> FrameResult:
    reason = getattr(exc, "reason", "error")
    result = FrameResult(error="%s: %s" % (reason, exc))
    result.timings = {"total": _ms(start, time.perf_counter())}
    return result


def _ms(a: float, b: float) -> float:
    return (b - a) * 1000.0
