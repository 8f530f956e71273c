"""Synthetic scenes: every region renders, deterministic per seed, labels match what was drawn."""
import os
import random
import re

import numpy as np
import pytest

from evaluation import plates_br, plates_eu, plates_us
from evaluation.openalpr import read_dataset
from evaluation.plate_render import find_font, plate_font, random_plate_text
from evaluation.scenes import REGIONS, generate_scene, scene_rng, write_scenes

MERCOSUL = re.compile(r"^[A-Z]{3}[0-9][A-Z][0-9]{2}$")
BR = re.compile(r"^[A-Z]{3}[0-9][A-Z0-9][0-9]{2}$")  # Mercosul LLLNLNN or the old LLLNNNN
# the published national formats, written out here independently of the generator
EU = {
    "de": r"[A-Z]{1,3}[A-Z]{1,2}[1-9][0-9]{0,3}", "fr": r"[A-Z]{2}[0-9]{3}[A-Z]{2}",
    "it": r"[A-Z]{2}[0-9]{3}[A-Z]{2}", "es": r"[0-9]{4}[BCDFGHJKLMNPRSTVWXYZ]{3}",
    "nl": r"[0-9]{2}[A-Z]{3}[0-9]|[0-9][A-Z]{3}[0-9]{2}|[A-Z]{2}[0-9]{3}[A-Z]|[A-Z][0-9]{3}[A-Z]{2}"
          r"|[A-Z]{3}[0-9]{2}[A-Z]|[0-9][A-Z]{2}[0-9]{3}",
    "be": r"[12][A-Z]{3}[0-9]{3}", "pl": r"[A-Z]{2}[0-9]{5}|[A-Z]{3}[0-9]{2}[0-9A-Z]{2}",
    "pt": r"[A-Z]{2}[0-9]{2}[A-Z]{2}", "gb": r"[A-Z]{2}[0-9]{2}[A-Z]{3}",
    "cz": r"[1-9][A-Z][A-Z0-9][0-9]{4}", "ie": r"[0-9]{2}[12][A-Z]{1,2}[1-9][0-9]{0,4}",
}
US = {
    "ca": r"[1-9][A-Z]{3}[0-9]{3}", "tx": r"[A-Z]{3}[0-9]{4}", "ny": r"[A-Z]{3}[0-9]{4}",
    "fl": r"[A-Z]{4}[0-9]{2}", "oh": r"[A-Z]{3}[0-9]{4}", "wa": r"[A-Z]{3}[0-9]{4}",
    "il": r"[A-Z]{2}[0-9]{5}", "pa": r"[A-Z]{3}[0-9]{4}", "nj": r"[A-Z][0-9]{2}[A-Z]{3}",
    "az": r"[A-Z]{3}[0-9]{4}",
}
EU_ANY = re.compile("^(%s)$" % "|".join(EU.values()))
US_ANY = re.compile("^(%s)$" % "|".join(US.values()))
FORMAT = {"br": BR, "eu": EU_ANY, "us": US_ANY}


def test_generate_scene_contract_and_determinism():
    img, text, box = generate_scene(np.random.RandomState(5))
    again, text2, box2 = generate_scene(np.random.RandomState(5))
    assert img.dtype == np.uint8 and img.shape == (720, 1280, 3)
    assert BR.match(text)
    assert (text, box) == (text2, box2) and np.array_equal(img, again)
    x1, y1, x2, y2 = box
    assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 720


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_renders_plates_of_its_formats(region):
    for i in range(6):
        img, text, (x1, y1, x2, y2) = generate_scene(scene_rng(21, i), region=region)
        assert FORMAT[region].match(text), (region, text)
        assert 135 <= x2 - x1 <= 300, (region, x2 - x1)  # 150-260 px plates, plus perspective jitter
        aspect = (y2 - y1) / float(x2 - x1)
        assert {"br": 0.2 < aspect < 1.05, "eu": 0.12 < aspect < 0.35, "us": 0.35 < aspect < 0.7}[region]
        again = generate_scene(scene_rng(21, i), region=region)
        assert again[1] == text and np.array_equal(again[0], img)


