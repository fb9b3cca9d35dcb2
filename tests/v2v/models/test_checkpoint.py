"""The checkpoint module: atomic checkpoints that load with weights_only=True, random-state capture,
pruning, generator exports, and load_generator on every kind of path."""

import random
from fractions import Fraction

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from v2v.config import load_config
from v2v.config_engine import ConfigError
from v2v.config_engine import to_dict as config_to_dict
from v2v.data.video_writer import VideoWriter
from v2v.models import (
    build_generator,
    find_checkpoint,
    list_checkpoints,
    load_generator,
    read_checkpoint,
    read_generator,
)
from v2v.models.checkpoint import (
    CHECKPOINT_FORMAT,
    best_checkpoint_path,
    capture_rng_state,
    export_generator,
    new_checkpoint,
    prune_checkpoints,
    restore_rng_state,
    save_checkpoint,
)


def test_rng_state_round_trip():
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = capture_rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(10), np.random.rand(10), random.random()
    restore_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def test_checkpoints_are_atomic_plain_and_pruned_and_best_is_kept_apart(tmp_path):
    for step in (1, 2, 3):
        state = new_checkpoint(step, {"name": "x"}, weights={"w": torch.full((2,), float(step))}, rng=[capture_rng_state()], best=None)
        save_checkpoint(tmp_path, state)
    best = save_checkpoint(tmp_path, new_checkpoint(2, {"name": "x"}, best={"metric": "psnr", "value": 20.0, "step": 2}), best=True)
    assert best == best_checkpoint_path(tmp_path)
    # A file a killed writer left behind is neither listed nor loaded, and pruning removes it.
    stale = tmp_path / "checkpoints" / ".step_0000004.pt.abc.tmp"
    stale.write_bytes(b"torn")
    assert [step for step, _ in list_checkpoints(tmp_path)] == [1, 2, 3]  # best.pt is not the newest
    assert find_checkpoint(tmp_path).name == "step_0000003.pt"
    loaded = torch.load(find_checkpoint(tmp_path), weights_only=True)  # no code can run
    assert loaded["weights"]["w"].tolist() == [3.0, 3.0]
    removed = prune_checkpoints(tmp_path, keep=1)
    assert stale in removed and not stale.exists()
    assert [step for step, _ in list_checkpoints(tmp_path)] == [3] and best.is_file()
    assert read_checkpoint(best)["best"] == {"metric": "psnr", "value": 20.0, "step": 2}


