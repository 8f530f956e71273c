"""Time arguments of `alpr events` and the API: unix seconds, ISO 8601, or an age ("90m", "2d")."""
import re
import time
from datetime import datetime, timezone
from typing import Optional

from alpr import defaults
from alpr.errors import StoreError

_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Unix seconds for '1764600000', '2026-12-01T08:00:00' (UTC unless an offset is given),
    '2026-12-01', or an age before now like '15m', '2h', '3d'; None for None/''."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if number != number or number in (float("inf"), float("-inf")):
            raise StoreError("time %r is not a finite number" % text)
        return number
    age = _AGE.match(text.lower())
    if age:
        return (time.time() if now is None else now) - float(age.group(1)) * _UNIT_S[age.group(2)]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StoreError("cannot read time %r: use unix seconds, ISO 8601 (2026-12-01T08:00) "
                         "or an age (15m, 2h, 3d)" % text) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def check_window(limit: int, offset: int, since: Optional[float], until: Optional[float]) -> None:
    """A listing's page and time range, as every search checks them (StoreError: a 400)."""
    if not 1 <= int(limit) <= defaults.SEARCH_MAX_LIMIT:
        raise StoreError("limit must be 1..%d, got %r" % (defaults.SEARCH_MAX_LIMIT, limit))
    if int(offset) < 0:
        raise StoreError("offset must be >= 0, got %r" % (offset,))
    if since is not None and until is not None and since > until:
        raise StoreError("since is after until")
