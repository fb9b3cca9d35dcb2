"""load_generator: a run directory or checkpoint file to (generator in eval mode, config)."""

import pytest
import torch

from v2v.config import config_to_dict, load_config
from v2v.models import build_generator, load_generator
from v2v.train.checkpoint import new_checkpoint, save_checkpoint


@pytest.mark.parametrize("setting", ["image2image", "video2video+local+global"])
def test_load_generator_from_run_dir_and_file(tmp_path, setting):
    config = load_config("quickstart", [f"setting={setting}", "task=segmentation", "model.gen_channels=8"])
    torch.manual_seed(3)
    trained = build_generator(config)
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


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_generator(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        load_generator(tmp_path)