def test_mix_cycles_the_regions_and_writes_one_folder_each(tmp_path):
    out = str(tmp_path / "mix")
    write_scenes(out, 6, seed=4, region="mix")
    assert sorted(os.listdir(out)) == ["br", "eu", "us"]
    data = read_dataset(out)
    assert not data.problems and len(data) == 6
    for image in data:
        index = int(image.name[len("scene_"):-len(".jpg")])
        assert image.region == REGIONS[index % 3]
        assert FORMAT[image.region].match(image.text), (image.region, image.text)
        text, box = generate_scene(scene_rng(4, index), region="mix", index=index)[1:]
        assert (image.text, image.plates[0].box) == (text, box)


def test_labels_hold_only_the_plate_text_not_band_or_state():
    """Each country's / state's label fits its own format: no band code, state name or slogan."""
    rng = np.random.RandomState(3)
    seen = set()
    for _ in range(300):  # rendered plates: every country turns up
        _, label, country = plates_eu.random_eu_plate(rng)
        seen.add(country)
        assert re.match("^(%s)$" % EU[country], label), (country, label)
        if seen == set(EU):
            break
    assert seen == set(EU)
    for country, (band, make) in sorted(plates_eu.COUNTRIES.items()):
        for _ in range(20):
            label = plates_eu.label_of(make(rng))
            assert re.match("^(%s)$" % EU[country], label), (country, label)
    for state, (name, slogan, *_rest) in sorted(plates_us.STATES.items()):
        for _ in range(20):
            label = plates_us.label_of(plates_us.state_text(state, rng))
            assert re.match("^(%s)$" % US[state], label), (state, label)
            assert name.replace(" ", "") not in label and len(label) <= 7
    states = {plates_us.random_us_plate(rng)[2] for _ in range(40)}
    assert len(states) >= 6


def test_eu_plate_has_the_blue_band_and_dark_text_on_white_or_yellow():
    plate = plates_eu.render_eu_plate("B*MW 1234", "de", np.random.RandomState(0))
    assert plate.shape == (220, 1040, 3)
    band = plate[20:200, 10:80].astype(int)
    assert ((band[..., 0] - band[..., 2]) > 80).mean() > 0.7  # blue
    text = plate[40:180, 120:1000].astype(float).mean(axis=2)
    assert (text < 80).mean() > 0.1 and (text > 200).mean() > 0.4  # dark glyphs on white
    nl = plates_eu.render_eu_plate("12-BDF-3", "nl", np.random.RandomState(0))
    paper = nl[8:30, 500:1000].astype(int)
    assert (paper[..., 2] - paper[..., 0]).mean() > 120  # yellow


def test_us_plate_has_the_state_name_above_the_main_text():
    plate = plates_us.render_us_plate("ABC-1234", "ny", np.random.RandomState(0))
    assert plate.shape == (304, 610, 3)
    dark = plate.astype(float).mean(axis=2) < 140
    rows = dark[:, 40:570].sum(axis=1)
    header, main = rows[15:60].max(), rows[88:200].mean()
    assert header > 20 and main > 2 * rows[60:85].mean() + 40  # a small line, a gap, big glyphs


def test_brazilian_kinds_old_grey_and_two_line_motorcycle():
    rng = np.random.RandomState(1)
    kinds = [plates_br.br_kind(rng) for _ in range(400)]
    assert {"mercosul", "old", "moto"} == set(kinds) and kinds.count("mercosul") > 200
    old, text, _ = plates_br.random_br_plate(np.random.RandomState(2), find_font(), kind="old")
    assert re.match(r"^[A-Z]{3}[0-9]{4}$", text) and old.shape == (260, 800, 3)
    body = old[40:240, 40:760].astype(int)
    assert abs(np.median(body) - 170) < 40 and (np.abs(body[..., 0] - body[..., 2]) < 20).all()
    moto, text, _ = plates_br.random_br_plate(np.random.RandomState(2), find_font(), kind="moto")
    assert MERCOSUL.match(text) and moto.shape == (340, 400, 3)
    ink = (moto[60:330, 20:380].astype(float).mean(axis=2) < 90).sum(axis=1) > 0
    runs = np.diff(np.concatenate([[0], ink.astype(int), [0]]))
    assert (runs == 1).sum() == 2  # two lines of glyphs, a gap between them


