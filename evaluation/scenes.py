"""Labelled synthetic scenes: a Mercosul-style plate on a simple car in front of a road.

Used by `alpr scenes`, the producer's `scenes` source, the demo and the tests, so that
everything runs on machines without the shared photos. Deterministic per seed: scene i
of seed s is the same whatever the count.
"""
import os
import random
from typing import Any, List, Optional, Tuple

import numpy as np

from alpr import defaults
from evaluation.plate_render import PLATE_MM, find_font, random_plate_text, render_plate

Box = Tuple[int, int, int, int]  # x1, y1, x2, y2 in scene pixels

PLATE_WIDTH_PX = (180, 260)  # the range of plate widths in the scene
CAR_PER_PLATE = 4.5  # a 1.8 m wide car front behind a 0.4 m plate
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
    car_w = int(plate_w * CAR_PER_PLATE * rng.uniform(0.95, 1.1))
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
    plate_bottom = ground - int(rng.uniform(220, 320) * scale)
    plate_x = cx - plate_w // 2 + int(rng.randint(-plate_w // 10, plate_w // 10 + 1))
    # the black plastic plate holder most bumpers have: it frames the plate on any body colour
    margin = max(3, plate_w // 25)
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


def generate_scene(rng: Any, size: Tuple[int, int] = defaults.SCENE_SIZE,
                   font_path: Optional[str] = None) -> Tuple[np.ndarray, str, Box]:
    """One labelled scene: (BGR image, plate text, plate box x1, y1, x2, y2 in pixels).

    `rng` is a numpy RandomState/Generator, a random.Random or an int seed.
    """
    state = as_random_state(rng)
    width, height = size
    text = random_plate_text(state)
    plate_w = int(state.randint(PLATE_WIDTH_PX[0], PLATE_WIDTH_PX[1] + 1))
    plate_h = int(round(plate_w * PLATE_MM[1] / PLATE_MM[0]))
    img = _background(state, width, height)
    target = _car(state, img, plate_w, plate_h)
    plate = render_plate(text, state, font_path or find_font())
    box = _paste_plate(state, img, plate, target)
    return _degrade(state, img), text, box


def scene_rng(seed: int, index: int) -> np.random.RandomState:
    """The random state of scene `index` of a seed (independent of how many are made)."""
    return np.random.RandomState([int(seed) % (2 ** 32), int(index)])


def write_scenes(out_dir: str, count: int, seed: int = 0,
                 size: Tuple[int, int] = defaults.SCENE_SIZE, quality: int = 92) -> List[str]:
    """Write `count` scenes as JPEG + OpenALPR-format .txt files; returns the image paths."""
    import cv2

    os.makedirs(out_dir, exist_ok=True)
    font = find_font()
    paths = []
    for index in range(count):
        img, text, (x1, y1, x2, y2) = generate_scene(scene_rng(seed, index), size, font)
        name = "scene_%05d" % index
        path = os.path.join(out_dir, name + ".jpg")
        if not cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise OSError("cannot write %s" % path)
        with open(os.path.join(out_dir, name + ".txt"), "w") as fh:
            fh.write("%s.jpg\t%d\t%d\t%d\t%d\t%s\n" % (name, x1, y1, x2 - x1, y2 - y1, text))
        paths.append(path)
    return paths
