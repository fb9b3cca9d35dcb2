"""``python -m v2v.flow_cache``: what the flow cache holds, and emptying or trimming it."""

from __future__ import annotations

import os

import pytest
import torch

from v2v.flow import DISFlowProvider, FlowCache
from v2v.flow_cache import main


def _fill(root, count: int) -> FlowCache:
    cache = FlowCache(root, max_bytes=None)
    for seed in range(count):
        frames = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
        cache.get_or_compute(frames, DISFlowProvider())
        os.utime(cache.path(cache.key(frames, DISFlowProvider())), (1000 + seed, 1000 + seed))
    return cache


def test_shows_clears_and_trims_the_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("V2V_FLOW_CACHE", str(tmp_path / "auto"))
    cache = _fill(tmp_path / "auto", 3)
    entry = cache.usage().bytes // 3
    assert main([]) == 0
    shown = FlowCache(tmp_path / "auto").usage().describe()  # with the default limit
    assert capsys.readouterr().out == f"{shown}\n" and shown.startswith(f"flow cache {tmp_path / 'auto'}: ") and "(limit 2 GB)" in shown
    assert main(["--trim", str(1.5 * entry / 1e9)]) == 0  # room for one entry: the newest stays
    assert capsys.readouterr().out.startswith("removed 2 entries\n") and cache.usage().entries == 1
    other = _fill(tmp_path / "other", 2)
    assert main(["--cache-dir", str(tmp_path / "other"), "--clear"]) == 0
    assert capsys.readouterr().out.startswith("removed 2 entries\n") and other.usage().entries == 0
    assert cache.usage().entries == 1  # the auto cache is untouched


@pytest.mark.parametrize("arguments", [["--trim", "0"], ["--clear", "--trim", "1"]])
def test_bad_options_are_one_line_and_exit_2(capsys, arguments):
    assert main(arguments) == 2
    assert capsys.readouterr().err.startswith("error: --trim: ")
