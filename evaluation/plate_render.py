"""Rendering of Mercosul-style plate images (white plate, blue band, dark glyphs), and the
glyph helpers (fonts, ink masks, line layout) the other regions' plates share.

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
from typing import Any, Dict, List, Optional, Sequence, Tuple

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
_system_cache = {}  # type: Dict[Tuple[Tuple[str, ...], bool], Optional[str]]
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


def plate_font(names: Sequence[str]) -> Optional[str]:
    """The first of `names` installed (a plate-like font), else find_font()'s bold sans."""
    for name in names:
        path = _system_font((name,), any_bold=False)
        if path is not None:
            return path
    return find_font()


def _system_font(names: Tuple[str, ...], any_bold: bool = True) -> Optional[str]:
    """A system font named one of `names`; else, with `any_bold`, some bold sans."""
    if (names, any_bold) in _system_cache:
        return _system_cache[(names, any_bold)]
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
    found = next((by_name[name] for name in names if name in by_name), None)
    if found is None and any_bold:
        bold = sorted(c for c in by_name.values() if "bold" in c.lower() and "sans" in c.lower())
        found = bold[0] if bold else None
    _system_cache[(names, any_bold)] = found
    return found


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


def line_mask(text: str, cap_px: int, font_path: Optional[str], gap: float = 0.12,
              space: float = 0.45, slot: float = 0.75) -> Tuple[np.ndarray, List[Tuple[int, int]]]:
    """Ink mask of one plate line, each glyph `cap_px` tall, and the x spans of its `*` slots.

    Glyphs are drawn one by one (so a dash or a short glyph is not stretched to full height);
    ' ' is a gap of `space` x cap, '-' a short bar, '*' an empty slot of `slot` x cap where the
    caller paints a seal or an emblem (DE stickers, US state emblems).
    """
    import cv2

    pieces = []  # type: List[np.ndarray]
    slots = []  # type: List[Tuple[int, int]]
    x = 0
    step = max(1, int(round(gap * cap_px)))
    for i, char in enumerate(text):
        if char == " ":
            piece = np.zeros((cap_px, int(round(space * cap_px))), np.uint8)
        elif char == "*":
            piece = np.zeros((cap_px, int(round(slot * cap_px))), np.uint8)
            slots.append((x, x + piece.shape[1]))
        elif char == "-":
            piece = np.zeros((cap_px, int(round(0.32 * cap_px))), np.uint8)
            bar = max(2, int(round(0.11 * cap_px)))
            cv2.rectangle(piece, (0, cap_px // 2 - bar // 2), (piece.shape[1] - 1, cap_px // 2 + bar // 2),
                          255, -1)
        else:
            piece = text_mask(char, cap_px, font_path)
        if i:
            pieces.append(np.zeros((cap_px, step), np.uint8))
            x += step
        pieces.append(piece)
        x += piece.shape[1]
    return np.hstack(pieces), slots


def fit_width(mask: np.ndarray, max_w: int) -> Tuple[np.ndarray, float]:
    """`mask` squeezed horizontally to at most `max_w` px; (mask, the x scale applied)."""
    import cv2

    if mask.shape[1] <= max_w:
        return mask, 1.0
    scale = max_w / float(mask.shape[1])
    return cv2.resize(mask, (max_w, mask.shape[0]), interpolation=cv2.INTER_AREA), scale


def embolden(mask: np.ndarray, px: int) -> np.ndarray:
    """Thicken strokes by `px` pixels (a regular-weight font drawn at plate stroke weight)."""
    import cv2

    if px < 1:
        return mask
    return cv2.dilate(mask, np.ones((px, px), np.uint8))


def blend(plate: np.ndarray, mask: np.ndarray, x: int, y: int, color: Any) -> None:
    """Paint `color` through `mask` onto plate at (x, y), clipped to the plate."""
    h, w = mask.shape
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(plate.shape[1], x + w), min(plate.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    alpha = (mask[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32) / 255.0)[..., None]
    region = plate[y0:y1, x0:x1].astype(np.float32)
    plate[y0:y1, x0:x1] = (region * (1 - alpha) + np.asarray(color, np.float32) * alpha).astype(np.uint8)


def mercosul_glyph(char: str, glyph_h: int, slot_w: int, font_path: Optional[str]) -> np.ndarray:
    """Ink mask of one Mercosul glyph: fixed-width font, the narrow zero, fitted to its slot."""
    import cv2

    if char == "0":  # DejaVu Mono's zero is dotted; use the sans zero, narrowed
        mask = text_mask(char, glyph_h, font_path)
        narrow = max(1, int(round(mask.shape[1] * ZERO_CONDENSE)))
        mask = cv2.resize(mask, (narrow, glyph_h), interpolation=cv2.INTER_AREA)
    else:
        mask = text_mask(char, glyph_h, find_font(GLYPH_FONT) or font_path)
    if mask.shape[1] > slot_w * 0.9:  # wide letters (M, W) squeezed into their slot
        mask = cv2.resize(mask, (int(slot_w * 0.9), glyph_h), interpolation=cv2.INTER_AREA)
    return mask


def mercosul_band(plate: np.ndarray, band_mm: float, font_path: Optional[str]) -> None:
    """The blue Mercosul band across the top: BRASIL, the emblem (left) and the flag (right)."""
    import cv2

    width = plate.shape[1]
    cv2.rectangle(plate, (0, 0), (width - 1, _mm(band_mm)), BLUE_BGR, -1)
    band_text = text_mask("BRASIL", _mm(band_mm * 0.5), font_path)
    blend(plate, band_text, (width - band_text.shape[1]) // 2, _mm(band_mm * 0.25), (255, 255, 255))
    k = band_mm / BAND_MM  # marks scale with the band
    cv2.circle(plate, (_mm(18 * k), _mm(band_mm / 2)), _mm(8 * k), (255, 255, 255), 2, cv2.LINE_AA)
    cv2.rectangle(plate, (width - _mm(30 * k), _mm(6 * k)), (width - _mm(10 * k), _mm(22 * k)), (60, 150, 0), -1)
    cv2.circle(plate, (width - _mm(20 * k), _mm(14 * k)), _mm(4 * k), (140, 60, 0), -1, cv2.LINE_AA)


def render_plate(text: str, rng: np.random.RandomState, font_path: Optional[str] = None) -> np.ndarray:
    """A BGR Mercosul plate image at PX_PER_MM (800 x 260 px) showing `text`."""
    import cv2

    width, height = _mm(PLATE_MM[0]), _mm(PLATE_MM[1])
    white = int(rng.randint(225, 256))
    plate = np.full((height, width, 3), white, np.uint8)
    mercosul_band(plate, BAND_MM, font_path)
    small = text_mask("BR", _mm(9), font_path)
    blend(plate, small, _mm(6), _mm(BAND_MM + 4), INK_BGR)
    slot_w, glyph_h = _mm(GLYPH_MM[0]), _mm(GLYPH_MM[1])
    for i, char in enumerate(text):
        mask = mercosul_glyph(char, glyph_h, slot_w, font_path)
        x = _mm(GLYPH_LEFT_MM) + i * slot_w + (slot_w - mask.shape[1]) // 2
        blend(plate, mask, x, _mm(GLYPH_TOP_MM), INK_BGR)
    cv2.rectangle(plate, (1, 1), (width - 2, height - 2), (40, 40, 40), _mm(2))
    return plate
