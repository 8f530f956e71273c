"""US-style plates: 12 x 6 in, the state's name at the top, a slogan below, Highway-Gothic text.

Each state's main text follows its published sequential format (CA 1ABC234, TX ABC-1234,
FL ABC D12 with the orange blossom between...). The label is the main text's letters and digits
only (no state name, slogan, sticker or emblem). The font is Debian's `fonts-roadgeek` (FHWA
Series C) when installed, else a bold sans (see plate_render.plate_font).
"""
import os
import string
from typing import Dict, Optional, Tuple

import numpy as np

from evaluation.plate_render import blend, embolden, fit_width, line_mask, plate_font, text_mask

PLATE_MM = (305.0, 152.0)  # 12 x 6 inches
PX_PER_MM = 2.0  # drawn at 610 x 304 px, then resized into the scene
CAP_MM = (58.0, 66.0)  # main glyph height (2.75 in on most plates)
TEXT_TOP_MM = 44.0  # main text top edge; the state name sits above it
GOTHIC_FONTS = ("RG2014C.ttf", "RG2014D.ttf", "DejaVuSansCondensed-Bold.ttf")  # fonts-roadgeek
HEADER_FONTS = ("RG2014E.ttf", "DejaVuSans-Bold.ttf")
SLOGAN_FONTS = ("DejaVuSans-Bold.ttf",)
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # sequential series leave out I, O, Q
NAVY, RED, BLACK, GREEN = (110, 40, 20), (40, 30, 190), (25, 25, 25), (40, 110, 10)

#: state -> (name, slogan, layout (L letter, N digit, '-', ' ', '*' emblem), name colour,
#: text colour, pale tint of the background graphic)
STATES = {
    "ca": ("CALIFORNIA", "DMV.CA.GOV", "NLLLNNN", RED, NAVY, (250, 250, 250)),
    "tx": ("TEXAS", "THE LONE STAR STATE", "LLL*NNNN", BLACK, BLACK, (235, 240, 245)),
    "ny": ("NEW YORK", "EMPIRE STATE", "LLL-NNNN", NAVY, NAVY, (245, 235, 225)),
    "fl": ("FLORIDA", "SUNSHINE STATE", "LLL*LNN", GREEN, GREEN, (225, 245, 245)),
    "oh": ("OHIO", "BIRTHPLACE OF AVIATION", "LLL NNNN", RED, NAVY, (240, 235, 230)),
    "wa": ("WASHINGTON", "EVERGREEN STATE", "LLLNNNN", RED, NAVY, (245, 230, 220)),
    "il": ("ILLINOIS", "LAND OF LINCOLN", "LL NNNNN", RED, NAVY, (240, 240, 240)),
    "pa": ("PENNSYLVANIA", "VISITPA.COM", "LLL-NNNN", NAVY, NAVY, (215, 240, 250)),
    "nj": ("NEW JERSEY", "GARDEN STATE", "LNN*LLL", BLACK, BLACK, (200, 235, 245)),
    "az": ("ARIZONA", "GRAND CANYON STATE", "LLLNNNN", NAVY, BLACK, (210, 225, 245)),
}  # type: Dict[str, Tuple[str, str, str, Tuple[int, int, int], Tuple[int, int, int], Tuple[int, int, int]]]
EMBLEM_COLORS = {"tx": (40, 40, 170), "fl": (20, 130, 250), "nj": (60, 140, 40)}


def _mm(v: float) -> int:
    return int(round(v * PX_PER_MM))


def state_text(state: str, rng: np.random.RandomState) -> str:
    """A random main text of `state` in its layout (separators kept, '*' for an emblem)."""
    layout = STATES[state][2]
    out = []
    for c in layout:
        if c == "L":
            out.append(LETTERS[rng.randint(len(LETTERS))])
        elif c == "N":
            out.append(string.digits[rng.randint(10)])
        else:
            out.append(c)
    if state == "ca":
        out[0] = "123456789"[rng.randint(9)]  # California's series started at 1
    return "".join(out)


