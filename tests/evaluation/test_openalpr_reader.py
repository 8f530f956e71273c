"""The OpenALPR-format reader: good lines parse, odd lines are reported and skipped."""
import os

import pytest

from evaluation.openalpr import parse_label_line, read_dataset


def _write(path, text):
    with open(path, "w") as fh:
        fh.write(text)


def _image(path):
    with open(path, "wb") as fh:
        fh.write(b"\xff\xd8\xff\xd9")  # the reader only checks that the file exists


def test_parse_label_line_gives_xyxy_box_and_upper_text():
    label = parse_label_line("AYO9034.jpg\t528\t412\t162\t52\tayo9034\n")
    assert label.box == (528, 412, 690, 464)
    assert label.text == "AYO9034"


@pytest.mark.parametrize("line", [
    "a.jpg\t1\t2\t3\n",  # too few fields
    "a.jpg\tx\t2\t3\t4\tABC\n",  # not a number
    "a.jpg\t1\t2\t0\t4\tABC\n",  # no area
])
def test_parse_label_line_rejects_odd_lines(line):
    with pytest.raises(ValueError):
        parse_label_line(line)


def test_region_folder_reads_good_files_and_reports_bad_ones(tmp_path):
    br = tmp_path / "br"
    br.mkdir()
    _image(str(br / "AAA1111.jpg"))
    _write(str(br / "AAA1111.txt"), "AAA1111.jpg\t10\t20\t100\t30\tAAA1111\n")
    _image(str(br / "BBB2222.png"))
    _write(str(br / "BBB2222.txt"), "BBB2222.png 5 6 50 20 BBB2222\n")  # spaces, still fine
    _image(str(br / "bad.jpg"))
    _write(str(br / "bad.txt"), "bad.jpg\tnope\n")
    _write(str(br / "orphan.txt"), "orphan.jpg\t1\t1\t5\t5\tXYZ\n")  # no image beside it
    data = read_dataset(str(br))
    names = [im.name for im in data]
    assert names == ["AAA1111.jpg", "BBB2222.png"]
    assert data.images[0].region == "br"
    assert data.images[1].plates[0].box == (5, 6, 55, 26)
    assert len(data.problems) == 2
    assert any("bad.txt:1" in p for p in data.problems)
    assert any("orphan" in p and "not found" in p for p in data.problems)


def test_folder_of_regions_and_region_filter(tmp_path):
    for region in ("br", "eu"):
        os.makedirs(str(tmp_path / region))
        _image(str(tmp_path / region / "P1.jpg"))
        _write(str(tmp_path / region / "P1.txt"), "P1.jpg\t1\t1\t10\t5\tP%s1\n" % region.upper())
    both = read_dataset(str(tmp_path))
    assert sorted(im.region for im in both) == ["br", "eu"]
    only = read_dataset(str(tmp_path), ["eu"])
    assert [im.text for im in only] == ["PEU1"]


def test_shared_benchmark_folder_parses_cleanly(openalpr_dir):
    data = read_dataset(openalpr_dir)
    assert len(data) >= 100 and not data.problems
    assert {"br", "eu", "us"} <= set(im.region for im in data)
