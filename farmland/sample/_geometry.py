"""Parcel geometry for the sample: a jittered quadrilateral lattice clipped to a county, and splits.

Interior parcels are quadrilaterals stored with a fixed vertex order (p0 south-west, p1
south-east, p2 north-east, p3 north-west, counter-clockwise), so a parcel can be cut in two along
a line joining its southern and northern edges without any overlay: both pieces reuse the cut
points exactly, and they tile the parent by construction. Lattice jitter is at most 0.22 of the
cell side per axis, which keeps every cell — and every piece cut from one — convex.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from ..units import round_half_up

JITTER = 0.22
SLIVER_SHARE = 0.2
"""Clipped pieces smaller than this share of a cell are merged into their longest-shared neighbour."""


def _lattice_cells(bounds, side: float, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    xmin, ymin, xmax, ymax = bounds
    nx = int(math.ceil((xmax - xmin) / side)) + 1
    ny = int(math.ceil((ymax - ymin) / side)) + 1
    x0, y0 = xmin - side / 2, ymin - side / 2
    gx, gy = np.meshgrid(x0 + side * np.arange(nx + 1), y0 + side * np.arange(ny + 1))
    verts = np.stack([gx, gy], axis=-1)  # (ny+1, nx+1, 2), row 0 in the south
    if rng is not None:
        verts = verts + rng.uniform(-JITTER, JITTER, size=verts.shape) * side
    p0, p1 = verts[:-1, :-1], verts[:-1, 1:]
    p2, p3 = verts[1:, 1:], verts[1:, :-1]
    ring = np.stack([p0, p1, p2, p3, p0], axis=-2)  # (ny, nx, 5, 2)
    # Number parcels from the north-west, the way a surveyor reads a map sheet.
    ring = ring[::-1].reshape(-1, 5, 2)
    return shapely.polygons(ring), ring


def quad_grid(polygon, n_target: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tile ``polygon`` with about ``n_target`` non-overlapping parcels.

    Parameters
    ----------
    polygon : shapely Polygon or MultiPolygon
        The county, in a projected CRS (metres).
    n_target : int
        Wanted number of parcels; the lattice side is calibrated so that the cells touching the
        county number about this many.
    rng : numpy.random.Generator

    Returns
    -------
    geoms : ndarray of shapely Polygons
        Interior cells first (north-west to south-east), then clipped boundary pieces.
    is_quad : ndarray of bool
        True for unclipped cells, which keep the lattice vertex order and can be split.
    """
    shapely.prepare(polygon)
    bounds = polygon.bounds
    side = math.sqrt(polygon.area / max(n_target, 1))
    for _ in range(2):
        cells, _ = _lattice_cells(bounds, side, None)
        hit = int(np.count_nonzero(shapely.intersects(polygon, cells)))
        side *= math.sqrt(hit / n_target)
    # Slivers merged into neighbours make the final count fall short of the cells touched;
    # one corrective rebuild brings it back to the target.
    jitter_seed = int(rng.integers(2**63))
    geoms, is_quad = _clipped_lattice(polygon, bounds, side, jitter_seed)
    side *= math.sqrt(len(geoms) / n_target)
    return _clipped_lattice(polygon, bounds, side, jitter_seed)


def _clipped_lattice(polygon, bounds, side, jitter_seed):
    cells, _ = _lattice_cells(bounds, side, np.random.default_rng(jitter_seed))
    inside = shapely.contains_properly(polygon, cells)
    edge = shapely.intersects(polygon, cells) & ~inside
    interior = cells[inside]

    clipped = shapely.intersection(polygon, cells[edge])
    parts = shapely.get_parts(clipped)
    parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
    small = shapely.area(parts) < SLIVER_SHARE * side * side
    pieces, slivers = parts[~small], parts[small]

    geoms = np.concatenate([interior, pieces])
    is_quad = np.concatenate([np.ones(len(interior), bool), np.zeros(len(pieces), bool)])
    geoms, is_quad, slivers = _merge_slivers(geoms, is_quad, slivers)
    geoms = np.concatenate([geoms, slivers])
    is_quad = np.concatenate([is_quad, np.zeros(len(slivers), bool)])
    return geoms, is_quad


