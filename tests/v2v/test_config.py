"""The run config: one home for defaults, YAML with base:, key=value overrides, strict keys and types."""

import dataclasses
from pathlib import Path

import pytest
import tomllib

from v2v import config as cfg
from v2v.config import (
    CONFIG_DIR,
    PRESETS,
    RunConfig,
    available_configs,
    find_config,
    load_config,
    run_keys,
    save_config,
)
from v2v.config_engine import ConfigError, build, diff, flatten, to_dict

REPO = Path(__file__).resolve().parents[2]


def test_defaults_resolve_to_the_paper_preset_and_objective():
    config = load_config(None)
    assert config.model.preset == "paper"
    paper = PRESETS["paper"]
    assert (config.model.gen_channels, config.model.gen_depth, config.model.disc_depth) == (
        paper.gen_channels,
        paper.gen_depth,
        paper.disc_depth,
    )
    assert (config.loss.spatial_weight, config.loss.gan_weight, config.loss.temporal_weight) == (100.0, 1.0, 1.0)
    assert (config.optim.lr_generator, config.optim.beta1, config.optim.beta2) == (2e-4, 0.5, 0.999)
    assert config.setting == "video2video+local+global"


def test_quickstart_is_the_default_config_and_uses_the_small_preset():
    config = load_config()
    assert config.name == "quickstart"
    assert config.model.preset == "small" and config.model.gen_channels == PRESETS["small"].gen_channels
    assert config.task == "colorization"


@pytest.mark.parametrize("name", available_configs())
def test_every_shipped_config_loads(name):
    config = load_config(name)
    assert isinstance(config, RunConfig)
    assert all(v is not None for v in dataclasses.asdict(config.model).values())


def test_shipped_configs_cover_gpu_paper_setup_and_examples():
    names = set(available_configs())
    assert {"quickstart", "paper"} <= names
    paper = load_config("paper")
    assert paper.model.preset == "paper" and paper.train.device == "auto"


def test_overrides_with_dotted_keys_and_types():
    config = load_config(
        "quickstart",
        ["train.steps=7", "model.preset=paper", "optim.lr_generator=1e-4", "train.compile=true", "name=123", "model.gen_depth=3"],
    )
    assert config.train.steps == 7
    assert config.model.preset == "paper" and config.model.gen_channels == 64
    assert config.model.gen_depth == 3  # explicit values beat the preset's
    assert config.optim.lr_generator == 1e-4
    assert config.train.compile is True
    assert config.name == "123"  # string fields take the text verbatim


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.stepz=3", "train.stepz: unknown config key"),
        ("trian.steps=3", "trian: unknown config key"),
        ("model.preset.x=1", "model.preset"),
        ("train=3", "train: is a section"),
        ("train.steps=abc", "train.steps: expected an integer"),
        ("train.steps=2.5", "train.steps: expected an integer"),
        ("train.compile=maybe", "train.compile: expected true or false"),
        ("optim.beta1=fast", "optim.beta1: expected a number"),
        ("train.precision=fp8", "train.precision: must be one of"),
        ("train.steps", "key=value"),
        ("model.preset=huge", "model.preset: must be one of"),
        ("setting=video2video+global", "setting: must be one of"),
        ("task=denoise", "task: must be one of"),
        ("train.steps=0", "train.steps: must be >= 1"),
        ("optim.beta2=1.0", "optim.beta2"),
        ("train.device=gpu", "train.device"),
        ("model.gen_dropout_layers=9", "model.gen_dropout_layers"),
        ("loss.spatial_weight=-1", "loss.spatial_weight"),
        ("loss.temporal_gan_weight=-0.5", "loss.temporal_gan_weight"),
        ("train.run_name=a/b", "train.run_name"),
        ("seed=-1", "seed: must be >= 0, got -1"),
        ("data.no_such_key=1", "data.no_such_key: unknown config key"),
        ("data.synthetic.object_speed=-1", "data.synthetic.object_speed: must be a finite number >= 0"),
        ("data.flow.dis_preset=slow", "data.flow.dis_preset: must be one of"),
        ("data.source=kitti", "data.source: must be one of"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("+", r"\+")):
        load_config("quickstart", [override])


def test_unknown_yaml_key_names_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: quickstart\ntrain:\n  stesp: 3\n")
    with pytest.raises(ConfigError, match="train.stesp: unknown config key"):
        load_config(path)


