"""Temporal stability ``T`` of DAVIS 2016 (Perazzi et al., CVPR 2016), in NumPy.

``T`` measures how much the shape of a mask changes from one frame to the next: the contours of two
consecutive masks are described by shape contexts, aligned by dynamic time warping, and the mean
matching cost per matched point is the pair's score (lower is more stable). This module reproduces
davis-matlab's ``measures/t_stability.m`` and the C++ it calls (``mask2pce`` of the polycont
library, psimpl's Douglas-Peucker, ``mex_match_dijkstra``):

1. Contours: the mask's region borders on the pixel-corner grid (pixel ``(r, c)`` covers
   ``[r, r+1] x [c, c+1]``), one closed polygon per outer border and per hole, each starting at the
   top corner of its first vertical border edge in raster order and first walked downwards.
2. Simplification, as psimpl's ``simplify_douglas_peucker`` (a radial-distance pass, then
   Douglas-Peucker) run twice on coordinates doubled to integers, with tolerances 0.1 and 3
   (3 doubled units = 1.5 pixels). Then outer borders are oriented with a positive
   ``sum (x[i+1]-x[i]) * (y[i+1]+y[i])`` (x = row, y = column) and holes the other way; polygons
   with at most 3 vertices (the closing vertex included) are dropped, which removes specks of a
   pixel or two.
3. The polygon with most vertices is kept (the last in raster order on a tie) and every segment
   longer than 3 px is cut into ``ceil(length / 3)`` equal parts.
4. Shape contexts with 12 angle bins x 5 log-radius bins (radii from 1/8 to 2 times the mean
   pairwise distance of the contour's points; a point counts itself), chi-square costs between all
   point pairs of the two contours.
5. Matching: a monotone path through the cost matrix (right, down and diagonal steps, each step
   paying the cost of the cell it enters) from the first pair to the last; the cheapest cell on that
   path fixes a cyclic shift of both contours, the path is found again on the shifted matrix, and
   the matches are made one-to-one by keeping, for each point of the first contour and then of the
   second, its cheapest match.
6. The pair's score is the mean cost of the remaining matches; NaN when either mask has no contour
   (an empty mask, or only specks that step 2 drops).

A video's ``T`` is 5 times the NaN-skipping mean of its pairs' scores (``eval_sequence.m`` scales by
5 "to put it in a similar range than other measures"). The pair order is the official one:
``t_stability(previous, current)``.

Where this differs from the official code: at a pixel-corner where two foreground pixels touch only
diagonally, the polycont tracer's choice of turn depends on its internal bookkeeping; here the
foreground is 8-connected (such pixels share one contour). Contours through such corners may also
start at another vertex than in the official code. Everywhere else the contours, costs and matches
are those of the official code (see ``tests/v2v/metrics/test_stability.py`` for the parity fixtures).
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import as_masks
from .statistics import nanmean

__all__ = [
    "temporal_stability",
    "temporal_stability_pairs",
    "PAIRS_PER_TASK",
    "pair_stability",
    "mask_contours",
    "longest_contour",
    "resample_contour",
    "shape_context",
    "chi_square_costs",
    "match_contours",
    "ContourDescriptor",
    "describe_mask",
]

#: Douglas-Peucker tolerance of ``mask2pce`` (in the doubled-coordinate grid: 1.5 pixels)
SIMPLIFY_TOLERANCE = 3.0
#: the straight-line pre-pass of polycont's ``simplify`` (doubled grid)
PRESIMPLIFY_TOLERANCE = 0.1
#: maximum segment length after resampling, in pixels (``cont_th_up``)
RESAMPLE_STEP = 3.0
ANGLE_BINS = 12
RADIUS_BINS = 5
RADIUS_INNER = 1.0 / 8.0
RADIUS_OUTER = 2.0
#: contours with at most this many vertices (closing vertex included) are dropped
MIN_VERTICES = 3
#: scale of a video's T (davis-matlab ``eval_sequence.m``)
VIDEO_SCALE = 5.0
_EPS = float(np.finfo(np.float64).eps)  # MATLAB's eps, used by hist_cost_2

# Directions on the pixel-corner grid as (d_row, d_col).
_DOWN, _RIGHT, _UP, _LEFT = 0, 1, 2, 3
_STEPS = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)], dtype=np.int64)
# Walking along a border edge, the foreground lies on the side rot(d) = (-d_col, d_row):
# east when walking down, north when walking right, west when walking up, south when walking left.
# At a corner where the foreground touches only diagonally there are two ways on; taking the one
# clockwise on screen (right -> down -> left -> up -> right) keeps the two pixels on one contour.
_CLOCKWISE = {_RIGHT: _DOWN, _DOWN: _LEFT, _LEFT: _UP, _UP: _RIGHT}


# --------------------------------------------------------------------------------------------
# 1. Contours on the pixel-corner grid
# --------------------------------------------------------------------------------------------


def _border_edges(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All directed border edges: start rows, start columns and directions (foreground on the walker's side)."""
    height, width = mask.shape
    padded = np.zeros((height + 2, width + 2), dtype=bool)
    padded[1:-1, 1:-1] = mask
    rows, cols, dirs = [], [], []
    # Vertical edge between corners (r, c) and (r+1, c): pixels (r, c-1) on the left, (r, c) on the right.
    left = padded[1:-1, :-1]
    right = padded[1:-1, 1:]
    r, c = np.nonzero(right & ~left)  # walk down from (r, c)
    rows.append(r), cols.append(c), dirs.append(np.full(r.size, _DOWN))
    r, c = np.nonzero(left & ~right)  # walk up from (r+1, c)
    rows.append(r + 1), cols.append(c), dirs.append(np.full(r.size, _UP))
    # Horizontal edge between corners (r, c) and (r, c+1): pixels (r-1, c) above, (r, c) below.
    above = padded[:-1, 1:-1]
    below = padded[1:, 1:-1]
    r, c = np.nonzero(above & ~below)  # walk right from (r, c)
    rows.append(r), cols.append(c), dirs.append(np.full(r.size, _RIGHT))
    r, c = np.nonzero(below & ~above)  # walk left from (r, c+1)
    rows.append(r), cols.append(c + 1), dirs.append(np.full(r.size, _LEFT))
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(dirs)


