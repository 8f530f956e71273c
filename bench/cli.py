"""`alpr bench VERB`: one lazy click group; each verb's module loads only when it runs."""
from typing import Dict

import click

from alpr.cli import LazyGroup

#: verb -> "module:attribute" of a click command
BENCH_COMMANDS = {
    "pipeline": "bench.pipeline:pipeline_cmd",
    "queue": "bench.queue:queue_cmd",
    "fleet": "bench.fleet:fleet_cmd",
    "engines": "bench.engines:engines_cmd",
    "preprocess": "bench.gpu_preprocess:preprocess_cmd",
    "rss": "bench.rss:rss_cmd",
    "sweep": "bench.sweep:sweep_cmd",
    "store": "bench.store:store_cmd",
    "ocr": "bench.ocr_stages:ocr_cmd",
}  # type: Dict[str, str]


@click.group("bench", cls=LazyGroup, lazy_commands=BENCH_COMMANDS)
def bench_group() -> None:
    """Measure speed: the pipeline against the models' own code, the queue, the fleet, engines."""
