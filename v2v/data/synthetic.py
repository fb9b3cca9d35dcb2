"""Synthetic videos with exact optical flow, cut from the photographs that ship with scikit-image.

A clip is a stack of layers: a background photograph seen by a moving camera (translation, zoom,
small rotation) and 1-4 foreground objects, each a random soft shape cut from another photograph and
moving with its own affine motion; later objects occlude earlier ones. Every layer ``L`` has, for every
frame ``t``, an affine map ``A_L(t)`` from frame pixels to the layer's texture pixels; the frame is
rendered by sampling each texture through its map (``cv2.warpAffine``) and compositing with the
objects' alpha. Because the maps are known, the motion of every visible surface point is known
exactly: the pixel ``p`` of frame ``k+1`` showing layer ``L`` shows the texture point ``A_L(k+1) p``,
which frame ``k`` shows at ``A_L(k)^-1 A_L(k+1) p``. That is the backward flow; the forward flow is the
same construction the other way round. The only error a warp by these flows leaves is interpolation
error (the textures are resampled twice).

Motions are smooth and bounded: every pose parameter follows a slow sinusoid whose peak speed is the
configured per-frame speed, so a 5-frame clip moves at a nearly constant velocity while a long video
stays in view.

Everything is deterministic from the seed (``numpy.random.default_rng``), runs offline (only
images bundled in the scikit-image wheel are used) and is vectorised with OpenCV and numpy.

Convention:
    Flows follow docs/conventions.md: ``flow_bwd[k]`` is defined on frame ``k+1`` and maps its pixel ``p``
    to ``p + flow_bwd[k](p)`` in frame ``k``; ``flow_fwd[k]`` is defined on frame ``k`` and maps to
    frame ``k+1``. Channel 0 is x (column), channel 1 is y (row), in pixels. Pixel centres are at
    integer coordinates (OpenCV's and ``align_corners=True``'s convention).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from v2v.config_engine import Checked, require

__all__ = [
    "PHOTO_NAMES",
    "GRAY_TEXTURE_NAMES",
    "SyntheticConfig",
    "synthetic_clip",
    "load_photo",
    "background_match",
    "BACKGROUND_MATCH_DELTA_E",
    "MAX_OBJECT_REDRAWS",
]

# Colour photographs bundled in the scikit-image wheel (no download needed).
PHOTO_NAMES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "stereo_motorcycle",
    "cat",
    "colorwheel",
)
# Gray textures bundled in the wheel; they are tinted with a random colour when used.
GRAY_TEXTURE_NAMES = ("brick", "grass", "gravel")

# A layer's colour counts as unblended where its alpha is within this of 0 or 1 (a blend with
# weight below 1e-3 changes a [0, 1] colour by less than 1e-3).
_ALPHA_EPS = 1e-3
# A source point this close outside the frame still counts as inside (float rounding of the flow).
_INSIDE_TOLERANCE = 1e-3
BACKGROUND_MATCH_DELTA_E = 10.0
"""CIELAB distance (CIE76) within which an object's colour counts as one its background also has;
about where two flat patches stop being told apart at a glance."""
MAX_OBJECT_REDRAWS = 20
"""Draws of an object beyond the first when it matches its background too closely."""
# Pixels of each texture compared by :func:`background_match` (a regular subsample).
_MATCH_SAMPLES = 1024
# Layer labels are stored as uint8 while rendering; far more objects than this would cover the frame anyway.
_MAX_OBJECTS = 64


@dataclass
class SyntheticConfig(Checked):
    """Parameters of the synthetic clips (the keyword options of :func:`synthetic_clip`).

    Speeds are peak values per frame, in frame pixels; rotations in degrees per frame; zooms are
    relative scale changes per frame (0.01 = 1 %).

    Attributes:
        num_objects: inclusive range ``(low, high)`` of the number of foreground objects.
        object_size: range of an object's diameter as a fraction of ``min(H, W)``.
        camera_speed: peak background translation speed (px/frame).
        camera_rotation: peak background rotation speed (deg/frame).
        camera_zoom: peak background zoom speed (relative/frame).
        object_speed: peak object translation speed (px/frame).
        object_rotation: peak object rotation speed (deg/frame).
        object_zoom: peak object scale speed (relative/frame).
        soft_edge: width in pixels of the objects' alpha ramp (0 = hard edges, still anti-aliased
            by the bilinear resampling).
        texture_sigma: Gaussian blur (pixels) applied to the textures; it band-limits them so that
            bilinear resampling is accurate (the warp identity holds to a smaller error).
        min_period, max_period: range of the period (frames) of the pose sinusoids.
        max_background_match: the largest share of an object's texture pixels whose colour lies
            within :data:`BACKGROUND_MATCH_DELTA_E` (CIELAB) of some colour of the background's
            texture; an object above it is drawn again (another photograph and crop) up to
            :data:`MAX_OBJECT_REDRAWS` times, and the least matching draw is kept. 1.0 (the default)
            accepts every object. Below 1 it keeps objects visible against their background: a
            crop of ``chelsea`` on ``cat`` fur, or of a black margin on the night sky of
            ``hubble_deep_field``, is a foreground no single frame shows (segmentation masks it all
            the same).
    """

    num_objects: tuple[int, int] = (1, 4)
    object_size: tuple[float, float] = (0.25, 0.5)
    camera_speed: float = 2.0
    camera_rotation: float = 0.5
    camera_zoom: float = 0.01
    object_speed: float = 3.0
    object_rotation: float = 2.0
    object_zoom: float = 0.02
    soft_edge: float = 1.5
    texture_sigma: float = 0.7
    min_period: float = 40.0
    max_period: float = 120.0
    max_background_match: float = 1.0

    def check(self) -> None:
        low, high = self.num_objects
        require(0 <= low <= high <= _MAX_OBJECTS, "num_objects", f"must satisfy 0 <= low <= high <= {_MAX_OBJECTS}, got {self.num_objects}")
        low_size, high_size = self.object_size
        require(1e-3 <= low_size <= high_size <= 2.0, "object_size", f"must satisfy 0.001 <= low <= high <= 2, got {self.object_size}")
        for name in ("camera_speed", "camera_rotation", "camera_zoom", "object_speed",
                     "object_rotation", "object_zoom", "soft_edge", "texture_sigma"):
            value = getattr(self, name)
            require(math.isfinite(value) and value >= 0, name, f"must be a finite number >= 0, got {value!r}")
        for name in ("camera_zoom", "object_zoom"):
            require(getattr(self, name) < 0.5, name, f"must be < 0.5 (relative per frame), got {getattr(self, name)}")
        require(0.0 <= self.max_background_match <= 1.0, "max_background_match", f"must be in [0, 1], got {self.max_background_match}")
        require(0 < self.min_period <= self.max_period, "min_period",
                f"must satisfy 0 < min_period <= max_period, got {self.min_period}, {self.max_period}")


@functools.cache
def load_photo(name: str) -> np.ndarray:
    """One bundled scikit-image picture as float32 ``[H, W, 3]`` RGB in [0, 1] (read-only, cached).

    Gray textures are replicated to three channels (untinted).
    """
    import skimage.data

    if name not in PHOTO_NAMES + GRAY_TEXTURE_NAMES:
        raise ValueError(f"unknown photo {name!r}; expected one of {PHOTO_NAMES + GRAY_TEXTURE_NAMES}")
    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo_motorcycle returns (left, right, disparity)
        image = image[0]
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = image[:, :, :3].astype(np.float32) / 255.0
    image.setflags(write=False)
    return image


def _texture(rng: np.random.Generator, name: str, out_h: int, out_w: int, sigma: float) -> np.ndarray:
    """A random crop of a photo resized to ``out_h x out_w`` (float32 RGB), blurred by ``sigma``."""
    photo = load_photo(name)
    photo_h, photo_w = photo.shape[:2]
    # Photo pixels per texture pixel: >= 1 downsamples (INTER_AREA anti-aliases), < 1 upsamples
    # when the photo is too small for the requested texture.
    max_factor = min(photo_h / out_h, photo_w / out_w)
    factor = min(max_factor, rng.uniform(1.0, 2.5))
    crop_h = max(2, min(photo_h, int(round(out_h * factor))))
    crop_w = max(2, min(photo_w, int(round(out_w * factor))))
    top = int(rng.integers(0, photo_h - crop_h + 1))
    left = int(rng.integers(0, photo_w - crop_w + 1))
    crop = photo[top : top + crop_h, left : left + crop_w]
    interp = cv2.INTER_AREA if crop_h >= out_h else cv2.INTER_LINEAR
    texture = cv2.resize(crop, (out_w, out_h), interpolation=interp)
    if name in GRAY_TEXTURE_NAMES:
        tint = rng.uniform(0.35, 1.0, size=3).astype(np.float32)
        texture = texture * tint
    if rng.random() < 0.5:
        texture = texture[:, ::-1]
    if sigma > 0:
        texture = cv2.GaussianBlur(np.ascontiguousarray(texture), (0, 0), sigma)
    return np.ascontiguousarray(texture, dtype=np.float32)


def _lab_samples(texture: np.ndarray) -> np.ndarray:
    """At most :data:`_MATCH_SAMPLES` CIELAB colours of a float RGB texture, a regular subsample."""
    pixels = cv2.cvtColor(np.ascontiguousarray(texture, dtype=np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    stride = max(1, math.ceil(len(pixels) / _MATCH_SAMPLES))
    return np.ascontiguousarray(pixels[::stride])


def background_match(texture: np.ndarray, background: np.ndarray) -> float:
    """The share of ``texture``'s pixels whose CIELAB colour is within
    :data:`BACKGROUND_MATCH_DELTA_E` of a colour of ``background`` (both float RGB ``[H, W, 3]``
    in [0, 1], each subsampled to at most 1024 pixels): 0 for an object no pixel of which could
    pass for background, 1 for one the background's colours cover entirely."""
    colours, background_lab = _lab_samples(texture), _lab_samples(background)
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one small matrix product instead of an [N, M, 3] array.
    squared = (colours**2).sum(1)[:, None] + (background_lab**2).sum(1)[None, :] - 2.0 * colours @ background_lab.T
    return float((squared.min(axis=1) < BACKGROUND_MATCH_DELTA_E**2).mean())


