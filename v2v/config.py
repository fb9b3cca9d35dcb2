"""The run configuration: typed dataclasses with one home for every default.

A run is configured by, in order:

1. the defaults of the dataclasses below (the paper's objective and optimiser, the ``paper``
   network preset) and of :class:`v2v.data.DataConfig` (every data default);
2. a YAML file (``--config NAME_OR_PATH``; ``quickstart`` when none is given), which may name a
   ``base:`` file it extends;
3. ``key=value`` overrides with dotted keys, e.g. ``train.steps=200 model.preset=small``.

Unknown keys are errors naming the key, and values are type-checked against the annotations.
:func:`load_config` returns a :class:`RunConfig` whose model architecture is resolved from its
preset, so the ``config.yaml`` written beside each run states every number the run used.

Named configs (``quickstart``, ``paper``, ...) ship inside the package (``v2v/configs/*.yaml``;
``configs/`` at the repository root links there), so they are found after a non-editable install.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import os
import textwrap
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from v2v.data import METRIC_GOALS, TASKS, DataConfig, get_task
from v2v.fileio import atomic_write_text

__all__ = [
    "ConfigError",
    "Setting",
    "SETTINGS",
    "ArchitecturePreset",
    "PRESETS",
    "ModelConfig",
    "LossConfig",
    "OptimConfig",
    "TrainConfig",
    "RunConfig",
    "CONFIG_DIR",
    "find_config",
    "available_configs",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "validate_config",
    "save_config",
    "RESUMABLE_KEYS",
    "diff_configs",
    "BEST_METRICS",
    "DEFAULT_BEST_METRIC",
    "ConfigKey",
    "config_reference",
    "all_keys",
]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
"""Where the named YAML configs ship (package data)."""


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the dotted key."""


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


BEST_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    metric: (goal, tuple(name for name in TASKS if metric in get_task(name).metrics))
    for metric, goal in METRIC_GOALS.items()
}
"""Validation metrics that ``train.best_metric`` may name: whether higher (``max``) or lower
(``min``) is better, and the tasks whose validation reports them (from the task registry)."""

DEFAULT_BEST_METRIC = {name: get_task(name).best_metric for name in TASKS}
"""What ``train.best_metric: auto`` stands for, per task (:attr:`v2v.data.Task.best_metric`)."""


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
        gen_channels=64,
        gen_max_channels=512,
        gen_depth=7,
        gen_dropout_layers=3,
        disc_channels=64,
        disc_max_channels=512,
        disc_depth=4,
    ),
    # C16-C32-C64-C64-C64 / CD64-CD64-C64-C32-C16; D: C16-C32-C64. 64x64 frames reach a 2x2 bottleneck.
    "small": ArchitecturePreset(
        gen_channels=16,
        gen_max_channels=64,
        gen_depth=5,
        gen_dropout_layers=2,
        disc_channels=16,
        disc_max_channels=64,
        disc_depth=3,
    ),
}


# --------------------------------------------------------------------------------------------------
# Sub-configs. Every default lives here (data defaults live in v2v.data.DataConfig).


@dataclass
class ModelConfig:
    """Network sizes and output. ``preset`` names a row of :data:`PRESETS`; a size left ``null``
    takes the preset's value, a number overrides it. :func:`load_config` fills them in."""

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


@dataclass
class LossConfig:
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


@dataclass
class OptimConfig:
    """Adam for both networks (paper section 3.3, pix2pix's hyper-parameters)."""

    lr_generator: float = 2e-4
    """Adam learning rate of the generator."""
    lr_discriminator: float = 2e-4
    """Adam learning rate of the discriminator."""
    beta1: float = 0.5
    """Adam's first-moment decay (pix2pix's 0.5)."""
    beta2: float = 0.999
    """Adam's second-moment decay."""


@dataclass
class TrainConfig:
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
    """CPU threads for torch (``torch.set_num_threads``); 0 leaves torch's default."""
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
    """Validation metric that picks ``checkpoints/best.pt`` and ``best/``: ``auto`` (``psnr`` for
    colorization and superres, ``J`` for segmentation), or one of :data:`BEST_METRICS`."""
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


