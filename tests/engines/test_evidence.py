"""Evidence crops and snapshots from the pictures the pipeline decoded (no models needed)."""
import cv2
import numpy as np

from engines.evidence import EvidenceOptions, make_evidence
from engines.image_io import DecodedFrame
from engines.types import PlateRead
from evaluation.scenes import generate_scene, scene_rng


def _read(box):
    return PlateRead("ABC1234", 0.9, (0.9,) * 7, "br", tuple(box), 0.8)


def _decode(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_crop_shows_the_plate_at_the_configured_width_and_frame_is_scaled():
    image, _text, box = generate_scene(scene_rng(3, 0))
    data = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 90])[1].tobytes()
    frame = DecodedFrame(data, reduce=2)  # what the detector saw: half resolution
    options = EvidenceOptions(True, 120, 80, 320, 70)
    ev = make_evidence(frame, [_read(box), _read((0, 0, 1, 1))], options)
    crop = _decode(ev["crops"][0])
    assert crop.shape[1] == 120 and ev["crops"][1] is None  # a 1-px box gives no crop
    x1, y1, x2, y2 = [float(v) for v in box]
    pw, ph = (x2 - x1) * 0.08, (y2 - y1) * 0.08

    def diff(dx):  # the crop against the padded plate box of the full frame, shifted by dx
        region = image[int(y1 - ph):int(y2 + ph), int(x1 - pw + dx):int(x2 + pw + dx)]
        truth = cv2.resize(region, (120, crop.shape[0]), interpolation=cv2.INTER_AREA)
        return np.abs(crop.astype(int) - truth.astype(int)).mean()

    assert diff(0) < 25 and diff(0) * 2 < diff(x2 - x1)  # the plate, not next to it
    snap = _decode(ev["frame"])
    assert snap.shape[1] == 320 and ev["scale"] == 320.0 / image.shape[1]
    assert len(ev["crops"][0]) < 10000 and len(ev["frame"]) < 60000


def test_nothing_is_made_without_reads_or_when_switched_off():
    image = np.zeros((90, 160, 3), np.uint8)
    assert make_evidence(image, []) is None
    off = EvidenceOptions(False, 160, 80, 0, 70)
    assert make_evidence(image, [_read((10, 10, 60, 30))], off) is None
    crops_only = EvidenceOptions(True, 64, 80, 0, 70)
    ev = make_evidence(image, [_read((10, 10, 60, 30))], crops_only)
    assert ev["frame"] is None and _decode(ev["crops"][0]).shape[1] == 64
