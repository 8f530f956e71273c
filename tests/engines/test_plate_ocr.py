"""The default OCR: CTC decoding, the plate-alphabet head, the line locator, two-line
plates, on the real PP-OCR models from the rapidocr wheels (node side: 3.6 too)."""
import importlib.util

import numpy as np
import pytest

from engines.adapters.ctc_ocr import CtcOcr
from engines.adapters.text_lines import TextBox, plate_lines
from engines.runtime import Runtime, TensorSpec


class FakeCtcRuntime(Runtime):
    """A fake runtime returning fixed CTC probabilities (unit test of the decoder only)."""

    backend = "fake"

    def __init__(self, probs, classes):
        super().__init__()
        self.probs, self.classes = probs, classes

    @property
    def inputs(self):
        return [TensorSpec("x", [None, 3, 48, None], np.float32)]

    @property
    def outputs(self):
        return [TensorSpec("y", [None, None, self.classes], np.float32)]

    def _run(self, feeds):
        n = feeds["x"].shape[0]
        return {"y": np.repeat(self.probs[None], n, axis=0)}


def _onehot(indices, classes, p=0.9):
    out = np.full((len(indices), classes), (1 - p) / (classes - 1), np.float32)
    out[np.arange(len(indices)), indices] = p
    return out


def test_greedy_ctc_collapses_repeats_and_drops_blanks():
    vocab = ["<blank>", "A", "B", "1"]
    ocr = CtcOcr(FakeCtcRuntime(_onehot([1, 1, 0, 1, 2, 0, 3, 3], 4), 4), vocab)
    read = ocr.read_lines([np.zeros((20, 60, 3), np.uint8)])[0]
    assert read.text == "AAB1" and len(read.char_confidences) == 4
    assert ocr.bucket(10) == 64 and ocr.bucket(100) == 128 and ocr.bucket(900) == 256


def test_lines_of_one_bucket_run_in_batches_a_tensorrt_profile_allows():
    vocab = ["<blank>", "A", "B", "1"]
    runtime = FakeCtcRuntime(_onehot([1, 0, 2], 4), 4)
    ocr = CtcOcr(runtime, vocab, max_batch=2)
    reads = ocr.read_lines([np.zeros((20, 60, 3), np.uint8)] * 5)
    assert [r.text for r in reads] == ["AB"] * 5 and runtime.calls == 3  # 2 + 2 + 1


def test_a_full_head_restricted_to_kept_classes_decodes_like_a_trimmed_one():
    probs = _onehot([5, 0, 2], 6)
    probs[0, 1] = 0.5  # the best kept class at step 0 (5 is not kept)
    kept = CtcOcr(FakeCtcRuntime(probs, 6), ["<blank>", "A", "B"], classes=[0, 1, 2])
    assert kept.read_lines([np.zeros((20, 60, 3), np.uint8)])[0].text == "AB"


def test_plate_rows_keep_the_characters_and_drop_state_names():
    state = TextBox(20, 5, 80, 15, 0.9)  # "OHIO": small, above
    main = [TextBox(10, 20, 50, 45, 0.9), TextBox(48, 21, 95, 46, 0.9)]  # overlapping pair
    slogan = TextBox(30, 48, 70, 55, 0.9)
    rows = plate_lines([state] + main + [slogan], crop_height=60)
    assert len(rows) == 1 and len(rows[0]) == 1  # one row, the overlapping boxes merged
    assert (rows[0][0].x1, rows[0][0].x2) == (10, 95)
    two = plate_lines([TextBox(10, 5, 90, 28, 0.9), TextBox(12, 32, 88, 56, 0.9)], 60)
    assert [r[0].y1 for r in two] == [5, 32]  # a two-line plate, top row first
    assert plate_lines([TextBox(10, 5, 20, 10, 0.9)], crop_height=60) == []  # not the text


def _have_default_ocr():
    for package in ("rapidocr", "rapidocr_onnxruntime"):
        if importlib.util.find_spec(package) is None:
            pytest.skip("%s is not installed (make venv installs it --no-deps)" % package)


@pytest.fixture(scope="module")
def ocr(tmp_path_factory):
    _have_default_ocr()
    from alpr.settings import Settings
    from engines.models import build_ocr

    cache = tmp_path_factory.mktemp("cache")
    recognizer = build_ocr(Settings.load(env={}, overrides={"engine_cache_dir": str(cache)}))
    yield recognizer
    for runtime in recognizer.runtimes:
        runtime.close()


def _plate(lines, size=(130, 440), height=70):
    import cv2

    img = np.full(size + (3,), 235, np.uint8)
    y = 20
    for text in lines:
        scale = height / 22.0
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 6)
        cv2.putText(img, text, ((size[1] - w) // 2, y + h), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (20, 20, 20), 6, cv2.LINE_AA)
        y += h + 30
    return img


def test_the_default_ocr_reads_one_and_two_line_plates(ocr):
    from alpr.plate_formats import normalize_plate

    one = _plate(["ABC1234"], size=(110, 460))
    two = _plate(["ABC", "1D23"], size=(260, 300), height=80)
    reads = ocr.read(np.concatenate([np.pad(one, ((0, 150), (0, 0), (0, 0))),
                                     np.pad(two, ((0, 0), (0, 160), (0, 0)))], axis=1),
                     [(0, 0, 460, 110), (460, 0, 760, 260)])
    assert [normalize_plate(r.text) for r in reads] == ["ABC1234", "ABC1D23"]
    assert ocr.located >= 1  # the tall crop went through the line locator


def test_the_trimmed_head_argmax_equals_the_full_models(ocr, tmp_path):
    from engines.head_trim import PLATE_ALPHABET, class_indices, equivalence, metadata_vocabulary
    from engines.models import default_file

    import os

    full = default_file("ppocr-rec")
    trimmed = ocr.recogniser.runtime.model_path
    assert trimmed.endswith(".plate-head.onnx")
    indices, kept = class_indices(metadata_vocabulary(full), PLATE_ALPHABET)
    assert len(kept) == len(ocr.recogniser.vocabulary) == 1 + len(PLATE_ALPHABET)
    assert os.path.getsize(trimmed) < 0.7 * os.path.getsize(full)
    crops = [ocr.recogniser.line_tensor(_plate([t], size=(110, 460)))[None]
             for t in ("ABC1234", "XY98ZK", "BRA2E19")]
    report = equivalence(full, trimmed, indices, crops)
    assert report["steps"] > 0 and report["differ"] == 0