def test_other_rng_kinds_are_accepted():
    for rng in (7, random.Random(7), np.random.default_rng(7)):
        img, text, _ = generate_scene(rng, size=(800, 450), region="mix")
        assert img.shape == (450, 800, 3) and any(f.match(text) for f in FORMAT.values())


def test_plate_is_drawn_inside_the_labelled_box():
    for region in REGIONS:
        img, _, (x1, y1, x2, y2) = generate_scene(scene_rng(3, 0), region=region)
        inside = img[y1:y2, x1:x2].astype(np.float32).mean(axis=2)
        # the plate holds a bright background and dark glyphs: a high-contrast patch
        assert np.percentile(inside, 90) - np.percentile(inside, 10) > 80, region


def test_write_scenes_round_trips_through_the_reader(tmp_path):
    out = str(tmp_path / "scenes")
    write_scenes(out, 3, seed=11, region="eu")
    data = read_dataset(out)
    assert not data.problems and len(data) == 3
    expected = [generate_scene(scene_rng(11, i), region="eu")[1:] for i in range(3)]
    for image, (text, box) in zip(data, expected):
        assert image.text == text and image.plates[0].box == box
    first = open(str(tmp_path / "scenes" / "scene_00000.jpg"), "rb").read()
    write_scenes(str(tmp_path / "again"), 1, seed=11, region="eu")
    assert open(str(tmp_path / "again" / "scene_00000.jpg"), "rb").read() == first
    with pytest.raises(ValueError):
        write_scenes(str(tmp_path / "bad"), 1, region="mars")


def test_scenes_cli_default_is_a_mix(tmp_path):
    from click.testing import CliRunner

    from alpr.cli import main

    out = str(tmp_path / "cli")
    result = CliRunner().invoke(main, ["scenes", out, "--count", "3", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "wrote 3 scenes" in result.output and sorted(os.listdir(out)) == ["br", "eu", "us"]
    result = CliRunner().invoke(main, ["scenes", out, "--region", "xx"])
    assert result.exit_code != 0 and "xx" in result.output


def test_producer_scene_source_shows_every_region():
    from alpr.cli import named_sources
    from producer.sources import open_source

    truths = []
    for frame in open_source("scenes", seed=1, repeat=1, named=named_sources()):
        truths.append(frame.truth[0])
        if len(truths) == 6:
            break
    for i, text in enumerate(truths):
        assert FORMAT[REGIONS[i % 3]].match(text), (i, text)


def test_font_and_text_pattern():
    path = find_font()
    assert path and path.endswith(".ttf")
    rng = np.random.RandomState(0)
    texts = {random_plate_text(rng) for _ in range(200)}
    assert len(texts) == 200 and all(MERCOSUL.match(t) for t in texts)


def test_missing_plate_fonts_fall_back_to_dejavu(monkeypatch):
    from evaluation import plate_render

    for path, name in ((plate_font(plates_eu.DIN_FONTS), "DIN"), (plate_font(plates_us.GOTHIC_FONTS), "US")):
        assert path and os.path.isfile(path), name
    # a box without fonts-opendin / fonts-roadgeek (nor DejaVu Condensed): find_font()'s bold sans
    monkeypatch.setattr(plate_render, "_system_font", lambda names, any_bold=True: None)
    assert plate_font(plates_eu.DIN_FONTS) == plate_font(plates_us.GOTHIC_FONTS) == find_font()
    plate = plates_eu.render_eu_plate("AB-123-CD", "fr", np.random.RandomState(0))
    assert plate.shape == (220, 1040, 3) and (plate.mean(axis=2) < 80).mean() > 0.05
    plate = plates_us.render_us_plate("1ABC234", "ca", np.random.RandomState(0))
    assert plate.shape == (304, 610, 3) and (plate.mean(axis=2) < 140).mean() > 0.05
    img, text, _ = generate_scene(scene_rng(1, 1), region="mix", index=1)
    assert EU_ANY.match(text)


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
    assert plates_eu.render_eu_plate("1234 BCD", "es", np.random.RandomState(0)).shape == (220, 1040, 3)
    assert plates_us.render_us_plate("ABC*1234", "tx", np.random.RandomState(0)).shape == (304, 610, 3)
