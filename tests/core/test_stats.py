"""The one percentile helper: numpy.percentile's linear interpolation, a chosen value for none."""
import math

import numpy as np

from alpr.stats import percentile


def test_percentile_is_numpys_linear_interpolation():
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0]
    for q in (0, 10, 50, 90, 99, 100):
        assert percentile(values, q) == float(np.percentile(values, q))
    assert percentile([1.0, 2.0], 50) == 1.5  # between the ranks, not the upper one
    assert isinstance(percentile([1, 2, 3], 50), float)


def test_percentile_of_nothing_is_the_chosen_empty_value():
    assert math.isnan(percentile([], 50))
    assert percentile([], 99, empty=0.0) == 0.0
    assert percentile((), 50, empty=None) is None
