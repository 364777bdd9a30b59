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
        parts, part_owner = shapely.get_parts(geoms, return_index=True)  # get_rings takes polygons only
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        self.xy, ring_of = shapely.get_coordinates(rings, return_index=True)
        self.owner = part_owner[ring_part[ring_of]]
        self.start = np.searchsorted(self.owner, np.arange(len(geoms)), side="left")
        self.count = np.searchsorted(self.owner, np.arange(len(geoms)), side="right") - self.start
        # A ring's last vertex repeats its first.
        self.ring_first = np.searchsorted(ring_of, ring_of, side="left")
        self.ring_last = np.searchsorted(ring_of, ring_of, side="right") - 1

    def shared_vertex(self, first, second) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs whose parcels share a vertex: (pair positions, the vertex in first, in second)."""
        keys = point_keys(self.xy)
        n = np.int64(len(self.start))
        # Vertices ordered by key, then parcel: each parcel's vertices at one point become one.
        if not len(keys):
            empty = np.empty(0, np.int64)
            return empty, empty, empty
        order = np.lexsort((self.owner, keys))
        keys, owner = keys[order], self.owner[order]
        keep = np.r_[True, (keys[1:] != keys[:-1]) | (owner[1:] != owner[:-1])]
        keys, owner, vertex = keys[keep], owner[keep], order[keep]
        group = np.cumsum(np.r_[True, keys[1:] != keys[:-1]]) - 1
        size = np.bincount(group)
        # Every ordered pair of parcels within a group (points shared by a handful of parcels).
        group_start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        partners = size[group]
        left = np.repeat(np.arange(len(keys)), partners)
        right = group_start[group[left]] + (np.arange(len(left)) - np.repeat(np.cumsum(partners) - partners,
                                                                              partners))
        mask = (owner[left] != owner[right]) & (self.xy[vertex[left]] == self.xy[vertex[right]]).all(axis=1)
        left, right = left[mask], right[mask]
        shared_pair, first_found = np.unique(owner[left] * n + owner[right], return_index=True)
        pair = first * n + second
        slot = np.minimum(np.searchsorted(shared_pair, pair), max(len(shared_pair) - 1, 0))
        if not len(shared_pair):
            empty = np.empty(0, np.int64)
            return empty, empty, empty
        candidate = np.flatnonzero(shared_pair[slot] == pair)
        found = first_found[slot[candidate]]
        return candidate, vertex[left[found]], vertex[right[found]]

    def edges_at(self, vertex) -> tuple[np.ndarray, np.ndarray]:
        """The edge leaving each vertex and the one arriving at it, as the index of their first vertex."""
        leaving = np.where(vertex == self.ring_last[vertex], self.ring_first[vertex], vertex)
        arriving = np.where(vertex == self.ring_first[vertex], self.ring_last[vertex], vertex) - 1
        return leaving, arriving

    def separated(self, first, second, edge) -> np.ndarray:
        """For each pair, whether the line of the edge from vertex ``edge`` to the next has the two
        parcels on opposite sides (vertices on the line allowed)."""
        a = self.xy[edge]
        direction = self.xy[edge + 1] - a
        sides = []
        for parcel in (first, second):
            counts = self.count[parcel]
            pair_of_vertex = np.repeat(np.arange(len(parcel)), counts)
            offsets = np.cumsum(counts) - counts
            vertex = self.start[parcel][pair_of_vertex] + np.arange(counts.sum()) - offsets[pair_of_vertex]
            # Differences of nearby coordinates are exact; only the two products round.
            d = self.xy[vertex] - a[pair_of_vertex]
            left = d[:, 0] * direction[pair_of_vertex, 1]
            right = d[:, 1] * direction[pair_of_vertex, 0]
            cross = left - right
            bound = 4 * _EPSILON * (np.abs(left) + np.abs(right))
            side = np.where(cross > bound, 1, np.where(cross < -bound, -1, 0)).astype(np.int8)
            sides.append((np.minimum.reduceat(side, offsets), np.maximum.reduceat(side, offsets)))
        (low_first, high_first), (low_second, high_second) = sides
        return ((low_first >= 0) & (high_second <= 0)) | ((high_first <= 0) & (low_second >= 0))
