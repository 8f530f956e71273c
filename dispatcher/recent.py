"""Recent-read cache: "was plate X seen in the last N seconds (on camera C)?".

Two sorted sets of plate text scored by last-seen capture time: one per camera and
one global. Entries older than the TTL are trimmed on write, and each key expires
after the TTL of silence, so the cache stays bounded.
"""
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

from alpr.keys import Keys
from alpr.plate_formats import normalize_plate
from alpr.protocol import as_text

TRIM_EVERY_S = 10.0  # trimming costs a ZREMRANGEBYSCORE per key; once every few seconds is plenty


class RecentCache(object):
    """Writes and answers the recent:{camera} and recent sorted sets."""

    def __init__(self, redis: Any, keys: Keys, ttl_s: float) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = float(ttl_s)
        self._trimmed = {}  # type: Dict[str, float]

    def touch(self, camera: str, plates: Iterable[Tuple[str, float]], now: Optional[float] = None) -> int:
        """Record (text, seen_ts) reads of one camera; returns how many were written."""
        return self.touch_many({camera: list(plates)}, now)

    def touch_many(self, reads: Dict[str, List[Tuple[str, float]]], now: Optional[float] = None) -> int:
        """Record reads of many cameras in one round trip: camera -> [(text, seen_ts)]."""
        now = time.time() if now is None else now
        merged = {}  # type: Dict[str, Dict[str, float]]
        for camera, plates in reads.items():
            for text, ts in plates:
                text = normalize_plate(text)
                if text:
                    for key in (self.keys.recent(camera), self.keys.recent()):
                        row = merged.setdefault(key, {})
                        row[text] = max(float(ts), row.get(text, 0.0))
        if not merged:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        ttl = max(1, int(self.ttl_s))
        newest_wins = _supports_gt(self.redis)
        for key, mapping in merged.items():
            if newest_wins:
                pipe.zadd(key, mapping, gt=True)
            else:
                pipe.zadd(key, mapping)
            pipe.expire(key, ttl)
            if now - self._trimmed.get(key, 0.0) > TRIM_EVERY_S:
                pipe.zremrangebyscore(key, "-inf", now - self.ttl_s)
                self._trimmed[key] = now
        pipe.execute()
        return sum(len(m) for k, m in merged.items() if k != self.keys.recent())

    def last_seen(self, plate: str, camera: str = "") -> Optional[float]:
        """Capture time the plate was last read (on `camera`, or anywhere), or None."""
        score = self.redis.zscore(self.keys.recent(camera), normalize_plate(plate))
        return None if score is None else float(score)

    def seen(self, plate: str, within_s: float, camera: str = "",
             now: Optional[float] = None) -> Optional[float]:
        """Last-seen time if the plate was read within the last `within_s` seconds, else None."""
        now = time.time() if now is None else now
        ts = self.last_seen(plate, camera)
        if ts is None or now - ts > within_s:
            return None
        return ts

    def cameras_seen(self, plate: str, within_s: float, cameras: Iterable[str],
                     now: Optional[float] = None) -> List[Tuple[str, float]]:
        """(camera, last seen) for every camera that read the plate within the window."""
        now = time.time() if now is None else now
        text = normalize_plate(plate)
        cams = sorted(cameras)
        pipe = self.redis.pipeline(transaction=False)
        for cam in cams:
            pipe.zscore(self.keys.recent(cam), text)
        out = []
        for cam, score in zip(cams, pipe.execute()):
            if score is not None and now - float(score) <= within_s:
                out.append((cam, float(score)))
        return sorted(out, key=lambda item: -item[1])

    def latest(self, camera: str = "", limit: int = 10) -> List[Tuple[str, float]]:
        """The most recently seen plates (newest first)."""
        rows = self.redis.zrevrange(self.keys.recent(camera), 0, max(0, limit - 1), withscores=True)
        return [(as_text(member), float(score)) for member, score in rows]


def _supports_gt(redis: Any) -> bool:
    """ZADD GT (Redis >= 6.2) keeps the newest time when reads arrive out of order."""
    cached = getattr(redis, "_alpr_zadd_gt", None)
    if cached is None:
        try:
            version = redis.info("server").get("redis_version", "0")
            major, minor = [int(v) for v in str(version).split(".")[:2]]
            cached = (major, minor) >= (6, 2)
        except Exception:  # noqa: BLE001 - an unknown server gets the plain ZADD
            cached = False
        try:
            setattr(redis, "_alpr_zadd_gt", cached)
        except AttributeError:
            pass
    return bool(cached)
