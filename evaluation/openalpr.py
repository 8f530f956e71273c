"""Reader for the OpenALPR end-to-end benchmark layout.

`<region>/<name>.<jpg|jpeg|png>` with `<region>/<name>.txt` beside it, each label line
tab-separated: `image_file  x  y  width  height  PLATE_TEXT`. Odd lines are reported
and skipped, never fatal: a benchmark run must not die on one bad label.
"""
import os
from typing import List, Optional, Sequence, Tuple

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

Box = Tuple[int, int, int, int]  # x1, y1, x2, y2 in image pixels


class PlateLabel(object):
    """One labelled plate: its axis-aligned box (x1, y1, x2, y2) and text."""

    __slots__ = ("box", "text")

    def __init__(self, box: Box, text: str) -> None:
        self.box = box
        self.text = text

    def __repr__(self) -> str:
        return "PlateLabel(%r, %r)" % (self.box, self.text)


class LabelledImage(object):
    """An image file, its region (the folder name) and its labelled plates."""

    __slots__ = ("path", "region", "plates")

    def __init__(self, path: str, region: str, plates: List[PlateLabel]) -> None:
        self.path = path
        self.region = region
        self.plates = plates

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def text(self) -> str:
        """The first plate's text (the benchmark labels one plate per image)."""
        return self.plates[0].text if self.plates else ""

    def __repr__(self) -> str:
        return "LabelledImage(%r, %r, %r)" % (self.path, self.region, self.plates)


class Dataset(object):
    """Labelled images found under a folder, plus the problems met while reading it."""

    def __init__(self, images: List[LabelledImage], problems: List[str]) -> None:
        self.images = images
        self.problems = problems

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self):
        return iter(self.images)


def _fields(line: str) -> List[str]:
    parts = line.rstrip("\r\n").split("\t")
    if len(parts) < 6:  # tolerate space-separated files too
        parts = line.split()
    return parts


def parse_label_line(line: str) -> PlateLabel:
    """Parse one `image x y w h TEXT` line; raises ValueError with the reason."""
    parts = _fields(line)
    if len(parts) < 6:
        raise ValueError("expected 6 fields (image x y width height text), got %d" % len(parts))
    try:
        x, y, w, h = (int(round(float(v))) for v in parts[1:5])
    except ValueError:
        raise ValueError("box fields are not numbers: %r" % (parts[1:5],))
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ValueError("box has no area or is off the image: %r" % (parts[1:5],))
    text = "".join(parts[5:]).strip().upper()
    if not text:
        raise ValueError("empty plate text")
    return PlateLabel((x, y, x + w, y + h), text)


def read_labels(txt_path: str) -> Tuple[Optional[str], List[PlateLabel], List[str]]:
    """Labels of one .txt: (image file named inside, plates, problems)."""
    plates = []  # type: List[PlateLabel]
    problems = []  # type: List[str]
    image_name = None  # type: Optional[str]
    try:
        with open(txt_path, "r", encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except OSError as exc:
        return None, [], ["%s: cannot read: %s" % (txt_path, exc)]
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            plates.append(parse_label_line(line))
        except ValueError as exc:
            problems.append("%s:%d: %s" % (txt_path, number, exc))
            continue
        if image_name is None:
            image_name = _fields(line)[0].strip() or None
    return image_name, plates, problems


def _find_image(folder: str, stem: str, named: Optional[str]) -> Optional[str]:
    if named:
        path = os.path.join(folder, named)
        if os.path.isfile(path):
            return path
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        path = os.path.join(folder, stem + ext)
        if os.path.isfile(path):
            return path
    return None


def read_region(folder: str, region: Optional[str] = None) -> Dataset:
    """Every labelled image of one region folder, sorted by file name."""
    region = region or os.path.basename(os.path.normpath(folder))
    images = []  # type: List[LabelledImage]
    problems = []  # type: List[str]
    for entry in sorted(os.listdir(folder)):
        if not entry.lower().endswith(".txt"):
            continue
        txt_path = os.path.join(folder, entry)
        named, plates, line_problems = read_labels(txt_path)
        problems.extend(line_problems)
        if not plates:
            if not line_problems:
                problems.append("%s: no label line" % txt_path)
            continue
        image = _find_image(folder, os.path.splitext(entry)[0], named)
        if image is None:
            problems.append("%s: image %s not found" % (txt_path, named or entry[:-4] + ".*"))
            continue
        images.append(LabelledImage(image, region, plates))
    return Dataset(images, problems)


def _has_labels(folder: str) -> bool:
    return any(e.lower().endswith(".txt") for e in os.listdir(folder))


def read_dataset(folder: str, regions: Sequence[str] = ()) -> Dataset:
    """A region folder (e.g. br/) or a folder of region folders; `regions` filters the latter."""
    if not os.path.isdir(folder):
        raise FileNotFoundError("dataset folder not found: %s" % folder)
    if _has_labels(folder):
        return read_region(folder)
    images = []  # type: List[LabelledImage]
    problems = []  # type: List[str]
    for entry in sorted(os.listdir(folder)):
        sub = os.path.join(folder, entry)
        if not os.path.isdir(sub) or (regions and entry not in regions):
            continue
        part = read_region(sub, entry)
        images.extend(part.images)
        problems.extend(part.problems)
    return Dataset(images, problems)
