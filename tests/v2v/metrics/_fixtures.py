"""Loaders of the parity fixtures in ``fixtures/`` (see its README for their provenance)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures"


@cache
def expected() -> dict:
    return json.loads((FIXTURES / "expected.json").read_text())


def unpack(archive: Path, *names: str) -> list[np.ndarray]:
    data = np.load(archive)
    shape = tuple(int(n) for n in data["shape"])
    count = int(np.prod(shape))
    return [np.unpackbits(data[name])[:count].reshape(shape).astype(bool) for name in names]


def as_float(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
