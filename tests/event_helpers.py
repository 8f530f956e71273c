"""Plate events shaped as the dispatcher emits them (store tests write what production writes)."""
import time


def make_event(plate, camera="cam0", first_seen=None, frame=None, label="", conf=0.9, **extra):
    first_seen = time.time() if first_seen is None else first_seen
    frame = frame or "f-%s-%d" % (plate, int(first_seen * 1000))
    event = {"plate": plate, "confidence": conf, "camera": camera, "site": "gate",
             "first_seen": first_seen, "last_seen": first_seen + 2.0, "frames": 3, "reads": 3,
             "candidates": [{"text": plate, "count": 2, "confidence": conf,
                             "mean_confidence": conf},
                            {"text": plate[:-1] + "X", "count": 1, "confidence": 0.5,
                             "mean_confidence": 0.5}],
             "box": [10, 20, 110, 50], "region": "br", "best_frame": frame, "truth": [],
             "label": label, "note": "", "id": "%s:%s" % (camera, frame),
             "emitted": first_seen + 5.0}
    event.update(extra)
    return event
