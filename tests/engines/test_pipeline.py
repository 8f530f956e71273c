"""The pipeline on tiny models: stages, timings, ROI, crop sources and bad input."""
import struct

import cv2
import numpy as np
import pytest

from engines.adapters.encdec_ocr import EncDecOcr, Tokenizer
from engines.adapters.yolo_raw import YoloRawDetector
from engines.onnx_runtime import OnnxRuntime
from engines.pipeline import STAGES, Pipeline
from engines.textproc import TextProcessor


@pytest.fixture
def pipeline(models):
    det = YoloRawDetector(OnnxRuntime(models["raw"]), conf=0.5, iou=0.4)
    folder = models["encdec"]
    ocr = EncDecOcr(OnnxRuntime(folder + "/encoder.onnx"), OnnxRuntime(folder + "/decoder.onnx"),
                    Tokenizer.from_json(folder + "/tokenizer.json"))
    p = Pipeline(det, ocr, TextProcessor(), zoom_conf=0.0)
    yield p
    p.close()


def bright(h, w):
    """A frame bright enough for the tiny detector; no red, which the tiny OCR reads as Z."""
    frame = np.full((h, w, 3), 255, np.uint8)
    frame[:, :, 2] = 0
    return frame


def _jpeg(img, quality=95):
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def test_frame_to_reads_with_every_stage_timed(pipeline):
    frame = bright(720, 1280)
    result = pipeline.process(frame)
    assert result.error is None and (result.width, result.height) == (1280, 720)
    assert [(r.text, r.region) for r in result.reads] == [("ABC1234", "br")]
    read = result.reads[0]
    assert read.box == (400, 440, 880, 600)  # ((32, 40) -+ (12, 4) - (0, 14 px pad)) * 20
    assert read.raw_text == "ABC1234" and 0.5 < read.det_score <= 1
    assert set(STAGES) <= set(result.timings)
    assert result.timings["model"] > 0
    assert result.timings["total"] >= result.timings["model"]
    assert pipeline.process_image(frame).reads[0].text == "ABC1234"
    assert pipeline.describe()["backends"] == ["onnxruntime"]


def test_jpeg_bytes_use_the_reduced_picture_and_agree_with_arrays(pipeline):
    frame = bright(720, 1280)
    result = pipeline.process_bytes(_jpeg(frame))
    assert result.error is None and (result.width, result.height) == (1280, 720)
    assert [r.text for r in result.reads] == ["ABC1234"]
    assert result.reads[0].box == pipeline.process(frame).reads[0].box
    assert result.timings["decode"] > 0 and result.timings["crop_decode"] >= 0


def test_narrow_plates_are_cropped_from_full_resolution(models, pipeline):
    data = _jpeg(bright(720, 1280))
    pipeline.min_crop_px = 10000  # no plate is that wide in the reduced picture
    result = pipeline.process_bytes(data)
    assert [r.text for r in result.reads] == ["ABC1234"]
    pipeline.crop_source = "reduced"
    assert [r.text for r in pipeline.process_bytes(data).reads] == ["ABC1234"]


def test_nothing_found_and_roi(pipeline):
    dark = np.zeros((720, 1280, 3), np.uint8)
    result = pipeline.process(dark)
    assert result.reads == [] and result.error is None and result.timings["ocr_infer"] == 0
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[100:420, 600:1240] = bright(320, 640)  # only this region is bright
    assert pipeline.process(frame).reads == []
    with_roi = pipeline.process(frame, roi=(600, 100, 640, 320))  # [x, y, w, h]
    assert [r.text for r in with_roi.reads] == ["ABC1234"]
    x1, y1, x2, y2 = with_roi.reads[0].box
    assert 600 <= x1 < x2 <= 1240 and 100 <= y1 < y2 <= 420


def test_text_rules_apply_and_can_drop_reads(models, pipeline):
    pipeline.textproc = TextProcessor(min_len=8)
    assert pipeline.process(bright(720, 1280)).reads == []


