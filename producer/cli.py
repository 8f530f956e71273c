"""`alpr produce SOURCE`: feed one camera's frames into the fleet at a target rate."""
import json
import logging
import time
from typing import Any, Optional

import click

from alpr.cli_options import build_settings, common_options

log = logging.getLogger(__name__)

SETTINGS_FLAGS = ("redis_url", "namespace", "log_level", "camera", "site", "fps", "jpeg_quality",
                  "max_frame_age_s", "inflight_cap", "queue", "regions")


@click.command("produce")
@click.argument("source")
@common_options
@click.option("--camera", default=None, help="Camera id (default cam0; env ALPR_CAMERA).")
@click.option("--site", default=None, help="Site name carried in each frame.")
@click.option("--plate-regions", "regions", default=None,
              help="This camera's plate regions, comma-separated (br, eu, us, de, fr...): the "
                   "formats workers apply to its reads (default: the workers' own).")
@click.option("--fps", type=float, default=None, help="Target frames/s (0 = as fast as possible).")
@click.option("--every", type=int, default=1, show_default=True, help="Send every Nth source frame.")
@click.option("--quality", "jpeg_quality", type=int, default=None, help="JPEG quality (1-100).")
@click.option("--max-age", "max_frame_age_s", type=float, default=None,
              help="Seconds a frame stays useful; older ones are answered stale.")
@click.option("--resize", "max_width", type=int, default=0, show_default=True,
              help="Downscale frames wider than this many pixels (0 = keep).")
@click.option("--inflight-cap", type=int, default=None,
              help="Frames of this camera in flight before the oldest unstarted is dropped.")
@click.option("--queue", default=None, help="Shared frame queue (default frames).")
@click.option("--node", "pin_node", default=None, help="Pin this camera to one node's queue.")
@click.option("--frames", "max_frames", type=int, default=None, help="Stop after N frames sent.")
@click.option("--loop", is_flag=True, help="Start the folder/video again at its end.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of generated scenes.")
@click.option("--repeat", type=int, default=1, show_default=True,
              help="Generated scenes: frames per scene (one vehicle seen in N frames).")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON summary line.")
def produce_cmd(source: str, config_file: Any, every: int, max_width: int, pin_node: Optional[str],
                max_frames: Optional[int], loop: bool, seed: int, repeat: int, as_json: bool,
                **flags: Any) -> None:
    """Read frames from SOURCE (folder, video, URL, device index or 'scenes') into Redis."""
    from alpr.keys import Keys
    from alpr.redis_conn import connect_settings
    from alpr.stop_flag import StopFlag
    from alpr.retry import standard_retry
    from producer.sender import FrameSender
    from alpr.cli import named_sources
    from producer.sources import open_source

    settings = build_settings(config_file, **{k: flags.get(k) for k in SETTINGS_FLAGS})
    check_camera_id(settings.camera)
    check_regions(settings.regions)
    stop = StopFlag().install()
    retry = standard_retry(should_stop=stop, name="redis (producer)")
    keys = Keys(settings.namespace)
    conn = retry.call(connect_settings, settings)
    queue_name = keys.node_queue(pin_node) if pin_node else keys.queue(settings.queue)
    sender = FrameSender(conn, keys, queue_name, settings.camera, retry, site=settings.site,
                         max_age_s=settings.max_frame_age_s, inflight_cap=settings.inflight_cap,
                         jpeg_quality=settings.jpeg_quality, max_width=max_width,
                         results_maxlen=settings.results_maxlen,
                         job_timeout_s=settings.job_timeout_s, result_ttl_s=settings.result_ttl_s,
                         failure_ttl_s=settings.failure_ttl_s, regions=settings.regions)
    src = open_source(source, loop=loop, decode=bool(max_width), seed=seed, repeat=repeat,
                      named=named_sources())
    log.info("camera %s: producing from %s at %s fps into %s", settings.camera,
             "scenes" if source == "scenes" else source.split("@")[-1],
             settings.fps or "max", queue_name)
    started = time.time()
    summary = pace(src, sender, settings.fps, max(1, every), max_frames, stop)
    summary["elapsed_s"] = round(time.time() - started, 3)
    summary["camera"] = settings.camera
    log.info("camera %s: %s", settings.camera, summary)
    if as_json:
        click.echo(json.dumps(summary))


def check_regions(regions: Any) -> None:
    """Refuse at start a plate region no formats file knows (a typo would cost the camera
    its format rules on every node)."""
    from alpr.plate_formats import default_catalog

    try:
        default_catalog().resolve(regions or [])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--plate-regions")


def check_camera_id(camera: str) -> None:
    """Refuse at start a camera id the workers would refuse on every frame (empty or too long)."""
    from alpr.protocol import MAX_ID_LEN

    if not camera or len(camera) > MAX_ID_LEN:
        raise click.BadParameter("must be 1 to %d characters, got %d" % (MAX_ID_LEN, len(camera or "")),
                                 param_hint="--camera")


def pace(source: Any, sender: Any, fps: float, every: int, max_frames: Optional[int],
         should_stop: Any) -> dict:
    """Send frames from ``source`` at ``fps`` (0 = unpaced), every Nth, up to ``max_frames``.

    The clock is monotonic (a wall-clock step must not burst or stall a camera). A live
    source is waited for first and read after: each send takes the newest frame captured,
    stamped with its capture time, so the frames sent stay as fresh as the camera."""
    if getattr(source, "live", False) and callable(getattr(source, "latest", None)):
        seq = _pace_live(source, sender, fps, max_frames, should_stop)
    else:
        seq = _pace_files(source, sender, fps, every, max_frames, should_stop)
    put = sorted(sender.put_ms)
    return dict(sender.stats, frames=seq,
                put_ms_p50=round(put[len(put) // 2], 3) if put else 0.0,
                put_ms_p99=round(put[min(len(put) - 1, int(len(put) * 0.99))], 3) if put else 0.0)


class _Clock(object):
    """The next send time on the monotonic clock; never bursts to catch up after a stall."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps if fps and fps > 0 else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.period:
            return
        now = time.monotonic()
        if self.next_at > now:
            time.sleep(self.next_at - now)
        elif now - self.next_at > 1.0:  # fell behind (slow source): do not burst to catch up
            self.next_at = now
        self.next_at += self.period


def _pace_files(source: Any, sender: Any, fps: float, every: int, max_frames: Optional[int],
                should_stop: Any) -> int:
    clock = _Clock(fps)
    seq = 0
    for index, frame in enumerate(source):
        if should_stop() or (max_frames is not None and seq >= max_frames):
            break
        if index % every:
            continue
        clock.wait()
        sender.send(frame, seq, ts=frame.ts)
        seq += 1
        if max_frames is not None and seq >= max_frames:
            break
    return seq


def _pace_live(source: Any, sender: Any, fps: float, max_frames: Optional[int],
               should_stop: Any) -> int:
    """Wait for the send time, then take the newest frame (never one sent before)."""
    clock = _Clock(fps)
    seq = 0
    last = -1
    try:
        while not should_stop() and (max_frames is None or seq < max_frames):
            clock.wait()
            frame = None
            while frame is None and not should_stop():
                frame = source.latest(last, timeout=1.0)  # None: nothing new yet (stalled)
            if frame is None:
                break
            last = frame.index
            sender.send(frame, seq, ts=frame.ts)
            seq += 1
    finally:
        source.close()
    return seq
