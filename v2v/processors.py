"""A bank of per-frame image processors that flicker: what stabilisation is trained and tested on (issue 28).

Run frame by frame on a video, most image methods flicker: their output depends on each frame's
global statistics or on parameters that change from frame to frame. Each processor here is a
classical image operation whose parameters are drawn per frame from a seeded
``numpy.random.Generator``, so that flickering videos (and their flicker-free references) can be
made from any clip without anyone's per-frame method.

**Flicker modes** (:data:`FLICKER_MODES`), how a processor's parameters change from frame to frame:

- ``fresh``: drawn afresh, uniformly in their range, for every frame;
- ``drift``: a bounded random walk: frame 0 draws uniformly, each later frame moves every parameter
  by a normal step of :data:`DRIFT_STEP` times its range, reflected at the range's ends;
- ``none``: frame 0's draw held for the whole clip: the same processor without flicker, the
  temporally consistent reference.

With one seed the three modes draw the same parameters for frame 0. The draws depend on the seed
and the frame index only, never on the frames, so a clip processed whole (:func:`process_clip`) and
the same clip streamed frame by frame (:class:`FlickerStream`) are identical.

**The bank** (:data:`PROCESSORS`; every range is inclusive; ranges give visible flicker without
destroying the picture):

========================  ================  ==================================================================
processor                 kind              parameters (range)
========================  ================  ==================================================================
``brightness``            tone              ``offset`` added to every channel (-0.1, 0.1) of the full range
``contrast``              tone              ``factor`` about the frame's mean luma (0.7, 1.3)
``gamma``                 tone              ``gamma``, ``x ** gamma`` (0.7, 1.4)
``saturation``            colour            ``factor`` about each pixel's luma (0.5, 1.5)
``hue``                   colour            ``shift`` of the HSV hue in degrees (-15, 15)
``white_balance``         colour            ``red`` and ``blue`` channel gains (0.9, 1.1), green kept
``stylization``           stylisation       ``cv2.stylization``: ``sigma_s`` (20, 80) [1], ``sigma_r`` (0.3, 0.6)
``edge_preserving``       stylisation       ``cv2.edgePreservingFilter`` (recursive): ``sigma_s`` (20, 80) [1],
                                            ``sigma_r`` (0.2, 0.6)
``detail_enhance``        local contrast    ``cv2.detailEnhance``: ``sigma_s`` (5, 20) [1], ``sigma_r`` (0.1, 0.25)
``clahe``                 local contrast    CLAHE of CIELAB lightness: ``clip_limit`` (1.5, 4.0), ``tiles``
                                            per side (4, 8), an integer, and the ``amount`` of the
                                            equalised lightness mixed in (0.6, 1.0)
``unsharp``               sharpening        ``x + amount (x - blur_sigma(x))``: ``amount`` (0.5, 2.0),
                                            ``sigma`` (1.0, 3.0) pixels
``posterize``             quantisation      ``levels`` per channel (8, 16), an integer, and the bins'
                                            ``phase`` (-0.5, 0.5) of a bin
``denoise``               denoising         bilateral filter: ``sigma_color`` (15, 75) of 255,
                                            ``sigma_space`` (1, 6) pixels
========================  ================  ==================================================================

[1] ``sigma_s`` is in pixels of a 480-pixel shorter side (:data:`SIGMA_S_SIDE`) and scaled with the
frame, so a filter smooths the same share of the picture at every resolution.

``denoise`` is a bilateral filter rather than non-local means: ``cv2.fastNlMeansDenoisingColored``
(h 6, 5x5 template, 11x11 search) costs 58 ms a frame at 128x228 and 590 ms at 480p on one core,
the bilateral filter 0.6 and 16 ms. The OpenCV filters ``stylization``, ``edge_preserving`` and
``detail_enhance`` cost 26, 7 and 7 ms a frame at 128x228 and 530, 186 and 148 ms at 480x854 on one
core of an AMD EPYC (``benchmarks/results/stabilize.md`` has the measurement of every processor).

**The learned per-frame method** (:data:`LEARNED_PROCESSOR`, ``image2image``): one of the
project's own generator checkpoints applied to each frame on its own (no recurrent state), built
by :func:`v2v.models.checkpoint_processor` from a checkpoint path; it has no drawn parameters (its
flicker is its own), so the flicker mode does not change it.

**The split** is fixed: :data:`HELD_OUT_PROCESSORS` (``gamma``, ``stylization``, ``clahe``: a tone
curve, a stylisation and a local-contrast operation, one of each kind) are for evaluation only and
never trained on; :data:`TRAINING_PROCESSORS` are the rest of the bank and the learned processor.

Convention:
    Frames are ``uint8`` ``[H, W, 3]`` RGB. Processors compute in float32 on [0, 1] (or, for the
    OpenCV filters, on 8-bit BGR as OpenCV expects) and return 8 bits by :func:`v2v.frames.to_uint8`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from v2v.frames import to_uint8

__all__ = [
    "FLICKER_MODES",
    "DRIFT_STEP",
    "SIGMA_S_SIDE",
    "Parameter",
    "Processor",
    "PROCESSORS",
    "LEARNED_PROCESSOR",
    "HELD_OUT_PROCESSORS",
    "TRAINING_PROCESSORS",
    "get_processor",
    "ParameterStream",
    "FlickerStream",
    "iter_processed",
    "process_clip",
]

FLICKER_MODES = ("fresh", "drift", "none")
"""How parameters change from frame to frame (see the module docstring)."""

DRIFT_STEP = 0.1
"""Standard deviation of a ``drift`` step, as a fraction of the parameter's range."""

