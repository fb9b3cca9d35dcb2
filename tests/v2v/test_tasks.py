"""Tests of the task registry: channels, ranges, luma, bicubic degradation, masks, the frame scorers."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from v2v import metrics
from v2v.frames import to_model_range, to_unit_range
from v2v.tasks import (
    COMMON_METRICS,
    METRIC_GOALS,
    TASK_REGISTRY,
    TRANSLATION_TASKS,
    ScoringOptions,
    Task,
    bicubic_degrade,
    get_task,
    rgb_to_luma,
)

TASKS = tuple(TASK_REGISTRY)


def task_channels(task):
    return get_task(task).channels


def make_task_pair(frames, masks, task):
    return get_task(task).pair(frames, masks)


def task_input(frames, task):
    return get_task(task).input(frames)


def task_target(frames, masks, task):
    return get_task(task).target(frames, masks)


def clip(t=3, h=20, w=24, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(t, 3, h, w, generator=generator)


def test_task_list_and_channels():
    assert TASKS == ("segmentation", "colorization", "superres", "stabilize")
    assert TRANSLATION_TASKS == ("segmentation", "colorization", "superres")
    assert task_channels("stabilize") == (6, 3)
    assert task_channels("segmentation") == (3, 1)
    assert task_channels("colorization") == (1, 3)
    assert task_channels("superres") == (3, 3)
    with pytest.raises(ValueError, match="unknown task"):
        task_channels("deblur")


@pytest.mark.parametrize("task", TRANSLATION_TASKS)
def test_pairs_have_the_declared_channels_and_range(task):
    frames = clip()
    masks = (torch.rand(3, 1, 20, 24) > 0.5).float()
    inputs, target = make_task_pair(frames, masks, task)
    cin, cout = task_channels(task)
    assert inputs.shape == (3, cin, 20, 24) and target.shape == (3, cout, 20, 24)
    for tensor in (inputs, target):
        assert tensor.dtype == torch.float32
        assert tensor.min() >= -1.0 and tensor.max() <= 1.0
    assert torch.equal(task_input(frames, task), inputs)
    assert torch.equal(task_target(frames, masks, task), target)


def test_stabilize_stacks_original_and_processed_and_targets_the_processed():
    spec = get_task("stabilize")
    frames, processed = clip(seed=1), clip(seed=2)
    inputs, target = spec.pair(frames, None, processed)
    assert inputs.shape == (3, 6, 20, 24) and target.shape == (3, 3, 20, 24)
    assert torch.equal(inputs[:, :3], to_model_range(frames)) and torch.equal(inputs[:, 3:], to_model_range(processed))
    assert torch.equal(target, to_model_range(processed))
    assert torch.equal(spec.output_base(inputs), inputs[:, 3:])  # a residual stabiliser corrects the processed frame
    assert spec.baseline(inputs[0]) is None  # the processed video is the target: no input baseline to score
    assert torch.equal(spec.shown_input(inputs), inputs[:, 3:])  # pictures show what is corrected
    assert torch.equal(get_task("colorization").shown_input(inputs[:, :1]), inputs[:, :1])
    assert torch.equal(spec.flow_frames(frames), frames)  # the original's flows: the flicker never enters them
    assert spec.metrics[:2] == ("psnr", "ssim") and spec.best_metric == "warping_error"
    uint8 = (processed * 255).round().to(torch.uint8)
    assert torch.allclose(spec.input(frames, uint8)[:, 3:], to_model_range(uint8.float() / 255))
    with pytest.raises(ValueError, match="needs the processed frames"):
        spec.input(frames)
    with pytest.raises(ValueError, match="needs the processed frames"):
        spec.target(frames, None)


def test_segmentation_target_is_the_mask():
    frames = clip()
    masks = torch.zeros(3, 1, 20, 24)
    masks[:, :, 5:10, 5:10] = 1.0
    inputs, target = make_task_pair(frames, masks, "segmentation")
    assert torch.allclose(inputs, frames * 2 - 1)
    assert torch.equal(target, masks * 2 - 1)
    assert torch.equal(task_target(frames, masks.bool(), "segmentation"), target)
    with pytest.raises(ValueError, match="needs foreground masks"):
        make_task_pair(frames, None, "segmentation")
    with pytest.raises(ValueError, match="masks must have shape"):
        make_task_pair(frames, masks[:2], "segmentation")


def test_colorization_uses_bt601_luma():
    frames = torch.zeros(3, 3, 2, 2)
    frames[0, 0], frames[1, 1], frames[2, 2] = 1.0, 1.0, 1.0  # pure red, green, blue
    luma = rgb_to_luma(frames)
    assert luma.shape == (3, 1, 2, 2)
    assert torch.allclose(luma[:, 0, 0, 0], torch.tensor([0.299, 0.587, 0.114]))
    inputs, target = make_task_pair(frames, None, "colorization")
    assert torch.allclose(inputs, luma * 2 - 1)
    assert torch.equal(target, frames * 2 - 1)
    white = torch.ones(1, 3, 4, 4)
    assert torch.allclose(rgb_to_luma(white), torch.ones(1, 1, 4, 4))


@pytest.mark.parametrize("size", [(20, 24), (21, 25), (7, 2)])
def test_superres_keeps_the_frame_size_including_odd_sizes(size):
    frames = clip(h=size[0], w=size[1])
    degraded = bicubic_degrade(frames)
    assert degraded.shape == frames.shape
    assert degraded.min() >= 0 and degraded.max() <= 1
    inputs, target = make_task_pair(frames, None, "superres")
    assert torch.allclose(inputs, degraded * 2 - 1) and torch.equal(target, frames * 2 - 1)


def test_superres_removes_detail_but_keeps_smooth_content():
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    smooth = (0.5 + 0.4 * torch.sin(xs / 6.0) * torch.cos(ys / 7.0)).expand(1, 3, 32, 32)
    checker = ((xs + ys) % 2).expand(1, 3, 32, 32)
    assert (bicubic_degrade(smooth) - smooth)[..., 4:-4, 4:-4].abs().max() < 0.02
    assert (bicubic_degrade(checker) - checker).abs().mean() > 0.3  # Nyquist detail is gone
    constant = torch.full((2, 3, 9, 11), 0.3)
    assert torch.allclose(bicubic_degrade(constant), constant, atol=1e-6)
    # Matches an explicit antialiased bicubic down/up resampling.
    frames = clip(h=16, w=16)
    expected = F.interpolate(
        F.interpolate(frames, size=(8, 8), mode="bicubic", antialias=True), size=(16, 16), mode="bicubic"
    ).clamp(0, 1)
    assert torch.allclose(bicubic_degrade(frames), expected)


def test_uint8_frames_and_range_helpers():
    frames = (clip() * 255).round().to(torch.uint8)
    inputs = task_input(frames, "segmentation")
    assert torch.allclose(inputs, frames.float() / 255 * 2 - 1)
    x = torch.linspace(-1, 1, 11)
    assert torch.allclose(to_model_range(to_unit_range(x)), x, atol=1e-6)
    assert torch.allclose(to_unit_range(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0.0, 0.5, 1.0]))


def test_bad_frames_are_clear_errors():
    with pytest.raises(ValueError, match=r"RGB with shape \[\.\.\., 3, H, W\]"):
        task_input(torch.rand(3, 4, 8, 8), "colorization")
    with pytest.raises(ValueError, match="float in"):
        task_input(torch.zeros(3, 3, 8, 8, dtype=torch.int32), "superres")
    with pytest.raises(TypeError, match="torch.Tensor"):
        task_input([[0.0]], "superres")
    with pytest.raises(ValueError, match="at least 2x2"):
        bicubic_degrade(torch.rand(1, 3, 1, 5))
    with pytest.raises(ValueError, match="unknown task"):
        task_input(clip(), "inpainting")


def test_registry_holds_one_task_object_per_name():
    for name, task in TASK_REGISTRY.items():
        assert isinstance(task, Task) and task.name == name and get_task(name) is task and get_task(task) is task
        assert task.channels == task_channels(name)
        assert task.metrics[-len(COMMON_METRICS):] == COMMON_METRICS and len(set(task.metrics)) == len(task.metrics)
        assert task.best_metric in METRIC_GOALS and task.best_metric in task.metrics
        assert set(task.table_metrics) <= set(task.own_metrics) and task.accuracy_metric[0] == task.table_metrics[0]
        # the paper's tasks with a base take the clip as their target; stabilize's base is the processed frame
        assert task.self_supervised == (task.output_base is not None and not task.processed_input)
    assert get_task("segmentation").needs_masks and not get_task("colorization").needs_masks
    assert get_task("segmentation").own_metrics == ("J", "J_recall", "J_decay", "F", "F_recall", "F_decay", "T")
    assert get_task("superres").own_metrics == ("psnr", "ssim", "psnr_input")
    with pytest.raises(ValueError, match=r"unknown task 'deblur'; expected one of \('segmentation'"):
        get_task("deblur")


def test_display_of_outputs():
    output = torch.tensor([-1.0, -0.2, 0.0, 1e-6, 0.5, 1.3]).view(1, 6, 1)
    mask = get_task("segmentation").display(output)
    assert mask.flatten().tolist() == [0, 0, 0, 1, 1, 1]  # foreground above the middle of [-1, 1]
    rgb = get_task("colorization").display(output.expand(3, -1, -1))
    torch.testing.assert_close(rgb[0].flatten(), to_unit_range(output).clamp(0, 1).flatten())


def test_scoring_options_are_checked():
    with pytest.raises(ValueError, match="t_protocol must be one of"):
        ScoringOptions(t_protocol="official")
    with pytest.raises(ValueError, match="psnr_crop_border must be an int >= 0"):
        ScoringOptions(psnr_crop_border=-1)


@pytest.mark.parametrize("task", TRANSLATION_TASKS)
def test_output_base_is_the_trivial_baseline_psnr_input_scores(task):
    spec = get_task(task)
    frames = torch.rand(3, 3, 16, 20)
    inputs, target = make_task_pair(frames, (frames[:, :1] > 0.5).float(), task)
    if spec.output_base is None:
        assert task == "segmentation"
        return
    base = spec.output_base(inputs)
    assert base.shape == target.shape
    if task == "colorization":  # the luma as gray RGB: every channel is the input
        assert torch.equal(base, inputs.expand(-1, 3, -1, -1))
    scorer = spec.frame_scorer()
    for t in range(3):
        scorer.update(spec.display(target[t]), spec.display(target[t]), spec.baseline(inputs[t]))
    expected = metrics.psnr(((base + 1) / 2).clamp(0, 1), (target + 1) / 2)
    assert scorer.summary()["psnr_input"] == expected  # frame by frame, the same bits as the whole video


def _masks(seed, frames=9, size=(24, 28)):
    generator = np.random.default_rng(seed)
    masks = np.zeros((frames, *size), dtype=bool)
    for t in range(frames):
        top, left = 4 + int(generator.integers(0, 4)), 5 + t % 3
        masks[t, top : top + 10 + int(generator.integers(0, 3)), left : left + 12] = True
    return masks


@pytest.mark.parametrize("t_protocol", ["consecutive", "davis"])
@pytest.mark.parametrize("pool", [False, True])
def test_mask_frame_scorer_equals_the_whole_video_measures(t_protocol, pool):
    predicted, truth = _masks(0), _masks(1)
    predicted[4] = False  # a frame without a contour: its pairs are NaN and skipped
    executor = ThreadPoolExecutor(2) if pool else None
    scorer = get_task("segmentation").frame_scorer(ScoringOptions(t_protocol=t_protocol), executor)
    for t in range(len(predicted)):
        scorer.update(torch.from_numpy(predicted[t]).float()[None], torch.from_numpy(truth[t]).float()[None], None)
    scores = scorer.summary()
    for key, per_frame in (("J", metrics.region_similarity(predicted, truth)), ("F", metrics.contour_accuracy(predicted, truth))):
        stats = metrics.sequence_statistics(per_frame)
        assert (scores[key], scores[f"{key}_recall"], scores[f"{key}_decay"]) == (stats.mean, stats.recall, stats.decay)
    first = truth[0] if t_protocol == "davis" else None
    assert scores["T"] == metrics.temporal_stability(predicted, first_target=first)
    assert len(scorer.series()["T"]) == len(predicted) - (2 if t_protocol == "davis" else 1)
    if executor is not None:
        executor.shutdown()


def test_mask_frame_scorer_davis_protocol_needs_three_frames():
    scorer = get_task("segmentation").frame_scorer(ScoringOptions(t_protocol="davis"))
    masks = _masks(0, frames=2)
    for mask in masks:
        scorer.update(torch.from_numpy(mask).float()[None], torch.from_numpy(mask).float()[None], None)
    assert np.isnan(scorer.summary()["T"])


def test_psnr_frame_scorer_equals_the_whole_video_psnr_with_a_border():
    target = torch.rand(4, 3, 16, 18)
    output = (target + 0.05 * torch.randn(4, 3, 16, 18)).clamp(0, 1)
    scorer = get_task("superres").frame_scorer(ScoringOptions(psnr_crop_border=2))
    for t in range(4):
        scorer.update(output[t], target[t], None)
    expected_ssim = float(np.mean(metrics.ssim_per_frame(output, target, crop_border=2)))
    # No baseline fed: no psnr_input.
    assert scorer.summary() == {"psnr": metrics.psnr(output, target, crop_border=2), "ssim": expected_ssim}
    assert scorer.series()["psnr"] == list(metrics.psnr_per_frame(output, target, crop_border=2))


def test_ssim_is_scikit_image_s_on_each_frame():
    from skimage.metrics import structural_similarity

    target = torch.rand(3, 3, 20, 24, dtype=torch.float64)
    output = (target + 0.1 * torch.rand(3, 3, 20, 24, dtype=torch.float64)).clamp(0, 1)
    values = metrics.ssim_per_frame(output, target)
    for t in range(3):
        assert values[t] == structural_similarity(output[t].numpy(), target[t].numpy(), data_range=1.0, channel_axis=0)
    assert metrics.ssim_per_frame(target, target).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="at least 7x7"):
        metrics.ssim_per_frame(torch.rand(1, 3, 5, 9), torch.rand(1, 3, 5, 9))
