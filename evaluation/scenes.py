"""Labelled synthetic scenes: a Brazilian, EU or US plate on a simple car in front of a road.

Used by `alpr scenes`, the producer's `scenes` source, the demo and the tests, so that
everything runs on machines without the shared photos. Deterministic per seed: scene i
of seed s is the same whatever the count. Region `mix` cycles br, eu, us by scene index.
"""
import os
import random
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from alpr import defaults
from evaluation import plates_br, plates_eu, plates_us
from evaluation.plate_render import find_font

Box = Tuple[int, int, int, int]  # x1, y1, x2, y2 in scene pixels

REGIONS = ("br", "eu", "us")  # what `mix` cycles through, in this order
PLATE_WIDTH_PX = (180, 260)  # Brazilian car plates' width in the scene
#: plate widths in the scene per plate kind (all within the issue's 150-260 px)
KIND_WIDTH_PX = {"mercosul": PLATE_WIDTH_PX, "old": PLATE_WIDTH_PX, "moto": (150, 180),
                 "eu": (170, 260), "us": (150, 240)}  # type: Dict[str, Tuple[int, int]]
# car front width / plate width in the scene, whatever the plate (a 1.8 m car behind a 0.4 m
# Mercosul plate); scaling the car to an EU or US plate's real size made the frame all car,
# and the detector missed plates it finds on a car of this proportion
CAR_PER_PLATE = 4.5
CAR_PER_PLATE_HEIGHT = 7.5  # and at least this many plate heights: a tall plate fits its bumper
JITTER = 0.025  # perspective: corner offsets up to this fraction of the plate width
TILT = 0.03  # roll: right edge up or down by up to this fraction of the width (~1.7 deg)
# common car paints (BGR): white, silver, grey, black, red, dark blue, beige, green
CAR_COLORS = ((235, 235, 235), (190, 190, 185), (120, 120, 118), (35, 35, 35), (30, 30, 170),
              (110, 50, 20), (160, 190, 205), (40, 90, 40))


def as_random_state(rng: Any) -> np.random.RandomState:
    """Accept a numpy RandomState / Generator, a random.Random or an int seed."""
    if isinstance(rng, np.random.RandomState):
        return rng
    if isinstance(rng, (int, np.integer)):
        return np.random.RandomState(int(rng) % (2 ** 32))
    if isinstance(rng, random.Random):
        return np.random.RandomState(rng.getrandbits(32))
    if hasattr(rng, "integers"):  # numpy Generator
        return np.random.RandomState(int(rng.integers(0, 2 ** 32)))
    raise TypeError("rng must be a RandomState, Generator, random.Random or int, not %r" % type(rng))


def _color(rng: np.random.RandomState, low: int = 0, high: int = 256) -> Tuple[int, int, int]:
    return tuple(int(v) for v in rng.randint(low, high, size=3))  # type: ignore


