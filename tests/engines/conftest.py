"""Tiny models for the engines tests, built once per session in a temp folder."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)



@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Paths of every tiny model (and the encdec folder)."""
    pytest.importorskip("onnx", reason="the tiny test models are built with onnx")
    pytest.importorskip("onnxruntime", reason="the engines run on onnxruntime")
    import tiny_models

    d = tmp_path_factory.mktemp("tiny_models")
    out = {
        # scores: box 0 and its near-duplicate 1 rise with brightness; box 2 never passes
        "raw": tiny_models.raw_detector(str(d / "raw.onnx"), tiny_models.RAW_BOXES,
                                        gains=[8.0, 7.0, 0.0],
                                        biases=[-3.0, -3.0, -9.0]),
        "slot_grey": tiny_models.slot_ocr_model(str(d / "slot_grey.onnx"), channels=1),
        "slot_rgb": tiny_models.slot_ocr_model(str(d / "slot_rgb.onnx"), channels=3, seed=1,
                                               regions=3),
    }
    encdec = d / "encdec"
    encdec.mkdir()
    tiny_models.encdec_models(str(encdec))
    out["encdec"] = str(encdec)
    mixed = d / "encdec_mixed"
    mixed.mkdir()
    tiny_models.encdec_models(str(mixed), batch_safe=False)
    out["encdec_mixed"] = str(mixed)
    loop = d / "encdec_loop"
    loop.mkdir()
    tiny_models.encdec_models(str(loop), chain=["[us]", "A", "B", "A"])  # never ends
    out["encdec_loop"] = str(loop)
    for name, channels, mode, keep in (("grey", 1, "grayscale", False),
                                       ("rgb", 3, "rgb", True)):
        cfg = d / ("slot_%s.yaml" % name)
        cfg.write_text("max_plate_slots: 7\nalphabet: '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_'\n"
                       "pad_char: '_'\nimg_height: 16\nimg_width: 32\nkeep_aspect_ratio: %s\n"
                       "interpolation: linear\nimage_color_mode: %s\n%s"
                       % ("true" if keep else "false", mode,
                          "plate_regions: [br, eu, us]\n" if channels == 3 else ""))
        out["slot_%s_cfg" % name] = str(cfg)
    return out
