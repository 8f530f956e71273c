"""Same ONNX model, same answers: our end2end-YOLO and slot-OCR adapters against
open-image-models and fast-plate-ocr themselves (pip-installed in the 3.11 test env)."""
import sys

import cv2
import numpy as np
import pytest

from engines.adapters.slot_ocr import load_slot_ocr
from engines.adapters.yolo_end2end import YoloEnd2EndDetector
from engines.onnx_runtime import OnnxRuntime

pytestmark = pytest.mark.skipif(sys.version_info < (3, 10),
                                reason="open-image-models / fast-plate-ocr need Python >= 3.10")


@pytest.fixture(scope="module")
def end2end(tmp_path_factory):
    from onnx import TensorProto

    import onnx_builders

    path = str(tmp_path_factory.mktemp("e2e") / "yolo_e2e.onnx")
    return onnx_builders.yolo_end2end(path, input_type=TensorProto.FLOAT, size=32, seed=3)


@pytest.mark.parametrize("shape", [(48, 64), (64, 48), (32, 32), (100, 37)])
def test_end2end_boxes_match_open_image_models(end2end, shape):
    oim = pytest.importorskip("open_image_models.detection.core.yolo_v9.inference",
                              reason="pip install open-image-models==0.6.0 --no-deps (+ rich, tqdm)")
    frame = np.random.RandomState(sum(shape)).randint(0, 256, shape + (3,)).astype(np.uint8)
    theirs = oim.YoloV9Detector(end2end, ["plate"], conf_thresh=0.3,
                                providers=["CPUExecutionProvider"]).predict(frame)
    ours = YoloEnd2EndDetector(OnnxRuntime(end2end), conf=0.3, max_det=100,
                               min_size=0).detect(frame)
    h, w = shape

    def clip(b):
        return (min(max(b.x1, 0), w), min(max(b.y1, 0), h), min(max(b.x2, 0), w),
                min(max(b.y2, 0), h))

    want = sorted((clip(d.bounding_box), round(d.confidence, 5)) for d in theirs)
    got = sorted(((int(d.x1), int(d.y1), int(d.x2), int(d.y2)), round(d.score, 5)) for d in ours)
    assert want and got == want


@pytest.mark.parametrize("kind", ["grey", "rgb"])
def test_slot_texts_and_confidences_match_fast_plate_ocr(models, kind):
    fpo = pytest.importorskip("fast_plate_ocr.inference.plate_recognizer",
                              reason="pip install fast-plate-ocr --no-deps (+ rich, tqdm)")
    model, cfg = models["slot_%s" % kind], models["slot_%s_cfg" % kind]
    theirs = fpo.LicensePlateRecognizer(onnx_model_path=model, plate_config_path=cfg,
                                        device="cpu")
    ours = load_slot_ocr(OnnxRuntime(model), cfg)
    rng = np.random.RandomState(7)
    frame = rng.randint(0, 256, (120, 300, 3)).astype(np.uint8)
    boxes = [(5, 5, 100, 40), (120, 30, 290, 110), (50, 60, 61, 118), (0, 0, 300, 120)]
    crops = [frame[y1:y2, x1:x2] for x1, y1, x2, y2 in boxes]
    conv = cv2.COLOR_BGR2GRAY if kind == "grey" else cv2.COLOR_BGR2RGB
    want = theirs.run([cv2.cvtColor(c, conv) for c in crops], return_confidence=True)
    got = ours.read(frame, boxes)
    assert [w.plate for w in want] == [g.text for g in got]
    for w, g in zip(want, got):
        assert np.allclose(w.char_probs[:len(g.text)], g.char_confidences, atol=1e-6)
        if kind == "rgb":
            assert w.region == g.region
