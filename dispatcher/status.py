"""What `alpr status` shows: nodes, queues, per-camera frame accounting and the invariant.

The counters and in-flight sets of all cameras are read in one MULTI, so the invariant
`produced = read + stale + dropped + failed + in_flight` is checked on a consistent
snapshot even while the fleet is running.
"""
import time
from typing import Any, Dict, List, Tuple

from alpr.keys import Keys
from alpr.protocol import as_number, as_text
from dispatcher.consumer import GROUP
from dispatcher.fleet_watch import FleetWatch

TERMINAL = ("read", "stale", "dropped", "failed")


def camera_accounting(redis: Any, keys: Keys) -> Dict[str, Dict[str, Any]]:
    """camera -> produced/read/stale/dropped/failed/in_flight, failed_by_reason, invariant_ok."""
    cameras = sorted(as_text(c) for c in redis.smembers(keys.cameras))
    if not cameras:
        return {}
    pipe = redis.pipeline(transaction=True)
    for cam in cameras:
        pipe.hgetall(keys.counts(cam))
        pipe.zcard(keys.inflight(cam))
    replies = pipe.execute()
    out = {}
    for i, cam in enumerate(cameras):
        raw = {as_text(k): int(v) for k, v in (replies[2 * i] or {}).items()}
        by_reason = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("failed:")}
        row = {
            "produced": raw.get("produced", 0), "read": raw.get("read", 0),
            "stale": raw.get("stale", 0), "dropped": raw.get("dropped", 0),
            "failed": sum(by_reason.values()) + raw.get("failed", 0),
            "in_flight": int(replies[2 * i + 1]), "failed_by_reason": by_reason,
        }  # type: Dict[str, Any]
        row["invariant_ok"] = row["produced"] == sum(row[k] for k in TERMINAL) + row["in_flight"]
        out[cam] = row
    return out


