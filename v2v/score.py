"""Score the temporal consistency of any method's output videos: ``python -m v2v.score``.

No checkpoint and no GPU: the outputs of any methods, produced from one input video, are read
frame by frame next to that input (``--reference``), flows come from a :mod:`v2v.flow` provider
(through the flow cache), and every pair of consecutive frames is scored as it streams by, so
memory holds two frames of each video and the flows of one pair whatever the length.

Measures (lower is better unless said): warping error (``warping_error``, MSE, and
``warping_error_l1``), tOF, flicker (mean absolute difference of consecutive frames, no flow) and,
for mask videos (``--protocol davis``), J and F against ``--target`` (higher is better) and T. How
each is computed is fixed by a named protocol (:data:`PROTOCOLS`), printed with every result:

- ``v2v`` (default): the project's own convention, the same as ``v2v.evaluate`` and the training
  loss: flows of the reference, previous frame warped forward by the backward flow,
  ``v2vcore.consistency_mask``.
- ``lai``: what Lai et al.'s released ``evaluate_WarpError.py`` computes (their warp direction,
  border clamping and ``detect_occlusion`` mask), with the reference's flows from our provider in
  place of FlowNet2.
- ``output-flow``: as ``v2v`` but with flows computed on each output itself.
- ``davis``: mask videos: as ``v2v`` on the binary masks, plus J, F and T.

Example::

    python -m v2v.score ours.mp4 baseline.mp4 --reference input.mp4 --protocol lai --json scores.json --plot we.png

See ``docs/metrics.md`` ("Scoring any video") for the protocols side by side.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from v2v.metrics.consistency import ConsistencyScorer, MaskScorer

__all__ = ["Protocol", "PROTOCOLS", "DEFAULT_PROTOCOL", "StreamScorer", "score_videos", "format_table", "main"]


@dataclass(frozen=True)
class Protocol:
    """One named way of scoring, with everything a reader needs to compare its numbers.

    Attributes:
        name: the ``--protocol`` value.
        title: one line saying what it is.
        flow_video: ``"reference"`` (flows of the input video) or ``"output"`` (of each output).
        convention: warp convention of :func:`v2v.metrics.consistency.pair_warping_errors`.
        masks: scores binary mask videos (J, F against ``--target``, T).
        warp, mask, norm, pairs, value_range, scale: the description printed with the numbers.
    """

    name: str
    title: str
    flow_video: str
    convention: str
    masks: bool
    warp: str
    mask: str
    norm: str
    pairs: str
    value_range: str
    scale: str

    def describe(self) -> dict[str, Any]:
        """The protocol's fields as a JSON-ready dict (without the flow provider)."""
        return {
            "name": self.name, "title": self.title, "flow_video": self.flow_video, "warp": self.warp,
            "mask": self.mask, "norm": self.norm, "pairs": self.pairs, "value_range": self.value_range,
            "scale": self.scale,
        }


_V2V_WARP = "frame t-1 warped to frame t by the backward flow b_t (v2vcore.warp, bilinear, taps outside the frame read 0)"
_V2V_MASK = ("v2vcore.consistency_mask on frame t: sample point inside the frame, forward-backward test "
             "|b + f~|^2 <= 0.01 (|b|^2 + |f~|^2) + 0.5, no motion boundary |grad b|^2 <= 0.01 |b|^2 + 0.002 "
             "(central differences)")
_NORM = ("warping_error: squared residual, warping_error_l1: absolute residual, each summed over reliable pixels "
         "and channels / (channels x reliable pixels); a pair with no reliable pixel scores 0")
_PAIRS = "every consecutive pair (t-1, t); a video's value is the mean over its pairs"
_RGB_RANGE = "8-bit RGB / 255, in [0, 1] (gray frames replicated to 3 channels)"

