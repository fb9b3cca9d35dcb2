"""The stabilisation pictures of v2v.plotting: PNG bytes, an infinite fidelity drawn on its band, bad rows refused."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from v2v.plotting import fidelity_stability_plot, frame_strip_plot


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_fidelity_stability_plot_draws_curves_points_and_infinite_fidelity():
    panels = {
        "gamma": {"blend": [(1.0, math.inf, "0"), (0.4, 35.0, "0.5"), (0.1, 30.0, "0.8")], "processed": [(1.0, math.inf, "")]},
        "clahe": {"blend": [(0.5, 38.0, "0.5")], "learned": [(0.2, 33.0, "")]},
    }
    image = _image(fidelity_stability_plot(panels, x_label="ratio", y_label="PSNR (dB)", title="test"))
    assert image.format == "PNG" and image.width > 2 * image.height  # one panel per case, side by side


def test_fidelity_stability_plot_puts_points_above_the_ceiling_on_the_band():
    # A learned method that hardly changes its input (60 dB) beside a blend curve: drawn on the band.
    panels = {"gamma": {"blend": [(1.0, math.inf, "0"), (0.2, 30.0, "0.8")], "learned": [(1.0, 60.0, "")]},
              "clahe": {"blend": [(1.0, math.inf, "0"), (0.3, 31.0, "0.8")], "learned": [(0.5, 25.0, "")]}}
    plain = _image(fidelity_stability_plot(panels, x_label="ratio", y_label="PSNR (dB)"))
    banded = _image(fidelity_stability_plot(panels, x_label="ratio", y_label="PSNR (dB)", y_ceiling=45.0))
    assert plain.size == banded.size and plain.tobytes() != banded.tobytes()


def test_frame_strip_plot_needs_a_frame_per_column():
    frames = [np.full((12, 16, 3), value, np.uint8) for value in (0, 128, 255)]
    image = _image(frame_strip_plot({"a": frames, "b": frames}, ["t = 1", "t = 2", "t = 3"],
                                    {"a": [0.1, 0.2], "b": [0.0, 0.05]}, y_label="error"))
    assert image.format == "PNG"
    with pytest.raises(ValueError, match="every row needs 3 frames"):
        frame_strip_plot({"a": frames[:2]}, ["t = 1", "t = 2", "t = 3"], {}, y_label="error")