def test_reading_bad_paths_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_checkpoint(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="has no checkpoints"):
        read_checkpoint(tmp_path)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state": 1}, foreign)
    with pytest.raises(ValueError, match="not a v2v checkpoint"):
        read_checkpoint(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a complete torch.save archive"):
        read_checkpoint(garbage)
    truncated = tmp_path / "truncated.pt"
    torch.save(new_checkpoint(1, {}), truncated)
    truncated.write_bytes(truncated.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a complete torch.save archive: another kind of file, or a truncated one"):
        read_checkpoint(truncated)


def test_a_video_or_a_pickle_of_objects_is_named_as_no_checkpoint_without_torchs_advice(tmp_path):
    """torch's weights-only error advises weights_only=False, which would run the file's code: wrong advice here."""
    video = tmp_path / "clip.mp4"
    with VideoWriter(video, fps=10) as writer:
        for _ in range(3):
            writer.write(np.zeros((16, 16, 3), np.uint8))
    objects = tmp_path / "objects.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "callback": Fraction(1, 3)}, objects)
    for path, expected in ((video, "not a complete torch.save archive"), (objects, "holds Python objects")):
        with pytest.raises(ValueError) as raised:
            read_generator(path)
        message = str(raised.value)
        assert f"{path} is not a v2v checkpoint" in message and expected in message
        assert "weights_only" not in message and "run directory" in message
    future = tmp_path / "future.pt"
    torch.save({**new_checkpoint(1, {}), "version": 99}, future)
    with pytest.raises(ValueError, match="version 99"):
        read_checkpoint(future)


def test_version_1_checkpoints_read_without_best(tmp_path):
    old = tmp_path / "old.pt"
    torch.save({**new_checkpoint(4, {"name": "x"}), "version": 1}, old)
    state = read_checkpoint(old)
    assert state["best"] is None and state["step"] == 4


def test_stored_configs_from_before_temporal_channel_norm_state_model_norm(tmp_path):
    # Before model.temporal_channel_norm existed both discriminator channels used model.norm: a
    # resume under today's default (none) would load a normalised channel's weights into an
    # unnormalised one, so it is refused by name, and stating the old norm continues the run.
    from v2v.train.loop import check_resume

    config = load_config("quickstart", ["model.temporal_channel_norm=instance"])
    values = config_to_dict(config)
    del values["model"]["temporal_channel_norm"]
    file = tmp_path / "old.pt"
    torch.save(new_checkpoint(3, values), file)
    checkpoint = {**read_checkpoint(file), "world_size": 1}
    assert checkpoint["config"]["model"]["temporal_channel_norm"] == "instance"
    with pytest.raises(ConfigError, match="model.temporal_channel_norm"):
        check_resume(checkpoint, load_config("quickstart"), 1)
    check_resume(checkpoint, config, 1)


def test_stored_configs_from_before_model_residual_load_tanh_generators(tmp_path):
    # Configs written before model.residual existed describe tanh generators; null would now
    # resolve to the task's choice (residual for colorization) and change what the weights compute.
    config = load_config("quickstart", ["model.residual=false", "model.gen_channels=8"])
    generator = _trained_generator(config)
    values = config_to_dict(config)
    del values["model"]["residual"]
    file = tmp_path / "old.pt"
    torch.save({**new_checkpoint(7, values), "generator": generator.state_dict()}, file)
    loaded = read_generator(file)
    assert loaded.config.model.residual is False and not loaded.generator.residual
    video = torch.rand(1, 2, 1, 64, 64) * 2 - 1
    assert torch.equal(loaded.generator(video), generator.eval()(video))
    # Resuming: the stored config states residual=false, so today's default (the task's choice,
    # residual for colorization) is refused by name and model.residual=false continues the run.
    from v2v.train.loop import check_resume

    checkpoint = {**read_checkpoint(file), "world_size": 1}
    assert checkpoint["config"]["model"]["residual"] is False
    with pytest.raises(ConfigError, match="model.residual"):
        check_resume(checkpoint, load_config("quickstart", ["model.gen_channels=8"]), 1)
    check_resume(checkpoint, config, 1)


def test_stored_configs_from_before_max_background_match_kept_every_object(tmp_path):
    from v2v.train.loop import check_resume

    config = load_config("quickstart-segmentation", ["data.synthetic.max_background_match=1.0"])
    values = config_to_dict(config)
    del values["data"]["synthetic"]["max_background_match"]
    del values["loss"]["temporal_gan_weight"]
    file = tmp_path / "old.pt"
    torch.save(new_checkpoint(7, values), file)
    checkpoint = {**read_checkpoint(file), "world_size": 1}
    assert checkpoint["config"]["data"]["synthetic"]["max_background_match"] == 1.0
    assert checkpoint["config"]["loss"]["temporal_gan_weight"] == 1.0
    # Today's segmentation config redraws objects: another data set, refused by name.
    with pytest.raises(ConfigError, match="data.synthetic.max_background_match"):
        check_resume(checkpoint, load_config("quickstart-segmentation"), 1)
    check_resume(checkpoint, config, 1)


def _trained_generator(config, seed=3):
    torch.manual_seed(seed)
    generator = build_generator(config.model, config.task, config.setting_switches)
    with torch.no_grad():
        next(generator.parameters()).add_(1.0)
    return generator


@pytest.mark.parametrize("setting", ["image2image", "video2video+local+global"])
def test_load_generator_from_run_dir_and_file(tmp_path, setting):
    config = load_config("quickstart", [f"setting={setting}", "task=segmentation", "model.gen_channels=8"])
    trained = _trained_generator(config)
    for step in (1, 2):
        with torch.no_grad():
            next(trained.parameters()).add_(1.0)
        path = save_checkpoint(tmp_path, new_checkpoint(step, config_to_dict(config), generator=trained.state_dict()))
    generator, loaded_config = load_generator(tmp_path)
    assert loaded_config == config and not generator.training
    assert generator.recurrent == (setting != "image2image")
    for name, value in trained.state_dict().items():
        assert torch.equal(generator.state_dict()[name], value)
    earlier, _ = load_generator(path.parent / "step_0000001.pt")
    assert not torch.equal(next(earlier.parameters()), next(generator.parameters()))
    video = torch.rand(1, 3, 3, 40, 36) * 2 - 1
    assert generator(video).shape == (1, 3, 1, 40, 36)


def test_generator_export_round_trip_through_the_one_loader(tmp_path):
    config = load_config("quickstart", ["model.gen_channels=8"])
    trained = _trained_generator(config)
    weights = export_generator(tmp_path / "run" / "best", trained.state_dict(), config_to_dict(config), step=7)
    assert weights.name == "generator.safetensors" and (weights.parent / "generator.yaml").is_file()
    assert yaml.safe_load((weights.parent / "generator.yaml").read_text()) == config_to_dict(config)
    video = torch.rand(1, 3, 1, 64, 64) * 2 - 1
    expected = trained.eval()(video)
    # The file itself, its folder, and a run folder holding only an export all load it.
    for path in (weights, weights.parent):
        loaded = read_generator(path)
        assert loaded.step == 7 and loaded.config == config and loaded.path == weights and not loaded.generator.training
        assert torch.equal(loaded.generator(video), expected)
    # Beside a full checkpoint the export is a fraction of the size (no D, no Adam moments).
    assert sorted(p.name for p in weights.parent.iterdir()) == ["generator.safetensors", "generator.yaml"]


def test_bad_exports_are_clear_errors(tmp_path):
    config = load_config("quickstart", ["model.gen_channels=8"])
    with pytest.raises(FileNotFoundError, match="no generator export"):
        load_generator(tmp_path)
    weights = export_generator(tmp_path, _trained_generator(config).state_dict(), config_to_dict(config), step=1)
    (tmp_path / "generator.yaml").unlink()
    with pytest.raises(FileNotFoundError, match="no config beside it"):
        load_generator(weights)
    foreign = tmp_path / "other" / "generator.safetensors"
    foreign.parent.mkdir()
    save_file({"w": torch.zeros(2)}, str(foreign))
    (foreign.parent / "generator.yaml").write_text(yaml.safe_dump(config_to_dict(config)))
    with pytest.raises(ValueError, match="not a v2v generator export"):
        load_generator(foreign)
    mismatched = export_generator(tmp_path / "mismatch", {"w": torch.zeros(2)}, config_to_dict(config), step=1)
    with pytest.raises(ValueError, match="do not match its config"):
        load_generator(mismatched)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_generator(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        load_generator(tmp_path)
