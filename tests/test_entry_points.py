"""Every console script declared in pyproject.toml imports and prints its help (CI's sdist stage
runs the installed scripts the same way; this catches a broken help string before it gets there)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from pathlib import Path

import pytest
import tomllib

from v2v.config_engine import add_arguments

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_console_script_prints_its_help(script, capsys):
    module, function = SCRIPTS[script].split(":")
    main = getattr(importlib.import_module(module), function)
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_a_percent_sign_in_a_field_doc_or_default_is_printed_literally():
    @dataclasses.dataclass
    class Options:
        share: float = 0.9
        """Keep at most 90% of the cache."""
        pattern: str = "%d.png"
        """File name pattern."""

    parser = argparse.ArgumentParser(prog="demo")
    add_arguments(parser, Options)
    text = parser.format_help()
    assert "90% of the cache" in text and "%d.png" in text
