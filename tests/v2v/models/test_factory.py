"""Networks built from a config: every setting x task gets the right kinds and shapes."""

import pytest
import torch

from v2v.config import SETTINGS, ConfigError, load_config
from v2v.models import PatchDiscriminator, TwoChannelDiscriminator, build_discriminator, build_generator
from v2v.tasks import TASK_REGISTRY, get_task


@pytest.mark.parametrize("task", tuple(TASK_REGISTRY))
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_shapes_for_every_setting_and_task(setting, task):
    config = load_config("quickstart", [f"setting={setting}", f"task={task}"])
    cin, cout = get_task(task).channels
    generator, discriminator = build_generator(config.model, config.task, config.setting_switches), build_discriminator(config.model, config.task, config.setting_switches)
    switches = SETTINGS[setting]
    assert generator.recurrent == switches.recurrent_generator
    video = torch.rand(2, 3, cin, 48, 40) * 2 - 1
    output = generator(video)
    assert output.shape == (2, 3, cout, 48, 40)
    residual = torch.zeros(2, 2, cout, 48, 40)
    if switches.per_frame_discriminator:
        assert isinstance(discriminator, PatchDiscriminator)
        assert discriminator(video, output).shape[:3] == (2, 3, 1)
    else:
        assert isinstance(discriminator, TwoChannelDiscriminator)
        decision = discriminator(video, output, residual if switches.temporal_discriminator else None)
        assert decision.shape == (2, 2 if switches.temporal_discriminator else 1)


def test_unresolved_config_is_refused():
    from v2v.config import RunConfig

    with pytest.raises(ConfigError, match="resolve"):
        config = RunConfig()
        build_generator(config.model, config.task, config.setting_switches)


@pytest.mark.parametrize("norm, kind", [("none", None), ("instance", torch.nn.InstanceNorm2d), ("batch", torch.nn.BatchNorm2d)])
def test_temporal_channel_norm_sets_the_temporal_channel_only(norm, kind):
    config = load_config("quickstart", [f"model.temporal_channel_norm={norm}"])
    discriminator = build_discriminator(config.model, config.task, config.setting_switches)
    norms = {type(m) for m in discriminator.temporal.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d))}
    assert norms == (set() if kind is None else {kind})
    # The spatial channel follows model.norm (instance in the quickstart) whatever the temporal one has.
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in discriminator.spatial.modules())


def test_temporal_channel_norm_rejects_other_values():
    with pytest.raises(ConfigError, match="model.temporal_channel_norm"):
        load_config("quickstart", ["model.temporal_channel_norm=layer"])
