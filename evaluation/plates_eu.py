"""EU-style plates: 520 x 110 mm, a blue band with 12 stars and a country code, DIN-like text.

The text of each country follows its published national format (the letters a scheme leaves
out are left out here too); `random_eu_plate` returns the plate image and its label, the text
without spaces, dashes, band or side stickers (what an OCR should read). The font is Debian's
`fonts-opendin` (DIN 1451-like) when installed, else a bold sans (see plate_render.plate_font).
"""
import math
import os
import string
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from evaluation.plate_render import blend, embolden, fit_width, line_mask, plate_font, text_mask

PLATE_MM = (520.0, 110.0)  # the EU standard plate, width x height
PX_PER_MM = 2.0  # drawn at 1040 x 220 px, then resized into the scene
BAND_MM = 46.0  # the blue band on the left (and FR/IT's band on the right)
CAP_MM = (68.0, 74.0)  # glyph height range (DE: 75 mm on a 110 mm plate)
EU_BLUE = (153, 51, 0)  # BGR of RGB 0, 51, 153
EU_YELLOW = (0, 204, 255)  # BGR of RGB 255, 204, 0 (stars, NL and GB rear plates)
INK = (25, 25, 25)
BE_RED = (45, 20, 150)  # Belgian plates are printed in red
DIN_FONTS = ("OSP-DIN.ttf", "DejaVuSansCondensed-Bold.ttf")  # fonts-opendin first, then DejaVu

# letter sets of the national schemes (all leave out I, O, Q, or more)
FR_LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"  # no I, O, U
IT_LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"  # no I, O, Q, U
ES_LETTERS = "BCDFGHJKLMNPRSTVWXYZ"  # consonants, no Q or Ñ
NL_LETTERS = "BDFGHJKLNPRSTVXZ"  # no vowels, C, Q, M, W
GB_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXYZ"  # no I, Q (random part)
GB_AREA = "ABCDEFGHKLMNOPRSVWY"  # the memory tag's first letter (area)
PT_LETTERS = "ABCDEFGHJLMNPRSTUVXZ"  # no I, O, Q, K, W, Y
PLAIN_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q (DE serial letters, PL, CZ)
DE_DISTRICTS = ("B", "M", "HH", "K", "F", "S", "D", "DO", "HB", "DD", "L", "N", "KA", "MA", "BN",
                "E", "WI", "H", "MZ", "OS", "LU", "AC", "KI", "HD", "RO", "BAD", "TUT", "GL")
PL_DISTRICTS = ("WA", "WE", "WI", "KR", "KK", "PO", "PZ", "GD", "GA", "WR", "DW", "LU", "SZ", "BI",
                "EL", "CB", "TK", "ZS", "WPI", "KRA", "SBE", "PGN", "DLU", "GKA")
CZ_REGIONS = "ABCEHJKLMPSTUZ"
IE_COUNTIES = ("D", "C", "G", "KY", "L", "MH", "W", "WX", "KE", "LH", "T", "MO", "SO", "DL")
FR_DEPARTMENTS = ("75", "69", "13", "33", "59", "31", "67", "44", "06", "92", "93", "35", "974")


def _pick(rng: np.random.RandomState, alphabet: str, n: int = 1) -> str:
    return "".join(alphabet[rng.randint(len(alphabet))] for _ in range(n))


def _digits(rng: np.random.RandomState, n: int, lead_zero: bool = True) -> str:
    first = _pick(rng, string.digits if lead_zero else "123456789")
    return first + _pick(rng, string.digits, n - 1)


def _de(rng: np.random.RandomState) -> str:
    """German: district, the seals, 1-2 letters, 1-4 digits (8 characters at most)."""
    district = DE_DISTRICTS[rng.randint(len(DE_DISTRICTS))]
    letters = _pick(rng, PLAIN_LETTERS, 1 + rng.randint(2))
    n_digits = 1 + rng.randint(min(4, 8 - len(district) - len(letters)))
    return "%s*%s %s" % (district, letters, _digits(rng, n_digits, lead_zero=False))


def _nl(rng: np.random.RandomState) -> str:
    """Dutch side codes 7-12 (e.g. 12-ABC-3, AB-123-C)."""
    layouts = ("NN-LLL-N", "N-LLL-NN", "LL-NNN-L", "L-NNN-LL", "LLL-NN-L", "N-LL-NNN")
    layout = layouts[rng.randint(len(layouts))]
    return "".join(_pick(rng, NL_LETTERS) if c == "L" else _pick(rng, string.digits) if c == "N" else c
                   for c in layout)


