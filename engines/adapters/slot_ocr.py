"""Slot OCR (fast-plate-ocr family): uint8 NHWC crops in, softmaxed [N, slots, vocab] out.

The plate config YAML names the input size, colour mode, resize rule and alphabet:
`max_plate_slots`, `alphabet`, `pad_char`, `img_height`, `img_width`, `keep_aspect_ratio`,
`interpolation`, `image_color_mode` (grayscale | rgb), `padding_color`, `plate_regions`.
Crops are resized exactly as fast-plate-ocr's `resize_image` does; every crop of a frame
goes through the model in one batch when its batch dimension is dynamic.
"""
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from alpr.errors import ConfigError, ModelError
from engines.adapters.base import Box, Recognizer, crop
from engines.runtime import Runtime
from engines.types import TextRead

_INTERPOLATIONS = ("nearest", "linear", "cubic", "area", "lanczos4")


class PlateConfig(object):
    """The fields of fast-plate-ocr's plate config that inference needs."""

    def __init__(self, max_plate_slots: int, alphabet: str, pad_char: str, img_height: int,
                 img_width: int, keep_aspect_ratio: bool = False, interpolation: str = "linear",
                 image_color_mode: str = "grayscale",
                 padding_color: Union[int, Sequence[int]] = (114, 114, 114),
                 plate_regions: Optional[List[str]] = None, **_ignored: Any) -> None:
        self.max_plate_slots = int(max_plate_slots)
        self.alphabet = str(alphabet)
        self.pad_char = str(pad_char)
        self.img_height, self.img_width = int(img_height), int(img_width)
        self.keep_aspect_ratio = bool(keep_aspect_ratio)
        if interpolation not in _INTERPOLATIONS:
            raise ConfigError("plate config: interpolation %r not in %s"
                              % (interpolation, _INTERPOLATIONS))
        self.interpolation = interpolation
        if image_color_mode not in ("grayscale", "rgb"):
            raise ConfigError("plate config: image_color_mode must be grayscale or rgb")
        self.image_color_mode = image_color_mode
        self.padding_color = padding_color
        self.plate_regions = list(plate_regions or [])
        if self.pad_char not in self.alphabet:
            raise ConfigError("plate config: pad_char %r is not in the alphabet" % self.pad_char)

    @property
    def channels(self) -> int:
        return 3 if self.image_color_mode == "rgb" else 1

    @classmethod
    def from_yaml(cls, path: str) -> "PlateConfig":
        import yaml

        try:
            with open(path) as fh:
                data = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError("cannot read plate config %s: %s" % (path, exc)) from exc
        if not isinstance(data, dict):
            raise ConfigError("plate config %s must hold a mapping" % path)
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError("plate config %s: %s" % (path, exc)) from exc


def resize_plate(image: np.ndarray, cfg: PlateConfig) -> np.ndarray:
    """fast-plate-ocr's `resize_image`: stretch, or letterbox with padding, to HxWxC uint8."""
    import cv2

    interpolation = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR,
                     "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA,
                     "lanczos4": cv2.INTER_LANCZOS4}[cfg.interpolation]
    h, w = cfg.img_height, cfg.img_width
    if not cfg.keep_aspect_ratio:
        img = cv2.resize(image, (w, h), interpolation=interpolation)
    else:
        src_h, src_w = image.shape[:2]
        r = min(h / float(src_h), w / float(src_w))
        new_w, new_h = int(round(src_w * r)), int(round(src_h * r))
        img = image
        if (src_w, src_h) != (new_w, new_h):
            img = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
        dw, dh = (w - new_w) / 2.0, (h - new_h) / 2.0
        top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
        left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
        pad = cfg.padding_color
        if cfg.image_color_mode == "grayscale":
            value = int(pad[0]) if isinstance(pad, (tuple, list)) else int(pad)
        else:
            value = tuple(int(c) for c in pad) if isinstance(pad, (tuple, list)) else (int(pad),) * 3
        img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=value)
    if img.ndim == 2:
        img = img[:, :, None]
    return img


class SlotOcr(Recognizer):
    """fast-plate-ocr style model: one softmax per character slot."""

    def __init__(self, runtime: Runtime, config: PlateConfig) -> None:
        self.runtime = runtime
        self.config = config
        spec = runtime.inputs[0]
        if len(spec.shape) != 4:
            raise ModelError("slot OCR input must be [N, H, W, C]; got %s" % (spec.shape,))
        fixed = [d for d in spec.shape[1:] if isinstance(d, int)]
        want = (config.img_height, config.img_width, config.channels)
        if len(fixed) == 3 and tuple(fixed) != want:
            raise ModelError("slot OCR input %s does not match the plate config %s"
                             % (spec.shape, want))
        self.input_name = spec.name
        names = [o.name for o in runtime.outputs]
        self.plate_output = "plate" if "plate" in names else names[0]
        self.region_output = ("region" if "region" in names and config.plate_regions else None)
        self.batch_fixed = spec.shape[0] if isinstance(spec.shape[0], int) else None
        self.min_crop_width = config.img_width

    @property
    def runtimes(self) -> List[Runtime]:
        return [self.runtime]

    def prepare(self, image_bgr: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        import cv2

        cfg = self.config
        batch = np.empty((len(boxes), cfg.img_height, cfg.img_width, cfg.channels), np.uint8)
        for i, box in enumerate(boxes):
            patch = crop(image_bgr, box)
            if cfg.image_color_mode == "rgb":
                patch = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB)
            else:
                patch = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)
            batch[i] = resize_plate(patch, cfg)
        return batch

    def infer(self, batch: np.ndarray) -> Dict[str, np.ndarray]:
        if self.batch_fixed is None or self.batch_fixed == len(batch):
            return self.runtime.run({self.input_name: batch})
        parts = [self.runtime.run({self.input_name: batch[i:i + 1]}) for i in range(len(batch))]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def postprocess(self, raw: Dict[str, np.ndarray]) -> List[TextRead]:
        cfg = self.config
        probs = np.asarray(raw[self.plate_output], dtype=np.float32)
        probs = probs.reshape(-1, cfg.max_plate_slots, len(cfg.alphabet))
        idx = probs.argmax(axis=-1)
        best = probs.max(axis=-1)
        regions = [""] * len(probs)
        if self.region_output is not None:
            region_idx = np.asarray(raw[self.region_output]).argmax(axis=-1)
            regions = [cfg.plate_regions[int(i)] for i in region_idx]
        out = []
        for row_idx, row_best, region in zip(idx, best, regions):
            text = "".join(cfg.alphabet[int(i)] for i in row_idx).rstrip(cfg.pad_char)
            confs = tuple(float(c) for c in row_best[:len(text)])
            out.append(TextRead(text, min(confs) if confs else 0.0, confs, region))
        return out


def load_slot_ocr(runtime: Runtime, config_path: str) -> SlotOcr:
    """A SlotOcr from a runtime and the model's plate config YAML."""
    if not config_path:
        raise ConfigError("the slot OCR needs its plate config YAML (--ocr-config)")
    return SlotOcr(runtime, PlateConfig.from_yaml(config_path))