PROTOCOLS: dict[str, Protocol] = {
    "v2v": Protocol(
        name="v2v",
        title="the project's default: v2v.evaluate's warping error and the training loss's mask",
        flow_video="reference", convention="v2v", masks=False,
        warp=_V2V_WARP, mask=_V2V_MASK, norm=_NORM, pairs=_PAIRS, value_range=_RGB_RANGE, scale="x1",
    ),
    "lai": Protocol(
        name="lai",
        title="Lai et al. 2018, as their released evaluate_WarpError.py computes it (FlowNet2 replaced by --flow)",
        flow_video="reference", convention="lai", masks=False,
        warp=("frame t warped to frame t-1 by the forward flow f_{t-1} (bilinear, the four taps clamped to the "
              "frame, as their Resample2d)"),
        mask=("utils.detect_occlusion on frame t-1: forward-backward test |f + b~|^2 <= 0.01 (|f|^2 + |b~|^2) + 0.5 "
              "with b~ the border-clamped warp of b_t, no motion boundary: one-sided differences of f, "
              "dx^2 + dy^2 of both components <= 0.01 |f|^2 + 0.002; no inside-the-frame test"),
        norm=_NORM + " (their 3-channel mask: / (3 x reliable pixels))",
        pairs=_PAIRS, value_range=_RGB_RANGE, scale="x1 (the released code's scale)",
    ),
    "output-flow": Protocol(
        name="output-flow",
        title="flows computed on each output itself (as some video-generation benchmarks do)",
        flow_video="output", convention="v2v", masks=False,
        warp=_V2V_WARP.replace("backward flow b_t", "output's own backward flow b_t"), mask=_V2V_MASK, norm=_NORM,
        pairs=_PAIRS, value_range=_RGB_RANGE, scale="x1",
    ),
    "davis": Protocol(
        name="davis",
        title="mask videos: J and F against --target (DAVIS 2017), T (DAVIS 2016), and the v2v warping error of the masks",
        flow_video="reference", convention="v2v", masks=True,
        warp=_V2V_WARP, mask=_V2V_MASK, norm=_NORM,
        pairs=_PAIRS + "; J and F per frame (mean, recall, decay); T over every consecutive pair, 5 x the NaN-skipping mean",
        value_range="binary masks: pixels thresholded at 128 (one channel, values 0 or 1)", scale="x1; T x5",
    ),
}
DEFAULT_PROTOCOL = "v2v"


class BadInput(ValueError):
    """Input that cannot be scored (mismatched videos, a colour video under a mask protocol, ...)."""


# -- frames ----------------------------------------------------------------------------------------

_MASK_MAX_CHANNEL_SPREAD = 16  # grey levels: a mask video may carry compression noise, not colour
_MASK_GREY_BAND = (32, 223)  # grey levels neither clearly background nor clearly foreground
_MASK_MAX_AMBIGUOUS = 0.01  # fraction of a frame's pixels allowed to be coloured or mid-grey


def _to_mask(image: np.ndarray, label: str, index: int) -> np.ndarray:
    """A uint8 ``[H, W, 3]`` frame of a mask video as bool ``[H, W]``, or a BadInput saying why not."""
    channels = image.astype(np.int16)
    spread = channels.max(axis=2) - channels.min(axis=2)
    grey = channels[:, :, 0]
    ambiguous = (spread > _MASK_MAX_CHANNEL_SPREAD) | ((grey >= _MASK_GREY_BAND[0]) & (grey <= _MASK_GREY_BAND[1]))
    fraction = float(ambiguous.mean())
    if fraction > _MASK_MAX_AMBIGUOUS:
        raise BadInput(
            f"{label} frame {index} is not a mask: {100 * fraction:.0f}% of its pixels are coloured or mid-grey; "
            "--protocol davis scores binary mask videos (black background, white foreground)"
        )
    return grey >= 128


def _check_pair_of_videos(reader, path: str, label: str, ref_reader, ref_path: str, max_frames: int | None) -> None:
    """Raise a BadInput naming both videos when a video's size or known length differs from the reference's."""
    if tuple(reader.frame_size) != tuple(ref_reader.frame_size):
        (h, w), (rh, rw) = reader.frame_size, ref_reader.frame_size
        raise BadInput(f"{label} {path} is {h}x{w} but --reference {ref_path} is {rh}x{rw}: every video must have the reference's frame size")
    count, ref_count = reader.num_frames, ref_reader.num_frames
    if count is not None and ref_count is not None:
        if max_frames is not None:
            count, ref_count = min(count, max_frames), min(ref_count, max_frames)
        if count != ref_count:
            raise BadInput(f"{label} {path} has {count} frames but --reference {ref_path} has {ref_count}: every video must have the reference's length")