def _bad_inputs():
    good = _jpeg(np.full((64, 64, 3), 128, np.uint8))
    bomb = bytearray(good)
    pos = bomb.index(b"\xff\xc0")
    struct.pack_into(">HH", bomb, pos + 5, 20000, 20000)
    grey = cv2.imencode(".png", np.full((50, 80), 200, np.uint8))[1].tobytes()
    rgba = cv2.imencode(".png", np.full((50, 80, 4), 255, np.uint8))[1].tobytes()
    deep = cv2.imencode(".png", np.full((50, 80, 3), 60000, np.uint16))[1].tobytes()
    one = cv2.imencode(".png", np.full((1, 1, 3), 255, np.uint8))[1].tobytes()
    return {"empty": (b"", "0 bytes"), "truncated": (good[:len(good) // 2], "truncated"),
            "bomb": (bytes(bomb), "larger than"), "garbage": (b"hello world" * 10, "unsupported"),
            "grey": (grey, None), "rgba": (rgba, None), "16bit": (deep, None), "1x1": (one, None)}


@pytest.mark.parametrize("name", sorted(_bad_inputs()))
def test_bad_images_never_raise(pipeline, name):
    data, error = _bad_inputs()[name]
    result = pipeline.process_bytes(data)
    if error:
        assert result.error and result.error.startswith("bad_image") and error in result.error
        assert result.reads == [] and "total" in result.timings
    else:
        assert result.error is None
        assert result.width > 0 and isinstance(result.reads, list)


def test_malformed_arrays_are_errors_not_exceptions(pipeline):
    assert pipeline.process(np.zeros((10, 10), np.uint8)).error.startswith("bad_frame")
    assert pipeline.process(np.zeros((0, 10, 3), np.uint8)).error
    assert pipeline.process(np.zeros((10, 10, 3), np.float32)).error


def test_warmup_runs_both_models_and_model_time_is_accounted(pipeline):
    pipeline.warmup(1)
    assert all(r.calls > 0 for r in pipeline.runtimes)
    before = pipeline.model_ms()
    pipeline.process(bright(720, 1280))
    assert pipeline.model_ms() > before


def test_process_many_matches_process_bytes_in_order_and_survives_bad_bytes(pipeline):
    good = _jpeg(bright(720, 1280))
    items = [good, b"", (good, (0, 0, 1280, 720)), b"\xff\xd8 truncated", good]
    results = list(pipeline.process_many(iter(items)))
    assert len(results) == 5
    assert [r.error is None for r in results] == [True, False, True, False, True]
    assert "bad_image" in results[1].error and "bad_image" in results[3].error
    single = pipeline.process_bytes(good)
    for r in (results[0], results[2], results[4]):
        assert [(x.text, x.box) for x in r.reads] == [(x.text, x.box) for x in single.reads]
        assert r.timings["decode"] > 0 and r.timings["total"] >= r.timings["model"] > 0
    assert list(pipeline.process_many([])) == []


def test_process_many_makes_detector_inputs_ahead_with_the_same_reads(pipeline):
    good = _jpeg(bright(720, 1280))
    results = list(pipeline.process_many([good, (good, (100, 50, 1100, 650)), good]))
    assert all("det_prep_ahead" in r.timings for r in results)  # made in the decode thread
    assert pipeline.models_use_cpu  # so each next decode waited for this frame's detector
    single = pipeline.process_bytes(good)
    assert [(x.text, x.box) for x in results[2].reads] == [(x.text, x.box) for x in single.reads]
    roi = pipeline.process_bytes(good, (100, 50, 1100, 650))
    assert [(x.text, x.box) for x in results[1].reads] == [(x.text, x.box) for x in roi.reads]


def test_a_frame_with_no_plate_gets_a_zoomed_second_look(models, pipeline):
    from engines.zoom import tile_grid

    assert tile_grid(720, 1280) == [(0, 0, 853, 480), (427, 0, 853, 480),
                                    (0, 240, 853, 480), (427, 240, 853, 480)]
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[100:420, 600:1240] = bright(320, 640)
    assert "det_zoom" not in pipeline.process(frame).timings  # zoom off: one look
    pipeline.zoom_conf = 0.25
    try:
        dark = pipeline.process(np.zeros((720, 1280, 3), np.uint8))
        assert dark.reads == [] and "det_zoom" in dark.timings  # looked twice, found none
        plate = pipeline.process(bright(720, 1280))
        assert plate.reads and "det_zoom" not in plate.timings  # found at once: no tiles
    finally:
        pipeline.zoom_conf = 0.0


def test_a_stream_zooms_one_in_every_n_frames_with_no_plate(models, pipeline):
    pipeline.zoom_conf, pipeline.zoom_every = 0.25, 3
    try:
        dark = np.zeros((720, 1280, 3), np.uint8)
        looked = ["det_zoom" in pipeline.process(dark).timings for _ in range(6)]
        assert looked == [False, False, True, False, False, True]
    finally:
        pipeline.zoom_conf, pipeline.zoom_every = 0.0, 1