def _merge_slivers(geoms, is_quad, slivers):
    """Union each sliver into the neighbour it shares the longest edge with.

    Slivers without such a neighbour are returned to stay parcels of their own. The unions run
    rank by rank (first sliver of every receiver, then the second …), so the work is vectorised
    over receivers; a receiver rarely gets more than two slivers.
    """
    if len(slivers) == 0:
        return geoms, is_quad, slivers
    tree = shapely.STRtree(geoms)
    s_idx, g_idx = tree.query(slivers, predicate="intersects")
    shared = shapely.length(shapely.intersection(slivers[s_idx], geoms[g_idx]))
    ok = shared > 1e-6
    s_idx, g_idx, shared = s_idx[ok], g_idx[ok], shared[ok]
    order = np.lexsort((-shared, s_idx))
    s_idx, g_idx = s_idx[order], g_idx[order]
    first = np.r_[True, s_idx[1:] != s_idx[:-1]]
    s_idx, g_idx = s_idx[first], g_idx[first]

    geoms = geoms.copy()
    is_quad = is_quad.copy()
    by_receiver = np.lexsort((s_idx, g_idx))
    s_idx, g_idx = s_idx[by_receiver], g_idx[by_receiver]
    rank = np.arange(len(g_idx)) - np.searchsorted(g_idx, g_idx, side="left")
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        sel = rank == r
        geoms[g_idx[sel]] = shapely.union(geoms[g_idx[sel]], slivers[s_idx[sel]])
    is_quad[g_idx] = False
    # A union that did not come out as one polygon (touching at a point only) is split back.
    multi = shapely.get_type_id(geoms) != 3
    if multi.any():
        parts = shapely.get_parts(geoms[multi])
        geoms = np.concatenate([geoms[~multi], parts])
        is_quad = np.concatenate([is_quad[~multi], np.zeros(len(parts), bool)])
    merged = np.zeros(len(slivers), bool)
    merged[s_idx] = True
    return geoms, is_quad, slivers[~merged]


def quad_vertices(geoms) -> np.ndarray:
    """(k, 4, 2) vertices p0, p1, p2, p3 of lattice quadrilaterals (5-point closed rings)."""
    return shapely.get_coordinates(geoms).reshape(-1, 5, 2)[:, :4]


def _shoelace(ring: np.ndarray) -> np.ndarray:
    x, y = ring[..., 0], ring[..., 1]
    return 0.5 * np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1)


def _cut(v: np.ndarray, t: np.ndarray):
    p0, p1, p2, p3 = v[:, 0], v[:, 1], v[:, 2], v[:, 3]
    a = p0 + t[:, None] * (p1 - p0)
    b = p3 + t[:, None] * (p2 - p3)
    return p0, p1, p2, p3, a, b


def split_quads(geoms, tbmj, *, fraction=None, cents=None):
    """Cut quadrilateral parcels in two and apportion their official area to the pieces.

    The cut joins the southern and northern edges at the same relative position ``t``, found by
    vectorised bisection. The west piece is the one that changes. Official areas follow the
    update-package rule (docs/background.md §1.4): the west piece gets round-half-up(TBMJ × its planar
    share, 2 dp) and the east piece the remainder, so the pieces sum exactly to the parent TBMJ.

    Parameters
    ----------
    geoms : array of Polygon
        Parcels with the lattice vertex order (see :func:`quad_vertices`).
    tbmj : array of float
        Official (ellipsoidal) parcel areas, m².
    fraction : array of float, optional
        Wanted planar share of the west piece, 0–1.
    cents : array of int, optional
        Wanted official area of the west piece in 0.01 m² (exact); used where a ratio must come
        out exactly, e.g. an illegal-occupation share of exactly 15 %.

    Returns
    -------
    west, east : arrays of Polygon
    west_m2, east_m2 : arrays of float
        Apportioned official areas, m² (2 dp).
    """
    geoms = np.asarray(geoms, dtype=object)
    tbmj = np.asarray(tbmj, dtype=float)
    v = quad_vertices(geoms)
    rel = v - v[:, :1]
    total = _shoelace(rel)
    goal = np.asarray(fraction, float) if cents is None else np.asarray(cents, float) / 100.0 / tbmj
    lo, hi = np.zeros(len(v)), np.ones(len(v))
    for _ in range(64):
        mid = (lo + hi) / 2
        p0, _, _, p3, a, b = _cut(rel, mid)
        share = _shoelace(np.stack([p0, a, b, p3], axis=1)) / total
        below = share < goal
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    t = (lo + hi) / 2
    p0, _, _, p3, a, b = _cut(rel, t)
    share = _shoelace(np.stack([p0, a, b, p3], axis=1)) / total
    west_m2 = round_half_up(tbmj * share, 2)
    if cents is not None and not np.array_equal(np.rint(west_m2 * 100).astype(np.int64), np.asarray(cents)):
        raise RuntimeError("internal: a tuned parcel split missed its target area")
    east_m2 = round_half_up(tbmj - west_m2, 2)
    p0, p1, p2, p3, a, b = _cut(v, t)
    west = shapely.polygons(np.stack([p0, a, b, p3, p0], axis=1))
    east = shapely.polygons(np.stack([a, p1, p2, b, a], axis=1))
    return west, east, west_m2, east_m2