def _lockstep(readers: Sequence, paths: Sequence[str], labels: Sequence[str], max_frames: int | None) -> Iterator[tuple]:
    """Frames of several videos in lockstep; a BadInput naming two of them when their lengths differ."""
    iterators = [iter(reader) for reader in readers]
    index = 0
    while max_frames is None or index < max_frames:
        frames = [next(iterator, None) for iterator in iterators]
        ended = [frame is None for frame in frames]
        if all(ended):
            return
        if any(ended):
            counts = [index if done else index + 1 + sum(1 for _ in iterator) for done, iterator in zip(ended, iterators)]
            short = ended.index(True)
            other = ended.index(False)
            raise BadInput(
                f"{labels[short]} {paths[short]} has {counts[short]} frames but {labels[other]} {paths[other]} has "
                f"{counts[other]}: every video must have the reference's length"
            )
        yield tuple(frames)
        index += 1


# -- scoring ---------------------------------------------------------------------------------------


class StreamScorer:
    """Scores several output videos of one reference under a protocol, one frame of each at a time.

    Flows are computed here, one pair at a time, with :func:`v2v.flow.iter_pair_flows` (and so
    through the provider and the cache): the reference's once for all outputs, each output's when
    the protocol warps with them or tOF needs them.

    Args:
        protocol: a :class:`Protocol` or its name.
        provider: a :mod:`v2v.flow` provider (not ``exact``).
        cache: optional :class:`v2v.flow.FlowCache`.
        num_outputs: how many outputs are fed with each reference frame.
        tof: compute tOF (needs flows of every output).

    Convention:
        tOF compares each output's forward flows with those of the comparison video: the target
        when one is fed, else the reference (the output should move as the input does).
    """

    def __init__(self, protocol: Protocol | str, provider, cache=None, num_outputs: int = 1, tof: bool = True) -> None:
        self.protocol = PROTOCOLS[protocol] if isinstance(protocol, str) else protocol
        self.provider = provider
        self.cache = cache
        self.tof = tof
        self.scorers = [ConsistencyScorer(self.protocol.convention) for _ in range(num_outputs)]
        self.mask_scorers = [MaskScorer() for _ in range(num_outputs)] if self.protocol.masks else None
        self._previous: dict[str, Any] = {}
        self.frames = 0

    def _pair_flows(self, key: str, frame: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        from v2v.flow import iter_pair_flows

        previous = self._previous.get(key)
        self._previous[key] = frame
        if previous is None:
            return None
        return next(iter_pair_flows((previous, frame), self.provider, self.cache))

    def update(self, outputs: Sequence, reference, target=None) -> None:
        """Feed frame t of every output, of the reference and (optionally) of the target.

        Args:
            outputs: one frame per output: uint8 ``[H, W, 3]`` numpy (or, for a mask protocol, bool
                ``[H, W]`` masks), or float ``[C, H, W]`` torch in [0, 1].
            reference: the reference's frame t (uint8 ``[H, W, 3]`` or float torch ``[C, H, W]``).
            target: the target's frame t (a bool mask for a mask protocol), or None.
        """
        if len(outputs) != len(self.scorers):
            raise ValueError(f"expected {len(self.scorers)} output frames, got {len(outputs)}")
        if self.protocol.masks and target is None:
            raise BadInput(f"--protocol {self.protocol.name} needs --target (the ground-truth masks)")
        reference_flows = self._pair_flows("reference", reference)
        comparison_flows = None
        if self.tof:
            if target is None:
                comparison_flows = reference_flows
            else:
                comparison_flows = self._pair_flows("target", _flow_frame(target))
        for index, frame in enumerate(outputs):
            output_flows = None
            if self.tof or self.protocol.flow_video == "output":
                output_flows = self._pair_flows(f"output{index}", _flow_frame(frame))
            warp_flows = output_flows if self.protocol.flow_video == "output" else reference_flows
            tof_flows = None
            if self.tof and output_flows is not None:
                tof_flows = (output_flows[0], comparison_flows[0])
            scored = _score_frame(frame)
            self.scorers[index].update(scored, *(warp_flows or (None, None)), tof_flows=tof_flows)
            if self.mask_scorers is not None:
                self.mask_scorers[index].update(frame, target)
        self.frames += 1

    def results(self) -> list[dict[str, Any]]:
        """Per output: the summary values and ``per_frame`` lists (see :func:`score_videos`)."""
        rows = []
        for index, scorer in enumerate(self.scorers):
            row: dict[str, Any] = {"frames": scorer.frames, **scorer.summary()}
            per_frame = {key: list(values) for key, values in scorer.per_pair.items() if values or key != "tOF"}
            if self.mask_scorers is not None:
                masks = self.mask_scorers[index]
                row.update(masks.summary())
                per_frame.update({"J": list(masks.per_frame["J"]), "F": list(masks.per_frame["F"]), "T": list(masks.per_pair["T"])})
            row["per_frame"] = per_frame
            rows.append(row)
        return rows

    def report(self, outputs: Sequence[str], reference: str, target: str | None = None) -> dict[str, Any]:
        """The protocol's description and the results, as :func:`score_videos` returns them.

        Args:
            outputs: the outputs' names, in the order their frames were fed.
            reference: the reference's name; target: the target's, if one was fed.
        """
        description = self.protocol.describe()
        description["flow"] = {**_flow_description(self.provider, self.cache),
                               "computed_on": "each output" if self.protocol.flow_video == "output" else f"the reference {reference}"}
        compared = f"the target {target}" if target else f"the reference {reference}"
        description["tOF"] = (f"each output's forward flows against those of {compared}, same provider; mean per-pixel "
                              "Euclidean norm of the difference, pixels") if self.tof else "not computed (--no-tof)"
        description["flicker"] = "mean absolute difference of consecutive frames over pixels and channels, no flow"
        videos = [{"path": str(path), **row} for path, row in zip(outputs, self.results())]
        return {"protocol": description, "videos": videos}


def _flow_frame(frame):
    """What a flow provider is given for a frame: masks as uint8 0/255 gray, anything else as it is."""
    if isinstance(frame, np.ndarray) and frame.dtype == bool:
        return frame.astype(np.uint8) * 255
    return frame


def _score_frame(frame):
    """What the warping error is computed on: masks as one channel of 0/1, anything else as it is."""
    if isinstance(frame, np.ndarray) and frame.dtype == bool:
        return torch.from_numpy(frame).float()[None]
    return frame


def _flow_description(provider, cache) -> dict[str, Any]:
    identity = provider.identity()
    return {"provider": identity["name"], "settings": identity["settings"], "versions": identity["versions"],
            "cache": str(cache.root) if cache is not None else None}


def score_videos(
    outputs: Sequence[str],
    reference: str,
    *,
    protocol: str = DEFAULT_PROTOCOL,
    target: str | None = None,
    provider=None,
    cache=None,
    tof: bool = True,
    max_frames: int | None = None,
    fps: float | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score output videos against their reference, streaming (see the module docstring).

    Args:
        outputs: video files or frame folders, all made from ``reference``.
        reference: the input video (file or frame folder) whose flows are used.
        protocol: a name of :data:`PROTOCOLS`.
        target: ground-truth video (masks for ``davis``), optional otherwise (tOF against it).
        provider: a :mod:`v2v.flow` provider; default :data:`~v2v.flow.DEFAULT_FLOW_PROVIDER` with its
            default settings.
        cache: optional :class:`v2v.flow.FlowCache`.
        tof: compute tOF (flows of every output; the slowest part besides the reference's flows).
        max_frames: score only the first frames.
        fps: unused by the measures; accepted for frame folders' readers.
        progress: show a progress bar on stderr.

    Returns:
        ``{"protocol": {...}, "videos": [{"path", "frames", "warping_error", "warping_error_l1",
        "tOF", "flicker", ["J", "J_recall", "J_decay", "F", "F_recall", "F_decay", "T"],
        "per_frame": {name: [...]}}, ...]}`` in the order of ``outputs``. Pair measures have one
        value per frame pair (entry k is the pair (k, k+1)); J and F one per frame.

    Raises:
        FileNotFoundError: a missing video.
        ValueError: an unreadable video, videos of different sizes or lengths (naming both), a
            mask protocol on colour video, bad options.
    """
    from tqdm import tqdm

    from v2v.data.video_io import open_video_reader
    from v2v.flow import DEFAULT_FLOW_PROVIDER, make_flow_provider

    if protocol not in PROTOCOLS:
        raise BadInput(f"--protocol must be one of {tuple(PROTOCOLS)}, got {protocol!r}")
    spec = PROTOCOLS[protocol]
    if not outputs:
        raise BadInput("give at least one OUTPUT video to score")
    if spec.masks and target is None:
        raise BadInput(f"--protocol {protocol} needs --target (the ground-truth masks)")
    if max_frames is not None and max_frames < 2:
        raise BadInput(f"--max-frames must be at least 2 (one frame pair), got {max_frames}")
    provider = provider if provider is not None else make_flow_provider(DEFAULT_FLOW_PROVIDER)

    def open_reader(path: str, label: str):
        if not Path(path).exists():
            raise FileNotFoundError(f"{label} {path} does not exist (expected a video file or a folder of frames)")
        folder_fps = fps if Path(path).is_dir() else None
        return open_video_reader(path, fps=folder_fps)

    reference_reader = open_reader(reference, "--reference")
    paths = [str(path) for path in outputs]
    readers = [open_reader(path, "OUTPUT") for path in paths]
    labels = ["OUTPUT"] * len(paths)
    if target is not None:
        readers.append(open_reader(target, "--target"))
        paths.append(str(target))
        labels.append("--target")
    for reader, path, label in zip(readers, paths, labels):
        _check_pair_of_videos(reader, path, label, reference_reader, reference, max_frames)

    scorer = StreamScorer(spec, provider, cache, num_outputs=len(outputs), tof=tof)
    total = reference_reader.num_frames
    if total is not None and max_frames is not None:
        total = min(total, max_frames)
    bar = tqdm(total=total, unit="frame", desc=f"score ({protocol})", disable=not progress, file=sys.stderr)
    all_readers = [reference_reader, *readers]
    all_paths = [str(reference), *paths]
    all_labels = ["--reference", *labels]
    try:
        for frames in _lockstep(all_readers, all_paths, all_labels, max_frames):
            index = scorer.frames
            reference_frame, rest = frames[0], frames[1:]
            output_frames = list(rest[: len(outputs)])
            target_frame = rest[len(outputs)] if target is not None else None
            if spec.masks:
                output_frames = [_to_mask(frame, "OUTPUT " + path, index) for frame, path in zip(output_frames, outputs)]
                target_frame = _to_mask(target_frame, f"--target {target}", index)
            scorer.update(output_frames, reference_frame, target_frame)
            bar.update(1)
    finally:
        bar.close()
    if scorer.frames < 2:
        raise BadInput(f"--reference {reference} has {scorer.frames} frame(s): scoring needs at least one frame pair")
    return scorer.report(outputs, reference, target)


# -- reports ---------------------------------------------------------------------------------------

_SUMMARY_KEYS = ("warping_error", "warping_error_l1", "tOF", "flicker", "J", "J_recall", "J_decay",
                 "F", "F_recall", "F_decay", "T")


def _number(value: Any) -> str:
    if value is None or isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def format_table(report: dict[str, Any]) -> str:
    """The protocol block and one row per video, as printed on stdout."""
    protocol = report["protocol"]
    flow = protocol["flow"]
    settings = ", ".join(f"{key}={value}" for key, value in flow["settings"].items())
    versions = ", ".join(f"{key} {value}" for key, value in flow["versions"].items())
    lines = [
        f"protocol {protocol['name']}: {protocol['title']}",
        f"  flows:   {flow['provider']} ({settings or 'defaults'}{'; ' + versions if versions else ''}), computed on {flow['computed_on']}",
        f"  warp:    {protocol['warp']}",
        f"  mask:    {protocol['mask']}",
        f"  norm:    {protocol['norm']}",
        f"  pairs:   {protocol['pairs']}",
        f"  range:   {protocol['value_range']}; scale {protocol['scale']}",
        f"  tOF:     {protocol['tOF']}",
        f"  flicker: {protocol['flicker']}",
        "",
    ]
    keys = [key for key in _SUMMARY_KEYS if any(key in video for video in report["videos"])]
    header = ["video", "frames", *keys]
    rows = [[video["path"], str(video["frames"]), *(_number(video.get(key)) for key in keys)] for video in report["videos"]]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(cells, widths)))

    lines += [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]
    lines.append("lower is better, except J and F")
    return "\n".join(lines)


def format_csv(report: dict[str, Any]) -> str:
    """Per-frame values, one row per video and frame t: pair measures of the pair (t-1, t) on row t (empty on row 0)."""
    keys = [key for key in _SUMMARY_KEYS if any(key in video["per_frame"] for video in report["videos"])]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["video", "frame", *keys])
    for video in report["videos"]:
        per_frame = video["per_frame"]
        for frame in range(video["frames"]):
            cells = []
            for key in keys:
                values = per_frame.get(key, [])
                index = frame if key in ("J", "F") else frame - 1
                value = values[index] if 0 <= index < len(values) else None
                cells.append("" if value is None or isinstance(value, float) and math.isnan(value) else repr(float(value)))
            writer.writerow([video["path"], frame, *cells])
    return buffer.getvalue()


_PLOT_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                 (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def render_plot(report: dict[str, Any], key: str = "warping_error", size: tuple[int, int] = (960, 420)) -> bytes:
    """A PNG of ``key`` per frame pair of every video (drawn with Pillow: no plotting dependency).

    Args:
        report: what :func:`score_videos` returns.
        key: the per-pair measure to draw.
        size: ``(width, height)`` in pixels.

    Returns:
        The PNG file's bytes. The x axis is the frame t of the pair (t-1, t); the y axis starts at 0.
    """
    from PIL import Image, ImageDraw, ImageFont

    width, height = size
    left, right, top, bottom = 80, 20, 40, 50
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    series = [np.asarray(video["per_frame"].get(key, []), dtype=np.float64) for video in report["videos"]]
    longest = max((len(values) for values in series), default=0)
    finite = np.concatenate([values[np.isfinite(values)] for values in series]) if series else np.zeros(0)
    peak = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def point(index: int, value: float) -> tuple[float, float]:
        x = left + plot_w * (index / max(longest - 1, 1))
        return x, top + plot_h * (1.0 - value / peak)

    draw.rectangle([left, top, left + plot_w, top + plot_h], outline="black")
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - fraction)
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((4, y - 6), f"{peak * fraction:.3g}", fill="black", font=font)
    for step in range(6):
        index = round((longest - 1) * step / 5) if longest > 1 else 0
        x = left + plot_w * (index / max(longest - 1, 1))
        draw.line([x, top + plot_h, x, top + plot_h + 4], fill="black")
        draw.text((x - 8, top + plot_h + 8), str(index + 1), fill="black", font=font)
    draw.text((left + plot_w // 2 - 60, height - 18), "frame t of the pair (t-1, t)", fill="black", font=font)
    draw.text((left, 8), f"{key} per frame pair, protocol {report['protocol']['name']}", fill="black", font=font)
    for number, values in enumerate(series):
        colour = _PLOT_COLOURS[number % len(_PLOT_COLOURS)]
        points = [point(i, v) for i, v in enumerate(values) if math.isfinite(v)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        elif points:
            x, y = points[0]
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        label_y = top + 6 + 14 * number
        draw.line([left + plot_w - 220, label_y + 6, left + plot_w - 200, label_y + 6], fill=colour, width=3)
        name = Path(report["videos"][number]["path"]).name
        draw.text((left + plot_w - 195, label_y), name[:32], fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- command line ----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from v2v.flow import DEFAULT_FLOW_PROVIDER, DISFlowProvider

    parser = argparse.ArgumentParser(
        prog="python -m v2v.score",
        description="Score the temporal consistency of output videos made from one input video (any method, no "
        "checkpoint, no GPU): warping error (MSE, L1), tOF, flicker, and for mask videos J, F, T. Streams the videos "
        "frame by frame in bounded memory. Protocols: "
        + "; ".join(f"{name}: {spec.title}" for name, spec in PROTOCOLS.items()) + ".",
    )
    parser.add_argument("outputs", nargs="+", metavar="OUTPUT", help="output video files or frame folders to score, side by side")
    parser.add_argument("--reference", required=True, help="the input video (file or frame folder) the outputs were made from")
    parser.add_argument("--target", default=None, help="ground-truth video (required by --protocol davis: the masks); tOF compares against it when given")
    parser.add_argument("--protocol", default=DEFAULT_PROTOCOL, choices=tuple(PROTOCOLS), help=f"how to score (default {DEFAULT_PROTOCOL}; see docs/metrics.md)")
    parser.add_argument("--flow", default=DEFAULT_FLOW_PROVIDER, choices=("dis", "tvl1", "raft"),
                        help=f"flow provider (default {DEFAULT_FLOW_PROVIDER})")
    parser.add_argument("--dis-preset", default=DISFlowProvider.DEFAULT_PRESET, choices=("ultrafast", "fast", "medium"),
                        help=f"OpenCV DIS preset (default {DISFlowProvider.DEFAULT_PRESET})")
    parser.add_argument("--raft-weights", default=None, help="local RAFT state-dict file (required by --flow raft; nothing is downloaded)")
    parser.add_argument("--flow-cache", default="auto",
                        help="flow cache folder (default auto: $V2V_FLOW_CACHE, else $XDG_CACHE_HOME/v2v/flows, else ~/.cache/v2v/flows)")
    parser.add_argument("--no-flow-cache", action="store_true", help="compute every flow, store none")
    parser.add_argument("--no-tof", action="store_true", help="skip tOF (no flows of the outputs are computed, except for output-flow)")
    parser.add_argument("--max-frames", type=int, default=None, help="score only the first N frames of every video")
    parser.add_argument("--fps", type=float, default=None, help="frame rate of frame-folder inputs (not used by the measures)")
    parser.add_argument("--json", default=None, help="write the protocol, the per-video and per-frame values as JSON")
    parser.add_argument("--csv", default=None, help="write the per-frame values as CSV")
    parser.add_argument("--plot", default=None, help="write a PNG of every output's per-frame warping error")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _check_destinations(args: argparse.Namespace) -> None:
    for option in ("json", "csv", "plot"):
        value = getattr(args, option)
        if value is None:
            continue
        path = Path(value)
        if path.is_dir():
            raise BadInput(f"--{option} {path} is a folder; give a file name")
        if not path.parent.is_dir():
            raise BadInput(f"--{option} {path}: the folder {path.parent} does not exist")
    if args.plot is not None and Path(args.plot).suffix.lower() != ".png":
        raise BadInput(f"--plot {args.plot} must end in .png")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (console script ``v2v-score``).

    Returns:
        0 on success; 2 for bad input or options (one line on stderr, nothing written); 1 when a
        result could not be written.
    """
    args = _parser().parse_args(argv)
    try:  # before any heavy work: the metrics run the compiled op on the CPU
        import v2vcore

        v2vcore.check_device("cpu")
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        from v2v.flow import FlowConfig

        _check_destinations(args)
        flow_config = FlowConfig(provider=args.flow, cache_dir=None if args.no_flow_cache else args.flow_cache,
                                 dis_preset=args.dis_preset, raft_weights=args.raft_weights)
        provider = flow_config.build_provider(has_exact_flow=False)
        report = score_videos(
            args.outputs, args.reference, protocol=args.protocol, target=args.target, provider=provider,
            cache=flow_config.build_cache(), tof=not args.no_tof, max_frames=args.max_frames, fps=args.fps,
            progress=not args.quiet,
        )
    except (FileNotFoundError, NotADirectoryError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Everything is computed before anything is written, so a failure above leaves no file behind.
    try:
        from v2v.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text

        if args.json is not None:
            atomic_write_json(args.json, report)
        if args.csv is not None:
            atomic_write_text(args.csv, format_csv(report))
        if args.plot is not None:
            atomic_write_bytes(args.plot, render_plot(report))
    except OSError as error:
        print(f"error: cannot write the results: {error}", file=sys.stderr)
        return 1
    print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