@dataclass
class RunConfig:
    """Everything a training run needs; written as ``config.yaml`` beside the run."""

    name: str = "default"
    """Name of the experiment (the run directory's prefix)."""
    task: str = "colorization"
    """``segmentation``, ``colorization`` or ``superres`` (docs/conventions.md)."""
    setting: str = "video2video+local+global"
    """One of :data:`SETTINGS` (the paper's Table 1)."""
    seed: int = 0
    """Seeds the weights, dropout, and the data order."""
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    @property
    def setting_switches(self) -> Setting:
        """The :class:`Setting` named by ``setting``."""
        return SETTINGS[self.setting]

    @property
    def best_metric(self) -> tuple[str, str]:
        """``(metric, "max" or "min")`` that picks the best checkpoint (``train.best_metric``
        with ``auto`` resolved for the task)."""
        name = DEFAULT_BEST_METRIC[self.task] if self.train.best_metric == "auto" else self.train.best_metric
        return name, BEST_METRICS[name][0]


# --------------------------------------------------------------------------------------------------
# Dict <-> dataclass with strict keys and types.


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked against annotation ``tp`` (converting only lossless, unambiguous cases)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise ConfigError(f"{key}: null is not allowed (expected {_type_name(tp)})")
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError:
                pass  # the next option may take it; the error below names every option
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{key}: must be one of {list(choices)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [part.strip() for part in value.strip("[]()").split(",") if part.strip()]
            value = [yaml.safe_load(part) for part in value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)} ({value!r})")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return config_from_dict(tp, value, prefix=key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads "1e-4" (no dot) as a string; accept numeric text for float fields.
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{key}: expected a path, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{key}: cannot read {value!r} as {_type_name(tp)}")


def config_from_dict(cls: type, values: dict[str, Any] | None, *, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict; missing keys take their defaults.

    Raises:
        ConfigError: a key that ``cls`` does not have (named with its dotted path and the valid
            keys), or a value of the wrong type.
    """
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in values.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(f"unknown config key {dotted!r}{_suggestion(str(key), names, prefix)}; valid keys here: {', '.join(names)}")
        kwargs[key] = _coerce(value, hints[key], dotted)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{prefix or 'config'}: {error}") from error


def _suggestion(word: str, candidates, prefix: str = "") -> str:
    """``" (did you mean 'x'?)"`` for the nearest candidate (difflib), or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {(f'{prefix}.' if prefix else '') + close[0]!r}?)"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """Nested dict of plain YAML/JSON types (tuples become lists, paths strings)."""
    return _plain(dataclasses.asdict(config))


def _field_type(cls: type, dotted: str) -> Any:
    """Annotation of the field at ``dotted`` under dataclass ``cls`` (ConfigError if none)."""
    tp: Any = cls
    walked = []
    for part in dotted.split("."):
        walked.append(part)
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(f"unknown config key {'.'.join(walked)!r}: {'.'.join(walked[:-1])} is not a section")
        hints = typing.get_type_hints(tp)
        if part not in hints or part not in {f.name for f in dataclasses.fields(tp)}:
            names = [f.name for f in dataclasses.fields(tp)]
            suggestion = _suggestion(dotted, all_keys(cls)) or _suggestion(part, names, ".".join(walked[:-1]))
            raise ConfigError(f"unknown config key {'.'.join(walked)!r}{suggestion}; valid keys here: {', '.join(names)}")
        tp = hints[part]
    return tp


def apply_overrides(values: dict[str, Any], overrides: list[str], cls: type = RunConfig) -> dict[str, Any]:
    """Apply ``key=value`` overrides (dotted keys) to a nested dict, returning a new dict.

    A value is parsed as YAML (``true``, ``3``, ``[64, 64]``, ``null``), except for string fields,
    which take the text verbatim. Keys are checked against ``cls``.
    """
    result = _deep_copy(values)
    for override in overrides:
        key, sep, raw = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {override!r} is not of the form key=value (e.g. train.steps=200)")
        tp = _field_type(cls, key)
        if dataclasses.is_dataclass(tp):
            raise ConfigError(f"{key} is a section; override one of its keys, e.g. {key}.<key>=value")
        value: Any = raw if tp is str else _parse_scalar(raw, key)
        parts = key.split(".")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: {part} is not a section")
        node[parts[-1]] = value
    return result


def _parse_scalar(raw: str, key: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"{key}: cannot parse value {raw!r}: {error}") from error


def _deep_copy(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in values.items()}


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = _deep_copy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------------------------------
# The reference of every key (``python -m v2v.train --help``), read from the dataclasses themselves.


@dataclass(frozen=True)
class ConfigKey:
    """One leaf key of the configuration, as :func:`config_reference` describes it."""

    key: str
    """Dotted key, e.g. ``train.steps``."""
    default: Any
    """The dataclass default (plain YAML types)."""
    meaning: str
    """The field's documentation (attribute docstring or the class's ``Attributes:`` entry)."""


def _attributes_section(doc: str) -> dict[str, str]:
    """Entries of a Google-style ``Attributes:`` section; ``a, b: text`` documents both names."""
    entries: dict[str, str] = {}
    lines = doc.splitlines()
    if "Attributes:" not in lines:
        return entries
    current: list[str] = []
    for line in lines[lines.index("Attributes:") + 1 :]:
        if line and not line.startswith(" "):
            break  # the next section
        head, sep, text = line.strip().partition(":")
        starts_entry = line.startswith("    ") and not line.startswith("     ") and sep
        if starts_entry and all(name.strip().isidentifier() for name in head.split(",")):
            current = [name.strip() for name in head.split(",")]
            for name in current:
                entries[name] = text.strip()
        elif current and line.strip():
            for name in current:
                entries[name] += " " + line.strip()
    return entries


def _field_docs(cls: type) -> dict[str, str]:
    """Documentation of each field of dataclass ``cls``: the string literal right after the
    field (an attribute docstring), else its entry in the class docstring's ``Attributes:``."""
    docs = _attributes_section(inspect.getdoc(cls) or "")
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(inspect.cleandoc(following.value.value).split())
    return docs


