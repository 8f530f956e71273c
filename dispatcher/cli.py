"""`alpr dispatch`, `alpr status` and `alpr fleet watch|drain|undrain|nodes`."""
import json
import logging
import signal
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import click

from alpr import defaults
from alpr.cli_options import build_settings, common_options
from alpr.errors import ConfigError
from alpr.keys import Keys
from alpr.settings import Settings

log = logging.getLogger("alpr.dispatch")


def _connect(settings: Settings, should_stop: Any = None) -> Any:
    """Open Redis; with `should_stop`, keep retrying an unreachable server until it answers.
    A bad setting stays a ConfigError (one line, exit 2: alpr.cli); any other failure is a
    clear message, not a traceback."""
    from alpr.redis_conn import connect_settings

    try:
        if should_stop is None:
            return connect_settings(settings)
        from alpr.errors import ConnectionLostError
        from alpr.retry import ExponentialBackoff, Retry

        retry = Retry(ExponentialBackoff(defaults.RETRY_BASE_S, defaults.RETRY_CAP_S),
                      retries=defaults.RETRY_ATTEMPTS, supported_errors=(ConnectionLostError,),
                      should_stop=should_stop, name="redis")
        return retry.call(connect_settings, settings)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise click.ClickException(str(exc))


def make_requeue_fn(settings: Settings, redis: Any) -> Any:
    """Enqueue jobs on the shared queue for frames the reaper put back (alpr.frame_jobs owns the format)."""
    from alpr.frame_store import FrameStore
    from alpr.frame_jobs import enqueue_requeued, job_queue

    keys = Keys(settings.namespace)
    queue = job_queue(keys.queue(settings.queue), redis, timeout=settings.job_timeout_s)
    store = FrameStore(redis, keys, settings.results_maxlen, settings.max_frame_age_s)

    def requeue(frames: List[Tuple[str, str]]) -> None:
        enqueue_requeued(queue, frames, store, result_ttl=settings.result_ttl_s,
                         failure_ttl=settings.failure_ttl_s, timeout=settings.job_timeout_s)

    return requeue


def build_fleet_watch(settings: Settings, redis: Any) -> Any:
    """The fleet watch (reaper, sweepers) from settings, for `alpr fleet watch` or the dispatcher."""
    from alpr.frame_store import FrameStore
    from dispatcher.fleet_watch import FleetWatch

    keys = Keys(settings.namespace)
    store = FrameStore(redis, keys, results_maxlen=settings.results_maxlen,
                       max_age_s=settings.max_frame_age_s)
    return FleetWatch(redis, keys, store, keys.queue(settings.queue),
                      requeue_fn=make_requeue_fn(settings, redis),
                      grace_s=defaults.REAPER_GRACE_S,
                      hold_limit_s=settings.job_timeout_s + defaults.HOLD_GRACE_S)


def build_dispatcher(settings: Settings, redis: Any, on_event: Any = None,
                     consumer_name: str = "", sink: Any = None) -> Any:
    """Wire a Dispatcher from settings (plain constructor args below this point)."""
    from alpr.retry import ExponentialBackoff, Retry
    from dispatcher.consumer import ResultsConsumer
    from dispatcher.grouping import Deduper, Grouper
    from dispatcher.known_plates import KnownPlates
    from dispatcher.recent import RecentCache
    from dispatcher.service import Dispatcher
    from dispatcher.webhooks import WebhookError, WebhookSender

    keys = Keys(settings.namespace)
    known = KnownPlates.load(settings.known_plates) if settings.known_plates else KnownPlates()
    if sink is None and settings.db:
        from store.sink import build_sink  # the event store: written before results are acked

        sink = build_sink(settings)
    if sink is not None:
        known.follow(sink.known_plates, defaults.KNOWN_PLATES_REFRESH_S)
    webhook_retry = Retry(ExponentialBackoff(0.2, 1.0), retries=defaults.WEBHOOK_RETRIES,
                          supported_errors=(WebhookError,), name="webhook")
    webhooks = WebhookSender(settings.webhooks, defaults.WEBHOOK_TIMEOUT_S, webhook_retry).start()
    consumer = ResultsConsumer(redis, keys.results, consumer=consumer_name,
                               batch=defaults.DISPATCH_BATCH, block_ms=defaults.DISPATCH_BLOCK_MS,
                               claim_idle_ms=defaults.CLAIM_IDLE_MS)
    from dispatcher.outputs import build_outputs, fleet_health

    outputs, mqtt = build_outputs(settings, redis, keys, sink, consumer.consumer, webhook_retry)
    dispatcher = Dispatcher(redis, keys, consumer,
                            Grouper(settings.group_window_s, settings.group_similarity),
                            Deduper(settings.dedup_window_s,
                                    max(settings.group_similarity, defaults.DEDUP_SIMILARITY)),
                            RecentCache(redis, keys, settings.recent_ttl_s), known=known,
                            webhooks=webhooks, events_maxlen=settings.events_maxlen,
                            on_event=on_event, sink=sink, outputs=outputs,
                            stats_every_s=defaults.DISPATCHER_STATS_S)
    if mqtt is not None:  # <prefix>/health carries the dispatcher's counters too
        mqtt.health_fn = fleet_health(redis, keys, build_fleet_watch(settings, redis),
                                      dispatcher.all_stats)
        mqtt.start()
    return dispatcher


