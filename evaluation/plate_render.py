"""Rendering of Mercosul-style plate images (white plate, blue band, dark glyphs).

Proportions follow the real 400 x 130 mm plate: a blue band across the top with
"BRASIL", seven glyphs (pattern LLLNLNN) filling most of the rest. Glyphs use a
DejaVu-class bold font found at run time (matplotlib's bundled copy, else the system's);
PIL draws them when it is installed, else cv2's Hershey font is the last resort.
"""
import glob
import importlib.util
import os
import string
import subprocess
from typing import Any, Dict, Optional, Tuple

import numpy as np

PLATE_MM = (400.0, 130.0)  # Mercosul plate width, height
PX_PER_MM = 2.0  # plates are drawn at 800 x 260 px, then resized into the scene
BAND_MM = 28.0  # blue band height
GLYPH_MM = (48.0, 60.0)  # slot width, glyph height (taller glyphs read worse)
GLYPH_TOP_MM = 48.0  # glyph top edge, centred in the white area below the band
GLYPH_LEFT_MM = 32.0  # first slot's left edge (7 slots end at 368 mm)
BLUE_BGR = (153, 51, 0)  # Mercosul band blue (RGB 0, 51, 153)
INK_BGR = (25, 25, 25)  # near-black glyphs
ZERO_CONDENSE = 0.65  # the plate font's zero is a narrow oval, unlike the letter O
GLYPH_FONT = "DejaVuSansMono-Bold.ttf"  # fixed-width glyphs: M/W keep their shape in a slot
PLATE_PATTERN = "LLLNCNN"  # Mercosul car: 3 letters, digit, letter, 2 digits
# Letters without I, O, Q: like many national schemes, the synthetic set leaves out the letters
# a plate font cannot tell from 1/0 (the OCR's doubt there is not what these scenes test).
PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
# Brazil's converted plates: the old second digit d becomes letter A+d in slot five (I left out).
CONVERTED_LETTERS = "ABCDEFGHJ"

_FONT_NAMES = ("DejaVuSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf", "LiberationSans-Bold.ttf",
               "FreeSansBold.ttf", "Arial Bold.ttf", "Arial_Bold.ttf")
_font_cache = {}  # type: Dict[str, Optional[str]]
_glyph_cache = {}  # type: Dict[Tuple[str, str, int], np.ndarray]


def find_font(name: str = "DejaVuSans-Bold.ttf") -> Optional[str]:
    """Path of a bold TTF: matplotlib's bundled copy of `name`, else a system bold sans."""
    if name in _font_cache:
        return _font_cache[name]
    found = None  # type: Optional[str]
    spec = importlib.util.find_spec("matplotlib")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            path = os.path.join(root, "mpl-data", "fonts", "ttf", name)
            if os.path.isfile(path):
                found = path
                break
    if found is None:
        found = _system_font((name,) + _FONT_NAMES)
    _font_cache[name] = found
    return found