def config_reference(cls: type = RunConfig, prefix: str = "") -> list[ConfigKey]:
    """Every leaf key under dataclass ``cls`` with its default and meaning, in declaration order."""
    hints = typing.get_type_hints(cls)
    docs = _field_docs(cls)
    reference = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            reference.extend(config_reference(hints[f.name], key))
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
        reference.append(ConfigKey(key=key, default=_plain(default), meaning=docs.get(f.name, "")))
    return reference


def all_keys(cls: type = RunConfig) -> list[str]:
    """Every dotted leaf key under dataclass ``cls``."""
    return [entry.key for entry in config_reference(cls)]


# --------------------------------------------------------------------------------------------------
# Named configs and YAML files.


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
    raise ConfigError(
        f"config {str(name_or_path)!r} is neither a YAML file nor a shipped config "
        f"(shipped: {', '.join(available_configs())})"
    )


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML mapping of ``path`` merged over the file its ``base:`` names, if any."""
    path = path.resolve()
    if path in chain:
        raise ConfigError(f"config {path} extends itself through 'base:' ({' -> '.join(map(str, chain))})")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config {path}: invalid YAML: {error}") from error
    if not isinstance(values, dict):
        raise ConfigError(f"config {path}: expected a mapping at the top level")
    base = values.pop("base", None)
    if base is None:
        return values
    if not isinstance(base, str):
        raise ConfigError(f"config {path}: base must be a config name or a path, got {base!r}")
    relative = path.parent / base
    base_path = relative if relative.is_file() else find_config(base)
    return _deep_merge(_read_yaml(base_path, (*chain, path)), values)


def load_config(config: str | os.PathLike | None = "quickstart", overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Defaults, then the YAML ``config`` (a shipped name or a path; None for bare defaults), then
    ``overrides``; resolved from the model preset and validated.

    Raises:
        ConfigError: unknown key, wrong type or invalid value, naming the dotted key.
    """
    values: dict[str, Any] = {} if config is None else _read_yaml(find_config(config))
    values = apply_overrides(values, list(overrides))
    return resolve_config(config_from_dict(RunConfig, values))


def resolve_config(config: RunConfig) -> RunConfig:
    """Fill the model fields left null from ``model.preset`` and validate everything."""
    if config.model.preset not in PRESETS:
        raise ConfigError(f"model.preset: must be one of {sorted(PRESETS)}, got {config.model.preset!r}")
    preset = PRESETS[config.model.preset]
    filled = {
        f.name: getattr(preset, f.name) if getattr(config.model, f.name) is None else getattr(config.model, f.name)
        for f in dataclasses.fields(preset)
    }
    if config.model.residual is None and config.task in TASKS:
        filled["residual"] = get_task(config.task).output_base is not None
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, **filled))
    validate_config(config)
    return config


def _require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {message}")


