"""Synthetic scenes: deterministic per seed, labels match what was drawn."""
import random
import re

import numpy as np

from evaluation.openalpr import read_dataset
from evaluation.plate_render import find_font, random_plate_text
from evaluation.scenes import generate_scene, scene_rng, write_scenes

MERCOSUL = re.compile(r"^[A-Z]{3}[0-9][A-Z][0-9]{2}$")


def test_generate_scene_contract_and_determinism():
    img, text, box = generate_scene(np.random.RandomState(5))
    again, text2, box2 = generate_scene(np.random.RandomState(5))
    assert img.dtype == np.uint8 and img.shape == (720, 1280, 3)
    assert MERCOSUL.match(text)
    assert (text, box) == (text2, box2) and np.array_equal(img, again)
    x1, y1, x2, y2 = box
    assert 160 <= x2 - x1 <= 300  # 180-260 px plates, plus perspective jitter
    assert 0.2 < (y2 - y1) / float(x2 - x1) < 0.6
    assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 720


def test_other_rng_kinds_are_accepted():
    for rng in (7, random.Random(7), np.random.default_rng(7)):
        img, text, _ = generate_scene(rng, size=(800, 450))
        assert img.shape == (450, 800, 3) and MERCOSUL.match(text)


def test_plate_is_drawn_inside_the_labelled_box():
    img, _, (x1, y1, x2, y2) = generate_scene(scene_rng(3, 0))
    gray = img.astype(np.float32).mean(axis=2)
    inside = gray[y1:y2, x1:x2]
    # the plate holds bright background and dark glyphs: a high-contrast patch
    assert np.percentile(inside, 90) - np.percentile(inside, 10) > 80
    blue = img[y1:y2, x1:x2]
    bluish = (blue[..., 0].astype(int) - blue[..., 2].astype(int)) > 60
    assert bluish[: (y2 - y1) // 2].sum() > bluish[(y2 - y1) // 2:].sum()  # band on top


def test_write_scenes_round_trips_through_the_reader(tmp_path):
    out = str(tmp_path / "scenes")
    write_scenes(out, 3, seed=11)
    data = read_dataset(out)
    assert not data.problems and len(data) == 3
    expected = [generate_scene(scene_rng(11, i))[1:] for i in range(3)]
    for image, (text, box) in zip(data, expected):
        assert image.text == text and image.plates[0].box == box
    first = open(str(tmp_path / "scenes" / "scene_00000.jpg"), "rb").read()
    write_scenes(str(tmp_path / "again"), 1, seed=11)
    assert open(str(tmp_path / "again" / "scene_00000.jpg"), "rb").read() == first


def test_font_and_text_pattern():
    path = find_font()
    assert path and path.endswith(".ttf")
    rng = np.random.RandomState(0)
    texts = {random_plate_text(rng) for _ in range(200)}
    assert len(texts) == 200 and all(MERCOSUL.match(t) for t in texts)


def test_glyphs_fall_back_to_hershey_without_pillow(monkeypatch):
    import builtins

    from evaluation import plate_render

    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("no pillow here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    monkeypatch.setattr(plate_render, "_glyph_cache", {})
    mask = plate_render.text_mask("AB1", 40, find_font())
    assert mask.shape[0] == 40 and mask.shape[1] > 40 and mask.max() > 200
    plate = plate_render.render_plate("ABC1D23", np.random.RandomState(0), find_font())
    assert plate.shape == (260, 800, 3)