def _trace_cycles(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Closed border walks: per cycle, its corner coordinates ``[n, 2]`` and edge directions ``[n]``."""
    height, width = mask.shape
    starts_r, starts_c, dirs = _border_edges(mask)
    n_edges = starts_r.size
    if n_edges == 0:
        return []
    stride = width + 1
    start_ids = starts_r * stride + starts_c
    end_r = starts_r + _STEPS[dirs, 0]
    end_c = starts_c + _STEPS[dirs, 1]
    end_ids = end_r * stride + end_c
    # Outgoing edges per corner: one, or two at a diagonal-touch corner.
    order = np.argsort(start_ids, kind="stable")
    sorted_ids = start_ids[order]
    first = np.searchsorted(sorted_ids, end_ids, side="left")
    count = np.searchsorted(sorted_ids, end_ids, side="right") - first
    successor = order[np.minimum(first, n_edges - 1)]
    junction = np.nonzero(count == 2)[0]
    for edge in junction:  # rare: pick the clockwise turn
        candidates = order[first[edge] : first[edge] + 2]
        wanted = _CLOCKWISE[int(dirs[edge])]
        successor[edge] = candidates[0] if dirs[candidates[0]] == wanted else candidates[1]

    successor_list = successor.tolist()
    visited = np.zeros(n_edges, dtype=bool)
    cycles = []
    for seed in range(n_edges):
        if visited[seed]:
            continue
        members = []
        edge = seed
        while not visited[edge]:
            visited[edge] = True
            members.append(edge)
            edge = successor_list[edge]
        index = np.asarray(members)
        corners = np.stack([starts_r[index], starts_c[index]], axis=1)
        cycles.append((corners, dirs[index]))
    return cycles


def _canonical_walk(corners: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, bool, tuple[int, int]]:
    """Closed corner sequence as polycont walks it, whether it borders a hole, and its raster key.

    polycont starts every contour at the top corner of its first vertical border edge in raster
    order (row, then column) and walks that edge downwards first.
    """
    vertical = np.nonzero((dirs == _DOWN) | (dirs == _UP))[0]
    top_rows = np.where(dirs[vertical] == _DOWN, corners[vertical, 0], corners[vertical, 0] - 1)
    cols = corners[vertical, 1]
    best = vertical[np.lexsort((cols, top_rows))[0]]
    n = len(corners)
    if dirs[best] == _DOWN:  # foreground east of a downward walk: an outer border
        sequence = np.roll(corners, -best, axis=0)
        is_hole = False
    else:  # the walk goes up this edge: reverse it so that it starts at the top corner going down
        sequence = corners[(best + 1 - np.arange(n)) % n]
        is_hole = True
    key = (int(sequence[0, 0]), int(sequence[0, 1]))
    return np.concatenate([sequence, sequence[:1]], axis=0), is_hole, key


def _segment_distance2(s1: np.ndarray, s2: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Squared distances of ``points`` [k, 2] to the segment s1-s2, with psimpl's arithmetic.

    psimpl computes the projection fraction in single precision (``float``); this is reproduced
    because contour vertices often sit exactly at the tolerance.
    """
    v = s2 - s1
    w = points - s1
    cw = w[:, 0] * v[0] + w[:, 1] * v[1]
    cv = v[0] * v[0] + v[1] * v[1]
    d_start = (points[:, 0] - s1[0]) ** 2 + (points[:, 1] - s1[1]) ** 2
    d_end = (points[:, 0] - s2[0]) ** 2 + (points[:, 1] - s2[1]) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = (cw.astype(np.float32) / np.float32(cv)).astype(np.float64)
    proj0 = s1[0] + fraction * v[0]
    proj1 = s1[1] + fraction * v[1]
    d_proj = (points[:, 0] - proj0) ** 2 + (points[:, 1] - proj1) ** 2
    return np.where(cw <= 0, d_start, np.where(cv <= cw, d_end, d_proj))


def _radial_distance(points: np.ndarray, tol: float) -> np.ndarray:
    """psimpl's radial-distance pass: drop vertices closer than ``tol`` to the last kept one."""
    if len(points) < 3:
        return points
    tol2 = tol * tol
    keep = [0]
    current = points[0]
    for index in range(1, len(points) - 1):
        delta = points[index] - current
        if delta[0] * delta[0] + delta[1] * delta[1] < tol2:
            continue
        current = points[index]
        keep.append(index)
    keep.append(len(points) - 1)
    return points[keep]


def _douglas_peucker(points: np.ndarray, tol: float) -> np.ndarray:
    """psimpl's ``simplify_douglas_peucker``: radial-distance pre-pass, then Douglas-Peucker."""
    if len(points) < 3:
        return points
    reduced = _radial_distance(points, tol)
    tol2 = tol * tol
    n = len(reduced)
    keys = np.zeros(n, dtype=bool)
    keys[0] = keys[-1] = True
    stack = [(0, n - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        d2 = _segment_distance2(reduced[first], reduced[last], reduced[first + 1 : last])
        # the furthest vertex; on a tie psimpl keeps the later one
        offset = len(d2) - 1 - int(np.argmax(d2[::-1]))
        if tol2 < d2[offset]:
            key = first + 1 + offset
            keys[key] = True
            stack.append((key, last))
            stack.append((first, key))
    return reduced[keys]


def _is_clockwise(polygon: np.ndarray) -> bool:
    nxt = np.roll(polygon, -1, axis=0)
    return float(np.sum((nxt[:, 0] - polygon[:, 0]) * (nxt[:, 1] + polygon[:, 1]))) > 0


def mask_contours(mask: Any) -> list[np.ndarray]:
    """Simplified closed contours of a mask, as davis-matlab's ``mask2pce(mask, 3)`` returns them.

    Args:
        mask: boolean (or 0/1) array or tensor ``[H, W]``.

    Returns:
        One float64 array ``[n, 2]`` of (row, column) pixel-corner coordinates per contour (outer
        borders and holes), closed (the last vertex repeats the first), in raster order of their
        starting vertices. Contours of at most 3 vertices are dropped; an empty mask gives ``[]``.
    """
    mask = as_masks(mask, "mask", ndims=(2,))
    walks = [_canonical_walk(corners, dirs) for corners, dirs in _trace_cycles(mask)]
    walks.sort(key=lambda walk: walk[2])
    contours = []
    for sequence, is_hole, _ in walks:
        doubled = 2.0 * sequence.astype(np.float64)
        simplified = _douglas_peucker(_douglas_peucker(doubled, PRESIMPLIFY_TOLERANCE), SIMPLIFY_TOLERANCE)
        if _is_clockwise(simplified) == is_hole:  # outer borders clockwise, holes counter-clockwise
            simplified = simplified[::-1]
        if len(simplified) <= MIN_VERTICES:
            continue
        contours.append(simplified / 2.0)
    return contours


def longest_contour(contours: list[np.ndarray]) -> np.ndarray | None:
    """The contour with most vertices, or None when there is none.

    On a tie the last one in raster order wins: polycont lists junction-free contours in reverse
    raster order (its contour bookkeeping iterates a hash map whose nodes are prepended) and
    ``get_longest_cont`` keeps the first of the longest in that list.
    """
    best = None
    for contour in contours:
        if best is None or len(contour) >= len(best):
            best = contour
    return best


def resample_contour(contour: np.ndarray, step: float = RESAMPLE_STEP) -> np.ndarray:
    """Cut every segment longer than ``step`` into ``ceil(length / step)`` equal parts.

    Args:
        contour: closed polygon ``[n, 2]`` (last vertex equal to the first).
        step: maximum segment length in pixels.

    Returns:
        ``[m, 2]`` float64: each original vertex followed by the points inserted after it; the
        closing vertex is kept, as in davis-matlab's ``contour_upsample``.
    """
    contour = np.asarray(contour, dtype=np.float64)
    closed = np.concatenate([contour, contour[:1]], axis=0)
    deltas = np.diff(closed, axis=0)
    lengths = np.sqrt(deltas[:, 0] ** 2 + deltas[:, 1] ** 2)
    pieces = []
    for index in range(len(deltas)):
        if lengths[index] > step:
            parts = int(math.ceil(lengths[index] / step))
            increments = np.repeat((deltas[index] / parts)[None, :], parts - 1, axis=0)
            # accumulate one step at a time, as the official loop does
            pieces.append(np.cumsum(np.concatenate([closed[index : index + 1], increments]), axis=0))
        else:
            pieces.append(closed[index : index + 1])
    return np.concatenate(pieces, axis=0)


# --------------------------------------------------------------------------------------------
# 2. Shape contexts and their costs
# --------------------------------------------------------------------------------------------


def _matlab_rem(x: np.ndarray, y: float) -> np.ndarray:
    """MATLAB/Octave ``rem(x, y)`` for a non-integer scalar ``y``.

    Unlike C's ``fmod``, it returns 0 when ``x / y`` is within a relative ``eps`` of a non-zero
    integer: an angle a rounding error below 0 (``-5e-16``) then falls in the first angle bin, not
    the last.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = x / y
        nearest = np.floor(quotient + 0.5)
        snapped = np.abs((quotient - nearest) / nearest) < _EPS
    remainder = np.where(snapped, 0.0, x - y * np.trunc(quotient))
    return np.where(x != y, np.copysign(remainder, x), remainder)


def shape_context(points: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Log-polar shape-context histograms of a point set (Belongie et al.'s ``sc_compute``).

    For each point, the other points (itself included) are counted in 12 angle bins of 30 degrees
    (angle ``atan2(d_col, d_row)``, bin 0 starting at 0) and 5 radius bins with edges
    ``logspace(log10(1/8), log10(2), 5)`` times the mean pairwise distance; points at 2 or more
    mean distances are not counted.

    Args:
        points: ``[n, 2]`` (row, column) coordinates.
        chunk: points processed at once (bounds the ``chunk x n`` temporaries).

    Returns:
        ``[n, 60]`` float64 counts, column ``angle_bin + 12 * radius_bin`` (radius bin 0 is the outermost ring).
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    squared_norms = points[:, 0] ** 2 + points[:, 1] ** 2

    def distances(rows: slice) -> np.ndarray:
        # |a|^2 + |b|^2 - 2 a.b, as the official ``dist2``: on pixel contours a point often lies
        # within rounding error of a radius-bin edge, and this form rounds such points the same way
        block = points[rows]
        dots = block[:, None, 0] * points[None, :, 0] + block[:, None, 1] * points[None, :, 1]
        squared = (squared_norms[rows, None] + squared_norms[None, :]) - 2.0 * dots
        return np.sqrt(np.maximum(squared, 0.0))

    # row blocks bound the n x n temporaries (a 5000-point contour would need GBs at once)
    blocks = [slice(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    mean_distance = sum(float(distances(rows).sum()) for rows in blocks) / (n * n)
    if not mean_distance > 0:
        raise ValueError("shape_context needs at least two distinct points")
    edges = np.logspace(np.log10(RADIUS_INNER), np.log10(RADIUS_OUTER), RADIUS_BINS)
    two_pi = 2 * np.pi
    n_bins = ANGLE_BINS * RADIUS_BINS
    histogram = np.zeros(n * n_bins, dtype=np.int64)
    for rows in blocks:
        normalised = distances(rows) / mean_distance
        radius_q = np.zeros(normalised.shape, dtype=np.int64)
        for edge in edges:
            radius_q += normalised < edge
        block = points[rows]
        theta = np.arctan2(points[None, :, 1] - block[:, None, 1], points[None, :, 0] - block[:, None, 0])
        # the same floating-point steps as the official code, so that angles on a bin edge
        # (vertical and horizontal neighbours, very common on pixel contours) land in the same bin
        theta = _matlab_rem(_matlab_rem(theta, two_pi) + two_pi, two_pi)
        angle_q = np.floor(theta / (two_pi / ANGLE_BINS)).astype(np.int64)
        counted = radius_q > 0
        owners = np.broadcast_to(np.arange(rows.start, rows.stop)[:, None], counted.shape)[counted]
        bins = angle_q[counted] + ANGLE_BINS * (radius_q[counted] - 1)
        histogram += np.bincount(owners * n_bins + bins, minlength=n * n_bins)
    return histogram.reshape(n, n_bins).astype(np.float64)


def chi_square_costs(hist1: np.ndarray, hist2: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Chi-square distances between normalised histograms (``hist_cost_2``).

    ``cost[i, j] = 0.5 * sum_k (a_ik - b_jk)^2 / (a_ik + b_jk + eps)`` with each histogram divided
    by its total plus eps.

    Args:
        hist1: ``[n1, K]``; hist2: ``[n2, K]``.
        chunk: rows of ``hist1`` processed at once (bounds the ``chunk x n2 x K`` temporary).

    Returns:
        ``[n1, n2]`` float64.
    """
    a = hist1 / (hist1.sum(axis=1, keepdims=True) + _EPS)
    b = hist2 / (hist2.sum(axis=1, keepdims=True) + _EPS)
    costs = np.empty((len(a), len(b)), dtype=np.float64)
    for start in range(0, len(a), chunk):
        block = a[start : start + chunk, None, :]
        costs[start : start + chunk] = 0.5 * np.sum((block - b[None]) ** 2 / (block + b[None] + _EPS), axis=2)
    return costs


# --------------------------------------------------------------------------------------------
# 3. Matching
# --------------------------------------------------------------------------------------------


def _monotone_path(costs: np.ndarray) -> np.ndarray:
    """Cheapest monotone path from cell (0, 0) to the last cell, as ``[k, 2]`` from the last cell back.

    Steps go right, down or diagonally and pay the cost of the cell they enter (the start is free),
    the shortest path ``mex_match_dijkstra`` finds. Accumulated costs are computed along
    anti-diagonals, so each cell needs one vectorised step; the sums are those Dijkstra forms.
    """
    n1, n2 = costs.shape
    total = np.full((n1, n2), np.inf)
    total[0, 0] = 0.0
    for diagonal in range(1, n1 + n2 - 1):
        i = np.arange(max(0, diagonal - n2 + 1), min(n1, diagonal + 1))
        j = diagonal - i
        best = np.full(i.shape, np.inf)
        has_left = j > 0
        best[has_left] = total[i[has_left], j[has_left] - 1]
        has_up = i > 0
        best[has_up] = np.minimum(best[has_up], total[i[has_up] - 1, j[has_up]])
        has_diag = has_up & has_left
        best[has_diag] = np.minimum(best[has_diag], total[i[has_diag] - 1, j[has_diag] - 1])
        total[i, j] = best + costs[i, j]
    path = [(n1 - 1, n2 - 1)]
    i, j = n1 - 1, n2 - 1
    while (i, j) != (0, 0):
        options = []
        if i > 0 and j > 0:
            options.append((total[i - 1, j - 1], 0, i - 1, j - 1))
        if i > 0:
            options.append((total[i - 1, j], 1, i - 1, j))
        if j > 0:
            options.append((total[i, j - 1], 2, i, j - 1))
        _, _, i, j = min(options)  # ties: diagonal first, then the step along the first contour
        path.append((i, j))
    return np.asarray(path, dtype=np.int64)


def _dijkstra_path(costs: np.ndarray) -> np.ndarray:
    """The path ``mex_match_dijkstra`` returns, ties broken as Boost's Dijkstra breaks them.

    Same graph as :func:`_monotone_path`; when two paths cost exactly the same (the closing vertex
    repeats the first one, so neighbouring columns or rows of a shifted cost matrix are equal and
    such ties are common), the path depends on the order in which Boost's 4-ary heap pops vertices
    of equal distance. This replays that heap: pure Python, O(n1 n2 log(n1 n2)), meant for
    reproducing the official numbers exactly on small contours.
    """
    n1, n2 = costs.shape
    weight = costs.ravel().tolist()
    total = n1 * n2
    distance = [math.inf] * total
    parent = list(range(total))
    position = [-1] * total  # index in the heap, -1 when not in it
    finished = [False] * total
    heap: list[int] = []

    def sift_up(index: int) -> None:
        moving = heap[index]
        key = distance[moving]
        while index > 0:
            up = (index - 1) // 4
            if key < distance[heap[up]]:
                heap[index] = heap[up]
                position[heap[index]] = index
                index = up
            else:
                break
        heap[index] = moving
        position[moving] = index

    def pop() -> int:
        top = heap[0]
        position[top] = -1
        last = heap.pop()
        if heap:
            heap[0] = last
            position[last] = 0
            index, key, size = 0, distance[last], len(heap)
            while True:
                first = 4 * index + 1
                if first >= size:
                    break
                best = first
                best_key = distance[heap[first]]
                for child in range(first + 1, min(first + 4, size)):
                    if distance[heap[child]] < best_key:
                        best, best_key = child, distance[heap[child]]
                if best_key < key:
                    heap[index] = heap[best]
                    position[heap[index]] = index
                    index = best
                else:
                    break
            heap[index] = last
            position[last] = index
        return top

    distance[0] = 0.0
    heap.append(0)
    position[0] = 0
    while heap:
        u = pop()
        row, col = divmod(u, n2)
        # out-edges in the order the graph was built: (row, col+1), (row+1, col), (row+1, col+1)
        targets = []
        if col + 1 < n2:
            targets.append(u + 1)
        if row + 1 < n1:
            targets.append(u + n2)
            if col + 1 < n2:
                targets.append(u + n2 + 1)
        for v in targets:
            if finished[v]:
                continue
            candidate = distance[u] + weight[v]
            if candidate < distance[v]:
                discovered = distance[v] != math.inf
                distance[v] = candidate
                parent[v] = u
                if discovered:
                    sift_up(position[v])
                else:
                    heap.append(v)
                    position[v] = len(heap) - 1
                    sift_up(len(heap) - 1)
        finished[u] = True
    path = [total - 1]
    while path[-1] != 0:
        path.append(parent[path[-1]])
    return np.stack(np.divmod(np.asarray(path, dtype=np.int64), n2), axis=1)


def _one_to_one(pairs: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Keep the cheapest match of each point of the first contour, then of the second.

    On a cost tie the earlier pair in ``pairs`` wins, as MATLAB's ``min`` keeps the first.
    """
    order = np.arange(len(pairs))
    pair_costs = costs[pairs[:, 0], pairs[:, 1]]
    ranked = np.lexsort((order, pair_costs, pairs[:, 0]))
    first_of_each = np.ones(len(ranked), dtype=bool)
    first_of_each[1:] = pairs[ranked[1:], 0] != pairs[ranked[:-1], 0]
    kept = pairs[ranked[first_of_each]]  # sorted by the first index
    order = np.arange(len(kept))
    kept_costs = costs[kept[:, 0], kept[:, 1]]
    ranked = np.lexsort((order, kept_costs, kept[:, 1]))
    first_of_each = np.ones(len(ranked), dtype=bool)
    first_of_each[1:] = kept[ranked[1:], 1] != kept[ranked[:-1], 1]
    return kept[ranked[first_of_each]]


def match_contours(costs: np.ndarray, exact_ties: bool = False) -> np.ndarray:
    """One-to-one cyclic alignment of two closed contours from their cost matrix (``t_stability.m``).

    A first monotone path from (0, 0) finds the cheapest matched cell ``(a, b)``; both contours are
    then rotated to start just after it, the path is found again, and the matches are reduced to a
    one-to-one set.

    Args:
        costs: ``[n1, n2]`` matching costs.
        exact_ties: break ties between equally cheap paths exactly as the official code does
            (:func:`_dijkstra_path`, slow); by default a vectorised search with the same path costs
            prefers the diagonal step on a tie.

    Returns:
        ``[k, 2]`` int64 index pairs into the two contours, sorted by the second index.
    """
    n1, n2 = costs.shape
    search = _dijkstra_path if exact_ties else _monotone_path
    path = search(costs)
    along = path[:-1]  # the start cell is not a candidate
    path_costs = costs[along[:, 0], along[:, 1]]
    # the cheapest cell; on a tie the one nearest the end of the path (the first met walking back)
    anchor_i, anchor_j = along[int(np.argmin(path_costs))]
    shift_i, shift_j = (anchor_i + 1) % n1, (anchor_j + 1) % n2
    shifted = np.roll(np.roll(costs, -shift_i, axis=0), -shift_j, axis=1)
    pairs = search(shifted)
    pairs = np.stack([(pairs[:, 0] + shift_i) % n1, (pairs[:, 1] + shift_j) % n2], axis=1)
    return _one_to_one(pairs, costs)


# --------------------------------------------------------------------------------------------
# 4. Pairs and videos
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContourDescriptor:
    """The resampled longest contour of a mask ``[n, 2]`` and its shape contexts ``[n, 60]``."""

    points: np.ndarray
    histograms: np.ndarray


def describe_mask(mask: Any) -> ContourDescriptor | None:
    """Contour and shape contexts of one mask, or None when the mask has no contour.

    Args:
        mask: boolean (or 0/1) array or tensor ``[H, W]``.
    """
    contour = longest_contour(mask_contours(mask))
    if contour is None:
        return None
    points = resample_contour(contour)
    return ContourDescriptor(points, shape_context(points))


def _pair_cost(
    previous: ContourDescriptor | None, current: ContourDescriptor | None, exact_ties: bool = False
) -> float:
    if previous is None or current is None:
        return float("nan")
    costs = chi_square_costs(previous.histograms, current.histograms)
    pairs = match_contours(costs, exact_ties)
    return float(np.sum(costs[pairs[:, 0], pairs[:, 1]]) / len(pairs))


def pair_stability(previous: Any, current: Any, exact_ties: bool = False) -> float:
    """Temporal instability of one pair of masks: the official per-pair ``T`` (unscaled).

    Args:
        previous: mask of frame t-1, boolean (or 0/1) array or tensor ``[H, W]``.
        current: mask of frame t, same shape.
        exact_ties: resolve equally cheap alignments as the official code (slow; see :func:`match_contours`).

    Returns:
        Mean shape-context matching cost (0 for identical or translated masks), or NaN when either
        mask has no contour (empty, or only specks of a pixel or two).
    """
    prev_mask = as_masks(previous, "previous", ndims=(2,))
    cur_mask = as_masks(current, "current", ndims=(2,))
    if prev_mask.shape != cur_mask.shape:
        raise ValueError(f"previous and current must have the same shape, got {prev_mask.shape} and {cur_mask.shape}")
    return _pair_cost(describe_mask(prev_mask), describe_mask(cur_mask), exact_ties)


def _consecutive_costs(sequence: list[np.ndarray], exact_ties: bool) -> np.ndarray:
    """Instabilities of the consecutive pairs of ``sequence`` (each mask described once)."""
    descriptors = [describe_mask(mask) for mask in sequence]
    return np.array(
        [_pair_cost(a, b, exact_ties) for a, b in zip(descriptors[:-1], descriptors[1:])], dtype=np.float64
    )


#: pairs of one task handed to an executor (a chunk's last mask is described again by the next chunk)
PAIRS_PER_TASK = 8


def temporal_stability_pairs(
    masks: Any, first_target: Any = None, exact_ties: bool = False, executor: Executor | None = None
) -> np.ndarray:
    """Per-pair instabilities of a video of masks (unscaled; NaN where a mask has no contour).

    Args:
        masks: predicted masks ``[T, H, W]``.
        first_target: the ground truth of frame 0 for the DAVIS protocol: the pairs are then
            ``(first_target, masks[1]), (masks[1], masks[2]), ..., (masks[T-3], masks[T-2])``; the
            predictions of the first and the last frames are not used. Without it, every consecutive
            pair of ``masks`` is scored.
        exact_ties: resolve equally cheap alignments as the official code (slow; see :func:`match_contours`).
        executor: optional pool (e.g. a ``concurrent.futures.ProcessPoolExecutor``) that computes
            runs of :data:`PAIRS_PER_TASK` pairs in parallel; every pair is computed by the same
            code as without it, so the values are identical.

    Returns:
        float64 ``[T-1]`` (``[T-2]`` with ``first_target``); empty for a one-frame video.
    """
    video = as_masks(masks, "masks", ndims=(3,))
    if first_target is None:
        sequence = list(video)
    else:
        target = as_masks(first_target, "first_target", ndims=(2,))
        if target.shape != video.shape[1:]:
            raise ValueError(f"first_target must have the frame shape {video.shape[1:]}, got {target.shape}")
        if len(video) < 3:
            raise ValueError(f"the DAVIS protocol needs at least 3 frames, got {len(video)}")
        sequence = [target] + list(video[1:-1])
    if executor is None or len(sequence) <= PAIRS_PER_TASK + 1:
        return _consecutive_costs(sequence, exact_ties)
    starts = range(0, len(sequence) - 1, PAIRS_PER_TASK)
    futures = [executor.submit(_consecutive_costs, sequence[start : start + PAIRS_PER_TASK + 1], exact_ties) for start in starts]
    return np.concatenate([future.result() for future in futures])


def temporal_stability(
    masks: Any,
    first_target: Any = None,
    scale: float = VIDEO_SCALE,
    exact_ties: bool = False,
    executor: Executor | None = None,
) -> float:
    """Temporal stability ``T`` of a video of masks (lower is more stable).

    Args:
        masks: predicted masks, boolean (or 0/1) array or tensor ``[T, H, W]``.
        first_target: optional ground truth of frame 0, to follow the DAVIS protocol (see
            :func:`temporal_stability_pairs`).
        scale: factor applied to the mean (5, the official scale).
        exact_ties: resolve equally cheap alignments as the official code (slow; see :func:`match_contours`).
        executor: optional pool for the pairs (see :func:`temporal_stability_pairs`; same result).

    Returns:
        ``scale`` x the NaN-skipping mean of the per-pair instabilities; NaN when no pair has a
        contour on both sides (including a one-frame video).
    """
    return scale * nanmean(temporal_stability_pairs(masks, first_target, exact_ties, executor))