LEARNED_PROCESSOR = "image2image"
"""The name of the learned per-frame processor (a generator checkpoint run frame by frame)."""

SIGMA_S_SIDE = 480
"""The shorter side (pixels) for which the OpenCV filters' ``sigma_s`` is given; it is scaled with
the frame (a 128-pixel frame smooths over 128/480 of the pixels a 480p frame does)."""

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601


@dataclass(frozen=True)
class Parameter:
    """One drawn parameter of a processor.

    Attributes:
        name: the key of the value the processor's function receives.
        low, high: the inclusive range of the draws.
        integer: the processor rounds the value to an integer when it applies it (the draw and the
            walk stay real, so a drifting integer parameter moves as often as its walk crosses a
            half).
    """

    name: str
    low: float
    high: float
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"parameter {self.name}: low must be below high, got ({self.low}, {self.high})")

    @property
    def span(self) -> float:
        """``high - low``."""
        return self.high - self.low


@dataclass(frozen=True)
class Processor:
    """A per-frame image operation with parameters drawn per frame.

    Attributes:
        name: how configs and tables name it.
        kind: what it does (tone, colour, stylisation, local contrast, sharpening, quantisation,
            denoising, learned).
        parameters: the drawn parameters, in draw order.
        function: ``(frame uint8 [H, W, 3], values {parameter name: value}) -> uint8 [H, W, 3]``.
        description: one line for tables and docs.
    """

    name: str
    kind: str
    parameters: tuple[Parameter, ...]
    function: Callable[[np.ndarray, Mapping[str, float]], np.ndarray] = field(repr=False)
    description: str = ""

    def apply(self, frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
        """The processed frame.

        Args:
            frame: ``uint8`` ``[H, W, 3]`` RGB.
            values: one value per parameter (a :class:`ParameterStream` draw).

        Returns:
            ``uint8`` ``[H, W, 3]`` RGB of the frame's size.

        Raises:
            ValueError: a frame that is not ``uint8`` ``[H, W, 3]``, or values that do not name
                exactly the processor's parameters.
        """
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            described = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"processor {self.name}: a frame must be uint8 [H, W, 3] RGB, got {described}")
        expected = {parameter.name for parameter in self.parameters}
        if set(values) != expected:
            raise ValueError(f"processor {self.name} takes the parameters {sorted(expected)}, got {sorted(values)}")
        output = self.function(np.ascontiguousarray(frame), values)
        if output.shape != frame.shape or output.dtype != np.uint8:
            raise ValueError(f"processor {self.name} returned {output.dtype} {output.shape} for a frame {frame.shape}")
        return output


# --------------------------------------------------------------------------------------------------
# The operations. Each takes a uint8 RGB frame and its parameters' values.