def _pl(rng: np.random.RandomState) -> str:
    """Polish: 2-letter district + 5 characters, or 3-letter district + 4."""
    district = PL_DISTRICTS[rng.randint(len(PL_DISTRICTS))]
    if len(district) == 2:
        return district + " " + _digits(rng, 5)
    tail = _digits(rng, 4) if rng.rand() < 0.6 else _digits(rng, 2) + _pick(rng, "ACEFGHJKLMNPRSTUVWXY", 2)
    return district + " " + tail


def _gb(rng: np.random.RandomState) -> str:
    """British current format: area (2 letters), age (2 digits), space, 3 random letters."""
    age = (rng.randint(2, 25) + (50 if rng.rand() < 0.5 else 0))
    return _pick(rng, GB_AREA) + _pick(rng, GB_LETTERS) + "%02d " % age + _pick(rng, GB_LETTERS, 3)


def _ie(rng: np.random.RandomState) -> str:
    """Irish: year (+ half for 2013 on), county code, serial."""
    year = "%02d" % rng.randint(13, 25) + ("1" if rng.rand() < 0.5 else "2")
    county = IE_COUNTIES[rng.randint(len(IE_COUNTIES))]
    return "%s-%s-%s" % (year, county, _digits(rng, 1 + rng.randint(5), lead_zero=False))


#: country code -> (band letters, text generator); the text keeps its spaces and dashes
COUNTRIES = {
    "de": ("D", _de),
    "fr": ("F", lambda r: "%s-%s-%s" % (_pick(r, FR_LETTERS, 2), _digits(r, 3), _pick(r, FR_LETTERS, 2))),
    "it": ("I", lambda r: "%s %s%s" % (_pick(r, IT_LETTERS, 2), _digits(r, 3), _pick(r, IT_LETTERS, 2))),
    "es": ("E", lambda r: "%s %s" % (_digits(r, 4), _pick(r, ES_LETTERS, 3))),
    "nl": ("NL", _nl),
    "be": ("B", lambda r: "%s-%s-%s" % (_pick(r, "12"), _pick(r, PLAIN_LETTERS, 3), _digits(r, 3))),
    "pl": ("PL", _pl),
    "pt": ("P", lambda r: "%s-%s-%s" % (_pick(r, PT_LETTERS, 2), _digits(r, 2), _pick(r, PT_LETTERS, 2))),
    "gb": ("GB", _gb),
    "cz": ("CZ", lambda r: "%s%s%s %s" % (_pick(r, "123456789"), _pick(r, CZ_REGIONS),
                                          _pick(r, PLAIN_LETTERS + string.digits), _digits(r, 4))),
    "ie": ("IRL", _ie),
}  # type: Dict[str, Tuple[str, Callable[[np.random.RandomState], str]]]


def label_of(display: str) -> str:
    """What the OCR should read: the plate text without spaces, dashes and seal slots."""
    return "".join(c for c in display if c.isalnum())


def _mm(v: float) -> int:
    return int(round(v * PX_PER_MM))


def _star(plate: np.ndarray, cx: float, cy: float, r: float, color: Tuple[int, int, int]) -> None:
    import cv2

    pts = []
    for k in range(10):
        a = -math.pi / 2 + k * math.pi / 5
        rad = r if k % 2 == 0 else r * 0.4
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    cv2.fillPoly(plate, [np.round(np.array(pts) * 16).astype(np.int32)], color, cv2.LINE_AA, 4)


