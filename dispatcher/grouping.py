"""Group plate reads of one vehicle across frames, and vote its best text.

A vehicle passing a camera is read in several frames, often with a character or two
wrong. Reads of one camera whose texts are similar (Jaro-Winkler, rapidfuzz) join one open group;
a group closes when it has not been seen for `window_s`, and its text is the candidate
with the most reads, ties broken by confidence (Frigate's vote).
"""
import itertools
from typing import Any, Dict, List, Optional

from alpr.plate_formats import normalize_plate


def jaro_winkler(a: str, b: str, prefix_scale: float = 0.1) -> float:
    """Jaro-Winkler similarity in [0, 1]; 1 means equal strings (rapidfuzz's, Winkler's own
    definition: half the transpositions rounded down, the prefix bonus only above 0.7)."""
    from rapidfuzz.distance import JaroWinkler

    return JaroWinkler.similarity(a, b, prefix_weight=prefix_scale)


class Candidate(object):
    """One distinct text read within a group: how often, and how confidently."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.count = 0
        self.conf_sum = 0.0
        self.conf_max = 0.0
        self.best_read = None  # type: Optional[Dict[str, Any]]  # this text's most confident read

    def add(self, confidence: float, read: Optional[Dict[str, Any]] = None) -> None:
        if read is not None and (self.best_read is None or confidence > self.conf_max):
            self.best_read = read
        self.count += 1
        self.conf_sum += confidence
        self.conf_max = max(self.conf_max, confidence)

    @property
    def conf_mean(self) -> float:
        return self.conf_sum / self.count if self.count else 0.0

    def to_dict(self) -> Dict[str, Any]:
        return {"text": self.text, "count": self.count,
                "confidence": round(self.conf_max, 4), "mean_confidence": round(self.conf_mean, 4)}


class PlateGroup(object):
    """The open reads of one vehicle on one camera."""

    _ids = itertools.count(1)

    def __init__(self, camera: str, site: str) -> None:
        self.gid = next(self._ids)
        self.camera = camera
        self.site = site
        self.first_seen = 0.0  # capture time of the first read
        self.last_seen = 0.0  # capture time of the latest read
        self.touched = 0.0  # dispatcher clock of the latest read (closes the group)
        self.candidates = {}  # type: Dict[str, Candidate]
        self.frames = 0  # frames with a read in this group (one read per frame at most)
        self.best_conf = -1.0
        self.best_read = {}  # type: Dict[str, Any]
        self.best_frame = ""
        self.best_index = 0  # the best read's place among its frame's reads
        self.truth = set()  # type: set
        self.entries = set()  # type: set  # results-stream entry ids this group holds unacked

    def add(self, text: str, read: Dict[str, Any], frame_id: str, ts: float, now: float,
            index: int = 0) -> None:
        """Count one read of this vehicle (`index`: its place among the frame's reads)."""
        conf = _as_float(read.get("confidence"))
        cand = self.candidates.get(text)
        if cand is None:
            cand = self.candidates[text] = Candidate(text)
        cand.add(conf, read)
        self.frames += 1
        self.first_seen = ts if self.first_seen == 0.0 else min(self.first_seen, ts)
        self.last_seen = max(self.last_seen, ts)
        self.touched = max(self.touched, now)
        if conf > self.best_conf:
            self.best_conf, self.best_read, self.best_frame = conf, read, frame_id
            self.best_index = index

    def similarity(self, text: str) -> float:
        """How close `text` is to any text already in the group."""
        return max(jaro_winkler(text, c) for c in self.candidates)

    def ranked(self) -> List[Candidate]:
        """Candidates by vote: most reads first, then highest mean confidence."""
        return sorted(self.candidates.values(),
                      key=lambda c: (c.count, c.conf_mean, c.conf_max), reverse=True)

    @property
    def best_text(self) -> str:
        return self.ranked()[0].text

    def evidence(self) -> Dict[str, Any]:
        """The crop and frame (bytes, from the worker's read) of the vote's winner: its most
        confident read; empty values when the worker sent none."""
        read = self.ranked()[0].best_read or self.best_read
        return {"crop": read.get("crop"), "frame": read.get("frame_jpeg"),
                "box": list(read.get("box") or [])}

    def summary(self) -> Dict[str, Any]:
        """The group as the body of a plate event (without id, labels and dedup info)."""
        ranked = self.ranked()
        best = ranked[0]
        return {
            "plate": best.text,
            "confidence": round(best.conf_max, 4),
            "camera": self.camera,
            "site": self.site,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "frames": self.frames,
            "reads": sum(c.count for c in ranked),
            "candidates": [c.to_dict() for c in ranked],
            "box": list(self.best_read.get("box") or []),
            "region": str(self.best_read.get("region") or ""),
            "best_frame": self.best_frame,
            "truth": sorted(self.truth),
            "frame_box": self.frame_box(),
        }

    @property
    def event_id(self) -> str:
        """camera:best frame, and the best read's place in it when not the first: the same on
        every regrouping of the same results (a replay is stored once), and two vehicles
        whose best reads share a frame get two ids."""
        base = "%s:%s" % (self.camera, self.best_frame or self.gid)
        return base if not self.best_index else "%s:%d" % (base, self.best_index)

    def frame_box(self) -> List[float]:
        """The evidence read's plate box in its frame snapshot's pixels ([] without one)."""
        read = self.ranked()[0].best_read or self.best_read
        box, scale = read.get("box") or [], _as_float(read.get("frame_scale"))
        if not read.get("frame_jpeg") or len(box) != 4 or scale <= 0:
            return []
        return [round(_as_float(v) * scale, 1) for v in box]


class Grouper(object):
    """Open groups per camera; `add` reads, `close_idle` returns vehicles that have left."""

    def __init__(self, window_s: float, similarity: float) -> None:
        self.window_s = float(window_s)
        self.similarity = float(similarity)
        self.open = {}  # type: Dict[str, List[PlateGroup]]
        self.index = {}  # type: Dict[str, Dict[str, PlateGroup]]  # camera -> text -> open group
        self.latest_ts = {}  # type: Dict[str, float]  # camera -> newest capture time seen

    def add_frame(self, camera: str, site: str, frame_id: str, ts: float,
                  reads: List[Dict[str, Any]], now: float,
                  truth: Optional[List[str]] = None, entry: Optional[str] = None) -> List[PlateGroup]:
        """Assign every non-empty read of one frame to a group; returns the groups touched."""
        touched = []  # type: List[PlateGroup]
        self.latest_ts[camera] = max(ts, self.latest_ts.get(camera, ts))
        for index, read in enumerate(reads):
            text = normalize_plate(str(read.get("text") or ""))
            if not text:
                continue
            group = self._match(camera, text, exclude=touched)
            if group is None:
                group = PlateGroup(camera, site)
                self.open.setdefault(camera, []).append(group)
            group.add(text, read, frame_id, ts, now, index)
            self.index.setdefault(camera, {}).setdefault(text, group)
            if truth:
                group.truth.update(normalize_plate(t) for t in truth if t)
            if entry is not None:
                group.entries.add(entry)
            touched.append(group)
        return touched

    def _match(self, camera: str, text: str, exclude: List[PlateGroup]) -> Optional[PlateGroup]:
        exact = self.index.get(camera, {}).get(text)
        if exact is not None and not any(exact is g for g in exclude):
            return exact  # the common case: the same text again, no similarity scan
        best = None  # type: Optional[PlateGroup]
        best_sim = self.similarity
        for group in self.open.get(camera, []):
            if any(group is g for g in exclude):
                continue  # two plates in one frame are two vehicles
            sim = group.similarity(text)
            if sim >= best_sim:
                best, best_sim = group, sim
        return best

    def close_idle(self, now: float) -> List[PlateGroup]:
        """Remove and return groups unseen for longer than the window.

        Unseen = no read for `window_s` of dispatcher time, or the camera's frames have moved
        on by more than `window_s` of capture time (a backlog read after a restart closes
        its vehicles as it goes, instead of holding them all open at once).
        """
        closed = []  # type: List[PlateGroup]
        for camera in list(self.open):
            keep = []
            latest = self.latest_ts.get(camera, 0.0)
            for group in self.open[camera]:
                gone = (now - group.touched > self.window_s
                        or latest - group.last_seen > self.window_s)
                (closed if gone else keep).append(group)
            self.open[camera] = keep
            self._forget(camera, [g for g in closed if g.camera == camera])
        closed.sort(key=lambda g: g.first_seen)
        return closed

    def close_all(self) -> List[PlateGroup]:
        """Remove and return every open group (shutdown: nothing is lost)."""
        closed = [g for groups in self.open.values() for g in groups]
        self.open, self.index = {}, {}
        closed.sort(key=lambda g: g.first_seen)
        return closed

    def _forget(self, camera: str, groups: List[PlateGroup]) -> None:
        index = self.index.get(camera, {})
        for group in groups:
            for text in group.candidates:
                if index.get(text) is group:
                    del index[text]
        if not self.open.get(camera):
            self.open.pop(camera, None)
            self.index.pop(camera, None)

    def held_entries(self) -> set:
        """Stream entry ids some open group still holds (not yet acked)."""
        return set(e for groups in self.open.values() for g in groups for e in g.entries)

    def __len__(self) -> int:
        return sum(len(v) for v in self.open.values())


class Deduper(object):
    """Suppress a new event for a plate its camera reported within the dedup window."""

    def __init__(self, window_s: float, similarity: float) -> None:
        self.window_s = float(window_s)
        self.similarity = float(similarity)
        self.last = {}  # type: Dict[str, Dict[str, Dict[str, Any]]]  # camera -> plate -> event

    def snapshot(self) -> Dict[str, Dict[str, Dict[str, Any]]]:
        """A copy of the table, to put back with `restore` if the events it now holds
        were never written (check/remember edit it before the caller's XADD)."""
        return {cam: {plate: dict(ev) for plate, ev in plates.items()}
                for cam, plates in self.last.items()}

    def restore(self, saved: Dict[str, Dict[str, Dict[str, Any]]]) -> None:
        self.last = saved

    def remember(self, event: Dict[str, Any]) -> None:
        """Record an emitted event (also used to preload from the events stream)."""
        self.last.setdefault(event["camera"], {})[event["plate"]] = event

    def forget(self, event: Dict[str, Any]) -> None:
        """Undo `remember` (the event could not be stored and will be emitted again)."""
        events = self.last.get(event["camera"], {})
        if events.get(event["plate"], {}).get("id") == event.get("id"):
            del events[event["plate"]]

    def check(self, summary: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The earlier event this group repeats (its last_seen is extended), or None."""
        events = self.last.get(summary["camera"])
        if not events:
            return None
        start = summary["first_seen"]
        for text, prev in list(events.items()):
            if start - prev["last_seen"] > 2 * self.window_s:
                del events[text]  # keep the table small
        plate = summary["plate"]
        candidates = [events[plate]] if plate in events else []
        candidates += [e for t, e in events.items()
                       if t != plate and jaro_winkler(t, plate) >= self.similarity]
        for prev in candidates:
            if start - prev["last_seen"] <= self.window_s:
                prev["last_seen"] = max(prev["last_seen"], summary["last_seen"])
                prev["repeats"] = int(prev.get("repeats", 0)) + 1
                return prev
        return None


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