def _unit(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) / 255.0


def _luma(unit: np.ndarray) -> np.ndarray:
    return unit @ _LUMA


def _brightness(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    return to_uint8(_unit(frame) + values["offset"])


def _contrast(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    unit = _unit(frame)
    mean = float(_luma(unit).mean())
    return to_uint8(mean + values["factor"] * (unit - mean))


def _gamma(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    return to_uint8(np.power(_unit(frame), values["gamma"]))


def _saturation(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    unit = _unit(frame)
    gray = _luma(unit)[:, :, None]
    return to_uint8(gray + values["factor"] * (unit - gray))


def _hue(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    hsv = cv2.cvtColor(_unit(frame), cv2.COLOR_RGB2HSV)  # float input: hue in degrees [0, 360)
    hsv[:, :, 0] = np.mod(hsv[:, :, 0] + values["shift"], 360.0)
    return to_uint8(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def _white_balance(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    gains = np.array([values["red"], 1.0, values["blue"]], np.float32)
    return to_uint8(_unit(frame) * gains)


def _bgr_filter(apply: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """An OpenCV filter of 8-bit BGR images applied to an RGB frame."""

    def run(frame: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(cv2.cvtColor(apply(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)), cv2.COLOR_BGR2RGB))

    return run


def _spatial_sigma(frame: np.ndarray, sigma_s: float) -> float:
    """``sigma_s`` given for a :data:`SIGMA_S_SIDE`-pixel shorter side, in pixels of this frame, so a
    filter smooths the same share of the picture at every resolution."""
    return float(sigma_s) * min(frame.shape[:2]) / SIGMA_S_SIDE


def _stylization(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    sigma_s = _spatial_sigma(frame, values["sigma_s"])
    return _bgr_filter(lambda bgr: cv2.stylization(bgr, sigma_s=sigma_s, sigma_r=values["sigma_r"]))(frame)


def _edge_preserving(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    sigma_s = _spatial_sigma(frame, values["sigma_s"])
    return _bgr_filter(lambda bgr: cv2.edgePreservingFilter(bgr, flags=cv2.RECURS_FILTER, sigma_s=sigma_s,
                                                            sigma_r=values["sigma_r"]))(frame)


def _detail_enhance(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    sigma_s = _spatial_sigma(frame, values["sigma_s"])
    return _bgr_filter(lambda bgr: cv2.detailEnhance(bgr, sigma_s=sigma_s, sigma_r=values["sigma_r"]))(frame)


def _clahe(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    tiles = int(round(values["tiles"]))
    lab = cv2.cvtColor(frame, cv2.COLOR_RGB2LAB)
    lightness = lab[:, :, 0]
    equalised = cv2.createCLAHE(clipLimit=float(values["clip_limit"]), tileGridSize=(tiles, tiles)).apply(lightness)
    # OpenCV turns the clip limit into a whole number of pixels per histogram bin, so on small tiles
    # nearby limits give one result; the amount mixed in moves continuously.
    mixed = lightness.astype(np.float32) + values["amount"] * (equalised.astype(np.float32) - lightness)
    lab[:, :, 0] = to_uint8(mixed / 255.0)
    return np.ascontiguousarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB))


def _unsharp(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    unit = _unit(frame)
    blurred = cv2.GaussianBlur(unit, (0, 0), sigmaX=values["sigma"], borderType=cv2.BORDER_REFLECT)
    return to_uint8(unit + values["amount"] * (unit - blurred))


def _posterize(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    steps = int(round(values["levels"])) - 1
    phase = values["phase"]
    # Bins of width 1/steps whose edges sit `phase` of a bin away from the plain rounding's.
    return to_uint8((np.round(_unit(frame) * steps + phase) - phase) / steps)


def _denoise(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    # d = -1: OpenCV takes the neighbourhood's diameter from sigma_space.
    return cv2.bilateralFilter(frame, -1, float(values["sigma_color"]), float(values["sigma_space"]))


def _bank(*processors: Processor) -> dict[str, Processor]:
    return {processor.name: processor for processor in processors}


PROCESSORS: dict[str, Processor] = _bank(
    Processor("brightness", "tone", (Parameter("offset", -0.1, 0.1),), _brightness,
              "add an offset to every channel"),
    Processor("contrast", "tone", (Parameter("factor", 0.7, 1.3),), _contrast,
              "scale the distance to the frame's mean luma"),
    Processor("gamma", "tone", (Parameter("gamma", 0.7, 1.4),), _gamma, "a power-law tone curve"),
    Processor("saturation", "colour", (Parameter("factor", 0.5, 1.5),), _saturation,
              "scale each pixel's distance to its luma"),
    Processor("hue", "colour", (Parameter("shift", -15.0, 15.0),), _hue, "rotate the HSV hue (degrees)"),
    Processor("white_balance", "colour", (Parameter("red", 0.9, 1.1), Parameter("blue", 0.9, 1.1)), _white_balance,
              "gains of the red and blue channels"),
    Processor("stylization", "stylisation", (Parameter("sigma_s", 20.0, 80.0), Parameter("sigma_r", 0.3, 0.6)),
              _stylization, "OpenCV's stylization (edge-aware smoothing and edge darkening)"),
    Processor("edge_preserving", "stylisation", (Parameter("sigma_s", 20.0, 80.0), Parameter("sigma_r", 0.2, 0.6)),
              _edge_preserving, "OpenCV's recursive edge-preserving filter"),
    Processor("detail_enhance", "local contrast", (Parameter("sigma_s", 5.0, 20.0), Parameter("sigma_r", 0.1, 0.25)),
              _detail_enhance, "OpenCV's detailEnhance"),
    Processor("clahe", "local contrast", (Parameter("clip_limit", 1.5, 4.0), Parameter("tiles", 4.0, 8.0, integer=True),
                                          Parameter("amount", 0.6, 1.0)),
              _clahe, "contrast-limited adaptive histogram equalisation of CIELAB lightness"),
    Processor("unsharp", "sharpening", (Parameter("amount", 0.5, 2.0), Parameter("sigma", 1.0, 3.0)), _unsharp,
              "unsharp masking"),
    Processor("posterize", "quantisation", (Parameter("levels", 8.0, 16.0, integer=True), Parameter("phase", -0.5, 0.5)),
              _posterize, "quantise each channel to a few levels"),
    Processor("denoise", "denoising", (Parameter("sigma_color", 15.0, 75.0), Parameter("sigma_space", 1.0, 6.0)),
              _denoise, "bilateral filter"),
)
"""The parametric processors by name (the learned one, :data:`LEARNED_PROCESSOR`, needs a checkpoint:
:func:`v2v.models.checkpoint_processor`)."""

HELD_OUT_PROCESSORS = ("gamma", "stylization", "clahe")
"""Evaluation only, never trained on: a tone curve, a stylisation and a local-contrast operation."""

TRAINING_PROCESSORS = tuple(name for name in PROCESSORS if name not in HELD_OUT_PROCESSORS) + (LEARNED_PROCESSOR,)
"""Every other processor of the bank, and the learned one."""


def get_processor(name: str) -> Processor:
    """The processor of the bank named ``name``.

    Raises:
        ValueError: an unknown name, or :data:`LEARNED_PROCESSOR`, which is built from a checkpoint
            (:func:`v2v.models.checkpoint_processor`).
    """
    if name == LEARNED_PROCESSOR:
        raise ValueError(f"processor {LEARNED_PROCESSOR!r} runs a trained generator: it needs a checkpoint path "
                         "(v2v.models.checkpoint_processor(CHECKPOINT), or a config that names one)")
    if name not in PROCESSORS:
        raise ValueError(f"unknown processor {name!r}; expected one of {(*PROCESSORS, LEARNED_PROCESSOR)}")
    return PROCESSORS[name]


def _resolve(processor: Processor | str) -> Processor:
    return processor if isinstance(processor, Processor) else get_processor(processor)


# --------------------------------------------------------------------------------------------------
# Parameters from frame to frame.


def _reflect(value: float, low: float, high: float) -> float:
    """``value`` folded back into ``[low, high]`` as a walk that bounces off the ends."""
    span = high - low
    offset = math.fmod(value - low, 2 * span)
    offset = offset + 2 * span if offset < 0 else offset
    return low + (2 * span - offset if offset > span else offset)


class ParameterStream:
    """The parameter values of consecutive frames under a flicker mode.

    Args:
        parameters: the processor's parameters.
        seed: a non-negative int; the values depend on it and the frame index only.
        flicker: one of :data:`FLICKER_MODES`.

    Raises:
        ValueError: an unknown flicker mode or a bad seed.
    """

    def __init__(self, parameters: Sequence[Parameter], seed: int, flicker: str) -> None:
        if flicker not in FLICKER_MODES:
            raise ValueError(f"flicker must be one of {FLICKER_MODES}, got {flicker!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.parameters = tuple(parameters)
        self.flicker = flicker
        self._rng = np.random.default_rng(int(seed))
        self._values: dict[str, float] | None = None

    def _uniform(self) -> dict[str, float]:
        return {p.name: float(self._rng.uniform(p.low, p.high)) for p in self.parameters}

    def next(self) -> dict[str, float]:
        """The values of the next frame."""
        if self._values is None or self.flicker == "fresh":
            self._values = self._uniform()
        elif self.flicker == "drift":
            self._values = {p.name: _reflect(self._values[p.name] + float(self._rng.normal(0.0, DRIFT_STEP * p.span)), p.low, p.high)
                            for p in self.parameters}
        return dict(self._values)


class FlickerStream:
    """One processor applied to consecutive frames of a video, its parameters drawn per frame.

    Args:
        processor: a :class:`Processor` or the name of one of the bank.
        seed: seeds the parameter draws (see :class:`ParameterStream`).
        flicker: one of :data:`FLICKER_MODES`.

    Attributes:
        values: the parameter values of every frame processed so far (a few floats per frame).

    Example::

        stream = FlickerStream("clahe", seed=0, flicker="fresh")
        for frame in reader:
            writer.write(stream.process(frame))
    """

    def __init__(self, processor: Processor | str, seed: int, flicker: str) -> None:
        self.processor = _resolve(processor)
        self.parameters = ParameterStream(self.processor.parameters, seed, flicker)
        self.values: list[dict[str, float]] = []

    def process(self, frame: np.ndarray) -> np.ndarray:
        """The next frame (``uint8`` ``[H, W, 3]`` RGB), processed with the next frame's parameters."""
        values = self.parameters.next()
        output = self.processor.apply(frame, values)
        self.values.append(values)
        return output


def iter_processed(frames: Iterable[np.ndarray], processor: Processor | str, seed: int, flicker: str) -> Iterator[np.ndarray]:
    """Process a stream of ``uint8`` ``[H, W, 3]`` RGB frames one at a time (constant memory).

    Args:
        frames: any iterable of frames (a video reader).
        processor, seed, flicker: see :class:`FlickerStream`.

    Yields:
        The processed frames, ``uint8`` ``[H, W, 3]``.
    """
    stream = FlickerStream(processor, seed, flicker)
    for frame in frames:
        yield stream.process(frame)


def process_clip(frames, processor: Processor | str, seed: int, flicker: str):
    """Process a whole clip.

    Args:
        frames: ``uint8`` ``[T, H, W, 3]`` numpy or a sequence of ``[H, W, 3]`` frames; or torch
            ``[T, 3, H, W]`` (float in [0, 1], or uint8), converted by :func:`v2v.frames.to_uint8`.
        processor, seed, flicker: see :class:`FlickerStream`.

    Returns:
        numpy input: ``uint8`` ``[T, H, W, 3]``; torch input: float32 ``[T, 3, H, W]`` in [0, 1]
        (8-bit values / 255).
    """
    if isinstance(frames, torch.Tensor):
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"a torch clip must be [T, 3, H, W], got {tuple(frames.shape)}")
        images = to_uint8(frames.detach().cpu()).permute(0, 2, 3, 1).numpy()
        processed = process_clip(images, processor, seed, flicker)
        return torch.from_numpy(processed).permute(0, 3, 1, 2).float() / 255.0
    processed = list(iter_processed(frames, processor, seed, flicker))
    if not processed:
        raise ValueError("process_clip needs at least one frame")
    return np.stack(processed)