def _soft_shape(rng: np.random.Generator, size: int, soft_edge: float) -> np.ndarray:
    """A random smooth star-shaped blob in a ``size x size`` square: float32 alpha in [0, 1].

    The radius is ``R (1 + sum_i a_i cos(i theta + phi_i))`` for harmonics 2..4; the alpha ramps
    linearly across ``soft_edge`` pixels centred on the outline (from the signed distance).
    """
    centre = (size - 1) / 2.0
    base = 0.5 * size * rng.uniform(0.62, 0.8)
    amplitudes = rng.uniform(0.0, 1.0, size=3)
    amplitudes *= rng.uniform(0.05, 0.3) / max(amplitudes.sum(), 1e-9)
    phases = rng.uniform(0, 2 * np.pi, size=3)
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    radius = base * (1 + sum(a * np.cos((i + 2) * theta + p) for i, (a, p) in enumerate(zip(amplitudes, phases))))
    radius = np.minimum(radius, 0.5 * size - soft_edge - 1.0)
    polygon = np.stack([centre + radius * np.cos(theta), centre + radius * np.sin(theta)], axis=1)
    shift = 4  # fixed-point sub-pixel bits for fillPoly
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * (1 << shift)).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=shift)
    if soft_edge <= 0:
        return mask.astype(np.float32)
    inside = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    signed = np.where(mask > 0, inside - 0.5, 0.5 - outside)
    return np.clip(0.5 + signed / soft_edge, 0.0, 1.0).astype(np.float32)


