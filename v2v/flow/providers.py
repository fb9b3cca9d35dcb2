"""Optical-flow providers: forward and backward flow for every consecutive frame pair of a clip.

Every provider has ``compute(frames) -> (flow_fwd, flow_bwd)`` for frames ``[T, C, H, W]``
(``C`` = 1 or 3; float in [0, 1] or uint8; torch or numpy) returning two ``[T-1, 2, H, W]``
float32 tensors, and an ``identity()`` (name, settings and library versions) that keys the flow
cache. Providers are plain picklable objects (DataLoader workers receive copies); heavy state such as
a network is built lazily in each process.

- ``exact``: the data set's own flow (synthetic clips); it cannot be computed from frames.
- ``dis``: OpenCV's Dense Inverse Search (Kroeger et al. 2016), fast, the default for real video.
- ``tvl1``: scikit-image's ``optical_flow_tvl1``, slow and accurate.
- ``raft``: torchvision's RAFT from a local weights file (torchvision is optional; nothing is
  downloaded).
- ``farneback``: OpenCV's Farneback polynomial-expansion flow, a second fast estimator that shares
  nothing with DIS: the evaluation flows of methods that use DIS themselves (``v2v.stabilize``'s
  blending), so that a method is never measured with its own flows.

Convention:
    ``flow_fwd[k]`` is defined on frame ``k`` and moves its pixel ``q`` to ``q + f(q)`` in frame
    ``k+1``; ``flow_bwd[k]`` is defined on frame ``k+1`` and moves its pixel ``p`` to ``p + b(p)`` in
    frame ``k`` (docs/conventions.md). Channel 0 is x (column), channel 1 is y (row), in pixels. Colour
    frames are reduced to ITU-R BT.601 luma for the gray-only methods (DIS, TV-L1); gray frames are
    replicated to RGB for RAFT.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import torch

from v2v.frames import to_uint8

__all__ = [
    "FlowProvider",
    "ExactFlowProvider",
    "DISFlowProvider",
    "TVL1FlowProvider",
    "RAFTFlowProvider",
    "FarnebackFlowProvider",
    "PROVIDERS",
    "ESTIMATORS",
    "DEFAULT_FLOW_PROVIDER",
    "make_flow_provider",
    "frames_to_numpy",
]


def frames_to_numpy(frames, name: str = "frames") -> np.ndarray:
    """Validate a clip and return it as float32 numpy ``[T, H, W, C]`` in [0, 1].

    Args:
        frames: ``[T, C, H, W]`` torch tensor or numpy array, ``C`` in {1, 3}, float in [0, 1]
            (a tolerance of 1e-3 is allowed) or uint8.

    Raises:
        ValueError: wrong rank, channel count, dtype, an empty clip, non-finite values or values
            outside [0, 1] (for example frames still in the models' [-1, 1] range).
    """
    if isinstance(frames, torch.Tensor):
        array = frames.detach().cpu().numpy()
    elif isinstance(frames, np.ndarray):
        array = frames
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(frames).__name__}")
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have shape [T, C, H, W] with C in (1, 3), got {tuple(array.shape)}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is an empty clip (T = 0)")
    if array.shape[2] < 2 or array.shape[3] < 2:
        raise ValueError(f"{name} must be at least 2x2 pixels, got {array.shape[2]}x{array.shape[3]}")
    if array.dtype == np.uint8:
        unit = array.astype(np.float32) / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        unit = array.astype(np.float32, copy=False)
        if not np.isfinite(unit).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        low, high = float(unit.min()), float(unit.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ValueError(f"{name} must be in [0, 1] (got values in [{low:.3f}, {high:.3f}]); "
                             "convert model-range [-1, 1] frames with v2v.data.to_unit_range")
        unit = np.clip(unit, 0.0, 1.0)
    else:
        raise ValueError(f"{name} must be float in [0, 1] or uint8, got {array.dtype}")
    return np.ascontiguousarray(unit.transpose(0, 2, 3, 1))


def _luma(frame: np.ndarray) -> np.ndarray:
    """``[H, W, C]`` float [0, 1] -> ``[H, W]`` float32 luma (BT.601)."""
    if frame.shape[2] == 1:
        return frame[:, :, 0]
    return frame @ np.array([0.299, 0.587, 0.114], np.float32)


def _empty_flows(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    empty = torch.zeros((0, 2, height, width), dtype=torch.float32)
    return empty, empty.clone()


class FlowProvider(ABC):
    """Base class: forward and backward flow for every consecutive pair of a clip."""

    name: ClassVar[str] = ""

    @property
    @abstractmethod
    def settings(self) -> dict:
        """The provider's parameters (JSON-serialisable), part of the cache key."""

    def identity(self) -> dict:
        """Everything that determines the output besides the frames: name, settings, versions."""
        return {"name": self.name, "settings": self.settings, "versions": self._versions()}

    def _versions(self) -> dict:
        return {}

    def compute(self, frames) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward flow of a clip.

        Args:
            frames: ``[T, C, H, W]`` (``C`` 1 or 3), float in [0, 1] or uint8, torch or numpy.

        Returns:
            ``(flow_fwd, flow_bwd)``, each ``[T-1, 2, H, W]`` float32 (CPU), in pixels.
        """
        clip = frames_to_numpy(frames)
        count, height, width = clip.shape[:3]
        if count < 2:
            return _empty_flows(height, width)
        return self._compute_pairs(clip)

    def _compute_pairs(self, clip: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        count, height, width = clip.shape[:3]
        prepared = [self._prepare(frame) for frame in clip]
        pair = self._pair_function()
        flow_fwd = np.empty((count - 1, 2, height, width), np.float32)
        flow_bwd = np.empty_like(flow_fwd)
        for k in range(count - 1):
            flow_fwd[k] = pair(prepared[k], prepared[k + 1]).transpose(2, 0, 1)
            flow_bwd[k] = pair(prepared[k + 1], prepared[k]).transpose(2, 0, 1)
        return torch.from_numpy(flow_fwd), torch.from_numpy(flow_bwd)

    def _prepare(self, frame: np.ndarray):
        """Per-frame conversion before pairing (e.g. to 8-bit luma)."""
        return frame

    def _pair_function(self):
        """A callable ``(source, target) -> [H, W, 2]`` flow (x, y) defined on ``source``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{type(self).__name__}({args})"


class ExactFlowProvider(FlowProvider):
    """The data set's exact flow (synthetic clips). It cannot be computed from frames.

    Data sets that know their flow pass it through ``compute(frames, exact_flows=(fwd, bwd))``;
    a call without it is an error, since no estimate should silently stand in for the truth.
    """

    name = "exact"

    @property
    def settings(self) -> dict:
        return {}

    def compute(self, frames, exact_flows: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Return the data set's flows after checking them against the frames.

        Args:
            frames: the clip ``[T, C, H, W]``.
            exact_flows: ``(flow_fwd, flow_bwd)`` ``[T-1, 2, H, W]`` from the data set.

        Raises:
            ValueError: no exact flow was given (the frames do not come from a data set with
                exact flow, e.g. DAVIS or a video file), or its shape does not match the frames.
        """
        if exact_flows is None:
            raise ValueError(
                "the 'exact' flow provider only serves data sets that know their flow (the synthetic "
                "clips); for DAVIS folders and video files use 'dis', 'tvl1' or 'raft'"
            )
        shape = tuple(frames.shape)
        if len(shape) != 4:
            raise ValueError(f"frames must have shape [T, C, H, W], got {shape}")
        expected = (max(shape[0] - 1, 0), 2, shape[2], shape[3])
        flows = []
        for label, flow in zip(("flow_fwd", "flow_bwd"), exact_flows):
            flow = torch.as_tensor(flow)
            if tuple(flow.shape) != expected:
                raise ValueError(f"exact {label} must have shape {expected} for these frames, got {tuple(flow.shape)}")
            flows.append(flow.float())
        return flows[0], flows[1]


_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class DISFlowProvider(FlowProvider):
    """OpenCV Dense Inverse Search optical flow on 8-bit luma.

    Args:
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (OpenCV's presets).
        finest_scale: optional override of the finest pyramid level (0 = full resolution).
        patch_size, patch_stride: optional overrides of the patch geometry.
        gradient_descent_iterations: optional override.
        variational_refinement_iterations: optional override (0 disables the refinement).
    """

    name = "dis"
    DEFAULT_PRESET = "medium"
    PRESETS = tuple(_DIS_PRESETS)
    """OpenCV's presets, fastest first."""

    def __init__(
        self,
        preset: str = DEFAULT_PRESET,
        finest_scale: int | None = None,
        patch_size: int | None = None,
        patch_stride: int | None = None,
        gradient_descent_iterations: int | None = None,
        variational_refinement_iterations: int | None = None,
    ) -> None:
        if preset not in _DIS_PRESETS:
            raise ValueError(f"dis preset must be one of {tuple(_DIS_PRESETS)}, got {preset!r}")
        overrides = {
            "finest_scale": finest_scale,
            "patch_size": patch_size,
            "patch_stride": patch_stride,
            "gradient_descent_iterations": gradient_descent_iterations,
            "variational_refinement_iterations": variational_refinement_iterations,
        }
        for key, value in overrides.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"dis {key} must be a non-negative int or None, got {value!r}")
        if patch_size is not None and patch_size < 1 or patch_stride is not None and patch_stride < 1:
            raise ValueError("dis patch_size and patch_stride must be >= 1")
        self.preset = preset
        self.overrides = {k: v for k, v in overrides.items() if v is not None}

    @property
    def settings(self) -> dict:
        return {"preset": self.preset, **self.overrides}

    def _versions(self) -> dict:
        return {"opencv": cv2.__version__}

    def _make(self):
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.preset])
        setters = {
            "finest_scale": dis.setFinestScale,
            "patch_size": dis.setPatchSize,
            "patch_stride": dis.setPatchStride,
            "gradient_descent_iterations": dis.setGradientDescentIterations,
            "variational_refinement_iterations": dis.setVariationalRefinementIterations,
        }
        for key, value in self.overrides.items():
            setters[key](value)
        return dis

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        return to_uint8(_luma(frame))

    def _pair_function(self):
        # One OpenCV object per call: it is neither picklable nor documented as thread-safe.
        dis = self._make()
        return lambda source, target: dis.calc(source, target, None)