def _system_font(names: Tuple[str, ...]) -> Optional[str]:
    candidates = []
    try:
        proc = subprocess.Popen(["fc-list", ":style=Bold", "file"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, universal_newlines=True)
        out, _ = proc.communicate(timeout=10)
        candidates = [line.split(":")[0].strip() for line in out.splitlines()]
    except (OSError, subprocess.SubprocessError):
        pass
    for root in ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts")):
        candidates.extend(glob.glob(os.path.join(root, "**", "*.ttf"), recursive=True))
    by_name = {os.path.basename(c): c for c in candidates if os.path.isfile(c)}
    for name in names:
        if name in by_name:
            return by_name[name]
    bold = sorted(c for c in by_name.values() if "bold" in c.lower() and "sans" in c.lower())
    return bold[0] if bold else None


def random_plate_text(rng: np.random.RandomState) -> str:
    """A Mercosul car plate text, pattern LLLNLNN (e.g. BRA2E19); see PLATE_LETTERS."""
    out = []
    for kind in PLATE_PATTERN:
        alphabet = {"L": PLATE_LETTERS, "C": CONVERTED_LETTERS, "N": string.digits}[kind]
        out.append(alphabet[rng.randint(len(alphabet))])
    return "".join(out)


def _mm(v: float) -> int:
    return int(round(v * PX_PER_MM))


def _pil_text(text: str, height_px: int, font_path: str, fill: int = 255) -> np.ndarray:
    """Grey-level ink mask of `text`, cropped to the ink, scaled to `height_px` tall."""
    import cv2
    from PIL import Image, ImageDraw, ImageFont

    size = height_px * 2
    font = ImageFont.truetype(font_path, size)
    canvas = Image.new("L", (size * (len(text) + 1), size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 4, size // 4), text, font=font, fill=fill)
    mask = np.asarray(canvas)
    ys, xs = np.nonzero(mask)
    mask = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    width = max(1, int(round(mask.shape[1] * height_px / float(mask.shape[0]))))
    return cv2.resize(mask, (width, height_px), interpolation=cv2.INTER_AREA)


def _hershey_text(text: str, height_px: int) -> np.ndarray:
    """Ink mask drawn with cv2's Hershey font (no PIL or TTF available)."""
    import cv2

    font, scale, thick = cv2.FONT_HERSHEY_DUPLEX, 4.0, 14
    (w, h), base = cv2.getTextSize(text, font, scale, thick)
    canvas = np.zeros((h + base + 2 * thick, w + 2 * thick), np.uint8)
    cv2.putText(canvas, text, (thick, h + thick), font, scale, 255, thick, cv2.LINE_AA)
    ys, xs = np.nonzero(canvas)
    mask = canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    width = max(1, int(round(mask.shape[1] * height_px / float(mask.shape[0]))))
    return cv2.resize(mask, (width, height_px), interpolation=cv2.INTER_AREA)


def text_mask(text: str, height_px: int, font_path: Optional[str] = None) -> np.ndarray:
    """Ink mask (uint8, 255 = ink) of `text`, exactly `height_px` tall."""
    key = (text, font_path or "", height_px)
    if key not in _glyph_cache:
        try:
            mask = _pil_text(text, height_px, font_path) if font_path else None
        except ImportError:
            mask = None
        _glyph_cache[key] = mask if mask is not None else _hershey_text(text, height_px)
    return _glyph_cache[key]


def _blend(plate: np.ndarray, mask: np.ndarray, x: int, y: int, color: Any) -> None:
    """Paint `color` through `mask` onto plate at (x, y), clipped to the plate."""
    h, w = mask.shape
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(plate.shape[1], x + w), min(plate.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    alpha = (mask[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32) / 255.0)[..., None]
    region = plate[y0:y1, x0:x1].astype(np.float32)
    plate[y0:y1, x0:x1] = (region * (1 - alpha) + np.asarray(color, np.float32) * alpha).astype(np.uint8)


def render_plate(text: str, rng: np.random.RandomState, font_path: Optional[str] = None) -> np.ndarray:
    """A BGR Mercosul plate image at PX_PER_MM (800 x 260 px) showing `text`."""
    import cv2

    width, height = _mm(PLATE_MM[0]), _mm(PLATE_MM[1])
    white = int(rng.randint(225, 256))
    plate = np.full((height, width, 3), white, np.uint8)
    cv2.rectangle(plate, (0, 0), (width - 1, _mm(BAND_MM)), BLUE_BGR, -1)
    band_text = text_mask("BRASIL", _mm(BAND_MM * 0.5), font_path)
    _blend(plate, band_text, (width - band_text.shape[1]) // 2, _mm(BAND_MM * 0.25), (255, 255, 255))
    # Mercosul emblem (left) and flag (right) as small marks in the band
    cv2.circle(plate, (_mm(18), _mm(BAND_MM / 2)), _mm(8), (255, 255, 255), 2, cv2.LINE_AA)
    cv2.rectangle(plate, (width - _mm(30), _mm(6)), (width - _mm(10), _mm(22)), (60, 150, 0), -1)
    cv2.circle(plate, (width - _mm(20), _mm(14)), _mm(4), (140, 60, 0), -1, cv2.LINE_AA)
    small = text_mask("BR", _mm(9), font_path)
    _blend(plate, small, _mm(6), _mm(BAND_MM + 4), INK_BGR)
    slot_w, glyph_h = _mm(GLYPH_MM[0]), _mm(GLYPH_MM[1])
    glyph_font = find_font(GLYPH_FONT) or font_path
    for i, char in enumerate(text):
        if char == "0":  # DejaVu Mono's zero is dotted; use the sans zero, narrowed
            mask = text_mask(char, glyph_h, font_path)
            narrow = max(1, int(round(mask.shape[1] * ZERO_CONDENSE)))
            mask = cv2.resize(mask, (narrow, glyph_h), interpolation=cv2.INTER_AREA)
        else:
            mask = text_mask(char, glyph_h, glyph_font)
        if mask.shape[1] > slot_w * 0.9:  # wide letters (M, W) squeezed into their slot
            mask = cv2.resize(mask, (int(slot_w * 0.9), glyph_h), interpolation=cv2.INTER_AREA)
        x = _mm(GLYPH_LEFT_MM) + i * slot_w + (slot_w - mask.shape[1]) // 2
        _blend(plate, mask, x, _mm(GLYPH_TOP_MM), INK_BGR)
    cv2.rectangle(plate, (1, 1), (width - 2, height - 2), (40, 40, 40), _mm(2))
    return plate