def _background(rng: np.random.RandomState, width: int, height: int) -> np.ndarray:
    """Sky, a row of buildings and a grey road with lane marks."""
    import cv2

    img = np.zeros((height, width, 3), np.uint8)
    horizon = int(height * rng.uniform(0.3, 0.45))
    sky_top, sky_bottom = np.array(_color(rng, 150, 256)), np.array(_color(rng, 120, 230))
    ramp = np.linspace(0, 1, horizon)[:, None, None]
    img[:horizon] = (sky_top * (1 - ramp) + sky_bottom * ramp).astype(np.uint8)
    x = 0
    while x < width:
        w = int(rng.randint(60, 220))
        top = int(rng.randint(int(horizon * 0.2), max(int(horizon * 0.2) + 1, horizon - 20)))
        cv2.rectangle(img, (x, top), (x + w, horizon), _color(rng, 60, 200), -1)
        x += w
    road = int(rng.randint(70, 130))
    img[horizon:] = road
    for y in range(horizon + 30, height, 90):
        cv2.line(img, (0, y), (width, y + int(rng.randint(-20, 20))), (road + 20,) * 3, 2)
    cv2.line(img, (width // 2, horizon), (int(width * rng.uniform(0.2, 0.8)), height),
             (220, 220, 220), 6)
    return img


def _car(rng: np.random.RandomState, img: np.ndarray, plate_w: int, plate_h: int) -> Box:
    """Draw a car front around where the plate goes; returns the plate's target box."""
    import cv2

    height, width = img.shape[:2]
    before = img.copy()  # to tell the car's pixels from the background's
    car_w = int(max(plate_w * CAR_PER_PLATE, plate_h * CAR_PER_PLATE_HEIGHT) * rng.uniform(0.95, 1.1))
    car_w = min(car_w, width - 20)
    cx = int(rng.randint(car_w // 2 + 10, width - car_w // 2 - 10 + 1))
    ground = int(height * rng.uniform(0.86, 0.98))
    scale = car_w / 1800.0  # px per mm of car
    body = CAR_COLORS[rng.randint(len(CAR_COLORS))]
    dark = (30, 30, 30)
    left, right = cx - car_w // 2, cx + car_w // 2
    # wheels, lower body, hood, windshield, roof
    wheel_r = int(330 * scale)
    for wx in (left + int(car_w * 0.14), right - int(car_w * 0.14)):
        cv2.ellipse(img, (wx, ground - wheel_r // 2), (wheel_r // 2, wheel_r // 2 + 4), 0, 0, 360, dark, -1)
    bumper_top = ground - int(700 * scale)
    hood_top = ground - int(950 * scale)
    roof = ground - int(1450 * scale)
    cv2.rectangle(img, (left, bumper_top), (right, ground - int(150 * scale)), body, -1)
    pts = np.array([[left, bumper_top], [left + int(car_w * 0.04), hood_top],
                    [right - int(car_w * 0.04), hood_top], [right, bumper_top]], np.int32)
    cv2.fillPoly(img, [pts], body)
    glass = _color(rng, 30, 90)
    pts = np.array([[left + int(car_w * 0.08), hood_top], [left + int(car_w * 0.2), roof],
                    [right - int(car_w * 0.2), roof], [right - int(car_w * 0.08), hood_top]], np.int32)
    cv2.fillPoly(img, [pts], glass)
    lamp = _color(rng, 180, 256)
    lamp_h = int(120 * scale)
    for lx in (left + int(car_w * 0.05), right - int(car_w * 0.05) - int(car_w * 0.18)):
        cv2.rectangle(img, (lx, bumper_top + lamp_h // 2), (lx + int(car_w * 0.18), bumper_top + lamp_h * 2), lamp, -1)
    grille_w = int(car_w * 0.36)
    cv2.rectangle(img, (cx - grille_w // 2, bumper_top + lamp_h // 2),
                  (cx + grille_w // 2, bumper_top + lamp_h * 2), dark, -1)
    slat = max(2, lamp_h // 6)  # the grille's horizontal slats
    for y in range(bumper_top + lamp_h // 2 + slat, bumper_top + lamp_h * 2 - slat, 2 * slat):
        cv2.line(img, (cx - grille_w // 2 + slat, y), (cx + grille_w // 2 - slat, y), (75, 75, 75), max(1, slat // 2))
    # the plate sits in the bumper, between the grille and the body's lower edge (a tall plate
    # that does not fit there covers the grille's lower part)
    grille_bottom, lower = bumper_top + lamp_h * 2, ground - int(150 * scale)
    margin = max(3, min(plate_w // 25, plate_h // 8))
    room = lower - grille_bottom - plate_h - 4 * margin
    plate_top = grille_bottom + 2 * margin + int(rng.uniform(0.35, 0.65) * room) if room > 0 \
        else lower - 2 * margin - plate_h
    plate_bottom = plate_top + plate_h
    plate_x = cx - plate_w // 2 + int(rng.randint(-plate_w // 10, plate_w // 10 + 1))
    # a bumper strip across the car at the plate's height: dark plastic or a darker body shade
    strip = (int(rng.randint(30, 70)),) * 3 if rng.rand() < 0.6 else tuple(int(c * 0.6) for c in body)
    pad = int(plate_h * rng.uniform(0.3, 0.6))
    cv2.rectangle(img, (left + int(car_w * 0.03), max(grille_bottom, plate_top - pad)),
                  (right - int(car_w * 0.03), min(lower, plate_bottom + pad)), strip, -1)
    # light from above: the car (only its own pixels) darkens towards the ground
    top = max(0, roof)
    part = img[top:ground, max(0, left):right]
    drawn = np.any(part != before[top:ground, max(0, left):right], axis=2)[..., None]
    shade = np.linspace(1.1, 0.8, part.shape[0])[:, None, None]
    part[:] = np.where(drawn, np.clip(part * shade, 0, 255), part).astype(np.uint8)
    # the black plastic plate holder most bumpers have: it frames the plate on any body colour
    cv2.rectangle(img, (plate_x - margin, plate_bottom - plate_h - margin),
                  (plate_x + plate_w + margin, plate_bottom + margin), (28, 28, 28), -1)
    return plate_x, plate_bottom - plate_h, plate_x + plate_w, plate_bottom


def _paste_plate(rng: np.random.RandomState, img: np.ndarray, plate: np.ndarray, target: Box) -> Box:
    """Warp the plate onto `target` with perspective jitter; returns its bounding box."""
    import cv2

    x1, y1, x2, y2 = target
    w, h = x2 - x1, y2 - y1
    # shrink with area averaging first: warpPerspective alone would alias a 4x reduction
    plate = cv2.resize(plate, (w, h), interpolation=cv2.INTER_AREA)
    jitter = w * JITTER
    dst = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
    dst += rng.uniform(-jitter, jitter, size=(4, 2)).astype(np.float32)
    tilt = rng.uniform(-TILT, TILT) * w  # slight rotation: right side up or down
    dst[[1, 2], 1] += tilt
    src = np.array([[0, 0], [plate.shape[1], 0], [plate.shape[1], plate.shape[0]],
                    [0, plate.shape[0]]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    size = (img.shape[1], img.shape[0])
    warped = cv2.warpPerspective(plate, matrix, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full(plate.shape[:2], 255, np.uint8), matrix, size,
                               flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    img[:] = (img * (1 - alpha) + warped * alpha).astype(np.uint8)
    bx1, by1 = np.floor(dst.min(axis=0)).astype(int)
    bx2, by2 = np.ceil(dst.max(axis=0)).astype(int)
    height, width = img.shape[:2]
    return (max(0, int(bx1)), max(0, int(by1)), min(width, int(bx2)), min(height, int(by2)))


def _degrade(rng: np.random.RandomState, img: np.ndarray) -> np.ndarray:
    """Lighting change, slight blur and sensor noise."""
    import cv2

    gain, bias = rng.uniform(0.75, 1.15), rng.uniform(-20, 20)
    out = img.astype(np.float32) * gain + bias
    sigma = rng.uniform(0.0, 1.0)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out += rng.normal(0, rng.uniform(2, 7), size=out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def random_plate(region: str, rng: np.random.RandomState,
                 font_path: Optional[str] = None) -> Tuple[np.ndarray, str, str, Tuple[float, float]]:
    """(BGR plate image, label, kind, plate size in mm) of a random plate of `region`."""
    if region == "br":
        image, text, kind = plates_br.random_br_plate(rng, font_path)
        return image, text, kind, plates_br.PLATE_MM[kind]
    if region == "eu":
        image, text, _country = plates_eu.random_eu_plate(rng)
        return image, text, "eu", plates_eu.PLATE_MM
    if region == "us":
        image, text, _state = plates_us.random_us_plate(rng)
        return image, text, "us", plates_us.PLATE_MM
    raise ValueError("region must be one of %s or mix, not %r" % (", ".join(REGIONS), region))


def scene_region(region: str, index: Optional[int], rng: np.random.RandomState) -> str:
    """The region scene `index` shows: `mix` cycles REGIONS by index (draws one without)."""
    if region != "mix":
        return region
    if index is None:
        return REGIONS[rng.randint(len(REGIONS))]
    return REGIONS[int(index) % len(REGIONS)]


def generate_scene(rng: Any, size: Tuple[int, int] = defaults.SCENE_SIZE,
                   font_path: Optional[str] = None, region: str = "br",
                   index: Optional[int] = None) -> Tuple[np.ndarray, str, Box]:
    """One labelled scene: (BGR image, plate text, plate box x1, y1, x2, y2 in pixels).

    `rng` is a numpy RandomState/Generator, a random.Random or an int seed; `region` is br,
    eu, us or mix (with mix, `index` picks the region in turn: br, eu, us, br...).
    """
    state = as_random_state(rng)
    width, height = size
    region = scene_region(region, index, state)
    plate, text, kind, (mm_w, mm_h) = random_plate(region, state, font_path or find_font())
    low, high = KIND_WIDTH_PX[kind]
    plate_w = int(state.randint(low, high + 1))
    plate_h = int(round(plate_w * mm_h / mm_w))
    img = _background(state, width, height)
    target = _car(state, img, plate_w, plate_h)
    box = _paste_plate(state, img, plate, target)
    return _degrade(state, img), text, box


def scene_rng(seed: int, index: int) -> np.random.RandomState:
    """The random state of scene `index` of a seed (independent of how many are made)."""
    return np.random.RandomState([int(seed) % (2 ** 32), int(index)])


def write_scenes(out_dir: str, count: int, seed: int = 0,
                 size: Tuple[int, int] = defaults.SCENE_SIZE, quality: int = 92,
                 region: str = "br") -> List[str]:
    """Write `count` scenes as JPEG + OpenALPR-format .txt files; returns the image paths.

    With region `mix`, scene i goes to OUT/<its region>/ (br, eu, us in turn), so that
    `alpr eval OUT` scores each region on its own; any other region writes into OUT itself.
    """
    import cv2

    if region not in REGIONS + ("mix",):
        raise ValueError("region must be one of %s or mix, not %r" % (", ".join(REGIONS), region))
    font = find_font()
    paths = []
    for index in range(count):
        rng = scene_rng(seed, index)
        folder = os.path.join(out_dir, scene_region(region, index, rng)) if region == "mix" else out_dir
        os.makedirs(folder, exist_ok=True)
        img, text, (x1, y1, x2, y2) = generate_scene(rng, size, font, region, index)
        name = "scene_%05d" % index
        path = os.path.join(folder, name + ".jpg")
        if not cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise OSError("cannot write %s" % path)
        with open(os.path.join(folder, name + ".txt"), "w") as fh:
            fh.write("%s.jpg\t%d\t%d\t%d\t%d\t%s\n" % (name, x1, y1, x2 - x1, y2 - y1, text))
        paths.append(path)
    return paths
