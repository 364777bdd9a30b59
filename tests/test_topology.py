"""side_by_side: a pair it calls apart never has interiors that meet (checked against GEOS)."""

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import Polygon, box

from farmland.topology import side_by_side


def _both(geoms, pairs):
    geoms = np.array(geoms, dtype=object)
    pairs = np.array(pairs)
    apart = side_by_side(geoms, pairs[:, 0], pairs[:, 1])
    meet = shapely.relate_pattern(geoms[pairs[:, 0]], geoms[pairs[:, 1]], "2********")
    return apart.tolist(), meet.tolist()


def test_neighbours_along_an_edge_or_at_a_corner_are_apart_overlaps_are_not():
    geoms = [
        box(0, 0, 1, 1),
        box(1, 0, 2, 1),                                   # 1: shares the edge x = 1
        box(1, 1, 2, 2),                                   # 2: shares the corner (1, 1)
        box(0, 0, 1, 1),                                   # 3: a duplicate of 0
        Polygon([(1, 0), (1, 1), (0.5, 0.5)]),             # 4: inside 0, on its edge
        Polygon([(0, 1), (1, 1), (0.5, 1.5), (1.2, 0.8)]),  # 5: shares vertices, crosses into 0
        box(3, 3, 4, 4),                                   # 6: far away, shares nothing
    ]
    apart, meet = _both(geoms, [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6)])
    assert apart == [True, True, False, False, False, False]
    assert meet == [False, False, True, True, True, False]


def test_an_island_in_a_hole_is_left_to_the_exact_test():
    """No line separates a ring from its island: not shown apart, though they do not overlap."""
    ring = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (1, 3), (3, 3), (3, 1)]])
    island = box(1, 1, 3, 3)
    bigger_island = Polygon([(1, 1), (3, 1), (3, 3), (0.5, 3.5)])
    apart, meet = _both([ring, island, bigger_island], [(0, 1), (0, 2)])
    assert apart == [False, False] and meet == [False, True]


def test_order_of_the_pair_and_of_the_ring_does_not_matter():
    a, b = box(0, 0, 1, 1), box(1, 0, 2, 1)
    clockwise = shapely.reverse(b)
    apart, _ = _both([a, b, clockwise], [(0, 1), (1, 0), (0, 2), (2, 0)])
    assert apart == [True, True, True, True]


def test_no_pairs_and_large_gauss_kruger_coordinates():
    assert side_by_side(np.array([box(0, 0, 1, 1)]), [], []).tolist() == []
    x, y = 39_388_206.888929, 4_065_235.634849
    left = Polygon([(x, y), (x + 60.3, y + 0.7), (x + 61.1, y + 80.2), (x - 0.4, y + 79.9)])
    right = Polygon([(x + 60.3, y + 0.7), (x + 130.9, y), (x + 129.8, y + 81.3), (x + 61.1, y + 80.2)])
    assert side_by_side(np.array([left, right]), [0], [1]).tolist() == [True]


_corner = st.tuples(st.integers(0, 6), st.integers(0, 6))


@st.composite
def _polygons(draw):
    """Small polygons on a coarse grid, so that vertices and edges coincide often."""
    kind = draw(st.sampled_from(["box", "holed", "triangle", "quad"]))
    if kind == "holed":
        x0, y0 = draw(_corner)
        return box(x0, y0, x0 + 3, y0 + 3).difference(box(x0 + 1, y0 + 1, x0 + 2, y0 + 2))
    if kind == "box":
        (x0, y0), (w, h) = draw(_corner), draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
        return box(x0, y0, x0 + w, y0 + h)
    points = draw(st.lists(_corner, min_size=3 if kind == "triangle" else 4,
                           max_size=3 if kind == "triangle" else 4, unique=True))
    polygon = shapely.make_valid(Polygon(points))
    return polygon if polygon.geom_type in ("Polygon", "MultiPolygon") and polygon.area > 0 else box(0, 0, 1, 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(_polygons(), min_size=2, max_size=8))
def test_pairs_called_apart_never_share_interior(polygons):
    geoms = np.array(polygons, dtype=object)
    first, second = np.triu_indices(len(geoms), k=1)
    apart = side_by_side(geoms, first, second)
    meet = shapely.relate_pattern(geoms[first], geoms[second], "2********")
    assert not (apart & meet).any()
    # Pairs given the other way round get the same answer (the search keeps each pair once).
    assert side_by_side(geoms, second, first).tolist() == apart.tolist()


def test_parcels_meeting_at_one_point_and_parcels_read_in_chunks(monkeypatch):
    """A point shared by many parcels gives every pair of them a shared vertex, and listing the
    vertices a chunk of parcels at a time changes nothing."""
    from farmland import topology

    angles = np.linspace(0, 2 * np.pi, 13)
    fan = [Polygon([(0, 0), (np.cos(a), np.sin(a)), (np.cos(b), np.sin(b))]) for a, b in zip(angles, angles[1:])]
    geoms = np.array(fan + [box(-1, -1, 0, 0), box(5, 5, 6, 6)], dtype=object)
    first, second = np.triu_indices(len(geoms), 1)
    vertices = topology._Vertices(geoms)
    candidate, _, _ = vertices.shared_vertex(first, second)
    shares = [i for i, (a, b) in enumerate(zip(first, second)) if max(a, b) < len(geoms) - 1]
    assert candidate.tolist() == shares  # all but the pairs with the far box
    apart = side_by_side(geoms, first, second)
    monkeypatch.setattr(topology, "PARCELS_PER_CHUNK", 3)
    assert np.array_equal(side_by_side(geoms, first, second), apart)
    chunked = topology._Vertices(geoms)
    for name in ("x", "y", "owner", "start", "count", "ring_first", "ring_last"):
        assert np.array_equal(getattr(chunked, name), getattr(vertices, name))
