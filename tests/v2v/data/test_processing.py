"""Tests of the stabilize task's data: clip processing (draws, the consistent reference), items of
every source, and the config's processor options."""

import numpy as np
import pytest
import torch

from v2v.config_engine import ConfigError
from v2v.data import DataConfig, apply_crop_flip, build_dataset, sample_crop_flip, synthetic_clip
from v2v.data.processing import ClipProcessing, check_processing, processors_by_name
from v2v.frames import to_model_range, to_unit_range
from v2v.processors import PROCESSORS, Processor, get_processor, process_clip
from v2v.tasks import get_task


def _clip(seed=0, frames=4, size=(24, 32)):
    return torch.rand(frames, 3, *size, generator=torch.Generator().manual_seed(seed))


def test_evaluation_draws_follow_the_index_and_training_draws_follow_the_torch_seed():
    bank = processors_by_name(["gamma", "contrast"])
    evaluation = ClipProcessing(bank, ("fresh", "drift"), random=False)
    assert [(p.name, f, s) for p, f, s in map(evaluation.draw, range(5))] == [
        ("gamma", "fresh", 0), ("contrast", "fresh", 1), ("gamma", "drift", 2), ("contrast", "drift", 3), ("gamma", "fresh", 4)]
    training = ClipProcessing(bank, ("fresh", "drift"), random=True)
    torch.manual_seed(3)
    first = [training.draw(0) for _ in range(8)]
    torch.manual_seed(3)
    assert [training.draw(0) for _ in range(8)] == first  # a worker's seed makes a run reproducible
    assert len({draw for draw in first}) > 1  # and the draws differ from clip to clip


def test_processed_clip_flickers_and_its_reference_holds_frame_zero_parameters():
    frames = _clip()
    processing = ClipProcessing(processors_by_name(["brightness"]), ("fresh",), random=False)
    clip = processing(frames, 5)
    assert (clip.processor, clip.flicker, clip.seed) == ("brightness", "fresh", 5)
    assert torch.equal(clip.processed, process_clip(frames, "brightness", 5, "fresh"))
    assert torch.equal(clip.consistent, process_clip(frames, "brightness", 5, "none"))
    assert torch.equal(clip.processed[0], clip.consistent[0])  # one seed: frame 0 draws the same parameters
    # brightness adds one offset per frame: the reference's offset is constant, the processed one's is not
    offsets = lambda video: (video - to_unit_range(to_model_range(frames))).mean(dim=(1, 2, 3))  # noqa: E731
    assert offsets(clip.consistent).std() < 0.002 < offsets(clip.processed).std()


def test_a_processor_without_parameters_is_referenced_by_the_original_clip():
    frames = _clip()
    inverted = Processor("inverted", "learned", (), lambda frame, values: 255 - frame, "255 - x")
    clip = ClipProcessing((inverted,), ("fresh",), random=False)(frames, 0)
    assert torch.equal(clip.consistent, frames)
    assert torch.allclose(clip.processed, 1 - (frames * 255).round() / 255, atol=1e-6)


def test_bad_processing_is_refused():
    with pytest.raises(ValueError, match="at least one processor"):
        ClipProcessing((), ("fresh",), random=False)
    with pytest.raises(ValueError, match="flicker must name"):
        ClipProcessing(processors_by_name(["gamma"]), ("flash",), random=False)
    with pytest.raises(ValueError, match="needs a checkpoint path"):
        processors_by_name(["image2image"])
    with pytest.raises(ValueError, match="needs processing"):
        check_processing(get_task("stabilize"), None)
    with pytest.raises(ValueError, match="does not process its clips"):
        check_processing(get_task("colorization"), ClipProcessing(processors_by_name(["gamma"]), ("fresh",), random=False))


