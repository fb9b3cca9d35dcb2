"""The run configuration: the experiment's vocabulary (Table 1's settings, network presets), the typed
sections of a run with one home for every default, named configs, and the migration of configs
written by older code.

A run is configured by, in order:

1. the defaults of the dataclasses below (the paper's objective and optimiser, the ``paper``
   network preset) and of :class:`v2v.data.DataConfig` (every data default);
2. a YAML file (``--config NAME_OR_PATH``; :data:`DEFAULT_CONFIG` when none is given), which may
   name a ``base:`` file it extends;
3. ``key=value`` overrides with dotted keys, e.g. ``train.steps=200 model.preset=small``.

Unknown keys are errors naming the key, and values are type-checked against the annotations
(:mod:`v2v.config_engine`). :func:`load_config` returns a :class:`RunConfig` whose model architecture
is resolved from its preset, so the ``config.yaml`` written beside each run states every number the
run used.

Named configs (``quickstart``, ``paper``, ...) ship inside the package (``v2v/configs/*.yaml``;
``configs/`` at the repository root links there), so they are found after a non-editable install.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from v2v.config_engine import (
    Checked,
    ConfigError,
    ConfigKey,
    apply_overrides,
    build,
    read_yaml,
    reference,
    require,
    suggestion,
    to_dict,
)
from v2v.data.config import DataConfig
from v2v.fileio import atomic_write_text
from v2v.tasks import METRIC_GOALS, TASK_REGISTRY, get_task

__all__ = [
    "Setting",
    "SETTINGS",
    "SETTING_ORDER",
    "TEMPORAL_SETTINGS",
    "ArchitecturePreset",
    "PRESETS",
    "ModelConfig",
    "LossConfig",
    "OptimConfig",
    "TrainConfig",
    "RunConfig",
    "DEFAULT_CONFIG",
    "CONFIG_DIR",
    "RESUMABLE_KEYS",
    "find_config",
    "available_configs",
    "load_config",
    "run_config",
    "resolve_config",
    "validate_config",
    "save_config",
    "with_stated_defaults",
    "run_keys",
]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
"""Where the named YAML configs ship (package data)."""

DEFAULT_CONFIG = "quickstart"
"""The config a command uses when none is named (what ``python -m v2v.train`` trains)."""


# --------------------------------------------------------------------------------------------------
# The four settings of the paper's Table 1 (docs/conventions.md).


@dataclass(frozen=True)
class Setting:
    """What one experimental setting switches on."""

    recurrent_generator: bool
    """RNN U-Net (True) or per-frame U-Net (False)."""
    temporal_loss: bool
    """Add L_temporal = mean |E^o| to the generator's objective (local consistency)."""
    temporal_discriminator: bool
    """The discriminator's temporal channel reads residual errors (global consistency)."""
    per_frame_discriminator: bool
    """pix2pix's per-frame PatchGAN instead of the recurrent spatial channel."""


SETTINGS: dict[str, Setting] = {
    "image2image": Setting(False, False, False, True),
    "video2video": Setting(True, False, False, False),
    "video2video+local": Setting(True, True, False, False),
    "video2video+local+global": Setting(True, True, True, False),
}
"""Table 1's rows, in the paper's order."""

SETTING_ORDER = tuple(SETTINGS)
"""The settings' names in Table 1's order."""

TEMPORAL_SETTINGS = tuple(name for name, setting in SETTINGS.items() if setting.temporal_loss)
"""The settings whose objective has a temporal weight (``loss.temporal_weight``)."""


# --------------------------------------------------------------------------------------------------
# Named network sizes: the one home of the numbers behind ``model.preset``. ``paper`` is the
# architecture of the paper's section 3.2.3 (docs/training.md); ``small`` keeps its topology at a
# width and depth that train on a laptop CPU in minutes (the quickstart).


@dataclass(frozen=True)
class ArchitecturePreset:
    """Width and depth of the generator and of each discriminator channel.

    Channel counts double from ``*_channels`` at every layer, capped at ``*_max_channels``.
    """

    gen_channels: int
    gen_max_channels: int
    gen_depth: int
    gen_dropout_layers: int
    disc_channels: int
    disc_max_channels: int
    disc_depth: int


