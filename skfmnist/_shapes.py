"""How rows of pixels are read as images, shared by the scaler, the CNN and plots."""

import math


def square_shape(n_pixels):
    """``(side, side)`` when ``n_pixels`` is a square number, else None."""
    side = math.isqrt(n_pixels)
    return (side, side) if side * side == n_pixels else None