def _sinusoid(rng: np.random.Generator, times: np.ndarray, peak_speed: float, cfg: SyntheticConfig) -> np.ndarray:
    """A bounded smooth trajectory whose speed never exceeds ``peak_speed`` (per unit of ``times``)."""
    period = rng.uniform(cfg.min_period, cfg.max_period)
    omega = 2 * np.pi / period
    speed = rng.uniform(-peak_speed, peak_speed)
    phase = rng.uniform(0, 2 * np.pi)
    return (speed / omega) * (np.sin(omega * times + phase) - np.sin(phase))


def _rotation_scale(angle: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``[T, 3, 3]`` homogeneous matrices ``scale * R(angle)``."""
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    out = np.zeros((angle.shape[0], 3, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = cos, -sin, sin, cos
    out[:, 2, 2] = 1.0
    return out


def _translation(tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    out = np.tile(np.eye(3), (np.shape(tx)[0], 1, 1))
    out[:, 0, 2], out[:, 1, 2] = tx, ty
    return out


def _frame_box(frame_to_texture: np.ndarray, side: int, height: int, width: int) -> tuple[int, int, int, int] | None:
    """Frame-pixel box ``(y0, y1, x0, x1)`` (end exclusive) covering a ``side x side`` texture, or None."""
    corners = np.array([[0, 0, 1], [side - 1, 0, 1], [0, side - 1, 1], [side - 1, side - 1, 1]], float).T
    points = np.linalg.inv(frame_to_texture) @ corners
    x0 = max(0, int(math.floor(points[0].min())) - 1)
    x1 = min(width, int(math.ceil(points[0].max())) + 2)
    y0 = max(0, int(math.floor(points[1].min())) - 1)
    y1 = min(height, int(math.ceil(points[1].max())) + 2)
    return (y0, y1, x0, x1) if x1 > x0 and y1 > y0 else None


def synthetic_clip(
    seed: int,
    size: tuple[int, int] = (256, 256),
    num_frames: int = 5,
    config: SyntheticConfig | None = None,
    **options,
) -> dict:
    """Generate one synthetic clip with exact flows, masks and occlusion ground truth.

    Args:
        seed: any non-negative int; the same seed, size, length and options give the same clip.
        size: frame size ``(H, W)``, each >= 16.
        num_frames: ``T >= 1``.
        config: a :class:`SyntheticConfig`; ``**options`` override its fields (for example
            ``num_objects=(2, 2)``, ``object_speed=1.0``).

    Returns:
        A dict with
        ``frames`` ``[T, 3, H, W]`` float32 RGB in [0, 1];
        ``flow_fwd``, ``flow_bwd`` ``[T-1, 2, H, W]`` float32, pixels (flow of the top-most layer);
        ``masks`` ``[T, 1, H, W]`` float32 {0, 1}, the foreground (any object visible);
        ``labels`` ``[T, 1, H, W]`` int64, the visible layer (0 background, i the i-th object from
        the bottom; an object is visible where its alpha exceeds 0.5 and no later one's does);
        ``occlusion`` ``[T-1, 1, H, W]`` bool, True where the pixel of frame k+1 is not visible in
        frame k (covered by a layer above it, or its source lies outside the frame);
        ``occlusion_fwd`` ``[T-1, 1, H, W]`` bool, the same for pixels of frame k in frame k+1;
        ``soft_edge`` ``[T, 1, H, W]`` bool, True where the colour is a blend of layers (the soft
        alpha ramp), where the warp identity holds only approximately;
        ``affine`` ``[L, T, 3, 3]`` float64, the frame-to-texture map of every layer;
        ``layers`` list of the photograph names, background first;
        ``background_match`` list of floats, per object: :func:`background_match` of its texture
        against the background's;
        ``seed`` the seed.

    Convention:
        ``flow_bwd[k](p)`` moves pixel ``p`` of frame ``k+1`` to frame ``k``; ``flow_fwd[k](q)``
        moves pixel ``q`` of frame ``k`` to frame ``k+1``; x then y, pixels, integer pixel centres.
    """
    if config is None:
        config = SyntheticConfig(**options)
    elif options:
        config = dataclasses.replace(config, **options)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, (int, np.integer)) for s in size)):
        raise ValueError(f"size must be a pair of ints (H, W), got {size!r}")
    height, width = int(size[0]), int(size[1])
    if height < 16 or width < 16:
        raise ValueError(f"size must be at least 16x16, got {height}x{width}")
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise ValueError(f"num_frames must be an int >= 1, got {num_frames!r}")

    rng = np.random.default_rng(int(seed))
    cfg = config
    times = np.arange(num_frames, dtype=np.float64)
    num_objects = int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))
    names = list(PHOTO_NAMES + GRAY_TEXTURE_NAMES)
    chosen = [names[i] for i in rng.permutation(len(names))[: num_objects + 1]]
    while len(chosen) < num_objects + 1:  # more objects than photographs: reuse some
        chosen.append(names[int(rng.integers(len(names)))])

    frame_centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    # --- background: camera translation, zoom and rotation around the frame centre.
    bg_h, bg_w = int(math.ceil(1.5 * height)), int(math.ceil(1.5 * width))
    background = _texture(rng, chosen[0], bg_h, bg_w, cfg.texture_sigma)
    tex_centre = np.array([(bg_w - 1) / 2.0, (bg_h - 1) / 2.0])
    angle = np.deg2rad(_sinusoid(rng, times, cfg.camera_rotation, cfg) + rng.uniform(-5, 5))
    zoom = np.exp(_sinusoid(rng, times, math.log1p(cfg.camera_zoom), cfg))
    pan_x, pan_y = _sinusoid(rng, times, cfg.camera_speed, cfg), _sinusoid(rng, times, cfg.camera_speed, cfg)
    affines = [
        _translation(tex_centre[0] + pan_x, tex_centre[1] + pan_y)
        @ _rotation_scale(angle, zoom)
        @ _translation(*np.broadcast_to(-frame_centre[:, None], (2, num_frames)))
    ]
    # --- objects: texture square of side `diameter`, centre, rotation and scale in the frame.
    textures = [background]
    alphas: list[np.ndarray] = []
    short = min(height, width)
    others = [name for name in names if name != chosen[0]]
    matches: list[float] = []
    for index in range(1, len(chosen)):
        diameter = max(8, int(round(short * rng.uniform(*cfg.object_size))))
        texture = _texture(rng, chosen[index], diameter, diameter, cfg.texture_sigma)
        # Redraw (photograph and crop) while the object could pass for its background; the first
        # draw consumes no extra random numbers, so a clip whose objects all pass stays as it was.
        best = (background_match(texture, background), chosen[index], texture)
        for _ in range(MAX_OBJECT_REDRAWS):
            if best[0] <= cfg.max_background_match:
                break
            name = others[int(rng.integers(len(others)))]
            candidate = _texture(rng, name, diameter, diameter, cfg.texture_sigma)
            match = background_match(candidate, background)
            if match < best[0]:
                best = (match, name, candidate)
        match, chosen[index], texture = best
        matches.append(match)
        textures.append(texture)
        alphas.append(_soft_shape(rng, diameter, cfg.soft_edge))
        centre_x = rng.uniform(0.15, 0.85) * (width - 1) + _sinusoid(rng, times, cfg.object_speed, cfg)
        centre_y = rng.uniform(0.15, 0.85) * (height - 1) + _sinusoid(rng, times, cfg.object_speed, cfg)
        obj_angle = np.deg2rad(rng.uniform(0, 360) + _sinusoid(rng, times, cfg.object_rotation, cfg))
        obj_scale = np.exp(rng.uniform(-0.1, 0.1) + _sinusoid(rng, times, math.log1p(cfg.object_zoom), cfg))
        half = (diameter - 1) / 2.0
        # frame -> texture: u = c_tex + (1/s) R(-angle) (p - c(t))
        affines.append(
            _translation(np.full(num_frames, half), np.full(num_frames, half))
            @ _rotation_scale(-obj_angle, 1.0 / obj_scale)
            @ _translation(-centre_x, -centre_y)
        )
    affine = np.stack(affines)  # [L, T, 3, 3]

    # --- render: composite every layer into every frame; objects only inside their bounding box.
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    frames = np.empty((num_frames, height, width, 3), np.float32)
    labels = np.zeros((num_frames, height, width), np.uint8)
    top_alpha = np.ones((num_frames, height, width), np.float32)  # alpha of the top-most non-transparent layer
    rgba = [np.dstack([tex, alpha]) for tex, alpha in zip(textures[1:], alphas)]
    for t in range(num_frames):
        frame = frames[t]
        cv2.warpAffine(background, affine[0, t, :2], (width, height), dst=frame, flags=flags,
                       borderMode=cv2.BORDER_REFLECT_101)
        for index, layer in enumerate(rgba, start=1):
            box = _frame_box(affine[index, t], layer.shape[0], height, width)
            if box is None:
                continue
            y0, y1, x0, x1 = box
            to_roi = affine[index, t] @ np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1.0]])
            warped = cv2.warpAffine(layer, to_roi[:2], (x1 - x0, y1 - y0), flags=flags,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            colour, alpha = warped[:, :, :3], warped[:, :, 3]
            region = frame[y0:y1, x0:x1]
            region += alpha[:, :, None] * (colour - region)
            labels[t, y0:y1, x0:x1][alpha > 0.5] = index
            np.copyto(top_alpha[t, y0:y1, x0:x1], alpha, where=alpha > _ALPHA_EPS)
    # The colour is a blend of layers where the top-most non-transparent layer is not opaque.
    soft = top_alpha < 1.0 - _ALPHA_EPS

    # --- flows and occlusion, pair by pair: every layer's flow is affine in the pixel position, so
    # the flow at each pixel is the affine map of its visible layer (coefficients gathered by label).
    num_layers = affine.shape[0]
    xs = np.arange(width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    flow_fwd = np.empty((max(num_frames - 1, 0), 2, height, width), np.float32)
    flow_bwd = np.empty_like(flow_fwd)
    occ_bwd = np.zeros((max(num_frames - 1, 0), height, width), bool)
    occ_fwd = np.zeros_like(occ_bwd)
    inverse = np.linalg.inv(affine)
    identity = np.array([1.0, 0, 0, 0, 1.0, 0])
    for k in range(num_frames - 1):
        for src, dst, flow_out, occ_out in ((k + 1, k, flow_bwd, occ_bwd), (k, k + 1, flow_fwd, occ_fwd)):
            # pixel p of frame `src` on layer L sits at A_L(dst)^-1 A_L(src) p in frame `dst`.
            motion = inverse[:, dst] @ affine[:, src]  # [L, 3, 3]
            table = np.zeros((256, 6), np.float32)
            table[:num_layers] = motion[:, :2, :].reshape(num_layers, 6) - identity
            label = labels[src]
            c = [cv2.LUT(label, np.ascontiguousarray(table[:, j])) for j in range(6)]
            fx = c[0] * xs + c[1] * ys + c[2]
            fy = c[3] * xs + c[4] * ys + c[5]
            flow_out[k, 0], flow_out[k, 1] = fx, fy
            sx, sy = fx + xs, fy + ys
            # Outside the frame (a tolerance absorbs float rounding of zero motion at the border).
            tol = _INSIDE_TOLERANCE
            hidden = (sx < -tol) | (sx > width - 1 + tol) | (sy < -tol) | (sy > height - 1 + tol)
            # Covered in `dst` by an object above the pixel's own layer: that object's alpha at the
            # source point, read from its texture through its own map of frame `dst`.
            for index in range(1, num_layers):
                above = label < index
                if not above.any():
                    continue
                m = affine[index, dst].astype(np.float32)
                ux = m[0, 0] * sx + m[0, 1] * sy + m[0, 2]
                uy = m[1, 0] * sx + m[1, 1] * sy + m[1, 2]
                alpha = cv2.remap(alphas[index - 1], ux, uy, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                hidden |= above & (alpha > 0.5)
            occ_out[k] = hidden

    return {
        "frames": torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))),
        "flow_fwd": torch.from_numpy(flow_fwd),
        "flow_bwd": torch.from_numpy(flow_bwd),
        "masks": torch.from_numpy((labels > 0).astype(np.float32)[:, None]),
        "labels": torch.from_numpy(labels[:, None].astype(np.int64)),
        "occlusion": torch.from_numpy(occ_bwd[:, None]),
        "occlusion_fwd": torch.from_numpy(occ_fwd[:, None]),
        "soft_edge": torch.from_numpy(soft[:, None]),
        "affine": torch.from_numpy(affine),
        "layers": chosen,
        "background_match": matches,
        "seed": int(seed),
    }
