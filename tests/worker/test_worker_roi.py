"""The ROI contract end to end: the envelope's [x, y, w, h] through a real `alpr worker` with
the real models. One picture holds two generated vehicles side by side; a frame whose ROI
is the right half reads only the right plate, one whose ROI is the left half only the left.

Seen before the fix: the pipeline unpacked the ROI as corners (x1, y1, x2, y2), so
[1280, 0, 1280, 720] was a 1-pixel strip and nothing was read.
"""
import pytest

from alpr.keys import Keys
from test_worker_process import log_text, start_worker
from worker_helpers import put_frames, results

KEYS = Keys("alpr:")


def two_vehicles():
    """(JPEG bytes of a 2560x720 picture, left plate text, right plate text)."""
    import cv2
    import numpy as np

    from evaluation.scenes import generate_scene, scene_rng

    left, left_text, _ = generate_scene(scene_rng(7, 0))
    right, right_text, _ = generate_scene(scene_rng(7, 1))
    ok, buf = cv2.imencode(".jpg", np.hstack([left, right]), [int(cv2.IMWRITE_JPEG_QUALITY), 90])
    assert ok and left.shape == right.shape == (720, 1280, 3)
    return buf.tobytes(), left_text, right_text


def test_roi_is_x_y_w_h_through_a_real_worker(redis_client, redis_url, tmp_path):
    try:
        import engines.models
        import cv2  # noqa: F401
    except ImportError as exc:
        pytest.skip("recognition pipeline not available here: %s" % exc)
    from alpr.errors import ModelError
    from alpr.settings import Settings

    try:
        engines.models.build_pipeline(Settings())
    except ModelError as exc:  # e.g. ORT 1.10 on 3.6 needs `alpr models prepare` first
        pytest.skip("default models do not load in this environment: %s" % str(exc)[:200])
    data, left_text, right_text = two_vehicles()
    assert left_text != right_text
    (right_only,) = put_frames(redis_client, KEYS, 1, data=data, max_age=120,
                               roi=[1280, 0, 1280, 720])
    (left_only,) = put_frames(redis_client, KEYS, 1, data=data, max_age=120,
                              roi=[0, 0, 1280, 720])
    proc = start_worker(redis_url, tmp_path, engine="pipeline", extra=["--burst"])
    assert proc.wait(180) == 0, log_text(tmp_path)
    recs = results(redis_client, KEYS)
    right = recs[right_only]
    assert right.status == "read", right.reason
    assert [r["text"] for r in right.reads] == [right_text], (right_text, right.reads)
    assert all(r["box"][0] >= 1280 for r in right.reads)  # boxes in full-frame pixels
    left = recs[left_only]
    assert [r["text"] for r in left.reads] == [left_text], (left_text, left.reads)
    assert all(r["box"][2] <= 1280 for r in left.reads)