def label_of(display: str) -> str:
    """What the OCR should read: the main text's letters and digits."""
    return "".join(c for c in display if c.isalnum())


def _background(state: str, rng: np.random.RandomState, width: int, height: int) -> np.ndarray:
    """White or pale plate with a soft tinted graphic across the lower part."""
    tint = np.array(STATES[state][5], np.float32)
    white = np.array([rng.uniform(238, 255)] * 3, np.float32)
    ramp = np.clip((np.linspace(0, 1, height) - rng.uniform(0.4, 0.7)) * 2.5, 0, 1)[:, None, None]
    strength = rng.uniform(0.3, 1.0)
    img = white * (1 - ramp * strength) + tint * ramp * strength
    return np.broadcast_to(img, (height, width, 3)).astype(np.uint8).copy()


def render_us_plate(display: str, state: str, rng: np.random.RandomState,
                    font: Optional[str] = None) -> np.ndarray:
    """A BGR US plate at PX_PER_MM showing `display` under `state`'s name."""
    import cv2

    name, slogan, _, name_color, ink, _ = STATES[state]
    font = font or plate_font(GOTHIC_FONTS)
    width, height = _mm(PLATE_MM[0]), _mm(PLATE_MM[1])
    plate = _background(state, rng, width, height)
    header = text_mask(name, _mm(rng.uniform(14, 19)), plate_font(HEADER_FONTS))
    header, _ = fit_width(header, _mm(150))  # clear of the bolt holes
    blend(plate, header, (width - header.shape[1]) // 2, _mm(rng.uniform(9, 13)), name_color)
    for hx in (64, 241):  # the standard bolt holes
        cv2.ellipse(plate, (_mm(hx), _mm(15)), (_mm(4.5), _mm(3)), 0, 0, 360, (90, 90, 90), -1, cv2.LINE_AA)
    if rng.rand() < 0.7:  # month / year registration stickers in the top corners
        color = tuple(int(v) for v in rng.randint(40, 230, size=3))
        cv2.rectangle(plate, (width - _mm(48), _mm(6)), (width - _mm(10), _mm(30)), color, -1)
        if rng.rand() < 0.5:
            cv2.rectangle(plate, (_mm(10), _mm(6)), (_mm(42), _mm(30)), (40, 40, 40), -1)
    cap = _mm(rng.uniform(*CAP_MM))
    mask, slots = line_mask(display, cap, font, gap=0.1, space=0.35, slot=0.5)
    if font and os.path.basename(font).startswith("RG2014"):
        mask = embolden(mask, max(1, cap // 45))  # embossed plate strokes are a little heavier
    mask, scale = fit_width(mask, width - _mm(36))
    x, y = (width - mask.shape[1]) // 2, _mm(TEXT_TOP_MM) + _mm(rng.uniform(-2, 4))
    blend(plate, mask, x, y, ink)
    for sx0, sx1 in slots:  # the state emblem between the groups
        cx, r = x + int((sx0 + sx1) * scale / 2), int((sx1 - sx0) * scale * 0.4)
        cv2.circle(plate, (cx, y + cap // 2), r, EMBLEM_COLORS.get(state, ink), -1, cv2.LINE_AA)
    if slogan and rng.rand() < 0.75:
        small = text_mask(slogan, _mm(rng.uniform(8, 11)), plate_font(SLOGAN_FONTS))
        small, _ = fit_width(small, _mm(200))
        blend(plate, small, (width - small.shape[1]) // 2, height - _mm(21), name_color)
    cv2.rectangle(plate, (1, 1), (width - 2, height - 2), (70, 70, 70), _mm(1.2), cv2.LINE_AA)
    return plate


def random_us_plate(rng: np.random.RandomState,
                    font: Optional[str] = None) -> Tuple[np.ndarray, str, str]:
    """(BGR plate image, label, state code) of a random state's plate."""
    names = sorted(STATES)
    state = names[rng.randint(len(names))]
    display = state_text(state, rng)
    return render_us_plate(display, state, rng, font), label_of(display), state