def format_event(event: Dict[str, Any]) -> str:
    """One human line per plate event."""
    label = " [%s%s]" % (event["label"], ": " + event["note"] if event.get("note") else "") \
        if event.get("label") else ""
    others = ", ".join("%s x%d" % (c["text"], c["count"]) for c in event["candidates"][1:4])
    return "EVENT %s %-10s %s conf %.2f  %d frames  %.1f s%s%s" % (
        time.strftime("%H:%M:%S", time.localtime(event["first_seen"] or time.time())),
        event["camera"], event["plate"], event["confidence"], event["frames"],
        max(0.0, event["last_seen"] - event["first_seen"]), label,
        "  (also read: %s)" % others if others else "")


@click.command("dispatch")
@common_options
@click.option("--group-window-s", type=float, default=None,
              help="A vehicle unseen this long has left: emit its event.")
@click.option("--dedup-window-s", type=float, default=None,
              help="Same plate on the same camera within this = same visit, no new event.")
@click.option("--group-similarity", type=float, default=None,
              help="Jaro-Winkler similarity that joins two texts into one vehicle.")
@click.option("--webhook", "webhooks", multiple=True, help="POST each event as JSON here (repeatable).")
@click.option("--known-plates", default=None, help="CSV/YAML of plate -> allow/deny label and note.")
@click.option("--consumer", default="", help="Consumer name in the results group (default per host).")
@click.option("--db", default=None,
              help="Event store: sqlite:///path/events.db (or a path) or postgresql://... (none: stream only).")
@click.option("--data-dir", default=None, help="Evidence (and default SQLite) directory.")
@click.option("--evidence-dir", default=None, help="Evidence packs here (default DATA_DIR/evidence).")
@click.option("--evidence-quota-mb", type=float, default=None, help="Purge oldest evidence above this.")
@click.option("--evidence-max-age-days", type=float, default=None, help="Purge evidence older than this.")
@click.option("--mqtt", "mqtt_url", default=None,
              help="Publish events to this broker: mqtt://user:pass@host:1883 or mqtts://host:8883.")
@click.option("--mqtt-prefix", default=None, help="MQTT topic prefix (default alpr).")
@click.option("--mqtt-ca-certs", default=None, help="CA bundle for an mqtts:// broker.")
@click.option("--mqtt-discovery-prefix", default=None,
              help="Home Assistant discovery prefix (default homeassistant; '' = off).")
@click.option("--mqtt-presence-s", type=float, default=None,
              help="A label's binary sensor turns off this long after its last event.")
@click.option("--console-url", default=None,
              help="Base URL of `alpr serve` for crop links in MQTT events (http://host:8080).")
@click.option("--print", "print_events", is_flag=True, help="Print each plate event as it is emitted.")
@click.option("--fleet-watch/--no-fleet-watch", "fleet_watch", default=None,
              help="Also run the fleet watch (reaper) on a thread [default: on]; off when "
                   "`alpr fleet watch` runs apart.")