PRESETS: dict[str, ArchitecturePreset] = {
    # C64-C128-C256-C512-C512-C512-C512 / CD512-CD512-CD512-C512-C256-C128-C64; D: C64-C128-C256-C512.
    "paper": ArchitecturePreset(
        gen_channels=64, gen_max_channels=512, gen_depth=7, gen_dropout_layers=3,
        disc_channels=64, disc_max_channels=512, disc_depth=4,
    ),
    # C16-C32-C64-C64-C64 / CD64-CD64-C64-C32-C16; D: C16-C32-C64. 64x64 frames reach a 2x2 bottleneck.
    "small": ArchitecturePreset(
        gen_channels=16, gen_max_channels=64, gen_depth=5, gen_dropout_layers=2,
        disc_channels=16, disc_max_channels=64, disc_depth=3,
    ),
}


# --------------------------------------------------------------------------------------------------
# The sections of a run. Every default lives here (data defaults in v2v.data.DataConfig).


@dataclass
class ModelConfig(Checked):
    """Network sizes and output. ``preset`` names a row of :data:`PRESETS`; a size left ``null``
    takes the preset's value, a number overrides it. :func:`resolve_config` fills them in."""

    preset: str = "paper"
    """Network sizes: ``paper`` (the paper's networks) or ``small`` (a CPU-sized copy), rows of
    :data:`PRESETS` in this file; any size below given explicitly overrides it."""
    gen_channels: int | None = None
    """Width of the generator's first encoder layer (doubling per layer)."""
    gen_max_channels: int | None = None
    """Cap on the generator's width."""
    gen_depth: int | None = None
    """Stride-2 encoder layers (= decoder layers); frames are padded to a multiple of 2**depth."""
    gen_dropout_layers: int | None = None
    """How many of the first decoder layers use 50% dropout (CDk)."""
    disc_channels: int | None = None
    """Width of each discriminator channel's first layer."""
    disc_max_channels: int | None = None
    """Cap on the discriminator's width."""
    disc_depth: int | None = None
    """Stride-2 convolution layers of each discriminator channel."""
    norm: Literal["batch", "instance"] = "batch"
    """Normalisation of every Ck layer except the first encoder layer and the temporal channel's
    (paper: batch)."""
    temporal_channel_norm: Literal["none", "batch", "instance"] = "none"
    """Normalisation of the Ck layers of the discriminator's temporal channel (setting
    ``video2video+local+global``). ``none`` (the default): a norm after its first convolution
    divides out the residual errors' scale, so the critic judges their pattern, not that E^o is
    larger than E^g; on colorization the global term then raised warping error, unnormalised it
    lowers it (docs/reproduction.md). The paper gives both channels one architecture:
    ``configs/paper.yaml`` keeps ``batch``; ``quickstart-segmentation`` uses ``instance``."""
    residual: bool | None = None
    """The generator predicts a correction to its input instead of the whole output: output =
    input (a one-channel input repeated over the output channels) + the last convolution, without
    the paper's tanh. ``null`` (the default) takes the task's choice: on where the input already
    lives in the output's space (colorization's luma, superres's bicubic upscale), off for
    segmentation, where it is impossible. docs/training.md#residual-output has the evidence."""

    def check(self) -> None:
        require(self.preset in PRESETS, "preset", f"must be one of {sorted(PRESETS)}, got {self.preset!r}{suggestion(self.preset, PRESETS)}")
        for key in ("gen_channels", "gen_max_channels", "gen_depth", "disc_channels", "disc_max_channels", "disc_depth"):
            value = getattr(self, key)
            require(value is None or value >= 1, key, f"must be >= 1, got {value}")
        if self.gen_depth is not None and self.gen_dropout_layers is not None:
            require(0 <= self.gen_dropout_layers <= self.gen_depth, "gen_dropout_layers",
                    f"must be in [0, model.gen_depth={self.gen_depth}], got {self.gen_dropout_layers}")


