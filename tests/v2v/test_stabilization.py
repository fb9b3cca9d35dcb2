"""Blend and the streaming path: strength 0, the steady state against exact flows, the same-flow identity,
scene cuts, flows of the original only, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import v2vcore
from v2v import metrics
from v2v.data import synthetic_clip
from v2v.flow import DISFlowProvider
from v2v.frames import to_uint8
from v2v.processors import process_clip
from v2v.stabilization import BlendStabilizer, stabilize_frames, stream_stabilize


def texture(seed: int, height: int = 32, width: int = 40) -> np.ndarray:
    noise = np.random.default_rng(seed).random((height // 4, width // 4, 3)).astype(np.float32)
    return np.rint(cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def shot(seed: int, frames: int) -> np.ndarray:
    """A texture panning right one pixel a frame."""
    image = texture(seed)
    return np.stack([np.roll(image, t, axis=1) for t in range(frames)])


def unit(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0


def blend_with_flows(frames: np.ndarray, processed: np.ndarray, flow_fwd, flow_bwd, strength: float) -> torch.Tensor:
    """Blend driven by given flows (exact ones), float outputs ``[T, 3, H, W]``."""
    stabilizer = BlendStabilizer(strength)
    outputs = [stabilizer.step(frames[0], processed[0], None)]
    for t in range(1, len(frames)):
        outputs.append(stabilizer.step(frames[t], processed[t], (flow_fwd[t - 1], flow_bwd[t - 1])))
    return torch.stack(outputs)


def test_strength_zero_returns_the_processed_frames_exactly():
    original = shot(1, 6)
    processed = process_clip(original, "gamma", seed=0, flicker="fresh")
    output = stabilize_frames(original, processed, BlendStabilizer(0.0), DISFlowProvider())
    assert output.dtype == np.uint8 and np.array_equal(output, processed)
    assert not np.array_equal(stabilize_frames(original, processed, BlendStabilizer(0.5), DISFlowProvider()), processed)


def test_a_still_scene_gets_the_exponential_moving_average_of_the_flicker():
    gray = np.full((16, 16, 3), 128, np.uint8)
    offsets = np.array([0, 12, -7, 20, 3, -15, 9])
    processed = np.stack([gray + offset for offset in offsets]).astype(np.uint8)
    still = torch.zeros(len(offsets) - 1, 2, 16, 16)
    output = blend_with_flows(np.stack([gray] * len(offsets)), processed, still, still, 0.6)
    expected = [float(offsets[0])]
    for offset in offsets[1:]:
        expected.append(0.6 * expected[-1] + 0.4 * offset)
    np.testing.assert_allclose(output.mean(dim=(1, 2, 3)).numpy() * 255 - 128, expected, atol=1e-3)


@pytest.mark.parametrize("seed", [0, 1])
def test_on_exact_flows_blending_cuts_brightness_flicker_as_the_ema_predicts(seed):
    """Independent per-frame offsets of variance s^2 give consecutive frames a difference of variance
    2 s^2; after blending, (1 - a)^2 (s^2 + Var(EMA)) = (1 - a)^2 2 s^2 / (1 + a): the warping error
    shrinks by (1 - a)^2 / (1 + a), up to the clip's own (interpolation) error and clipped pixels."""
    clip = synthetic_clip(seed, size=(48, 64), num_frames=40)
    frames = to_uint8(clip["frames"]).permute(0, 2, 3, 1).numpy()
    processed = process_clip(frames, "brightness", seed=seed, flicker="fresh")
    flows = (clip["flow_fwd"], clip["flow_bwd"])
    processed_error = metrics.warping_error(unit(processed), *flows)
    errors = []
    for strength in (0.5, 0.8):
        ratio = metrics.warping_error(blend_with_flows(frames, processed, *flows, strength), *flows) / processed_error
        predicted = (1 - strength) ** 2 / (1 + strength)
        assert 0.8 * predicted < ratio < 1.3 * predicted, (strength, ratio, predicted)
        errors.append(ratio)
    assert errors[1] < errors[0]


def test_measured_with_its_own_flows_blend_reports_its_own_update_back():
    """On every reliable pixel, out_t - warp(out_{t-1}) = (1 - a) (proc_t - warp(out_{t-1})) exactly:
    the trap of scoring a flow-guided method with the flows it used (docs/stabilize.md)."""
    original = shot(2, 5)
    processed = process_clip(original, "contrast", seed=1, flicker="fresh")
    flow_fwd, flow_bwd = DISFlowProvider().compute(unit(original))
    strength = 0.7
    output = blend_with_flows(original, processed, flow_fwd, flow_bwd, strength)
    mask = v2vcore.consistency_mask(flow_fwd, flow_bwd)
    assert mask.float().mean() > 0.5
    warped = v2vcore.warp(output[:-1].contiguous(), flow_bwd)
    measured = (output[1:] - warped) * mask
    update = (unit(processed)[1:] - warped) * mask
    torch.testing.assert_close(measured, (1 - strength) * update, atol=1e-6, rtol=0)


def test_scene_cuts_reset_the_state():
    original = np.concatenate([shot(1, 15), shot(7, 4)])  # the first shot lasts the minimum shot length
    processed = process_clip(original, "brightness", seed=0, flicker="fresh")
    frames = list(stream_stabilize(zip(original, processed), BlendStabilizer(0.8), DISFlowProvider()))
    assert [index for index, frame in enumerate(frames) if frame.new_shot] == [15]
    outputs = np.stack([to_uint8(frame.output.permute(1, 2, 0).numpy()) for frame in frames])
    assert np.array_equal(outputs[0], processed[0]) and np.array_equal(outputs[15], processed[15])
    assert not np.array_equal(outputs[16], processed[16])  # blending resumes within the new shot
    across = stabilize_frames(original, processed, BlendStabilizer(0.8), DISFlowProvider(), scene_cut_threshold=None)
    assert not np.array_equal(across[15], processed[15])


class RecordingProvider(DISFlowProvider):
    """DIS that remembers the frames it was given."""

    def __init__(self) -> None:
        super().__init__(preset="ultrafast")
        self.seen: list[torch.Tensor] = []

    def compute(self, frames):
        self.seen.extend(torch.as_tensor(frames))
        return super().compute(frames)


def test_flows_come_from_the_original_pair_by_pair():
    original = shot(3, 4)
    processed = process_clip(original, "hue", seed=0, flicker="fresh")
    provider = RecordingProvider()
    stabilize_frames(original, processed, BlendStabilizer(0.5), provider)
    pairs = [(t - 1, t) for t in range(1, 4)]
    expected = [torch.from_numpy(original[t]).permute(2, 0, 1) for pair in pairs for t in pair]
    assert len(provider.seen) == len(expected) and all(torch.equal(a, b) for a, b in zip(provider.seen, expected))


def test_bad_input_is_named():
    for strength in (-0.1, 1.0, True):
        with pytest.raises(ValueError, match="blend strength must be in"):
            BlendStabilizer(strength)
    original = shot(1, 3)
    with pytest.raises(ValueError, match="frame 0: the processed frame is 16x40 but the original is 32x40"):
        stabilize_frames(original, original[:, :16], BlendStabilizer(), DISFlowProvider())
    with pytest.raises(ValueError, match="has 3 frames but the processed one has 2"):
        stabilize_frames(original, original[:2], BlendStabilizer(), DISFlowProvider())
    with pytest.raises(ValueError, match=r"uint8 \[H, W, 3\]"):
        BlendStabilizer().step(original[0], original[0].astype(np.float32), None)