def _band(plate: np.ndarray, x0: int, code: str, font: Optional[str]) -> None:
    """The EU band: blue, a circle of 12 yellow stars, the country code in white below."""
    import cv2

    w, h = _mm(BAND_MM), plate.shape[0]
    cv2.rectangle(plate, (x0, 0), (x0 + w - 1, h - 1), EU_BLUE, -1)
    cx, cy, radius = x0 + w / 2.0, h * 0.3, w * 0.28
    for k in range(12):
        a = k * math.pi / 6
        _star(plate, cx + radius * math.cos(a), cy + radius * math.sin(a), w * 0.055, EU_YELLOW)
    mask, _ = fit_width(text_mask(code, int(h * 0.2), font), int(w * 0.8))
    blend(plate, mask, x0 + (w - mask.shape[1]) // 2, int(h * 0.62), (255, 255, 255))


def _side_band(plate: np.ndarray, country: str, rng: np.random.RandomState, font: Optional[str]) -> int:
    """FR/IT's blue band (department number, year) or PT's yellow one; returns its width."""
    import cv2

    if country not in ("fr", "it", "pt"):
        return 0
    w, h = _mm(BAND_MM), plate.shape[0]
    x0 = plate.shape[1] - w
    cv2.rectangle(plate, (x0, 0), (plate.shape[1] - 1, h - 1), EU_YELLOW if country == "pt" else EU_BLUE, -1)
    if country == "fr":  # a regional logo over the department number
        cv2.rectangle(plate, (x0 + w // 4, int(h * 0.12)), (x0 + 3 * w // 4, int(h * 0.45)), (255, 255, 255), -1)
        cv2.circle(plate, (x0 + w // 2, int(h * 0.28)), w // 7, (60, 60, 200), -1, cv2.LINE_AA)
        dept = FR_DEPARTMENTS[rng.randint(len(FR_DEPARTMENTS))]
        mask, _ = fit_width(text_mask(dept, int(h * 0.22), font), int(w * 0.8))
        blend(plate, mask, x0 + (w - mask.shape[1]) // 2, int(h * 0.6), (255, 255, 255))
    elif country == "it":  # the year sticker space: a small yellow ring
        cv2.circle(plate, (x0 + w // 2, int(h * 0.3)), w // 5, EU_YELLOW, max(2, w // 20), cv2.LINE_AA)
    return w


def render_eu_plate(display: str, country: str, rng: np.random.RandomState,
                    font: Optional[str] = None, rear: bool = False) -> np.ndarray:
    """A BGR EU plate at PX_PER_MM showing `display` (spaces, dashes, '*' for DE seals)."""
    import cv2

    font = font or plate_font(DIN_FONTS)
    width, height = _mm(PLATE_MM[0]), _mm(PLATE_MM[1])
    yellow = country == "nl" or (country == "gb" and rear)
    shade = rng.uniform(0.9, 1.0)
    paper = tuple(int(c * shade) for c in ((30, 200, 245) if yellow else (250, 250, 250)))
    plate = np.full((height, width, 3), paper, np.uint8)
    code = COUNTRIES[country][0]
    _band(plate, 0, code, plate_font(("DejaVuSans-Bold.ttf",)))
    right = _side_band(plate, country, rng, plate_font(("DejaVuSans-Bold.ttf",)))
    cap = _mm(rng.uniform(*CAP_MM))
    mask, slots = line_mask(display, cap, font, gap=0.1, space=0.4, slot=0.7)
    if font and os.path.basename(font) == DIN_FONTS[0]:
        mask = embolden(mask, max(1, cap // 40))  # OSP-DIN is a regular weight; plates are medium
    area_x0, area_x1 = _mm(BAND_MM) + _mm(6), width - right - _mm(6)
    mask, scale = fit_width(mask, area_x1 - area_x0)
    x = area_x0 + (area_x1 - area_x0 - mask.shape[1]) // 2
    y = (height - cap) // 2
    ink = BE_RED if country == "be" else INK
    blend(plate, mask, x, y, ink)
    for sx0, sx1 in slots:  # DE: inspection sticker over the state seal
        cx, r = x + int((sx0 + sx1) * scale / 2), int((sx1 - sx0) * scale * 0.36)
        sticker = ((180, 120, 240), (80, 190, 80), (40, 160, 250), (200, 150, 60))[rng.randint(4)]
        cv2.circle(plate, (cx, y + int(cap * 0.25)), r, sticker, -1, cv2.LINE_AA)
        cv2.circle(plate, (cx, y + int(cap * 0.72)), r, (200, 200, 200), -1, cv2.LINE_AA)
        cv2.circle(plate, (cx, y + int(cap * 0.72)), r // 2, (40, 40, 160), -1, cv2.LINE_AA)
    cv2.rectangle(plate, (2, 2), (width - 3, height - 3), (30, 30, 30), _mm(1.5), cv2.LINE_AA)
    return plate


def random_eu_plate(rng: np.random.RandomState,
                    font: Optional[str] = None) -> Tuple[np.ndarray, str, str]:
    """(BGR plate image, label, country code) of a random EU country's plate."""
    names = sorted(COUNTRIES)
    country = names[rng.randint(len(names))]
    display = COUNTRIES[country][1](rng)
    rear = bool(rng.rand() < 0.5)
    return render_eu_plate(display, country, rng, font, rear), label_of(display), country