def test_base_chains_and_yaml_floats(tmp_path):
    (tmp_path / "a.yaml").write_text("base: quickstart\ntrain:\n  steps: 11\noptim:\n  lr_generator: 1e-3\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\ntask: segmentation\n")
    config = load_config(tmp_path / "b.yaml")
    assert (config.train.steps, config.task, config.model.preset) == (11, "segmentation", "small")
    assert config.optim.lr_generator == 1e-3  # PyYAML reads "1e-3" as text; float fields accept it
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_config(tmp_path / "loop.yaml")


def test_missing_config_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="quickstart"):
        find_config("no-such-config")


def test_round_trip_through_the_written_yaml(tmp_path):
    config = load_config("quickstart", ["train.steps=5", "setting=image2image"])
    save_config(config, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == config
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary file


def test_from_dict_rejects_non_mappings_and_builds_nested_sections():
    with pytest.raises(ConfigError, match="model: expected a mapping"):
        build(RunConfig, {"model": 3})
    config = build(RunConfig, {"train": {"steps": 3}})
    assert config.train.steps == 3 and config.train.batch_size == RunConfig().train.batch_size


def test_diff_names_changed_keys():
    base = load_config("quickstart")
    changed = dataclasses.replace(base, seed=3, train=dataclasses.replace(base.train, steps=9))
    assert diff(base, changed) == ["seed", "train.steps"]
    assert diff(to_dict(base), base) == []


def test_configs_ship_inside_the_package_and_the_repository_links_them():
    assert CONFIG_DIR == Path(cfg.__file__).parent / "configs"
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "configs/*.yaml" in package_data["v2v"]
    assert (REPO / "configs" / "paper.yaml").resolve() == (CONFIG_DIR / "paper.yaml").resolve()


@pytest.mark.parametrize(
    "override, suggestion",
    [("train.stepz=1", "train.steps"), ("trian.steps=1", "train.steps"), ("model.gen_chanels=8", "model.gen_channels"), ("settting=x", "setting")],
)
def test_unknown_keys_suggest_the_nearest_valid_one(override, suggestion):
    with pytest.raises(ConfigError, match=rf"did you mean '{suggestion}'\?"):
        load_config("quickstart", [override])


def test_unknown_yaml_keys_suggest_the_nearest_key_of_their_section(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: quickstart\ndata:\n  synthetic:\n    object_sped: 3\n")
    with pytest.raises(ConfigError, match=r"data.synthetic.object_sped: unknown config key \(did you mean 'object_speed'\?\)"):
        load_config(path)


def test_the_reference_documents_every_key_from_the_dataclasses():
    reference = run_keys()
    assert [entry.key for entry in reference] == list(flatten(to_dict(RunConfig())))  # every leaf, in order
    undocumented = [entry.key for entry in reference if not entry.meaning]
    assert undocumented == []
    by_key = {entry.key: entry for entry in reference}
    assert by_key["train.val_every"].default == 5000 and "validation" in by_key["train.val_every"].meaning
    assert by_key["data.flow.cache_dir"].default == "auto"  # from FlowConfig's Attributes: section
    assert by_key["data.synthetic.max_period"].meaning == by_key["data.synthetic.min_period"].meaning  # "a, b: ..."
    assert "train.best_metric" in by_key


def test_best_metric_is_checked_against_the_task():
    assert load_config("quickstart", ["task=superres"]).best_metric == ("psnr", "max")
    assert load_config("quickstart", ["task=segmentation", "train.best_metric=T"]).best_metric == ("T", "min")
    with pytest.raises(ConfigError, match="train.best_metric: psnr is not reported for task segmentation"):
        load_config("quickstart", ["task=segmentation", "train.best_metric=psnr"])
    with pytest.raises(ConfigError, match="did you mean 'psnr'"):
        load_config("quickstart", ["train.best_metric=pnsr"])


def test_residual_output_is_the_tasks_choice_unless_stated():
    assert load_config("quickstart").model.residual is True  # colorization corrects its gray input
    assert load_config("quickstart", ["task=superres"]).model.residual is True
    assert load_config("quickstart", ["task=segmentation"]).model.residual is False
    assert load_config("quickstart", ["model.residual=false"]).model.residual is False
    with pytest.raises(ConfigError, match="model.residual: the segmentation task's input and output"):
        load_config("quickstart", ["task=segmentation", "model.residual=true"])
