"""Turn a pytest-benchmark JSON of the op benchmarks into a markdown table.

For each group (device, dtype, shape, mode) it lists the median time of the fused op, the eager
reference and the torch.compile'd reference, the fused op's speed-up over each, the bandwidth it
achieves on the bytes it must move at minimum, and that bandwidth as a fraction of a plain copy of
the same bytes measured in the same run (the roofline).

Usage::

    pytest benchmarks --benchmark-only --benchmark-json=bench.json
    python benchmarks/report.py bench.json [--output table.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def load_groups(data: dict) -> dict[str, dict[str, dict]]:
    groups: dict[str, dict[str, dict]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        implementation = bench.get("extra_info", {}).get("implementation")
        if implementation is not None:
            groups[bench["group"]][implementation] = bench
    return groups


def fmt_ms(bench: dict | None) -> str:
    return f"{bench['stats']['median'] * 1e3:.2f}" if bench else "-"


def ratio(slow: dict | None, fast: dict | None) -> str:
    if not slow or not fast:
        return "-"
    return f"{slow['stats']['median'] / fast['stats']['median']:.1f}x"


def residual_error_table(groups: dict[str, dict[str, dict]]) -> list[str]:
    lines = [
        "| case | fused (ms) | eager (ms) | compiled (ms) | vs eager | vs compiled | fused GB/s | copy GB/s | of copy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in sorted(g for g in groups if g.startswith("residual_error")):
        case = groups[name]
        fused, copy = case.get("fused"), case.get("copy")
        bandwidth = copy_bandwidth = fraction = "-"
        if fused:
            nbytes = fused["extra_info"]["minimum_bytes"]
            achieved = nbytes / fused["stats"]["median"] / 1e9
            bandwidth = f"{achieved:.1f}"
            if copy:
                copied = copy["extra_info"]["minimum_bytes"] / copy["stats"]["median"] / 1e9
                copy_bandwidth, fraction = f"{copied:.1f}", f"{achieved / copied:.0%}"
        label = name.removeprefix("residual_error ")
        lines.append(
            f"| {label} | {fmt_ms(fused)} | {fmt_ms(case.get('eager'))} | {fmt_ms(case.get('compiled'))} | "
            f"{ratio(case.get('eager'), fused)} | {ratio(case.get('compiled'), fused)} | {bandwidth} | "
            f"{copy_bandwidth} | {fraction} |"
        )
    return lines


def warp_table(groups: dict[str, dict[str, dict]]) -> list[str]:
    lines = ["| case | v2vcore.warp (ms) | grid_sample (ms) | speed-up |", "| --- | ---: | ---: | ---: |"]
    for name in sorted(g for g in groups if g.startswith("warp")):
        case = groups[name]
        lines.append(
            f"| {name.removeprefix('warp ')} | {fmt_ms(case.get('fused'))} | {fmt_ms(case.get('grid_sample'))} | "
            f"{ratio(case.get('grid_sample'), case.get('fused'))} |"
        )
    return lines


def machine_line(data: dict) -> str:
    info = data.get("machine_info", {})
    device = info.get("cuda_device") or info.get("cpu_model") or info.get("processor", "?")
    cpus = info.get("cpu", {}).get("count", "?")
    return (
        f"Machine: {device} ({cpus} CPUs, {info.get('torch_threads', '?')} torch threads), torch "
        f"{info.get('torch', '?')} (CUDA {info.get('torch_cuda')}), commit {str(info.get('git_commit'))[:10]}, "
        f"{data.get('datetime', '?')}. Medians."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", type=Path, help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("--output", type=Path, help="write the markdown here as well as to stdout")
    args = parser.parse_args(argv)
    try:
        data = json.loads(args.json.read_text())
    except (OSError, json.JSONDecodeError) as error:
        parser.error(f"cannot read benchmark JSON {args.json}: {error}")
    groups = load_groups(data)
    if not groups:
        parser.error(f"{args.json} holds no v2vcore op benchmarks")
    text = "\n".join(
        [machine_line(data), "", "Residual error, fused vs reference:", "", *residual_error_table(groups), "",
         "Warp:", "", *warp_table(groups), ""]
    )
    print(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
