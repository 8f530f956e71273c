"""The two adapter roles, split into prepare / infer / postprocess so the pipeline can time
host work apart from model time."""
import abc
from collections import namedtuple
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from alpr.errors import ModelError
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
    def prepare(self, image_bgr: np.ndarray, fresh: bool = False
                ) -> Tuple[Dict[str, np.ndarray], Any]:
        """Model feeds for one BGR frame, and the context `postprocess` needs. Feeds may
        live in a buffer the next call reuses; `fresh` asks for new arrays (feeds made
        ahead, in another thread, while the current frame's are in use)."""

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self.runtime.run(feeds)

    @abc.abstractmethod
    def postprocess(self, outputs: Dict[str, np.ndarray], context: Any) -> List[Detection]:
        """Boxes in the pixels of the frame given to `prepare`, best score first."""

    def detect(self, image_bgr: np.ndarray) -> List[Detection]:
        feeds, context = self.prepare(image_bgr)
        return self.postprocess(self.infer(feeds), context)


class score_threshold(object):
    """A detector's score threshold set to `conf` for a block (the YOLO adapters keep it in
    `conf`; an adapter without one keeps its own): the zoomed look, weak candidates."""

    def __init__(self, detector: Detector, conf: float) -> None:
        self.detector, self.conf, self.saved = detector, conf, None  # type: Any, float, Any

    def __enter__(self) -> None:
        self.saved = getattr(self.detector, "conf", None)
        if self.saved is not None:
            self.detector.conf = self.conf

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            self.detector.conf = self.saved


LetterboxContext = namedtuple("LetterboxContext", "params height width")


class LetterboxDetector(Detector):
    """A detector whose input is one letterboxed [1, 3, H, W] RGB tensor (YOLO families)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        spec = runtime.inputs[0]
        if len(spec.shape) != 4 or not all(isinstance(d, int) and d > 0 for d in spec.shape[2:]):
            raise ModelError("detector input %r must be [N, 3, H, W] with fixed H, W; got %s"
                             % (spec.name, spec.shape))
        self.input_name = spec.name
        self.output_name = runtime.outputs[0].name
        self._size = (int(spec.shape[2]), int(spec.shape[3]))
        from engines.letterbox import Letterboxer

        self.letterbox = Letterboxer(self._size[0], self._size[1], dtype=spec.dtype)
        # inputs made ahead in another thread (read-ahead) letterbox on their own canvas:
        # the calling thread may be letterboxing this frame's zoomed tiles meanwhile
        self.letterbox_ahead = Letterboxer(self._size[0], self._size[1], dtype=spec.dtype)
        self._buffer = np.empty((1, 3) + self._size, dtype=spec.dtype)

    @property
    def input_size(self) -> Tuple[int, int]:
        return self._size

    def prepare(self, image_bgr: np.ndarray, fresh: bool = False
                ) -> Tuple[Dict[str, np.ndarray], Any]:
        out = np.empty_like(self._buffer) if fresh else self._buffer
        letterbox = self.letterbox_ahead if fresh else self.letterbox
        tensor, params = letterbox(image_bgr, out=out)
        return {self.input_name: tensor}, LetterboxContext(
            params, image_bgr.shape[0], image_bgr.shape[1])


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
