"""Model adapters on tiny models with the real I/O contracts (any runtime; ORT here)."""
import cv2
import numpy as np
import pytest

from tiny_models import RAW_BOXES
from engines.adapters.encdec_ocr import EncDecOcr, Tokenizer
from engines.adapters.slot_ocr import PlateConfig, load_slot_ocr
from engines.adapters.yolo_raw import YoloRawDetector
from engines.onnx_runtime import OnnxRuntime


def _encdec(folder, **kw):
    return EncDecOcr(OnnxRuntime(folder + "/encoder.onnx"), OnnxRuntime(folder + "/decoder.onnx"),
                     Tokenizer.from_json(folder + "/tokenizer.json"), **kw)


def test_raw_detector_thresholds_suppresses_and_maps_back(models):
    det = YoloRawDetector(OnnxRuntime(models["raw"]), conf=0.5, iou=0.4)
    assert det.num_masks == 32 and det.input_size == (64, 64)
    assert det.detect(np.zeros((32, 64, 3), np.uint8)) == []  # dark: scores below 0.5
    bright = np.full((32, 64, 3), 255, np.uint8)  # letterboxed to 64x32 at top=16
    found = det.detect(bright)
    assert len(found) == 1  # the near-duplicate box 1 is suppressed by NMS
    cx, cy, w, h = RAW_BOXES[0]
    d = found[0]
    assert (d.x1, d.x2) == (cx - w / 2, cx + w / 2)
    assert (d.y1, d.y2) == (cy - h / 2 - 16, cy + h / 2 - 16)
    assert 0.5 < d.score <= 1.0 and d.cls == 0


def test_raw_detector_clip_min_size_and_max_det(models):
    big = np.full((640, 640, 3), 255, np.uint8)  # scale 10: boxes map x10
    det = YoloRawDetector(OnnxRuntime(models["raw"]), conf=0.5, iou=0.99, max_det=1)
    assert len(det.detect(big)) == 1
    det = YoloRawDetector(OnnxRuntime(models["raw"]), conf=0.5, iou=0.99, min_size=500)
    assert det.detect(big) == []
    det = YoloRawDetector(OnnxRuntime(models["raw"]), conf=0.5, iou=0.99, center_nms=True)
    assert len(det.detect(big)) == 2


def test_slot_ocr_reads_a_batch_and_strips_padding(models):
    ocr = load_slot_ocr(OnnxRuntime(models["slot_rgb"]), models["slot_rgb_cfg"])
    frame = np.random.RandomState(0).randint(0, 256, (100, 200, 3)).astype(np.uint8)
    boxes = [(10, 10, 90, 40), (100, 50, 190, 90), (0, 0, 7, 3)]
    reads = ocr.read(frame, boxes)
    assert len(reads) == 3
    for r in reads:
        assert not r.text.endswith("_") and len(r.char_confidences) == len(r.text)
        assert r.region in ("br", "eu", "us")
        assert r.confidence == (min(r.char_confidences) if r.text else 0.0)
    singles = [ocr.read(frame, [b])[0] for b in boxes]
    assert [r.text for r in singles] == [r.text for r in reads]


def test_plate_config_is_validated(tmp_path):
    from alpr.errors import ConfigError

    with pytest.raises(ConfigError):
        PlateConfig(7, "AB", "_", 16, 32)  # pad char not in alphabet
    bad = tmp_path / "bad.yaml"
    bad.write_text("- not a mapping\n")
    with pytest.raises(ConfigError):
        PlateConfig.from_yaml(str(bad))
    with pytest.raises(ConfigError, match="--ocr-config"):
        load_slot_ocr(None, "")


def test_encdec_reads_region_and_text_and_stops_at_end(models):
    ocr = _encdec(models["encdec"])
    assert ocr.batch_decoder and ocr.size == (8, 8)
    grey = np.full((40, 120, 3), 114, np.uint8)
    reads = ocr.read(grey, [(0, 0, 120, 40), (10, 5, 60, 30)])
    assert [(r.text, r.region) for r in reads] == [("ABC1234", "br")] * 2
    assert all(len(r.char_confidences) == 7 and r.confidence > 0.9 for r in reads)


def test_encdec_batch_rows_are_independent_and_mixing_decoders_are_detected(models):
    frame = np.full((40, 240, 3), 114, np.uint8)
    frame[:, 120:, 2] = 255  # right half bright red (BGR): its context pushes 'Z'
    boxes = [(0, 0, 120, 40), (120, 0, 240, 40)]
    ocr = _encdec(models["encdec"], max_tokens=6)
    batch = ocr.read(frame, boxes)
    assert batch[0].text == "ABC12" and set(batch[1].text) == {"Z"}
    assert [r.text for r in batch] == [ocr.read(frame, [b])[0].text for b in boxes]
    mixed = _encdec(models["encdec_mixed"], max_tokens=6)
    assert not mixed.batch_decoder  # the load-time probe caught the row mixing
    assert [r.text for r in mixed.read(frame, boxes)] == [r.text for r in batch]
    assert mixed.decoder.calls > 0 and mixed.encoder.calls == 1  # encoder still batched


def test_encdec_is_bounded_by_max_tokens(models):
    ocr = _encdec(models["encdec_loop"], max_tokens=5)
    read = ocr.read(np.full((20, 60, 3), 114, np.uint8), [(0, 0, 60, 20)])[0]
    assert read.region == "us" and read.text == "ABAB"  # region + 4 chars, no end token


def test_encdec_input_matches_platerec_normalisation(models):
    Image = pytest.importorskip("PIL.Image", reason="Pillow gives platerec's reference resize")
    ocr = _encdec(models["encdec"])
    rgb = np.random.RandomState(3).randint(0, 256, (37, 90, 3)).astype(np.uint8)
    frame = np.ascontiguousarray(rgb[:, :, ::-1])
    image = np.asarray(Image.fromarray(rgb).resize((8, 8))) / 255.0
    ref = ((image - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225])
    ref = np.moveaxis(ref, -1, 0)[None].astype(np.float32).astype(np.float16)
    assert np.array_equal(ocr.prepare(frame, [(0, 0, 90, 37)]), ref)


def test_cv2_is_the_only_image_library_needed():
    import engines.adapters.encdec_ocr as m

    assert "PIL" not in open(m.__file__).read()
    assert cv2.__version__