class TVL1FlowProvider(FlowProvider):
    """scikit-image TV-L1 optical flow (``skimage.registration.optical_flow_tvl1``) on luma.

    scikit-image returns ``(row, col)`` displacements; they are reordered to (x, y). Arguments are
    those of ``optical_flow_tvl1``.
    """

    name = "tvl1"
    DEFAULT_ATTACHMENT = 15.0
    DEFAULT_TIGHTNESS = 0.3
    DEFAULT_NUM_WARP = 5
    DEFAULT_NUM_ITER = 10

    def __init__(
        self,
        attachment: float = DEFAULT_ATTACHMENT,
        tightness: float = DEFAULT_TIGHTNESS,
        num_warp: int = DEFAULT_NUM_WARP,
        num_iter: int = DEFAULT_NUM_ITER,
        tol: float = 1e-4,
        prefilter: bool = False,
    ) -> None:
        for key, value in (("attachment", attachment), ("tightness", tightness), ("tol", tol)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"tvl1 {key} must be a positive number, got {value!r}")
        for key, value in (("num_warp", num_warp), ("num_iter", num_iter)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"tvl1 {key} must be an int >= 1, got {value!r}")
        self.attachment, self.tightness, self.tol = float(attachment), float(tightness), float(tol)
        self.num_warp, self.num_iter, self.prefilter = num_warp, num_iter, bool(prefilter)

    @property
    def settings(self) -> dict:
        return {"attachment": self.attachment, "tightness": self.tightness, "num_warp": self.num_warp,
                "num_iter": self.num_iter, "tol": self.tol, "prefilter": self.prefilter}

    def _versions(self) -> dict:
        import skimage

        return {"scikit-image": skimage.__version__}

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(_luma(frame))

    def _pair_function(self):
        from skimage.registration import optical_flow_tvl1

        def pair(source: np.ndarray, target: np.ndarray) -> np.ndarray:
            # reference = source: source(p) ~ target(p + flow(p)); skimage orders the axes (row, col).
            rows, cols = optical_flow_tvl1(
                source, target, attachment=self.attachment, tightness=self.tightness, num_warp=self.num_warp,
                num_iter=self.num_iter, tol=self.tol, prefilter=self.prefilter, dtype=np.float32,
            )
            return np.stack([cols, rows], axis=-1)

        return pair


