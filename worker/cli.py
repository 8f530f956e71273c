"""`alpr worker`: start a resident worker on this node."""
from typing import Any

import click

from alpr.cli_options import build_settings, model_options

SETTINGS_FLAGS = ("redis_url", "namespace", "log_level", "node_name", "queue", "node_queue",
                  "engine", "batch_max", "metrics_port", "heartbeat_s", "max_frame_age_s",
                  "detector", "detector_format", "ocr", "ocr_format", "ocr_config", "runtime",
                  "providers", "intra_op_threads", "det_conf", "plate_regex", "min_plate_len",
                  "regions", "det_zoom_conf", "det_zoom_every")


@click.command("worker")
@model_options
@click.option("--redis-url", default=None, help="Redis URL: redis://, rediss://, unix://.")
@click.option("--namespace", default=None, help="Key prefix in Redis (default alpr:).")
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR.")
@click.option("--node", "node_name", default=None, help="Node name (default: hostname).")
@click.option("--queue", default=None, help="Shared frame queue (default frames).")
@click.option("--node-queue/--no-node-queue", default=None,
              help="Also listen on the node's own queue first (pinning, drain).")
@click.option("--engine", default=None,
              help="pipeline (the models), null (no plates, instant), sleep:<seconds> or "
                   "hang (never returns from a frame: the chaos suite's stuck node).")
@click.option("--batch-max", type=int, default=None,
              help="Most frames one RQ job handles, drained jobs included.")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus /metrics here.")
@click.option("--heartbeat", "heartbeat_s", type=float, default=None, help="Heartbeat period (s).")
@click.option("--max-age", "max_frame_age_s", type=float, default=None,
              help="Default max frame age (s) used by the lost-frame sweep.")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty (tests, batch runs).")
@click.option("--max-jobs", type=int, default=None, help="Exit after this many RQ jobs.")
def worker_cmd(config_file: Any, burst: bool, max_jobs: Any, **flags: Any) -> None:
    """Serve frames from Redis with one engine built once (SimpleWorker: no fork)."""
    from worker.node import serve

    if flags.get("providers"):
        flags["providers"] = [p for p in flags["providers"].split(",") if p]
    settings = build_settings(config_file, **{k: flags.get(k) for k in SETTINGS_FLAGS})
    raise SystemExit(serve(settings, burst=burst, max_jobs=max_jobs))
