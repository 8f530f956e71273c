"""Pillow-exact bicubic resize in numpy: compared with Pillow where it is installed."""
import numpy as np
import pytest

from engines.resample import PilResizer, coefficients


def test_coefficients_sum_to_one_in_fixed_point():
    for n in (3, 57, 224, 225, 600):
        w = coefficients(n, 224)
        assert np.all(np.abs(w.sum(axis=1) - (1 << 22)) <= 8)


def test_constant_image_stays_constant_and_same_size_is_a_copy():
    r = PilResizer(224, 224)
    img = np.full((37, 300, 3), 77, np.uint8)
    assert (r(img) == 77).all()
    same = np.random.RandomState(0).randint(0, 256, (224, 224, 3)).astype(np.uint8)
    assert np.array_equal(r(same), same)
    assert r(same[:, :, 0]).shape == (224, 224)


def test_matches_pillow_bicubic_on_random_and_edgy_crops():
    Image = pytest.importorskip("PIL.Image", reason="Pillow is the reference (3.11 test env)")
    rng = np.random.RandomState(1)
    r = PilResizer(224, 224)
    sizes = [(1, 1), (2, 900), (900, 2), (50, 200), (80, 300), (224, 500), (300, 224),
             (230, 229), (600, 410), (600, 412), (448, 448), (17, 31)]
    sizes += [(int(rng.randint(1, 700)), int(rng.randint(1, 700))) for _ in range(40)]
    for h, w in sizes:
        img = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
        if h % 2:
            img = (img // 51 * 51).astype(np.uint8)  # hard edges: overshoot and clipping
        ref = np.asarray(Image.fromarray(img).resize((224, 224)))
        assert np.array_equal(r(img), ref), (h, w)
