"""The CPU letterbox against platedet's own pre-processing, written out here."""
import cv2
import numpy as np
import pytest

from engines.letterbox import Letterboxer, boxes_to_frame, letterbox_cpu, letterbox_params


def platedet_reference(img_rgb, in_h, in_w):
    """platedet.Platedet.preprocess, verbatim in behaviour."""
    shape = img_rgb.shape[:2]
    r = min(in_h / shape[0], in_w / shape[1])
    new_unpad = (int(round(shape[1] * r)), int(round(shape[0] * r)))
    pad_w, pad_h = (in_w - new_unpad[0]) / 2, (in_h - new_unpad[1]) / 2
    resized = cv2.resize(img_rgb, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(pad_h - 0.1)), int(round(pad_h + 0.1))
    left, right = int(round(pad_w - 0.1)), int(round(pad_w + 0.1))
    padded = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                value=(114, 114, 114))
    out = np.ascontiguousarray(np.einsum("HWC->CHW", padded), dtype=np.float32) / 255.0
    return out[None], r, (pad_w, pad_h)


@pytest.mark.parametrize("h,w", [(720, 1280), (1280, 1280), (481, 641), (1032, 581), (33, 7),
                                 (640, 640), (1, 1), (100, 3000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_matches_platedet_preprocessing_exactly(h, w, dtype):
    bgr = np.random.RandomState(h * w).randint(0, 256, (h, w, 3)).astype(np.uint8)
    ref, r, (pad_w, pad_h) = platedet_reference(bgr[:, :, ::-1].copy(), 640, 640)
    got, p = letterbox_cpu(bgr, 640, 640, dtype=dtype)
    assert got.dtype == dtype and got.shape == (1, 3, 640, 640)
    assert np.array_equal(got, ref.astype(dtype))
    assert (p.ratio, p.pad_w, p.pad_h) == (r, pad_w, pad_h)


def test_params_contract_values():
    p = letterbox_params(720, 1280, 640, 640)
    assert (p.new_w, p.new_h, p.left, p.top) == (640, 360, 0, 140)
    assert p.pad_h == 140.0 and p.ratio == 0.5
    p = letterbox_params(481, 641, 640, 640)  # odd pad: top gets the smaller half
    assert p.pad_h == (640 - p.new_h) / 2.0 and p.top == int(round(p.pad_h - 0.1))


def test_reused_buffers_repaint_padding_when_the_geometry_changes():
    lb = Letterboxer(64, 64)
    white = np.full((64, 32, 3), 255, np.uint8)
    lb(white)
    wide = np.zeros((16, 64, 3), np.uint8)
    out, p = lb(wide)
    pad_value = np.float32(114) / np.float32(255)
    assert (out[0, :, :p.top, :] == pad_value).all()  # no white left over from the first frame
    assert (out[0, :, p.top:p.top + p.new_h, :] == 0).all()
    buf = np.empty((1, 3, 64, 64), np.float32)
    same, _ = lb(wide, out=buf)
    assert same is buf


def test_boxes_map_back_and_clip():
    p = letterbox_params(720, 1280, 640, 640)
    boxes = boxes_to_frame(np.array([[10, 150, 110, 200], [-5, 100, 700, 700]], float), p, 720, 1280)
    assert boxes[0].tolist() == [20.0, 20.0, 220.0, 120.0]
    assert boxes[1].tolist() == [0.0, 0.0, 1280.0, 720.0]