def totals(cameras: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """Sum of the per-camera accounting, with the merged failure reasons."""
    total = {k: 0 for k in ("produced",) + TERMINAL + ("in_flight",)}  # type: Dict[str, Any]
    reasons = {}  # type: Dict[str, int]
    for row in cameras.values():
        for key in total:
            total[key] += row[key]
        for reason, n in row["failed_by_reason"].items():
            reasons[reason] = reasons.get(reason, 0) + n
    total["failed_by_reason"] = reasons
    total["invariant_ok"] = all(row["invariant_ok"] for row in cameras.values())
    return total


def collect(redis: Any, keys: Keys, fleet: FleetWatch) -> Dict[str, Any]:
    """Everything `alpr status` reports, as one JSON-able dict."""
    cameras = camera_accounting(redis, keys)
    try:
        pending = int(redis.xpending(keys.results, GROUP).get("pending", 0))
    except Exception:  # noqa: BLE001 - no dispatcher group yet
        pending = 0
    return {
        "time": time.time(),
        "nodes": fleet.nodes(),
        "queues": fleet.queue_depths(),
        "cameras": cameras,
        "totals": totals(cameras),
        "invariant_ok": all(row["invariant_ok"] for row in cameras.values()),
        "results": {"length": int(redis.xlen(keys.results)), "pending": pending},
        "events": int(redis.xlen(keys.events)),
        "security": {as_text(k): int(v) for k, v in redis.hgetall(keys.security).items()},
        # the running dispatcher's counters (mqtt_*, alerts_*), rewritten every few seconds
        "dispatcher": {as_text(k): as_number(v) for k, v in
                       redis.hgetall(keys.dispatcher_stats).items()},
    }


def format_table(status: Dict[str, Any]) -> str:
    """Plain-text tables for a terminal."""
    lines = []  # type: List[str]
    lines.append("NODES")
    lines.append(_row(["node", "alive", "drained", "running", "fps", "p50_ms", "frames"]))
    for node in status["nodes"]:
        stats = node["stats"]
        lines.append(_row([node["name"], "yes" if node["alive"] else "NO",
                           "yes" if node["drained"] else "", node["running"],
                           _pick(stats, "fps"), _pick(stats, "p50_ms", "latency_ms"),
                           _pick(stats, "frames", "processed")]))
    if not status["nodes"]:
        lines.append("  (no node has registered)")
    lines.append("")
    lines.append("QUEUES")
    for name, depth in sorted(status["queues"].items()):
        lines.append(_row([name, depth]))
    lines.append("")
    lines.append("CAMERAS")
    head = ["camera", "produced", "read", "stale", "dropped", "failed", "in_flight", "invariant"]
    lines.append(_row(head))
    rows = sorted(status["cameras"].items()) + [("TOTAL", status["totals"])]
    for cam, row in rows:
        lines.append(_row([cam] + [row[k] for k in head[1:-1]] +
                          ["ok" if row["invariant_ok"] else "BROKEN"]))
    reasons, results, refused = _notes(status)
    if reasons:
        lines.append(reasons)
    lines.append("")
    lines.append(results)
    mqtt = _dispatcher_line(status)
    if mqtt:
        lines.append(mqtt)
    if refused:
        lines.append(refused)
    return "\n".join(lines)


def _notes(status: Dict[str, Any]) -> Tuple[str, str, str]:
    """The lines under the tables: failures by reason, the results stream, refusals."""
    reasons = status["totals"]["failed_by_reason"]
    return ("failed by reason: " + ", ".join("%s=%d" % (k, v) for k, v in sorted(reasons.items()))
            if reasons else "",
            "results stream: %d entries, %d pending in the dispatcher; events: %d"
            % (status["results"]["length"], status["results"]["pending"], status["events"]),
            "refused: " + ", ".join("%s=%d" % (k, v) for k, v in sorted(status["security"].items()))
            if status["security"] else "")


def _dispatcher_line(status: Dict[str, Any]) -> str:
    """The dispatcher's MQTT and alert counters (alpr dispatch writes them to Redis)."""
    counters = dict((k, v) for k, v in status.get("dispatcher", {}).items()
                    if k.startswith(("mqtt_", "alerts_")))
    return ("dispatcher: " + ", ".join("%s=%s" % kv for kv in sorted(counters.items()))
            if counters else "")


def tables(status: Dict[str, Any]) -> Tuple[List[Any], List[str]]:
    """The same content as format_table, as (title, headers, rows) tables and note lines
    (alpr.terminal draws them with rich at a terminal)."""
    nodes = [[n["name"], "yes" if n["alive"] else "NO", "yes" if n["drained"] else "",
              n["running"], _pick(n["stats"], "fps"), _pick(n["stats"], "p50_ms", "latency_ms"),
              _pick(n["stats"], "frames", "processed")] for n in status["nodes"]]
    head = ["camera", "produced", "read", "stale", "dropped", "failed", "in_flight", "invariant"]
    cams = [[cam] + [row[k] for k in head[1:-1]] + ["ok" if row["invariant_ok"] else "BROKEN"]
            for cam, row in sorted(status["cameras"].items()) + [("TOTAL", status["totals"])]]
    out = [("NODES", ["node", "alive", "drained", "running", "fps", "p50_ms", "frames"], nodes),
           ("QUEUES", ["queue", "depth"], sorted(status["queues"].items())),
           ("CAMERAS", head, cams)]
    reasons, results, refused = _notes(status)
    notes = [line for line in (reasons, results, _dispatcher_line(status), refused) if line]
    if not status["nodes"]:
        notes.insert(0, "(no node has registered)")
    return out, notes


def _pick(stats: Dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in stats:
            value = stats[name]
            return round(value, 1) if isinstance(value, float) else value
    return "-"


def _row(cells: List[Any]) -> str:
    return "  " + "".join(str(c).ljust(12 if i else 18) for i, c in enumerate(cells)).rstrip()