@dataclass
class LossConfig(Checked):
    """Weights of ``L = w_t L_temporal + λ L_spatial + η L_cGAN`` (paper eq. 7)."""

    temporal_weight: float = 1.0
    """w_t; the paper's eq. 7 has 1. Used only by settings with the temporal loss."""
    spatial_weight: float = 100.0
    """λ, the weight of L1 between output and target (pix2pix's 100)."""
    gan_weight: float = 1.0
    """η, the weight of the generator's adversarial loss."""
    temporal_gan_weight: float = 1.0
    """Weight of the temporal channel's decision in the generator's adversarial loss, the spatial
    channel's being 1 (1: the paper's, both decisions averaged); only in video2video+local+global.
    The discriminator's own loss is not weighted."""

    def check(self) -> None:
        for key in ("temporal_weight", "spatial_weight", "gan_weight", "temporal_gan_weight"):
            require(getattr(self, key) >= 0, key, f"must be >= 0, got {getattr(self, key)}")


@dataclass
class OptimConfig(Checked):
    """Adam for both networks (paper section 3.3, pix2pix's hyper-parameters)."""

    lr_generator: float = 2e-4
    """Adam learning rate of the generator."""
    lr_discriminator: float = 2e-4
    """Adam learning rate of the discriminator."""
    beta1: float = 0.5
    """Adam's first-moment decay (pix2pix's 0.5)."""
    beta2: float = 0.999
    """Adam's second-moment decay."""

    def check(self) -> None:
        for key in ("lr_generator", "lr_discriminator"):
            require(getattr(self, key) > 0, key, f"must be > 0, got {getattr(self, key)}")
        for key in ("beta1", "beta2"):
            require(0 <= getattr(self, key) < 1, key, f"must be in [0, 1), got {getattr(self, key)}")


@dataclass
class TrainConfig(Checked):
    """The loop: length, batch, device, precision, logging, checkpoints, validation."""

    steps: int = 200_000
    """Optimisation steps (one D step and one G step each)."""
    batch_size: int = 1
    """Clips per step and per process (pix2pix and the paper: 1)."""
    device: str = "auto"
    """``auto`` (cuda when available, under torchrun the local rank's GPU), ``cpu``, ``cuda``, ``cuda:N``."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """``auto``: bf16 autocast on CUDA, fp32 on CPU. ``fp16`` adds a gradient scaler (CUDA only)."""
    compile: bool = False
    """``torch.compile`` the generator and the discriminator."""
    threads: int = 0
    """CPU threads of torch, the compiled op and OpenCV (``v2v.runtime.use_threads``; ``--threads`` of
    ``v2v.train``); 0 leaves torch's default, one per core."""
    num_workers: int = 0
    """DataLoader worker processes."""
    log_every: int = 10
    """Steps between scalar logs (TensorBoard and the progress bar)."""
    image_every: int = 500
    """Steps between image strips (input / output / target) in TensorBoard."""
    checkpoint_every: int = 5000
    """Steps between checkpoints; the last step always writes one."""
    keep_checkpoints: int = 3
    """Newest checkpoints kept on disk (older ones are deleted; ``best.pt`` is kept apart)."""
    val_every: int = 5000
    """Steps between validations on rank 0 (metrics, picture strip, best checkpoint); the last
    step always validates."""
    val_videos: int = 4
    """Validation videos translated at each validation (0: no validation at all)."""
    val_max_frames: int = 0
    """Frames per validation video, from its start (0: the whole video)."""
    best_metric: str = "auto"
    """Validation metric that picks ``checkpoints/best.pt`` and ``best/``: ``auto`` (the task's own,
    :attr:`v2v.tasks.Task.best_metric`: ``psnr`` for colorization and superres, ``J`` for
    segmentation), or a metric of :data:`v2v.tasks.METRIC_GOALS` that the task reports."""
    image_height: int = 128
    """Frame height in pixels in image strips (TensorBoard and ``images/``); taller frames are
    downscaled to it, keeping their aspect ratio."""
    plot_losses: bool = True
    """Draw ``loss.png`` from ``scalars.jsonl`` at each validation and at the end."""
    runs_dir: str = "runs"
    """Parent folder of run directories."""
    run_name: str = ""
    """Run directory name under ``runs_dir``; empty: ``<config name>-<YYYYmmdd-HHMMSS>``."""
    progress: bool = True
    """Show a progress bar (rank 0)."""

    def check(self) -> None:
        for key in ("steps", "batch_size", "log_every", "image_every", "checkpoint_every", "keep_checkpoints", "val_every", "image_height"):
            require(getattr(self, key) >= 1, key, f"must be >= 1, got {getattr(self, key)}")
        for key in ("threads", "num_workers", "val_videos", "val_max_frames"):
            require(getattr(self, key) >= 0, key, f"must be >= 0, got {getattr(self, key)}")
        require(self.val_max_frames == 0 or self.val_max_frames >= 2, "val_max_frames",
                f"must be 0 (whole videos) or >= 2, got {self.val_max_frames}")
        if self.best_metric != "auto":
            require(self.best_metric in METRIC_GOALS, "best_metric",
                    f"must be auto or one of {list(METRIC_GOALS)}, got {self.best_metric!r}{suggestion(self.best_metric, METRIC_GOALS)}")
        device = self.device
        valid = device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
        require(valid, "device", f"must be auto, cpu, cuda or cuda:N, got {device!r}")
        require("/" not in self.run_name and self.run_name not in (".", ".."), "run_name",
                f"must be a plain directory name, got {self.run_name!r}")