_RAFT_MODELS = ("large", "small")
_RAFT_MIN_SIDE = 128


class RAFTFlowProvider(FlowProvider):
    """torchvision's RAFT (Teed & Deng 2020) loaded from a local weights file.

    Args:
        weights: path to a state dict of ``torchvision.models.optical_flow.raft_large`` (or
            ``raft_small``) saved with ``torch.save`` (``.pt``/``.pth``) or as ``.safetensors``,
            e.g. torchvision's released ``raft_large_C_T_SKHT_V2`` checkpoint copied to disk.
        model: ``"large"`` or ``"small"``, matching the weights.
        iterations: RAFT's recurrent refinement steps (``num_flow_updates``).
        device: torch device for the network (``"cpu"``, ``"cuda"``).
        batch_size: frame pairs per forward pass.

    Frames are padded (bottom/right, edge replication) to sides that are multiples of 8 and at
    least 128, as RAFT requires, and the flows cropped back.

    Raises:
        ImportError: torchvision is not installed.
        FileNotFoundError: the weights file does not exist.
    """

    name = "raft"
    DEFAULT_MODEL = "large"
    MODELS = _RAFT_MODELS
    """torchvision's two RAFT networks."""
    DEFAULT_ITERATIONS = 12
    DEFAULT_DEVICE = "cpu"

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        model: str = DEFAULT_MODEL,
        iterations: int = DEFAULT_ITERATIONS,
        device: str = DEFAULT_DEVICE,
        batch_size: int = 4,
    ) -> None:
        if model not in _RAFT_MODELS:
            raise ValueError(f"raft model must be one of {_RAFT_MODELS}, got {model!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"raft iterations must be an int >= 1, got {iterations!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"raft batch_size must be an int >= 1, got {batch_size!r}")
        try:
            import torchvision.models.optical_flow  # noqa: F401
        except Exception as error:
            raise ImportError(
                "the 'raft' flow provider needs torchvision (install the torchvision build that "
                f"matches torch {torch.__version__}); use 'dis' or 'tvl1' otherwise ({error})"
            ) from error
        if weights is None:
            raise FileNotFoundError(
                "the 'raft' flow provider needs a local weights file (weights=...); nothing is downloaded"
            )
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"RAFT weights file not found: {path}")
        self.weights = path
        self.model = model
        self.iterations = iterations
        self.device = str(device)
        self.batch_size = batch_size
        self._weights_digest: str | None = None
        self._network = None

    @property
    def settings(self) -> dict:
        return {"weights": self._digest(), "model": self.model, "iterations": self.iterations}

    def _digest(self) -> str:
        """Content hash of the weights file (so a renamed copy shares cache entries, a new file does not)."""
        if self._weights_digest is None:
            digest = hashlib.blake2b(digest_size=16)
            with open(self.weights, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            self._weights_digest = digest.hexdigest()
        return self._weights_digest

    def _versions(self) -> dict:
        import torchvision

        return {"torchvision": torchvision.__version__}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_network"] = None  # rebuilt lazily in each process
        return state

    def _load_network(self):
        if self._network is not None:
            return self._network
        from torchvision.models.optical_flow import raft_large, raft_small

        builder = raft_large if self.model == "large" else raft_small
        network = builder(weights=None, progress=False)
        try:
            if self.weights.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(self.weights))
            else:
                state = torch.load(self.weights, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
            network.load_state_dict(state)
        except Exception as error:
            raise ValueError(
                f"{self.weights}: not a usable RAFT-{self.model} state dict ({type(error).__name__}: {error})"
            ) from error
        self._network = network.eval().to(self.device)
        return self._network

    def _compute_pairs(self, clip: np.ndarray):
        network = self._load_network()
        count, height, width = clip.shape[:3]
        if clip.shape[3] == 1:
            clip = np.repeat(clip, 3, axis=3)
        images = torch.from_numpy(clip).permute(0, 3, 1, 2).to(self.device) * 2.0 - 1.0
        # RAFT needs sides divisible by 8 and at least 128 (its 4-level correlation pyramid runs on
        # 1/8-resolution features): pad bottom/right by replication, crop the flow back.
        pad_h = max(_RAFT_MIN_SIDE, height + (-height) % 8) - height
        pad_w = max(_RAFT_MIN_SIDE, width + (-width) % 8) - width
        if pad_h or pad_w:
            images = torch.nn.functional.pad(images, (0, pad_w, 0, pad_h), mode="replicate")
        sources = torch.cat([images[:-1], images[1:]])  # forward pairs, then backward pairs
        targets = torch.cat([images[1:], images[:-1]])
        outputs = []
        with torch.inference_mode():
            for start in range(0, sources.shape[0], self.batch_size):
                stop = start + self.batch_size
                predictions = network(sources[start:stop], targets[start:stop], num_flow_updates=self.iterations)
                outputs.append(predictions[-1][:, :, :height, :width].float().cpu())
        flows = torch.cat(outputs)
        return flows[: count - 1].contiguous(), flows[count - 1 :].contiguous()


class FarnebackFlowProvider(FlowProvider):
    """OpenCV's Farneback optical flow (``cv2.calcOpticalFlowFarneback``, Farneback 2003) on 8-bit luma.

    A dense estimator built on polynomial expansion of each neighbourhood, unrelated to DIS's patch
    search: where a method estimates its flows with DIS, Farneback flows measure it without
    sharing its errors. The defaults are OpenCV's sample values (TecoGAN's tOF uses the same
    estimator).

    Args:
        pyr_scale: scale between pyramid levels (< 1).
        levels: pyramid levels (1: the full resolution only).
        winsize: averaging window in pixels (larger: smoother, more robust flow).
        iterations: iterations per pyramid level.
        poly_n: neighbourhood of the polynomial expansion (5 or 7).
        poly_sigma: Gaussian sigma of the expansion (1.1 for ``poly_n`` 5, 1.5 for 7).
        gaussian_window: a Gaussian rather than a box averaging window
            (``OPTFLOW_FARNEBACK_GAUSSIAN``; slower, more accurate).
    """

    name = "farneback"
    DEFAULTS = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5, "poly_sigma": 1.2}

    def __init__(
        self,
        pyr_scale: float = DEFAULTS["pyr_scale"],
        levels: int = DEFAULTS["levels"],
        winsize: int = DEFAULTS["winsize"],
        iterations: int = DEFAULTS["iterations"],
        poly_n: int = DEFAULTS["poly_n"],
        poly_sigma: float = DEFAULTS["poly_sigma"],
        gaussian_window: bool = False,
    ) -> None:
        if isinstance(pyr_scale, bool) or not isinstance(pyr_scale, (int, float)) or not 0 < pyr_scale < 1:
            raise ValueError(f"farneback pyr_scale must be in (0, 1), got {pyr_scale!r}")
        for key, value, low in (("levels", levels, 1), ("winsize", winsize, 3), ("iterations", iterations, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"farneback {key} must be an int >= {low}, got {value!r}")
        if poly_n not in (5, 7):
            raise ValueError(f"farneback poly_n must be 5 or 7, got {poly_n!r}")
        if isinstance(poly_sigma, bool) or not isinstance(poly_sigma, (int, float)) or not poly_sigma > 0:
            raise ValueError(f"farneback poly_sigma must be a positive number, got {poly_sigma!r}")
        self.pyr_scale, self.levels, self.winsize = float(pyr_scale), levels, winsize
        self.iterations, self.poly_n, self.poly_sigma = iterations, poly_n, float(poly_sigma)
        self.gaussian_window = bool(gaussian_window)

    @property
    def settings(self) -> dict:
        return {"pyr_scale": self.pyr_scale, "levels": self.levels, "winsize": self.winsize, "iterations": self.iterations,
                "poly_n": self.poly_n, "poly_sigma": self.poly_sigma, "gaussian_window": self.gaussian_window}

    def _versions(self) -> dict:
        return {"opencv": cv2.__version__}

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        return to_uint8(_luma(frame))

    def _pair_function(self):
        flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if self.gaussian_window else 0

        def pair(source: np.ndarray, target: np.ndarray) -> np.ndarray:
            # OpenCV's flow lives on the first image: source(y, x) ~ target(y + fy, x + fx).
            return cv2.calcOpticalFlowFarneback(source, target, None, self.pyr_scale, self.levels, self.winsize,
                                                self.iterations, self.poly_n, self.poly_sigma, flags)

        return pair


PROVIDERS: dict[str, type[FlowProvider]] = {
    "exact": ExactFlowProvider,
    "dis": DISFlowProvider,
    "tvl1": TVL1FlowProvider,
    "raft": RAFTFlowProvider,
    "farneback": FarnebackFlowProvider,
}

ESTIMATORS = tuple(name for name in PROVIDERS if name != "exact")
"""The providers that estimate flow from frames (every one but ``exact``): what scoring, tOF and
video data can use."""

DEFAULT_FLOW_PROVIDER = "dis"
"""The estimator used where no provider is named and no exact flow exists: DAVIS folders and video
files (``flow.provider: auto``), tOF, ``v2v.score`` and ``translate --score``."""


def make_flow_provider(name: str, **settings) -> FlowProvider:
    """Build a flow provider by name.

    Args:
        name: one of ``"exact"``, ``"dis"``, ``"tvl1"``, ``"raft"``, ``"farneback"``.
        **settings: the provider's constructor arguments (see each class).

    Raises:
        ValueError: unknown name or bad settings; ImportError / FileNotFoundError for RAFT.
    """
    if name not in PROVIDERS:
        raise ValueError(f"unknown flow provider {name!r}; expected one of {tuple(PROVIDERS)}")
    try:
        return PROVIDERS[name](**settings)
    except TypeError as error:
        raise ValueError(f"bad settings for flow provider {name!r}: {error}") from error
