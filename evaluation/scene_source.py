"""`alpr produce scenes`: generated labelled scenes as a producer source (the demo's cameras).

The producer knows no scenes: the console script names this factory (alpr.cli.NAMED_SOURCES)
and `alpr produce` passes it to producer.sources.open_source.
"""
from typing import Iterator, Optional

from evaluation.scenes import generate_scene, scene_region, scene_rng
from producer.sources import SourceFrame


class SceneSource(object):
    """Generated labelled scenes (evaluation.scenes); each scene repeated ``repeat`` frames."""

    def __init__(self, seed: int = 0, repeat: int = 1, count: Optional[int] = None) -> None:
        self.seed = int(seed)
        self.repeat = max(1, int(repeat))
        self.count = count

    def __iter__(self) -> Iterator[SourceFrame]:
        index = 0
        while self.count is None or index < self.count:
            image, text, _box = generate_scene(scene_rng(self.seed, index), region="mix", index=index)
            # the mix stands for cameras of three countries: each scene says its own
            regions = [scene_region("mix", index, None)]
            for _ in range(self.repeat):
                yield SourceFrame(image=image, truth=[text], name="scene-%d" % index,
                                  regions=regions)
            index += 1
