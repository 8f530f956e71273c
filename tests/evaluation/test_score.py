"""Scoring rules: IoU >= 0.3 for detection, normalised any-read match for exact reads."""
import json

from evaluation.openalpr import LabelledImage, PlateLabel
from alpr.plate_formats import normalize_plate
from evaluation.score import Scorer, iou


def _image(text="ABC1234", box=(100, 100, 200, 130), region="br", name="x.jpg"):
    return LabelledImage("/data/%s/%s" % (region, name), region, [PlateLabel(box, text)])


def test_normalize_drops_region_tokens_spaces_dashes_and_case():
    assert normalize_plate("[br]abc-1 234", region_tokens=True) == "ABC1234"
    assert normalize_plate("[br]abc-1 234") == "BRABC1234"  # our reads carry none
    assert normalize_plate("") == ""


def test_iou_values():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 15, 10)) - 1 / 3.0) < 1e-9


def test_detection_and_exact_rules():
    scorer = Scorer(0.3)
    hit = scorer.add(_image(name="a.jpg"), [("abc-1234", (102, 101, 198, 131))],
                     {"total": 10.0, "decode": 2.0})[0]
    assert hit.detected and hit.exact and hit.exact_located
    misread = scorer.add(_image(name="b.jpg"), [("ABC1284", (100, 100, 200, 130))],
                         {"total": 30.0, "decode": 4.0})[0]
    assert misread.detected and not misread.exact
    # text right but the box elsewhere: exact under the any-read rule, not located
    elsewhere = scorer.add(_image(name="c.jpg"), [("ABC1234", (400, 400, 500, 430))],
                           {"total": 20.0})[0]
    assert not elsewhere.detected and elsewhere.exact and not elsewhere.exact_located
    failed = scorer.add(_image(name="d.jpg"), [], {}, error="bad_image: truncated")[0]
    assert not failed.detected and failed.error
    summary = scorer.summary()
    assert summary["images"] == 4 and summary["plates"] == 4
    assert summary["detected"] == 2 and summary["exact"] == 2 and summary["exact_located"] == 1
    assert summary["detection_recall"] == 0.5 and summary["exact_rate"] == 0.5
    assert summary["errors"] == 1
    assert summary["median_ms"] == {"decode": 3.0, "total": 20.0}
    assert [m["image"] for m in summary["misses"]] == ["b.jpg", "c.jpg", "d.jpg"]
    json.dumps(summary)  # JSON-ready: no numpy scalars leak through


def test_overlapping_read_is_the_reported_one_and_regions_split():
    scorer = Scorer()
    verdict = scorer.add(_image(), [("ZZZ9999", (0, 0, 20, 10)), ("ABC1234", (100, 100, 200, 130))])[0]
    assert verdict.read == "ABC1234"
    scorer.add(_image(region="eu", text="B123XY", name="e.jpg"), [])
    summary = scorer.summary()
    assert summary["by_region"]["br"]["exact"] == 1
    assert summary["by_region"]["eu"]["detected"] == 0