@dataclass
class RunConfig(Checked):
    """Everything a training run needs; written as ``config.yaml`` beside the run."""

    name: str = "default"
    """Name of the experiment (the run directory's prefix)."""
    task: str = "colorization"
    """A task of :data:`v2v.tasks.TASK_REGISTRY`: ``segmentation``, ``colorization``, ``superres`` or
    ``stabilize`` (docs/conventions.md, docs/stabilize.md)."""
    setting: str = "video2video+local+global"
    """One of :data:`SETTINGS` (the paper's Table 1)."""
    seed: int = 0
    """Seeds the weights, dropout, and the data order."""
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def check(self) -> None:
        require(self.task in TASK_REGISTRY, "task", f"must be one of {list(TASK_REGISTRY)}, got {self.task!r}{suggestion(self.task, TASK_REGISTRY)}")
        require(self.setting in SETTINGS, "setting", f"must be one of {list(SETTINGS)}, got {self.setting!r}{suggestion(self.setting, SETTINGS)}")
        require(bool(self.name) and "/" not in self.name, "name", f"must be a non-empty name without '/', got {self.name!r}")
        # numpy's SeedSequence, which seeds the data order, takes no negative entropy.
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")

    @property
    def setting_switches(self) -> Setting:
        """The :class:`Setting` named by ``setting``."""
        return SETTINGS[self.setting]

    @property
    def best_metric(self) -> tuple[str, str]:
        """``(metric, "max" or "min")`` that picks the best checkpoint (``train.best_metric``
        with ``auto`` resolved for the task)."""
        name = get_task(self.task).best_metric if self.train.best_metric == "auto" else self.train.best_metric
        return name, METRIC_GOALS[name]


def run_keys() -> list[ConfigKey]:
    """Every key of a run config with its default and meaning (``python -m v2v.train --help``)."""
    return reference(RunConfig)


# --------------------------------------------------------------------------------------------------
# Resolution and the checks across sections.


def validate_config(config: RunConfig) -> None:
    """Check what no single section can: the task's choices against the model and the metrics."""
    task = get_task(config.task)
    if config.model.residual:
        require(task.output_base is not None, "model.residual",
                f"the {config.task} task's input and output live in different spaces, so its generator cannot add "
                "a correction to its input: use model.residual=false (or null, the task's choice)")
    if config.setting_switches.per_frame_discriminator and config.model.disc_depth is not None:
        require(config.model.disc_depth >= 2, "model.disc_depth", f"the per-frame PatchGAN needs >= 2, got {config.model.disc_depth}")
    if config.train.best_metric != "auto":
        require(config.train.best_metric in task.metrics, "train.best_metric",
                f"{config.train.best_metric} is not reported for task {config.task} "
                f"(tasks that report it: {', '.join(t.name for t in TASK_REGISTRY.values() if config.train.best_metric in t.metrics)})")
    if config.data.source != "synthetic":
        require(not task.needs_masks or config.data.source == "davis", "task",
                f"the {config.task} task needs foreground masks, and data.source={config.data.source} has none "
                "(use data.source=davis or synthetic)")


