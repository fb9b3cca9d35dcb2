"""See or empty the flow cache: ``python -m v2v.flow_cache``.

    python -m v2v.flow_cache              # what the cache holds, where, and its limit
    python -m v2v.flow_cache --clear      # remove every entry
    python -m v2v.flow_cache --trim 0.5   # keep the most recently used entries, within 0.5 GB

The cache is the one ``data.flow.cache_dir: auto`` and ``--flow-cache auto`` use
(``$V2V_FLOW_CACHE``, else ``$XDG_CACHE_HOME/v2v/flows``, else ``~/.cache/v2v/flows``), or the folder
``--cache-dir`` names; its limit is ``$V2V_FLOW_CACHE_MAX_GB`` (default 2 GB). See docs/data.md
("Flow cache").
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from v2v.config_engine import Checked, add_arguments, from_arguments, require
from v2v.flow import FlowCache, default_cache_dir, default_cache_max_bytes
from v2v.runtime import command_name, run_command

__all__ = ["FlowCacheConfig", "main"]


@dataclass
class FlowCacheConfig(Checked):
    """Options of ``python -m v2v.flow_cache``."""

    cache_dir: str = "auto"
    """The cache folder: auto ($V2V_FLOW_CACHE, else $XDG_CACHE_HOME/v2v/flows, else ~/.cache/v2v/flows) or a path."""
    clear: bool = False
    """Remove every entry."""
    trim: float | None = None
    """Remove the least recently used entries until the rest take at most 90% of this many GB."""

    def check(self) -> None:
        require(bool(self.cache_dir), "cache_dir", "must be auto or a folder")
        require(not (self.clear and self.trim is not None), "trim", "give --clear or --trim, not both")
        require(self.trim is None or self.trim > 0, "trim", f"must be a positive number of GB, got {self.trim}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("v2v.flow_cache"),
        description="Show what the flow cache holds (size, entries, folder, limit), or empty or trim it.",
    )
    add_arguments(parser, FlowCacheConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (console script ``v2v-flow-cache``); returns the exit status (0
    success, 2 bad options, 1 a failed removal, 130 Ctrl-C)."""
    args = _parser().parse_args(argv)

    def work() -> int:
        config = from_arguments(FlowCacheConfig, args)
        root = default_cache_dir() if config.cache_dir == "auto" else config.cache_dir
        cache = FlowCache(root, max_bytes=default_cache_max_bytes())
        if config.clear:
            print(f"removed {cache.clear()} entries")
        elif config.trim is not None:
            print(f"removed {cache.trim(int(config.trim * 1e9))} entries")
        print(cache.usage().describe())
        return 0

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
