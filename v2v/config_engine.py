"""The one configuration engine: typed dataclasses built from YAML mappings, ``key=value`` overrides and
command-line flags, with strict keys, checked types and errors that name the key.

Every configuration of the package is a dataclass that derives from :class:`Checked`: the run
(:class:`v2v.config.RunConfig` and its sections, data and flow included) and the options of each
command (:class:`v2v.evaluate.EvaluateConfig`, :class:`v2v.translate.TranslateConfig`,
:class:`v2v.score.ScoreConfig`, ...). A field's annotation is its type, its default is the one
default, and the string literal after it is its documentation, which ``--help`` prints. Building
one, however it is built (a Python call, :func:`build` from a mapping, :func:`from_arguments` from
parsed flags), checks and normalises every field against its annotation (a YAML list becomes the
tuple a field declares, ``"1e-4"`` becomes a float) and then runs the class's own :meth:`Checked.check`
for ranges and combinations. A bad value raises :class:`ConfigError`, whose ``key`` is the dotted
path from the outermost section built (``data.synthetic.object_speed``) or, from the command line,
the flag (``--max-frames``).

Convention:
    Supported annotations: ``bool``, ``int``, ``float`` (also from numeric text), ``str``,
    ``Path``, ``Literal[...]`` (a choice), ``X | None``, ``tuple[X, ...]``, ``tuple[X, Y]``,
    ``list[X]``, ``dict`` and nested :class:`Checked` dataclasses (from a mapping).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "ConfigError",
    "Checked",
    "require",
    "build",
    "to_dict",
    "plain",
    "flatten",
    "diff",
    "field_type",
    "apply_overrides",
    "deep_merge",
    "read_yaml",
    "ConfigKey",
    "reference",
    "field_docs",
    "suggestion",
    "plain_text",
    "add_arguments",
    "from_arguments",
]


class ConfigError(ValueError):
    """A configuration key or value is invalid.

    Args:
        key: the dotted key (or command-line flag) at fault; empty for an error of the whole.
        problem: what is wrong and what was expected.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)

    def under(self, prefix: str) -> ConfigError:
        """The same error with its key inside section ``prefix``."""
        if not prefix:
            return self
        return ConfigError(f"{prefix}.{self.key}" if self.key else prefix, self.problem)


def require(condition: bool, key: str, problem: str) -> None:
    """Raise ``ConfigError(key, problem)`` unless ``condition``."""
    if not condition:
        raise ConfigError(key, problem)