def validate_config(config: RunConfig) -> None:
    """Check values beyond their types (ranges, names, combinations); ConfigError names the key."""
    _require(config.task in TASKS, "task", f"must be one of {list(TASKS)}, got {config.task!r}")
    _require(config.setting in SETTINGS, "setting", f"must be one of {list(SETTINGS)}, got {config.setting!r}")
    _require(bool(config.name) and "/" not in config.name, "name", f"must be a non-empty name without '/', got {config.name!r}")
    # numpy's SeedSequence, which seeds the data order, takes no negative entropy.
    _require(config.seed >= 0, "seed", f"must be >= 0, got {config.seed}")
    model = config.model
    for key in ("gen_channels", "gen_max_channels", "gen_depth", "disc_channels", "disc_max_channels", "disc_depth"):
        value = getattr(model, key)
        _require(value is None or value >= 1, f"model.{key}", f"must be >= 1, got {value}")
    if model.gen_depth is not None and model.gen_dropout_layers is not None:
        _require(
            0 <= model.gen_dropout_layers <= model.gen_depth,
            "model.gen_dropout_layers",
            f"must be in [0, model.gen_depth={model.gen_depth}], got {model.gen_dropout_layers}",
        )
    if model.residual:
        _require(
            get_task(config.task).output_base is not None,
            "model.residual",
            f"the {config.task} task's input and output live in different spaces, so its generator cannot add "
            "a correction to its input: use model.residual=false (or null, the task's choice)",
        )
    if config.setting_switches.per_frame_discriminator and model.disc_depth is not None:
        _require(model.disc_depth >= 2, "model.disc_depth", f"the per-frame PatchGAN needs >= 2, got {model.disc_depth}")
    for key in ("temporal_weight", "spatial_weight", "gan_weight", "temporal_gan_weight"):
        value = getattr(config.loss, key)
        _require(value >= 0, f"loss.{key}", f"must be >= 0, got {value}")
    for key in ("lr_generator", "lr_discriminator"):
        value = getattr(config.optim, key)
        _require(value > 0, f"optim.{key}", f"must be > 0, got {value}")
    for key in ("beta1", "beta2"):
        value = getattr(config.optim, key)
        _require(0 <= value < 1, f"optim.{key}", f"must be in [0, 1), got {value}")
    train = config.train
    for key in ("steps", "batch_size", "log_every", "image_every", "checkpoint_every", "keep_checkpoints", "val_every", "image_height"):
        value = getattr(train, key)
        _require(value >= 1, f"train.{key}", f"must be >= 1, got {value}")
    for key in ("threads", "num_workers", "val_videos", "val_max_frames"):
        value = getattr(train, key)
        _require(value >= 0, f"train.{key}", f"must be >= 0, got {value}")
    _require(
        train.val_max_frames == 0 or train.val_max_frames >= 2,
        "train.val_max_frames",
        f"must be 0 (whole videos) or >= 2, got {train.val_max_frames}",
    )
    if train.best_metric != "auto":
        _require(
            train.best_metric in BEST_METRICS,
            "train.best_metric",
            f"must be auto or one of {list(BEST_METRICS)}, got {train.best_metric!r}{_suggestion(train.best_metric, BEST_METRICS)}",
        )
        tasks = BEST_METRICS[train.best_metric][1]
        _require(config.task in tasks, "train.best_metric", f"{train.best_metric} is not reported for task {config.task} (only {', '.join(tasks)})")
    device = train.device
    valid_device = device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
    _require(valid_device, "train.device", f"must be auto, cpu, cuda or cuda:N, got {device!r}")
    _require(
        "/" not in train.run_name and train.run_name not in (".", ".."),
        "train.run_name",
        f"must be a plain directory name, got {train.run_name!r}",
    )


# --------------------------------------------------------------------------------------------------
# Writing, and comparing for resume.


def save_config(config: RunConfig, path: str | os.PathLike) -> None:
    """Write ``config`` as YAML, atomically (:func:`v2v.fileio.atomic_write_text`)."""
    atomic_write_text(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


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


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in values.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(_flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


def diff_configs(old: RunConfig | dict[str, Any], new: RunConfig | dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two configs."""
    old_flat = _flatten(old if isinstance(old, dict) else config_to_dict(old))
    new_flat = _flatten(new if isinstance(new, dict) else config_to_dict(new))
    return sorted(k for k in old_flat.keys() | new_flat.keys() if old_flat.get(k) != new_flat.get(k))