def dispatch_cmd(config_file: Optional[str], print_events: bool, consumer: str, **flags: Any) -> None:
    """Turn the results stream into plate events; by default also watch the fleet (reaper)."""
    from alpr.retry import standard_retry

    flags["webhooks"] = list(flags.get("webhooks") or []) or None
    settings = build_settings(config_file, **flags)
    stopping = []  # type: List[int]

    def stop(signum: int, _frame: Any) -> None:
        if not stopping:
            log.info("signal %d: emitting open groups, then exiting", signum)
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    retry = standard_retry(should_stop=lambda: bool(stopping), name="redis")

    def on_event(event: Dict[str, Any]) -> None:
        if print_events:
            click.echo(format_event(event))
            sys.stdout.flush()

    redis = _connect(settings, should_stop=lambda: bool(stopping))
    from alpr.errors import AlprError

    try:
        dispatcher = build_dispatcher(settings, redis, on_event=on_event, consumer_name=consumer)
    except ConfigError:  # a bad --mqtt URL, an alert rule's target: one line, exit 2
        raise
    except AlprError as exc:  # a bad --db URL, a schema newer than this code
        raise click.ClickException(str(exc))
    log.info("dispatching %s (group window %.1f s, dedup %.0f s, %d known plates, %d webhooks, "
             "fleet watch %s)", dispatcher.keys.results, settings.group_window_s,
             settings.dedup_window_s, len(dispatcher.known), len(settings.webhooks),
             "on a thread" if settings.fleet_watch else "off (`alpr fleet watch` apart)")
    watch = _watch_loop(settings, redis).start() if settings.fleet_watch else None
    try:
        dispatcher.run(lambda: bool(stopping), retry)
    finally:
        if watch is not None:
            watch.stop()
        if dispatcher.webhooks is not None:
            dispatcher.webhooks.close()
        stats = dispatcher.all_stats()
        for output in dispatcher.outputs:
            output.close()
        stats.update({"webhook_" + k: v for k, v in (dispatcher.webhooks.stats.items()
                                                     if dispatcher.webhooks else [])})
        if watch is not None:
            stats.update(watch.all_stats())
        if dispatcher.sink is not None:
            stats.update(dispatcher.sink.all_stats())
            stats["unstored_groups"] = len(dispatcher.unstored)
            dispatcher.sink.close()
        log.info("dispatcher stopped: %s", json.dumps(stats, sort_keys=True))


@click.command("status")
@common_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of tables.")
@click.option("--seen", "seen_plate", default=None, help="Was this plate read recently? (exit 0 yes, 1 no)")
@click.option("--within", "within_s", type=float, default=300.0, show_default=True,
              help="With --seen: how many seconds back.")
@click.option("--camera", "seen_camera", default="", help="With --seen: only this camera.")
def status_cmd(config_file: Optional[str], as_json: bool, seen_plate: Optional[str],
               within_s: float, seen_camera: str, **flags: Any) -> None:
    """Nodes, queues and per-camera frame accounting (or --seen PLATE --within N)."""
    from alpr.frame_store import FrameStore
    from dispatcher.fleet_watch import FleetWatch
    from alpr.terminal import print_tables
    from dispatcher.status import collect, format_table, tables

    settings = build_settings(config_file, **flags)
    keys = Keys(settings.namespace)
    redis = _connect(settings)
    if seen_plate is not None:
        _seen(redis, keys, settings, seen_plate, within_s, seen_camera, as_json)
        return
    store = FrameStore(redis, keys, settings.results_maxlen, settings.max_frame_age_s)
    status = collect(redis, keys, FleetWatch(redis, keys, store, keys.queue(settings.queue)))
    if as_json:
        click.echo(json.dumps(status, sort_keys=True))
        return
    sections, notes = tables(status)
    print_tables(sections, notes, plain=lambda: format_table(status))


