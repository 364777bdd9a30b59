"""Cheap, exact answers about neighbouring parcels, so the slow DE-9IM test runs on few pairs.

A year-end snapshot has a million parcels and several million neighbour pairs; in a topologically
clean layer nearly every pair only touches. :func:`side_by_side` proves most of them disjoint with
numpy alone; only what it cannot prove goes to GEOS.
"""

from __future__ import annotations

import numpy as np
import shapely

_EPSILON = np.finfo(np.float64).eps

PAIRS_PER_CHUNK = 200_000
"""Pairs tested at once: bounds the temporaries (every vertex of both parcels of each pair)."""

PARCELS_PER_CHUNK = 20_000
"""Parcels whose rings are copied at once to list their vertices."""


def point_keys(xy: np.ndarray) -> np.ndarray:
    """A 64-bit key per coordinate pair, from its exact bits (equal points, equal keys)."""
    bits = np.ascontiguousarray(xy).view(np.uint64)
    return (bits[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ (bits[:, 1] * np.uint64(0xC2B2AE3D27D4EB4F))


def side_by_side(geoms, first, second) -> np.ndarray:
    """True for pairs shown to have disjoint interiors by a line through a vertex they share.

    Neighbours in a topologically built layer share vertices (along a common edge, or at a
    corner). When one of the edges of either parcel at such a vertex lies on a line with every
    vertex of the one parcel on one side (or on it) and every vertex of the other on the other
    side, the two cannot overlap: each polygon lies within the convex hull of its vertices, so
    within its closed half plane, and the two open half planes are disjoint. The vertices of holes
    and of every part of a multipolygon count too, so the argument holds for them (an island
    filling a hole is never shown apart this way: no line separates it from the ring around it).

    Exact up to floating point: a vertex whose side cannot be told from rounding (within the
    standard error bound of the orientation determinant) counts as on the line, which can hide
    an overlap no wider than about 1e-16 of the parcel's size. False means "not shown", not
    "overlapping": those pairs need the exact test.

    Parameters
    ----------
    geoms : numpy.ndarray of shapely geometries (polygons or multipolygons)
    first, second : numpy.ndarray of int
        Positions in ``geoms`` of the two parcels of each pair.
    """
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    out = np.zeros(len(first), bool)
    if not len(first):
        return out
    # The parcels in some pair, renumbered 0… (a mask, not a sort: pairs number in millions).
    involved = np.zeros(len(geoms), bool)
    involved[first] = involved[second] = True
    local = np.cumsum(involved) - 1
    parcels = _Vertices(np.asarray(geoms, dtype=object)[involved])
    local_first, local_second = local[first], local[second]
    candidate, vertex_first, vertex_second = parcels.shared_vertex(local_first, local_second)
    for start in range(0, len(candidate), PAIRS_PER_CHUNK):
        chunk = slice(start, start + PAIRS_PER_CHUNK)
        pairs, a, b = candidate[chunk], local_first[candidate[chunk]], local_second[candidate[chunk]]
        shown = np.zeros(len(pairs), bool)
        for vertex in (vertex_first[chunk], vertex_second[chunk]):
            for edge in parcels.edges_at(vertex):
                todo = np.flatnonzero(~shown)
                shown[todo] = parcels.separated(a[todo], b[todo], edge[todo])
        out[pairs] = shown
    return out


class _Vertices:
    """Every vertex of a set of parcels, contiguous per parcel and per ring."""

    def __init__(self, geoms):
        x, y, owner, ring = [], [], [], []
        rings_before = 0
        # get_parts and get_rings copy every part and ring, as large as the parcels themselves:
        # a chunk of parcels at a time, so only that chunk's copies exist at once.
        for start in range(0, len(geoms), PARCELS_PER_CHUNK):
            parts, part_owner = shapely.get_parts(geoms[start:start + PARCELS_PER_CHUNK], return_index=True)
            rings, ring_part = shapely.get_rings(parts, return_index=True)  # it takes polygons only
            del parts
            xy, ring_of = shapely.get_coordinates(rings, return_index=True)
            x.append(xy[:, 0].copy())
            y.append(xy[:, 1].copy())
            owner.append(part_owner[ring_part[ring_of]] + start)
            ring.append(ring_of + rings_before)
            rings_before += len(rings)
            del rings
        # Each coordinate once, as x and y (contiguous, for the gathers below).
        self.x = np.concatenate(x) if x else np.empty(0)
        self.y = np.concatenate(y) if y else np.empty(0)
        self.owner = np.concatenate(owner) if owner else np.empty(0, np.int64)
        ring_of = np.concatenate(ring) if ring else np.empty(0, np.int64)
        del x, y, owner, ring
        self.start = np.searchsorted(self.owner, np.arange(len(geoms)), side="left")
        self.count = np.searchsorted(self.owner, np.arange(len(geoms)), side="right") - self.start
        # A ring's last vertex repeats its first.
        self.ring_first = np.searchsorted(ring_of, ring_of, side="left")
        self.ring_last = np.searchsorted(ring_of, ring_of, side="right") - 1

    def shared_vertex(self, first, second) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs whose parcels share a vertex: (pair positions, the vertex in first, in second)."""
        keys = point_keys(np.column_stack([self.x, self.y]))
        n = np.int64(len(self.start))
        # Vertices ordered by key, then parcel: each parcel's vertices at one point become one.
        # Vertices come parcel by parcel, so a stable sort by key keeps parcels in order.
        if not len(keys):
            empty = np.empty(0, np.int64)
            return empty, empty, empty
        order = np.argsort(keys, kind="stable")
        keys, owner = keys[order], self.owner[order]
        keep = np.r_[True, (keys[1:] != keys[:-1]) | (owner[1:] != owner[:-1])]
        owner, vertex = owner[keep], order[keep]
        same = np.equal(keys[keep][1:], keys[keep][:-1])  # same[i]: i and i + 1 at one key
        del keys, order, keep
        # Every pair (i, j), i < j, at one key: its parcels differ and owner[i] < owner[j] (one
        # vertex per parcel and key, in parcel order). Pairs i and i + d, for d = 1, 2, … while
        # some key has more than d parcels: only the pairs, not every ordered pair of a key's
        # parcels with itself and both ways round (the largest temporaries of the overlap check).
        left, step = np.flatnonzero(same), 1
        lefts, rights = [left], [left + 1]
        while len(left):
            left = left[left + step < len(same)]
            left = left[same[left + step]]  # i + step + 1 at the key of i too
            step += 1
            lefts.append(left)
            rights.append(left + step)
        left, right = np.concatenate(lefts), np.concatenate(rights)
        del lefts, rights, same
        # In order of (i, j), so the vertex kept for each pair of parcels below is the same as
        # listing every key's pairs in turn would give.
        by_left = np.argsort(left, kind="stable")
        left, right = left[by_left], right[by_left]
        del by_left
        # Only where the points are equal, not just their keys.
        equal = (self.x[vertex[left]] == self.x[vertex[right]]) & (self.y[vertex[left]] == self.y[vertex[right]])
        left, right = left[equal], right[equal]
        shared_pair, first_found = np.unique(owner[left] * n + owner[right], return_index=True)
        if not len(shared_pair):
            empty = np.empty(0, np.int64)
            return empty, empty, empty
        swapped = first > second
        pair = np.minimum(first, second) * n + np.maximum(first, second)
        slot = np.minimum(np.searchsorted(shared_pair, pair), len(shared_pair) - 1)
        candidate = np.flatnonzero(shared_pair[slot] == pair)
        found = first_found[slot[candidate]]
        lower, upper = vertex[left[found]], vertex[right[found]]
        flip = swapped[candidate]
        return candidate, np.where(flip, upper, lower), np.where(flip, lower, upper)

    def edges_at(self, vertex) -> tuple[np.ndarray, np.ndarray]:
        """The edge leaving each vertex and the one arriving at it, as the index of their first vertex."""
        leaving = np.where(vertex == self.ring_last[vertex], self.ring_first[vertex], vertex)
        arriving = np.where(vertex == self.ring_first[vertex], self.ring_last[vertex], vertex) - 1
        return leaving, arriving

    def separated(self, first, second, edge) -> np.ndarray:
        """For each pair, whether the line of the edge from vertex ``edge`` to the next has the two
        parcels on opposite sides (vertices on the line allowed)."""
        ax, ay = self.x[edge], self.y[edge]
        dx, dy = self.x[edge + 1] - ax, self.y[edge + 1] - ay
        ahead, behind = [], []
        for parcel in (first, second):
            counts = self.count[parcel]
            offsets = np.cumsum(counts) - counts
            vertex = np.repeat(self.start[parcel] - offsets, counts) + np.arange(int(counts.sum()))
            # Differences of nearby coordinates are exact; only the two products round. In place:
            # these arrays hold every vertex of every pair.
            left = self.x[vertex]
            left -= np.repeat(ax, counts)
            left *= np.repeat(dy, counts)
            right = self.y[vertex]
            right -= np.repeat(ay, counts)
            right *= np.repeat(dx, counts)
            bound = np.abs(left)
            bound += np.abs(right)
            bound *= 4 * _EPSILON
            left -= right  # the orientation determinant
            ahead.append(np.logical_or.reduceat(left > bound, offsets))
            behind.append(np.logical_or.reduceat(left < -bound, offsets))
        (ahead_first, ahead_second), (behind_first, behind_second) = ahead, behind
        return (~behind_first & ~ahead_second) | (~ahead_first & ~behind_second)