def resolve_config(config: RunConfig) -> RunConfig:
    """Fill the model fields left null from ``model.preset`` (and ``model.residual`` from the task)
    and run the checks across sections."""
    preset = PRESETS[config.model.preset]
    filled: dict[str, Any] = {
        f.name: getattr(preset, f.name) if getattr(config.model, f.name) is None else getattr(config.model, f.name)
        for f in dataclasses.fields(preset)
    }
    if config.model.residual is None:
        filled["residual"] = get_task(config.task).output_base is not None
    try:
        model = dataclasses.replace(config.model, **filled)
    except ConfigError as error:
        raise error.under("model") from None
    config = dataclasses.replace(config, model=model)
    validate_config(config)
    return config


def with_stated_defaults(config_values: dict[str, Any]) -> dict[str, Any]:
    """A stored config (a checkpoint's, or a run's ``config.yaml``) with the keys that did not exist
    when it was written stated as the code that wrote it behaved: ``model.residual`` false (tanh
    generators; ``null`` would now resolve to the task's choice), ``model.temporal_channel_norm``
    equal to ``model.norm`` (both discriminator channels were normalised alike),
    ``loss.temporal_gan_weight`` 1.0 and ``data.synthetic.max_background_match`` 1.0 (every object
    accepted)."""
    stated = dict(config_values)
    model = config_values.get("model")
    if isinstance(model, dict):
        model = dict(model)
        model.setdefault("residual", False)
        model.setdefault("temporal_channel_norm", model.get("norm", "batch"))
        stated["model"] = model
    loss = config_values.get("loss")
    if isinstance(loss, dict):
        stated["loss"] = {"temporal_gan_weight": 1.0, **loss}
    data = config_values.get("data")
    if isinstance(data, dict) and isinstance(data.get("synthetic"), dict):
        synthetic = dict(data["synthetic"])
        synthetic.setdefault("max_background_match", 1.0)
        stated["data"] = {**data, "synthetic": synthetic}
    return stated


def run_config(values: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """A resolved :class:`RunConfig` from a nested dict (a YAML file's, a checkpoint's or a run's
    stored config, read with :func:`with_stated_defaults`) and ``key=value`` overrides.

    Raises:
        ConfigError: unknown key, wrong type or invalid value, naming the dotted key.
    """
    return resolve_config(build(RunConfig, apply_overrides(values, list(overrides), RunConfig)))


# --------------------------------------------------------------------------------------------------
# Named configs, YAML files, and comparing for resume.


def available_configs() -> list[str]:
    """Names of the configs shipped with the package."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def find_config(name_or_path: str | os.PathLike) -> Path:
    """The YAML file for a shipped config name (``paper``) or a path (``my/run.yaml``).

    Raises:
        ConfigError: neither an existing file nor a shipped name.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise ConfigError("--config", f"{str(name_or_path)!r} is neither a YAML file nor a shipped config "
                      f"(shipped: {', '.join(available_configs())})")


def _base_file(base: str, naming_file: Path) -> Path:
    relative = naming_file.parent / base
    return relative if relative.is_file() else find_config(base)


def load_config(config: str | os.PathLike | None = DEFAULT_CONFIG, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Defaults, then the YAML ``config`` (a shipped name or a path; None for bare defaults), then
    ``overrides``; resolved from the model preset and validated.

    Raises:
        ConfigError: unknown key, wrong type or invalid value, naming the dotted key.
    """
    values: dict[str, Any] = {} if config is None else read_yaml(find_config(config), _base_file)
    return run_config(values, overrides)


def save_config(config: RunConfig, path: str | os.PathLike) -> None:
    """Write ``config`` as YAML, atomically (:func:`v2v.fileio.atomic_write_text`)."""
    atomic_write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))


RESUMABLE_KEYS = frozenset(
    {
        "train.steps",
        "train.val_every",
        "train.image_height",
        "train.plot_losses",
        "train.log_every",
        "train.image_every",
        "train.checkpoint_every",
        "train.keep_checkpoints",
        "train.val_videos",
        "train.val_max_frames",
        "train.progress",
        "train.num_workers",
        "train.threads",
        "train.runs_dir",
        "train.run_name",
    }
)
"""Keys that ``--resume`` may change: they do not alter the computation of a training step."""