def test_a_synthetic_training_item_is_the_processed_crop_with_the_cropped_flows():
    config = DataConfig(frame_size=(48, 64), crop_size=(32, 40), num_train_sequences=2, processors=("contrast",), flicker=("fresh",))
    dataset = build_dataset(config, "train", "stabilize")
    torch.manual_seed(5)
    item = dataset[1]
    assert item["input"].shape == (5, 6, 32, 40) and item["target"].shape == (5, 3, 32, 40)
    assert item["flow_fwd"].shape == (4, 2, 32, 40) and item["processor"] == "contrast" and item["flicker"] == "fresh"
    # Redraw: the crop and flip come first (torch's generator), then the processing's seed.
    clip = synthetic_clip(dataset.sequence_seed(1), size=(48, 64), num_frames=5)
    torch.manual_seed(5)
    params = sample_crop_flip((48, 64), (32, 40), True)
    cropped = apply_crop_flip({"frames": clip["frames"], "flow_fwd": clip["flow_fwd"], "flow_bwd": clip["flow_bwd"]}, params)
    torch.randint(1, ())  # the processor's draw (one processor)
    torch.randint(1, ())  # the flicker's draw
    seed = int(torch.randint(2**31 - 1, ()).item())
    processed = process_clip(cropped["frames"], "contrast", seed, "fresh")
    assert torch.equal(item["input"], torch.cat([to_model_range(cropped["frames"]), to_model_range(processed)], dim=1))
    assert torch.equal(item["target"], to_model_range(processed))
    assert torch.equal(item["temporal_target"], to_model_range(process_clip(cropped["frames"], "contrast", seed, "none")))
    for key in ("flow_fwd", "flow_bwd"):  # the original's flows: the flicker never enters them
        assert torch.equal(item[key], cropped[key])
    assert not torch.equal(item["temporal_target"], item["target"])


def test_evaluation_items_are_the_same_on_every_access():
    config = DataConfig(frame_size=(32, 32), num_val_sequences=3, eval_clip_length=4, processors=("hue", "unsharp"))
    dataset = build_dataset(config, "val", "stabilize")
    first = [dataset[index] for index in range(3)]
    torch.manual_seed(123)
    again = [dataset[index] for index in range(3)]
    assert [item["processor"] for item in first] == ["hue", "unsharp", "hue"]
    for a, b in zip(first, again):
        assert torch.equal(a["input"], b["input"]) and torch.equal(a["temporal_target"], b["temporal_target"])


def test_the_davis_source_processes_its_clips(tiny_davis):
    root, _ = tiny_davis
    config = DataConfig(source="davis", root=str(root), frame_size=None, crop_size=(16, 16), processors=("saturation",))
    item = build_dataset(config, "train", "stabilize")[0]
    assert item["input"].shape[1:] == (6, 16, 16) and item["processor"] == "saturation"
    val = build_dataset(config, "val", "stabilize")[0]
    assert val["input"].shape[1] == 6 and torch.equal(val["target"], val["input"][:, 3:])


def test_the_learned_processor_comes_in_built():
    config = DataConfig(frame_size=(32, 32), num_val_sequences=1, eval_clip_length=3, processors=("image2image",),
                        processor_checkpoint="unused-here")
    with pytest.raises(ValueError, match="needs a checkpoint path"):
        build_dataset(config, "val", "stabilize")
    halved = Processor("image2image", "learned", (), lambda frame, values: frame // 2, "frame // 2")
    item = build_dataset(config, "val", "stabilize", processors=[halved])[0]
    assert item["processor"] == "image2image" and torch.equal(item["temporal_target"], item["input"][:, :3])


@pytest.mark.parametrize("overrides, key, message", [
    ({"processors": ("hue", "blur")}, "processors", "unknown processor 'blur'"),
    ({"processors": ()}, "processors", "at least one processor"),
    ({"processors": ("hue", "hue")}, "processors", "names a processor twice"),
    ({"processors": ("hue", "clahe")}, "processors", r"\['clahe'\] are held out for evaluation"),
    ({"processors": ("hue", "image2image")}, "processor_checkpoint", "must name the generator checkpoint"),
    ({"flicker": ("fresh", "strobe")}, "flicker", "must name one or more"),
])
def test_config_refuses_bad_processor_options(overrides, key, message):
    with pytest.raises(ConfigError, match=message) as error:
        DataConfig(**overrides)
    assert error.value.key.endswith(key)


def test_the_default_processors_leave_the_held_out_ones_and_the_learned_one_out():
    config = DataConfig()
    assert set(config.processors) <= set(PROCESSORS) and {"gamma", "stylization", "clahe"}.isdisjoint(config.processors)
    assert [get_processor(name).name for name in config.processors] == list(config.processors)
    assert np.all([mode in ("fresh", "drift") for mode in config.flicker])
