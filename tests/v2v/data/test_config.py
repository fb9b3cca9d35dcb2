"""Tests of DataConfig: defaults, normalisation of YAML-style values, clear errors naming the key."""

import dataclasses

import pytest

from v2v.config_engine import ConfigError
from v2v.data import DataConfig, SyntheticConfig
from v2v.flow import FlowConfig


def test_defaults_are_valid_and_synthetic():
    config = DataConfig()
    assert config.source == "synthetic" and config.frame_size == (256, 256) and config.clip_length == 5
    assert isinstance(config.synthetic, SyntheticConfig) and isinstance(config.flow, FlowConfig)
    assert config.flow.provider == "auto"
    # Field defaults are the only defaults: every field has one and a default-built config equals itself.
    assert all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
               for f in dataclasses.fields(DataConfig))
    assert DataConfig() == config


def test_yaml_style_values_are_normalised():
    config = DataConfig(frame_size=[64, 96], crop_size=[32, 48], synthetic={"num_objects": [2, 3]},
                        flow={"provider": "dis", "dis_preset": "fast"})
    assert config.frame_size == (64, 96) and config.crop_size == (32, 48)
    assert config.synthetic.num_objects == (2, 3)
    assert config.flow.provider == "dis" and config.flow.dis_preset == "fast"
    assert DataConfig(source="davis", root="/x", frame_size=None).frame_size is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"source": "kitti"}, "source: must be one of"),
        ({"source": "davis"}, "root: must name the folder of data.source=davis"),
        ({"frame_size": None}, "frame_size: must be a pair"),
        ({"frame_size": (8, 8)}, "at least 16x16"),
        ({"frame_size": (64, -1)}, "frame_size: must be a pair of positive sizes"),
        ({"crop_size": (300, 100)}, "larger than frame_size"),
        ({"clip_length": 1}, "clip_length: must be >= 2"),
        ({"clip_stride": 0}, "clip_stride"),
        ({"num_train_sequences": 0}, "num_train_sequences"),
        ({"eval_clip_length": 1.5}, "eval_clip_length"),
        ({"seed": -3}, "seed"),
        ({"hflip": "yes"}, "hflip"),
        ({"synthetic": {"speed": 3}}, "synthetic.speed: unknown config key"),
        ({"synthetic": {"object_speed": -1}}, "object_speed"),
        ({"flow": {"provider": "flownet2"}}, "flow.provider: must be one of"),
        ({"flow": {"dis_preset": "slow"}}, "flow.dis_preset: must be one of"),
        ({"flow": 3}, "flow: expected a mapping of FlowConfig keys"),
        ({"source": "davis", "root": "/x", "flow": {"provider": "exact"}}, "flow.provider: 'exact' is only available for synthetic clips"),
    ],
)
def test_bad_values_are_clear_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DataConfig(**kwargs)
