"""Brazilian plates besides the Mercosul car plate: the old grey plate and the Mercosul motorcycle.

Old grey plate (1990-2018): 400 x 130 mm, grey, dark LLL-NNNN under a "UF - CITY" strip, in a
condensed DIN-like font. Mercosul motorcycle plate: 200 x 170 mm, the blue band, then LLL over
NLNN. `random_br_plate` picks one of the three kinds; its label is the seven characters.
"""
import string
from typing import Optional, Tuple

import numpy as np

from evaluation import plate_render
from evaluation.plate_render import (INK_BGR, PLATE_LETTERS, blend, embolden, fit_width,
                                     line_mask, mercosul_band, mercosul_glyph, plate_font,
                                     random_plate_text, render_plate, text_mask)

PX_PER_MM = plate_render.PX_PER_MM
OLD_MM = (400.0, 130.0)  # the old grey car plate
MOTO_MM = (200.0, 170.0)  # the Mercosul motorcycle plate
MOTO_BAND_MM = 24.0
MOTO_GLYPH_MM = (46.0, 56.0)  # slot width, glyph height of each of the two lines
MOTO_LINE_TOP_MM = (34.0, 104.0)
OLD_CAP_MM = 62.0
OLD_FONTS = ("OSP-DIN.ttf", "DejaVuSansCondensed-Bold.ttf")  # the real one is "Mandatory"
OLD_GREY = (168, 170, 172)
#: share of Brazilian scenes per kind: the Mercosul car plate, the old grey one, the motorcycle
KIND_SHARES = (("mercosul", 0.6), ("old", 0.25), ("moto", 0.15))
CITIES = ("SP - SAO PAULO", "RJ - RIO DE JANEIRO", "MG - BELO HORIZONTE", "PR - CURITIBA",
          "RS - PORTO ALEGRE", "BA - SALVADOR", "SC - JOINVILLE", "GO - GOIANIA", "SP - CAMPINAS")
PLATE_MM = {"mercosul": plate_render.PLATE_MM, "old": OLD_MM, "moto": MOTO_MM}


def _mm(v: float) -> int:
    return int(round(v * PX_PER_MM))


def old_plate_text(rng: np.random.RandomState) -> str:
    """An old-format text LLLNNNN (shown LLL-NNNN); letters as the Mercosul set (no I, O, Q)."""
    letters = "".join(PLATE_LETTERS[rng.randint(len(PLATE_LETTERS))] for _ in range(3))
    return letters + "".join(string.digits[rng.randint(10)] for _ in range(4))


def render_old_plate(text: str, rng: np.random.RandomState, font: Optional[str] = None) -> np.ndarray:
    """A BGR old grey plate: the city strip on top, `text` as LLL-NNNN below."""
    import cv2

    font = font or plate_font(OLD_FONTS)
    width, height = _mm(OLD_MM[0]), _mm(OLD_MM[1])
    grey = np.array(OLD_GREY, np.float32) * rng.uniform(0.85, 1.08)
    plate = np.full((height, width, 3), np.clip(grey, 0, 255).astype(np.uint8), np.uint8)
    city = CITIES[rng.randint(len(CITIES))]
    strip, _ = fit_width(text_mask(city, _mm(13), font), _mm(260))
    blend(plate, strip, (width - strip.shape[1]) // 2, _mm(10), INK_BGR)
    for hx in (40, 360):  # bolt holes beside the strip
        cv2.circle(plate, (_mm(hx), _mm(16)), _mm(4), (60, 60, 60), -1, cv2.LINE_AA)
    cap = _mm(OLD_CAP_MM)
    mask, _ = line_mask(text[:3] + "-" + text[3:], cap, font, gap=0.12)
    if font and font.endswith(OLD_FONTS[0]):
        mask = embolden(mask, max(1, cap // 40))
    # the plate's glyphs spread over most of its width (the condensed font alone would not)
    mask = cv2.resize(mask, (_mm(rng.uniform(320, 345)), cap), interpolation=cv2.INTER_AREA)
    blend(plate, mask, (width - mask.shape[1]) // 2, _mm(46), INK_BGR)
    cv2.rectangle(plate, (1, 1), (width - 2, height - 2), (30, 30, 30), _mm(2.5))
    return plate


def render_moto_plate(text: str, rng: np.random.RandomState, font_path: Optional[str] = None) -> np.ndarray:
    """A BGR Mercosul motorcycle plate: band, then text[:3] over text[3:] (LLL over NLNN)."""
    import cv2

    width, height = _mm(MOTO_MM[0]), _mm(MOTO_MM[1])
    white = int(rng.randint(225, 256))
    plate = np.full((height, width, 3), white, np.uint8)
    mercosul_band(plate, MOTO_BAND_MM, font_path)
    slot_w, glyph_h = _mm(MOTO_GLYPH_MM[0]), _mm(MOTO_GLYPH_MM[1])
    for line, top in zip((text[:3], text[3:]), MOTO_LINE_TOP_MM):
        left = (width - slot_w * len(line)) // 2
        for i, char in enumerate(line):
            mask = mercosul_glyph(char, glyph_h, slot_w, font_path)
            blend(plate, mask, left + i * slot_w + (slot_w - mask.shape[1]) // 2, _mm(top), INK_BGR)
    cv2.rectangle(plate, (1, 1), (width - 2, height - 2), (40, 40, 40), _mm(2))
    return plate


def br_kind(rng: np.random.RandomState) -> str:
    """Which Brazilian plate a scene shows, drawn with KIND_SHARES."""
    u, acc = rng.rand(), 0.0
    for kind, share in KIND_SHARES:
        acc += share
        if u < acc:
            return kind
    return KIND_SHARES[-1][0]


def random_br_plate(rng: np.random.RandomState, font_path: Optional[str] = None,
                    kind: Optional[str] = None) -> Tuple[np.ndarray, str, str]:
    """(BGR plate image, label, kind) of a random Brazilian plate."""
    kind = kind or br_kind(rng)
    if kind == "old":
        text = old_plate_text(rng)
        return render_old_plate(text, rng), text, kind
    text = random_plate_text(rng)
    if kind == "moto":
        return render_moto_plate(text, rng, font_path), text, kind
    return render_plate(text, rng, font_path), text, kind
