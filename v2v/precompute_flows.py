"""``python -m v2v.precompute_flows``: fill the flow cache for a run's data before training.

    python -m v2v.precompute_flows --config paper data.root=/data/DAVIS          # train and val splits
    python -m v2v.precompute_flows --config paper --split val data.flow.cache_dtype=float16

Builds the data sets exactly as ``python -m v2v.train`` would with the same config and overrides
(so the cache keys are the ones training looks up), computes the flows of every item with a
progress bar, and prints how many entries were computed or already there and the cache's size.
Several data-loader workers then start a run with every flow on disk instead of each computing
its own. Synthetic data with exact flow has nothing to cache.
"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from v2v.config import DEFAULT_CONFIG, load_config
from v2v.config_engine import field_docs, plain_text
from v2v.data import build_dataset
from v2v.flow import format_bytes
from v2v.models import dataset_processors
from v2v.runtime import ThreadsOption, command_name, run_command, use_threads

__all__ = ["precompute", "main"]


def precompute(config, splits: list[str], progress: bool = True) -> dict[str, dict[str, int]]:
    """Compute and cache the flows of every item of ``splits`` of ``config``'s data.

    Returns:
        Per split: ``items``, ``computed`` (new entries, one per frame pair), ``found`` (already cached),
        ``recomputed`` (damaged entries replaced) and ``evicted`` (entries removed to keep the cache
        within its size limit: more than 0 means the limit is too small for this data).

    Raises:
        ValueError: the data has exact flow (``provider`` resolves to ``exact``) or caching is off.
    """
    flow = config.data.flow
    if flow.resolve(has_exact_flow=config.data.has_exact_flow) == "exact":
        raise ValueError("data.flow.provider resolves to 'exact' (synthetic clips): exact flows come with the data, nothing to cache")
    if flow.cache_root() is None:
        raise ValueError("data.flow.cache_dir is null: caching is off, so there is nothing to precompute")
    counts = {}
    for split in splits:
        dataset = build_dataset(config.data, split, config.task, progress=progress,
                                processors=dataset_processors(config.data, config.task))
        cache = dataset.flow_cache
        for index in tqdm(range(len(dataset)), desc=f"flows {split}", unit="item", disable=not progress):
            dataset.flows(index)
        counts[split] = {"items": len(dataset), "computed": cache.misses, "found": cache.hits, "recomputed": cache.recomputed,
                         "evicted": cache.evicted}
    return counts


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2: bad arguments or missing data, 130: Ctrl-C)."""
    parser = argparse.ArgumentParser(
        prog=command_name("v2v.precompute_flows"),
        description="Compute and cache the optical flows of a run's data sets (the keys training looks up).",
        epilog="Overrides are the training config's dotted key=value pairs (python -m v2v.train --help lists them).",
    )
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"shipped config name or YAML path (default: {DEFAULT_CONFIG})")
    parser.add_argument("--split", action="append", default=None, help="split to precompute (repeatable; default: train and val)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, default=0, metavar="N", help=plain_text(field_docs(ThreadsOption)["threads"]) + " (default: 0)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    args = parser.parse_args(argv)

    def work() -> int:
        use_threads(ThreadsOption(threads=args.threads).threads)
        config = load_config(args.config, args.overrides)
        counts = precompute(config, args.split or ["train", "val"], progress=not args.quiet)
        flow = config.data.flow
        for split, count in counts.items():
            print(f"{split}: {count['items']} items, {count['computed']} pairs computed, {count['found']} already cached, "
                  f"{count['recomputed']} damaged and recomputed")
        print(f"{flow.build_cache().usage().describe()}, {flow.cache_dtype}")
        if any(count["evicted"] for count in counts.values()):
            print(f"warning: the flows did not fit in the cache's limit of {format_bytes(flow.cache_max_bytes())}, so older "
                  "entries were evicted and training will compute them again: raise data.flow.cache_max_gb (or "
                  "$V2V_FLOW_CACHE_MAX_GB), or use data.flow.cache_dtype=float16", file=sys.stderr)
        return 0

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
