"""What the worker's evidence costs per frame, as `alpr bench pipeline` reports it."""
import time
from typing import Any, Dict, List, Optional

EVIDENCE_TARGET_FRACTION = 0.02  # the evidence issue: crops + snapshot under 2 % of the frame time


class EvidenceCost(object):
    """What the worker's evidence (engines.evidence: plate crops, frame snapshot) costs per
    frame, made as the worker makes it: after the pipeline returns, from its pictures."""

    def __init__(self, settings: Any) -> None:
        from engines.evidence import options_from

        self.options = options_from(settings)
        self.ms = []  # type: List[float]
        self.crop_bytes = []  # type: List[int]
        self.frame_bytes = []  # type: List[int]
        self.frames = 0

    def add(self, decoded: Any, result: Any) -> None:
        from engines.evidence import make_evidence

        self.frames += 1
        if result.error or not result.reads or decoded.frame is None:
            return
        start = time.perf_counter()
        ev = make_evidence(decoded.frame, result.reads, self.options)
        self.ms.append((time.perf_counter() - start) * 1000.0)
        if ev:
            self.crop_bytes.extend(len(c) for c in ev["crops"] if c)
            if ev["frame"]:
                self.frame_bytes.append(len(ev["frame"]))

    def summary(self, frame_ms: Optional[float]) -> Dict[str, Any]:
        per_frame = sum(self.ms) / self.frames if self.frames else 0.0
        return {"frames_with_reads": len(self.ms), "frames": self.frames,
                "ms_per_frame": round(per_frame, 3),
                "ms_per_frame_with_reads": round(sum(self.ms) / len(self.ms), 3) if self.ms else None,
                "fraction_of_frame_time": round(per_frame / frame_ms, 4) if frame_ms else None,
                "target_fraction": EVIDENCE_TARGET_FRACTION,
                "crop_bytes_mean": int(sum(self.crop_bytes) / len(self.crop_bytes))
                if self.crop_bytes else None,
                "frame_bytes_mean": int(sum(self.frame_bytes) / len(self.frame_bytes))
                if self.frame_bytes else None,
                "options": dict(self.options._asdict())}