class Checked:
    """Base of every configuration dataclass: on construction each field is checked and normalised
    against its annotation (and against ``metadata={"choices": ...}``, where the choices are owned by
    another module; for a tuple, each element's), then :meth:`check` runs.

    A nested section may be given as a mapping (it is built with :func:`build`) or as an instance.
    """

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = _coerce(getattr(self, f.name), hints[f.name], f.name)
            choices = f.metadata.get("choices")
            if choices is not None and value is not None:
                for item in value if isinstance(value, tuple) else (value,):  # a tuple's choices are its elements'
                    if item not in choices:
                        raise ConfigError(f.name, f"must be one of {list(choices)}, got {item!r}{suggestion(str(item), map(str, choices))}")
            setattr(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Check values beyond their types (ranges, combinations); raise :class:`ConfigError`
        naming the field. The default checks nothing."""


# --------------------------------------------------------------------------------------------------
# Values against annotations.


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " or ".join(repr(choice) for choice in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked against annotation ``tp``, converting only lossless, unambiguous cases."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise ConfigError(key, f"null is not allowed (expected {_type_name(tp)})")
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as error:
                if error.key != key:  # a deeper key was at fault: that is the error to report
                    raise
        raise ConfigError(key, f"expected {' or '.join(_type_name(o) for o in options)}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(key, f"must be one of {list(choices)}, got {value!r}{suggestion(str(value), map(str, choices))}")
        return value
    if origin in (tuple, list):
        if isinstance(value, str):  # a command-line list: "[64, 64]" or "64,64"
            value = [yaml.safe_load(part) for part in value.strip("[]()").split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
            if len(args) != len(value):
                raise ConfigError(key, f"expected {len(args)} values, got {len(value)} ({list(value)!r})")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return build(tp, value, key=key)
        raise ConfigError(key, f"expected a mapping of {tp.__name__} keys, got {value!r}")
    if tp is bool or tp is str:
        if isinstance(value, tp):
            return value
        raise ConfigError(key, f"expected {'true or false' if tp is bool else 'a string'}, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(key, f"expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads "1e-4" (no dot) as a string; numeric text is accepted for float fields.
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(key, f"expected a number, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(key, f"expected a path, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(key, f"cannot read {value!r} as {_type_name(tp)}")


def suggestion(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the nearest of ``candidates`` (difflib), or ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def build(cls: type, values: Mapping[str, Any] | None, *, key: str = "") -> Any:
    """Dataclass ``cls`` from a mapping; missing keys take their defaults.

    Args:
        cls: a :class:`Checked` dataclass.
        values: the keys to set (None: all defaults).
        key: the dotted path of this section, prefixed to every error's key.

    Raises:
        ConfigError: a key ``cls`` does not have (with the nearest valid one and the list), a value
            of the wrong type, or one its :meth:`Checked.check` refuses.
    """
    values = {} if values is None else values
    if not isinstance(values, Mapping):
        raise ConfigError(key, f"expected a mapping of keys, got {values!r}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    for name in values:
        if name not in names:
            dotted = f"{key}.{name}" if key else str(name)
            raise ConfigError(dotted, f"unknown config key{suggestion(str(name), names)}; valid keys here: {', '.join(names)}")
    try:
        return cls(**values)
    except ConfigError as error:
        raise error.under(key) from None
    except TypeError as error:  # a required field without a value
        raise ConfigError(key, str(error)) from None


def plain(value: Any) -> Any:
    """``value`` as plain YAML/JSON types: dataclasses as dicts, tuples as lists, paths as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a nested dict of plain YAML/JSON types."""
    return plain(config)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict as ``{dotted key: leaf value}``, in order."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            flat.update(flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


def diff(old: Any, new: Any) -> list[str]:
    """Dotted keys whose values differ between two configs (dataclasses or nested dicts)."""
    old_flat = flatten(old if isinstance(old, Mapping) else to_dict(old))
    new_flat = flatten(new if isinstance(new, Mapping) else to_dict(new))
    return sorted(k for k in old_flat.keys() | new_flat.keys() if old_flat.get(k) != new_flat.get(k))


# --------------------------------------------------------------------------------------------------
# Overrides and YAML files.


def field_type(cls: type, dotted: str) -> Any:
    """The annotation of the field at ``dotted`` under dataclass ``cls``.

    Raises:
        ConfigError: no such key (with the nearest valid one).
    """
    tp: Any = cls
    walked: list[str] = []
    for part in dotted.split("."):
        walked.append(part)
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(".".join(walked), f"unknown config key: {'.'.join(walked[:-1])} is not a section")
        hints = typing.get_type_hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        if part not in names:
            nearest = suggestion(dotted, _leaf_keys(cls)) or suggestion(part, names)
            raise ConfigError(".".join(walked), f"unknown config key{nearest}; valid keys here: {', '.join(names)}")
        tp = hints[part]
    return tp


def _leaf_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}.{f.name}" if prefix else f.name
        keys += _leaf_keys(hints[f.name], dotted) if dataclasses.is_dataclass(hints[f.name]) else [dotted]
    return keys


def apply_overrides(values: Mapping[str, Any], overrides: Sequence[str], cls: type) -> dict[str, Any]:
    """``values`` (a nested dict) with ``key=value`` overrides applied, as a new dict.

    A value is parsed as YAML (``true``, ``3``, ``[64, 64]``, ``null``), except for string fields,
    which take the text verbatim. Keys are checked against dataclass ``cls``.
    """
    result = _deep_copy(values)
    for override in overrides:
        key, sep, raw = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("", f"override {override!r} is not of the form key=value (e.g. train.steps=200)")
        tp = field_type(cls, key)
        if dataclasses.is_dataclass(tp):
            raise ConfigError(key, f"is a section; override one of its keys, e.g. {key}.<key>=value")
        value: Any = raw if tp is str else _parse_scalar(raw, key)
        node = result
        for part in key.split(".")[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(key, f"{part} is not a section")
        node[key.split(".")[-1]] = value
    return result


def _parse_scalar(raw: str, key: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(key, f"cannot parse value {raw!r}: {error}") from error


def _deep_copy(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in values.items()}


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` merged into it section by section, as a new dict."""
    merged = _deep_copy(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path, resolve_base: typing.Callable[[str, Path], Path], chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML mapping of ``path`` merged over the file its ``base:`` names, if any.

    Args:
        path: the YAML file.
        resolve_base: ``(base value, the file naming it) -> path of the base file``.
    """
    path = path.resolve()
    if path in chain:
        raise ConfigError("", f"config {path} extends itself through 'base:' ({' -> '.join(map(str, chain))})")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError("", f"config {path}: invalid YAML: {error}") from error
    if not isinstance(values, dict):
        raise ConfigError("", f"config {path}: expected a mapping at the top level")
    base = values.pop("base", None)
    if base is None:
        return values
    if not isinstance(base, str):
        raise ConfigError("base", f"must be a config name or a path, got {base!r} (in {path})")
    return deep_merge(read_yaml(resolve_base(base, path), resolve_base, (*chain, path)), values)


# --------------------------------------------------------------------------------------------------
# Documentation, read from the dataclasses themselves.


@dataclass(frozen=True)
class ConfigKey:
    """One leaf key of a configuration, as :func:`reference` describes it."""

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


def field_docs(cls: type) -> dict[str, str]:
    """Documentation of each field of dataclass ``cls``: the string literal right after the field
    (an attribute docstring), else its entry in the class docstring's ``Attributes:``; fields
    inherited from a dataclass base (an option shared by several commands) keep the base's."""
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__[1:]):
        if dataclasses.is_dataclass(base):
            docs.update(_own_field_docs(base))
    docs.update(_own_field_docs(cls))
    return docs


def _own_field_docs(cls: type) -> dict[str, str]:
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


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def reference(cls: type, prefix: str = "") -> list[ConfigKey]:
    """Every leaf key under dataclass ``cls`` with its default and meaning, in declaration order."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    keys = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            keys.extend(reference(hints[f.name], key))
        else:
            keys.append(ConfigKey(key=key, default=plain(_default(f)), meaning=docs.get(f.name, "")))
    return keys


# --------------------------------------------------------------------------------------------------
# Command-line flags generated from the dataclasses.
#
# A field becomes ``--field-name`` (``metadata={"flag": "--other"}`` renames it), and a field
# without a default a required option, or a positional argument with ``metadata={"positional": True}``.
# A bool field that defaults to False is a switch that sets it; one that defaults to True gets a
# switch that clears it (``--no-field-name``, or the ``flag`` given, e.g. ``--quiet`` for
# ``progress``). A ``Literal`` lists its choices; a fixed-length tuple takes that many values.


def _flag(f: dataclasses.Field) -> str:
    if "flag" in f.metadata:
        return f.metadata["flag"]
    name = f.name.replace("_", "-")
    return f"--no-{name}" if f.default is True else f"--{name}"


def _scalar_parser(tp: Any) -> typing.Callable[[str], Any]:
    """Text of one command-line value -> the value (None from ``none``/``null`` where allowed)."""
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    options = [o for o in typing.get_args(tp) if o is not type(None)] if union else [tp]
    nullable = union and len(options) < len(typing.get_args(tp))
    inner = options[0] if len(options) == 1 else str

    def parse(text: str) -> Any:
        if nullable and text.lower() in ("none", "null"):
            return None
        if inner is int:
            return int(text)
        if inner is float:
            return float(text)
        return text

    parse.__name__ = getattr(inner, "__name__", "value")  # argparse names the type in its errors
    return parse


def plain_text(text: str) -> str:
    """A docstring fragment as one line of plain text (no reStructuredText markup)."""
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", " ".join(text.split())).replace("``", "")


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, exclude: Iterable[str] = ()) -> None:
    """Add one argument per field of dataclass ``cls`` to ``parser`` (see the comment above), each
    with the field's documentation and default as its help."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    skipped = set(exclude)
    for f in dataclasses.fields(cls):
        if f.name in skipped or not f.init:
            continue
        tp, default = hints[f.name], _default(f)
        # argparse expands %-formatting in help strings, so a literal "%" must be doubled.
        meaning = plain_text(docs.get(f.name, "")).replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": f.name}
        if "metavar" in f.metadata:
            kwargs["metavar"] = f.metadata["metavar"]
        if tp is bool:
            kwargs["action"] = "store_false" if default is True else "store_true"
            kwargs["default"] = default
            parser.add_argument(_flag(f), help=meaning, **kwargs)
            continue
        base = tp
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            non_null = [o for o in typing.get_args(tp) if o is not type(None)]
            base = non_null[0] if len(non_null) == 1 else tp
        if typing.get_origin(base) is tuple:
            args = typing.get_args(base)
            kwargs["nargs"] = "+" if len(args) == 2 and args[1] is Ellipsis else len(args)
            kwargs["type"] = _scalar_parser(args[0])
            if "choices" in f.metadata:  # the choices of each element
                kwargs["choices"] = list(f.metadata["choices"])
        elif "choices" in f.metadata:
            kwargs["choices"] = list(f.metadata["choices"])
            kwargs["type"] = _scalar_parser(tp)
        elif typing.get_origin(base) is Literal:
            kwargs["choices"] = list(typing.get_args(base))
            kwargs["type"] = _scalar_parser(type(typing.get_args(base)[0]))
        else:
            kwargs["type"] = _scalar_parser(tp)
        shown = "none" if default is None else str(default).replace("%", "%%")
        help_text = meaning if default is dataclasses.MISSING else f"{meaning} (default: {shown})"
        if f.metadata.get("positional"):
            kwargs.pop("dest")
            parser.add_argument(f.name, help=help_text, **kwargs)
            continue
        if default is dataclasses.MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = default
        parser.add_argument(_flag(f), help=help_text, **kwargs)


def from_arguments(cls: type, args: argparse.Namespace, **values: Any) -> Any:
    """Dataclass ``cls`` from parsed arguments (:func:`add_arguments`) and extra ``values``.

    Raises:
        ConfigError: a value its checks refuse, keyed by the command-line flag.
    """
    flags = {f.name: (f.name if f.metadata.get("positional") else _flag(f)) for f in dataclasses.fields(cls)}
    given = {name: getattr(args, name) for name in flags if hasattr(args, name)}
    try:
        return build(cls, {**given, **values})
    except ConfigError as error:
        head, _, rest = error.key.partition(".")
        head, bracket, index = head.partition("[")
        raise ConfigError(flags.get(head, head) + (bracket + index if bracket else "") + (f".{rest}" if rest else ""),
                          error.problem) from None