def _seen(redis: Any, keys: Keys, settings: Settings, plate: str, within_s: float,
          camera: str, as_json: bool) -> None:
    from dispatcher.recent import RecentCache

    recent = RecentCache(redis, keys, settings.recent_ttl_s)
    now = time.time()
    if camera:
        ts = recent.seen(plate, within_s, camera, now=now)
        hits = [(camera, ts)] if ts is not None else []
    else:
        cams = [c.decode() if isinstance(c, bytes) else c for c in redis.smembers(keys.cameras)]
        hits = recent.cameras_seen(plate, within_s, cams, now=now)
        if not hits and recent.seen(plate, within_s, now=now) is not None:
            hits = [("?", float(recent.last_seen(plate) or now))]
    if as_json:
        click.echo(json.dumps({"plate": plate, "within_s": within_s, "seen": bool(hits),
                               "cameras": [{"camera": c, "last_seen": t, "ago_s": now - t}
                                           for c, t in hits]}, sort_keys=True))
    elif hits:
        for cam, ts in hits:
            click.echo("%s seen %.1f s ago on %s" % (plate, now - ts, cam))
    else:
        click.echo("%s not seen in the last %.0f s" % (plate, within_s))
    sys.exit(0 if hits else 1)


@click.group("fleet")
def fleet_group() -> None:
    """Fleet operations: watch (the reaper on its own), list nodes, drain a node, undrain it."""


def _watch_loop(settings: Settings, redis: Any) -> Any:
    from dispatcher.watch_loop import WatchLoop

    return WatchLoop(build_fleet_watch(settings, redis), defaults.FLEET_WATCH_PERIOD_S)


@fleet_group.command("watch")
@common_options
def fleet_watch_cmd(config_file: Optional[str], **flags: Any) -> None:
    """Reap dead nodes' frames and sweep lost ones, with no dispatcher needed (several may run)."""
    settings = build_settings(config_file, **flags)
    stopping = []  # type: List[int]

    def stop(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    redis = _connect(settings, should_stop=lambda: bool(stopping))
    loop = _watch_loop(settings, redis)
    log.info("fleet watch on %s: reaping nodes silent for %.1f s, every %.1f s",
             Keys(settings.namespace).ns, defaults.REAPER_GRACE_S, loop.period_s)
    try:
        loop.run(lambda: bool(stopping))
    finally:
        log.info("fleet watch stopped: %s", json.dumps(loop.all_stats(), sort_keys=True))


@fleet_group.command("nodes")
@common_options
@click.option("--json", "as_json", is_flag=True)
def fleet_nodes_cmd(config_file: Optional[str], as_json: bool, **flags: Any) -> None:
    """Registered nodes: alive, drained, running frames, stats."""
    from alpr.frame_store import FrameStore
    from dispatcher.fleet_watch import FleetWatch

    settings = build_settings(config_file, **flags)
    redis = _connect(settings)
    keys = Keys(settings.namespace)
    nodes = FleetWatch(redis, keys, FrameStore(redis, keys), keys.queue(settings.queue)).nodes()
    if as_json:
        click.echo(json.dumps(nodes, sort_keys=True))
        return
    from alpr.terminal import print_tables

    def stats(node: Dict[str, Any]) -> str:
        return " ".join("%s=%s" % kv for kv in sorted(node["stats"].items()))

    rows = [[n["name"], "alive" if n["alive"] else "DEAD", "drained" if n["drained"] else "",
             n["running"], stats(n)] for n in nodes]
    print_tables([("nodes", ["node", "alive", "drained", "running", "stats"], rows)], [],
                 plain=lambda: "\n".join("%-20s %-6s %-8s running=%d %s" % tuple(r) for r in rows))


@fleet_group.command("drain")
@common_options
@click.argument("node")
def fleet_drain_cmd(config_file: Optional[str], node: str, **flags: Any) -> None:
    """Stop NODE taking shared-queue work (its own node queue still works)."""
    from dispatcher.fleet_watch import drain

    settings = build_settings(config_file, **flags)
    changed = drain(_connect(settings), Keys(settings.namespace), node)
    click.echo("%s %s" % (node, "drained" if changed else "was already drained"))


@fleet_group.command("undrain")
@common_options
@click.argument("node")
def fleet_undrain_cmd(config_file: Optional[str], node: str, **flags: Any) -> None:
    """Let NODE take shared-queue work again."""
    from dispatcher.fleet_watch import undrain

    settings = build_settings(config_file, **flags)
    changed = undrain(_connect(settings), Keys(settings.namespace), node)
    click.echo("%s %s" % (node, "undrained" if changed else "was not drained"))
