"""The two adapter roles, split into prepare / infer / postprocess so the pipeline can time
host work apart from model time."""
import abc
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from engines.runtime import Runtime
from engines.types import Detection, TextRead

Box = Tuple[int, int, int, int]  # integer x1, y1, x2, y2 of a crop in the picture it is cut from


class Detector(abc.ABC):
    """Frame -> plate boxes. `prepare` returns feeds plus whatever `postprocess` needs."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def runtimes(self) -> List[Runtime]:
        return [self.runtime]

    @property
    @abc.abstractmethod
    def input_size(self) -> Tuple[int, int]:
        """(height, width) of the model input, to choose a decode scale."""

    @abc.abstractmethod
    def prepare(self, image_bgr: np.ndarray) -> Tuple[Dict[str, np.ndarray], Any]:
        """Model feeds for one BGR frame, and the context `postprocess` needs."""

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self.runtime.run(feeds)

    @abc.abstractmethod
    def postprocess(self, outputs: Dict[str, np.ndarray], context: Any) -> List[Detection]:
        """Boxes in the pixels of the frame given to `prepare`, best score first."""

    def detect(self, image_bgr: np.ndarray) -> List[Detection]:
        feeds, context = self.prepare(image_bgr)
        return self.postprocess(self.infer(feeds), context)


class Recognizer(abc.ABC):
    """Plate crops -> text reads, all crops of a frame in one batch where the model allows."""

    #: narrowest crop (px) that still gives the model full detail; narrower crops are better
    #: cut from a higher-resolution picture of the frame
    min_crop_width = 0

    @property
    @abc.abstractmethod
    def runtimes(self) -> List[Runtime]:
        """Every runtime the recogniser runs (for model-time accounting)."""

    @abc.abstractmethod
    def prepare(self, image_bgr: np.ndarray, boxes: Sequence[Box]) -> Any:
        """Model-ready batch from the frame and integer crop boxes inside it."""

    @abc.abstractmethod
    def infer(self, batch: Any) -> Any:
        """Run the model(s) on a prepared batch."""

    @abc.abstractmethod
    def postprocess(self, raw: Any) -> List[TextRead]:
        """One TextRead per crop, in box order."""

    def read(self, image_bgr: np.ndarray, boxes: Sequence[Box]) -> List[TextRead]:
        if not boxes:
            return []
        return self.postprocess(self.infer(self.prepare(image_bgr, boxes)))


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """A view of image[y1:y2, x1:x2] (boxes are clipped to the image by the pipeline)."""
    x1, y1, x2, y2 = box
    return image[y1:y2, x1:x2]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)
