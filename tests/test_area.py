"""Tests of the statutory ellipsoidal area (farmland.area), docs/background.md §3.2 and §7."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import farmland.area as area_module
from farmland.area import (
    CGCS2000_A,
    CGCS2000_F,
    GaussKruger,
    area_breaches,
    area_gaps,
    ellipsoidal_area,
    ellipsoidal_trapezoid_area,
    gauss_kruger_inverse,
    gauss_kruger_parameters,
    scale_corrected_area,
)
from farmland.errors import CRSError, GeometryError

GEOD = pyproj.Geod(ellps="GRS80")
B2 = (CGCS2000_A * (1 - CGCS2000_F)) ** 2
E2 = CGCS2000_F * (2 - CGCS2000_F)

# Liaocheng: 115°16′–116°32′E, 35°47′–37°02′N (docs/background.md §3.5).
LON_MIN, LON_MAX = 115 + 16 / 60, 116 + 32 / 60
LAT_MIN, LAT_MAX = 35 + 47 / 60, 37 + 2 / 60
# Zone 38 counties (冠县 …) may hold parcels a little east of the 115.5°E zone boundary.
ZONE_LON_RANGE = {38: (LON_MIN, 115.75), 39: (LON_MIN, LON_MAX)}
CRS_ZONE = {4526: 38, 4547: 38, 4527: 39, 4548: 39}

# Ground metres per arc-second, an upper bound: 1″ of latitude ≈ 30.8 m here, of longitude ≈ 25 m.
METRES_PER_ARCSEC = 30.9


def authalic_quadrilateral(lat1_deg, lat2_deg, dlon_deg):
    """Exact area between two parallels and meridians: b²·Δλ/2·[q(φ2) − q(φ1)] (domain §7)."""
    e = math.sqrt(E2)

    def q(lat_deg):
        s = math.sin(math.radians(lat_deg))
        return s / (1 - E2 * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    return B2 * math.radians(dlon_deg) / 2 * (q(lat2_deg) - q(lat1_deg))


# ---------------------------------------------------------------------------------------------
# The series itself


def test_series_on_the_36_37_degree_quadrilateral_matches_appendix_and_closed_form():
    series = float(
        ellipsoidal_trapezoid_area(math.radians(36), math.radians(37), math.radians(1))
    )
    # docs/background.md §7: 9 941 644 196.75 m² after rounding half up to 0.01 m².
    assert float(area_module.round_half_up(series, 2)) == 9_941_644_196.75
    exact = authalic_quadrilateral(36, 37, 1)
    # The series is the expansion of the authalic integral to e⁸; the first neglected term
    # is of order (e² sin²B)⁵ ≈ 8e-14, so 1e-11 leaves room for float error only, while a
    # wrong e⁶ coefficient (say 35/112 → 35/110) would move the result by ~2e-9.
    assert series == pytest.approx(exact, rel=1e-11)


def test_series_sign_follows_latitude_and_longitude_direction():
    north = ellipsoidal_trapezoid_area(0.6, 0.61, 0.01)
    assert north > 0
    assert ellipsoidal_trapezoid_area(0.61, 0.6, 0.01) == pytest.approx(-north)
    assert ellipsoidal_trapezoid_area(0.6, 0.61, -0.01) == pytest.approx(-north)


def test_per_vertex_series_equals_the_literal_per_edge_formula():
    # ellipsoidal_area evaluates sin(kΔB/2)cos(kBm) as [sin kB2 − sin kB1]/2 per vertex; on a
    # closed ring that must equal the literal 32号 per-edge sum.
    rng = np.random.default_rng(5)
    n = 40
    angle = np.sort(rng.uniform(0, 2 * np.pi, n))
    lat = np.radians(36.5 + 0.005 * np.sin(angle))
    lon = np.radians(116.2 + 0.006 * np.cos(angle))
    lat, lon = np.append(lat, lat[0]), np.append(lon, lon[0])
    literal = ellipsoidal_trapezoid_area(lat[:-1], lat[1:], (lon[:-1] + lon[1:]) / 2).sum()
    per_vertex = B2 * area_module._ring_sums_of_series(lat, lon, np.array([0, n + 1]), CGCS2000_F)
    # an inscribed 40-gon of the ≈ 555 m × 537 m (semi-axes) ellipse, ≈ 0.9 km²
    assert 8e5 < abs(literal) < math.pi * 555 * 537
    assert per_vertex[0] == pytest.approx(literal, abs=1e-5)


# ---------------------------------------------------------------------------------------------
# CRS handling


@pytest.mark.parametrize(
    ("crs", "central_meridian", "false_easting", "zone", "epsg"),
    [
        ("EPSG:4526", 114.0, 38_500_000.0, 38, 4526),
        ("EPSG:4527", 117.0, 39_500_000.0, 39, 4527),
        (4547, 114.0, 500_000.0, None, 4547),
        (pyproj.CRS.from_epsg(4548), 117.0, 500_000.0, None, 4548),
        ("EPSG:4527+5737", 117.0, 39_500_000.0, 39, 4527),  # with 1985 heights
        (
            "+proj=tmerc +lat_0=0 +lon_0=117 +k=1 +x_0=39500000 +y_0=0 +ellps=GRS80 +units=m",
            117.0,
            39_500_000.0,
            39,
            None,
        ),
        (
            'PROJCS["CGCS2000_3_Degree_GK_CM_114E",GEOGCS["GCS_China_Geodetic_Coordinate_'
            'System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],'
            'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION['
            '"Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",'
            '0.0],PARAMETER["Central_Meridian",114.0],PARAMETER["Scale_Factor",1.0],'
            'PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]',
            114.0,
            500_000.0,
            None,
            4547,
        ),
    ],
)
def test_gauss_kruger_parameters(crs, central_meridian, false_easting, zone, epsg):
    gk = gauss_kruger_parameters(crs)
    assert gk == GaussKruger(
        central_meridian_deg=central_meridian,
        false_easting_m=false_easting,
        false_northing_m=0.0,
        scale_factor=1.0,
        zone=zone,
        a=6378137.0,
        f=1 / 298.257222101,
        epsg=epsg,
    )
    assert gauss_kruger_parameters(gk) is gk


@pytest.mark.parametrize(
    ("crs", "message_parts"),
    [
        (None, ["no coordinate reference system", "EPSG:4527"]),
        ("not a crs", ["Cannot read"]),
        ("EPSG:4490", ["geographic", "EPSG:4527"]),
        ("EPSG:3857", ["Pseudo Mercator", "transverse Mercator"]),
        ("EPSG:2362", ["Xian 1980", "EPSG:4526", "CGCS2000"]),
        ("EPSG:2363", ["Xian 1980", "EPSG:4527", "CGCS2000"]),
        ("EPSG:2435", ["Beijing 1954", "EPSG:4547"]),
        ("EPSG:32650", ["WGS 84", "CGCS2000"]),
        ("EPSG:26918", ["North American Datum 1983"]),  # GRS80 ellipsoid, other datum
        ("+proj=utm +zone=50 +ellps=GRS80", ["scale factor 0.9996"]),
    ],
)
def test_unusable_crs_is_refused_with_a_fix(crs, message_parts):
    with pytest.raises(CRSError) as info:
        gauss_kruger_parameters(crs)
    for part in message_parts:
        assert part in str(info.value)
    assert isinstance(info.value, ValueError)  # callers can catch the stdlib type


def test_ellipsoidal_area_refuses_a_geographic_layer():
    with pytest.raises(CRSError, match="geographic"):
        ellipsoidal_area([shapely.box(116.0, 36.0, 116.01, 36.01)], "EPSG:4490")


@pytest.mark.parametrize(
    ("easting", "crs", "expected"),
    [
        (38_450_000.0, "EPSG:4527", "zone prefix 38"),  # zone-38 data labelled zone 39
        (39_450_000.0, "EPSG:4548", "zone prefix 39"),  # prefixed data labelled CM 117E
        (450_000.0, "EPSG:4527", "EPSG:4548"),  # prefix-free data labelled zone 39
    ],
)
def test_eastings_that_do_not_match_the_crs_are_refused(easting, crs, expected):
    parcels = [shapely.box(easting, 4_000_000, easting + 100, 4_000_100)] * 2
    with pytest.raises(CRSError) as info:
        ellipsoidal_area(parcels, crs)
    assert expected in str(info.value)
    assert "0, 1 (2 in all)" in str(info.value).replace("'", "")


def test_gauss_kruger_inverse_agrees_with_proj_within_a_fifth_of_a_millimetre():
    # The 32号 footpoint series with its printed constants versus PROJ's exact transverse
    # Mercator, over Liaocheng in both zones. Observed ≤ 0.11 mm; 0.2 mm allows margin while
    # still catching a mistyped constant (k1 wrong in its 7th significant digit moves B by
    # ~3 mm).
    rng = np.random.default_rng(11)
    for epsg, zone in CRS_ZONE.items():
        lon = rng.uniform(*ZONE_LON_RANGE[zone], 2000)
        lat = rng.uniform(LAT_MIN, LAT_MAX, 2000)
        east, north = pyproj.Transformer.from_crs(4490, epsg, always_xy=True).transform(lon, lat)
        lon_series, lat_series = gauss_kruger_inverse(east, north, f"EPSG:{epsg}")
        north_error_m = np.radians(lat_series - lat) * 6_357_000
        east_error_m = np.radians(lon_series - lon) * 6_388_000 * np.cos(np.radians(lat))
        assert np.abs(north_error_m).max() < 2e-4
        assert np.abs(east_error_m).max() < 2e-4


# ---------------------------------------------------------------------------------------------
# A meridian/parallel rectangle built in the plane


@pytest.mark.parametrize(("epsg", "lon0"), [(4527, 116.2), (4547, 115.55)])
def test_meridian_parallel_rectangle_matches_the_closed_form(epsg, lon0):
    # 0.1° × 0.1° (≈ 9 km × 11 km) bounded by meridians and parallels. Both are curves on the
    # Gauss plane, so the boundary is sampled every 1e-4° (≈ 10 m) and projected exactly with
    # PROJ; the polygon's straight 10 m chords then deviate from the curves by < 2e-6 m.
    lat0, size, step = 36.4, 0.1, 1e-4
    t = np.arange(0, size, step)
    constant = np.full_like(t, 1.0)
    lon = np.concatenate([lon0 + t, (lon0 + size) * constant, lon0 + size - t, lon0 * constant])
    lat = np.concatenate([lat0 * constant, lat0 + t, (lat0 + size) * constant, lat0 + size - t])
    east, north = pyproj.Transformer.from_crs(4490, epsg, always_xy=True).transform(lon, lat)
    rectangle = shapely.Polygon(np.c_[east, north])
    exact = authalic_quadrilateral(lat0, lat0 + size, size)

    official = ellipsoidal_area([rectangle], f"EPSG:{epsg}")[0]
    unrounded = ellipsoidal_area([rectangle], f"EPSG:{epsg}", rounding="none")[0]

    # Tolerance. (1) The footpoint series misplaces each vertex by ~0.11 mm, but almost
    # uniformly: a translation does not change an area, only the spread of the error across
    # the cell does, so that part is ≤ spread × perimeter. Measured here on the boundary:
    lon_series, lat_series = gauss_kruger_inverse(east, north, f"EPSG:{epsg}")
    north_error = np.radians(lat_series - lat) * 6_357_000
    east_error = np.radians(lon_series - lon) * 6_388_000 * np.cos(np.radians(lat))
    spread = np.ptp(north_error) + np.ptp(east_error)
    assert spread < 5e-6  # metres (observed ≤ 2.4e-6); a wrong central meridian: metres
    inverse_part = spread * rectangle.length  # ≈ 40 km × ~1e-6 m ≈ 0.05 m²
    # (2) Rounding to 0.1 mm and 1e-6″ moves each of the 4000 vertices by ≤ 0.09 mm at random,
    # changing the area by ≤ 0.09 mm × 10 m per vertex, zero mean: σ ≈ √4000 × 9e-4/√3 ≈
    # 0.03 m², so 0.3 m² is 10σ. (3) The 10 m chords miss the curves by ≤ 0.01 m² in all.
    tolerance = inverse_part + 0.3 + 0.01
    assert tolerance < 0.5  # ≈ 5e-9 of the 9.9e7 m² cell
    assert abs(unrounded - exact) < inverse_part + 0.01
    assert abs(official - exact) < tolerance


# ---------------------------------------------------------------------------------------------
# Thousands of generated parcels against GeographicLib


def _star_ring(rng, cx, cy, radius, n_vertices, concave):
    """A simple ring: angles jittered around a regular polygon, radii 0.55–1 R if concave."""
    step = 2 * np.pi / n_vertices
    angle = np.arange(n_vertices) * step + rng.uniform(-0.3, 0.3, n_vertices) * step
    angle += rng.uniform(0, 2 * np.pi)
    r = radius * (rng.uniform(0.55, 1.0, n_vertices) if concave else np.ones(n_vertices))
    return np.c_[cx + r * np.cos(angle), cy + r * np.sin(angle)]


def generate_parcels(n, epsg, seed):
    """Random convex/concave parcels 50 m–1 km across in Liaocheng, ~20 % with a hole,
    ~15 % with a second part, in the plane coordinates of ``epsg``."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(*ZONE_LON_RANGE[CRS_ZONE[epsg]], n)
    lat = rng.uniform(LAT_MIN, LAT_MAX, n)
    cx, cy = pyproj.Transformer.from_crs(4490, epsg, always_xy=True).transform(lon, lat)
    parcels = []
    for i in range(n):
        radius = rng.uniform(25, 500)
        shell = _star_ring(rng, cx[i], cy[i], radius, rng.integers(4, 16), rng.random() < 0.5)
        holes = []
        if rng.random() < 0.2:  # inside the 0.55 R core of the shell, so always valid
            holes.append(_star_ring(rng, cx[i], cy[i], 0.25 * radius, 6, False)[::-1])
        parcel = shapely.Polygon(shell, holes)
        if rng.random() < 0.15:
            second = _star_ring(rng, cx[i] + 2.5 * radius, cy[i], 0.5 * radius, 5, False)
            parcel = shapely.MultiPolygon([parcel, shapely.Polygon(second)])
        parcels.append(parcel)
    parcels = np.array(parcels, dtype=object)
    assert shapely.is_valid(parcels).all()
    return parcels


def geodesic_reference(parcels, epsg, step_m=1.0):
    """GeographicLib area of each parcel with its edges densified to ``step_m`` in the plane.

    Parcel edges are straight on the Gauss plane, not geodesics; at 1 m spacing the geodesic
    between two consecutive points is indistinguishable from the plane line (the chord error
    scales with the cube of the spacing: ~1e-4 m² per 70 m edge, ~1e-9 m² per 1 m edge).
    """
    dense = shapely.segmentize(parcels, step_m)
    xy = shapely.get_coordinates(dense)
    lon, lat = pyproj.Transformer.from_crs(epsg, 4490, always_xy=True).transform(xy[:, 0], xy[:, 1])
    geographic = shapely.set_coordinates(dense.copy(), np.c_[lon, lat])
    return np.array([abs(GEOD.geometry_area_perimeter(p)[0]) for p in geographic])


@pytest.fixture(scope="module")
def liaocheng_parcels():
    """750 parcels per CRS (3000 in all) with their GeographicLib reference areas."""
    cases = {}
    for seed, epsg in enumerate(CRS_ZONE):
        parcels = generate_parcels(750, epsg, seed=100 + seed)
        cases[epsg] = (parcels, geodesic_reference(parcels, epsg))
    return cases


def test_series_matches_geographiclib_on_3000_parcels(liaocheng_parcels, record_property):
    worst_rel = 0.0
    for epsg, (parcels, reference) in liaocheng_parcels.items():
        assert shapely.get_type_id(parcels).tolist().count(6) > 50  # multipart parcels
        assert (shapely.get_num_interior_rings(shapely.get_geometry(parcels, 0)) > 0).sum() > 50
        computed = ellipsoidal_area(parcels, f"EPSG:{epsg}", rounding="none")
        difference = np.abs(computed - reference)
        relative = difference / reference
        ok = (relative <= 1e-6) | (difference <= 0.01)
        assert ok.all(), (epsg, relative[~ok], difference[~ok])
        worst_rel = max(worst_rel, relative.max())
    record_property("max_relative_difference_unrounded", float(worst_rel))
    print(f"largest relative difference, statutory series vs GeographicLib: {worst_rel:.3g}")


def test_default_rounding_meets_the_geographiclib_criterion(liaocheng_parcels):
    # What `farmland area` writes: areas rounded half up to 0.01 m², no intermediate rounding.
    for epsg, (parcels, reference) in liaocheng_parcels.items():
        stored = ellipsoidal_area(parcels, f"EPSG:{epsg}")
        gap = np.abs(stored - reference)
        assert ((gap / reference <= 1e-6) | (gap <= 0.01)).all(), epsg
        assert np.allclose(stored * 100, np.round(stored * 100), rtol=0, atol=1e-4)


def test_official_rounding_stays_within_its_budget(liaocheng_parcels, record_property):
    # The official roundings move each vertex by at most δ: √2 × 0.05 mm (plane coordinates to
    # 0.1 mm) plus √2 × 0.5e-6″ (B, L to 1e-6″); an area changes by at most δ × perimeter,
    # and the final rounding to 0.01 m² adds ≤ 0.005 m².
    delta_m = math.sqrt(2) * (0.5e-4 + 0.5e-6 * METRES_PER_ARCSEC)
    worst_rel = 0.0
    for epsg, (parcels, reference) in liaocheng_parcels.items():
        official = ellipsoidal_area(parcels, f"EPSG:{epsg}", rounding="official")
        unrounded = ellipsoidal_area(parcels, f"EPSG:{epsg}", rounding="none")
        perimeter = shapely.length(parcels)
        assert (np.abs(official - unrounded) <= 0.005 + delta_m * perimeter + 1e-9).all()
        assert np.allclose(official * 100, np.round(official * 100), rtol=0, atol=1e-4)
        worst_rel = max(worst_rel, (np.abs(official - reference) / reference).max())
    record_property("max_relative_difference_official", float(worst_rel))
    print(f"largest relative difference, official (rounded) vs GeographicLib: {worst_rel:.3g}")


def test_densification_rule_of_the_official_tool():
    # A 140 m edge becomes ⌊140/70⌋ + 1 = 3 parts (the 三调 tool), where shapely.segmentize
    # would make 2; a 70 m edge is not split; a 100 m edge gets ⌊100/70⌋ + 1 = 2 parts.
    coords = np.array([[0, 0], [140, 0], [140, 70], [40, 70], [0, 0]], dtype=float)
    east, north, offsets = area_module._densify(coords[:, 0], coords[:, 1], np.array([0, 5]), 70.0)
    dense = np.c_[east, north]
    # 140 m → 3 parts, 70 m → 1, 100 m → 2, the closing edge (80.6 m) → 2, plus the end vertex.
    assert len(dense) == 3 + 1 + 2 + 2 + 1
    assert offsets.tolist() == [0, 9]
    np.testing.assert_allclose(dense[:3], [[0, 0], [140 / 3, 0], [280 / 3, 0]])
    assert (dense[[0, 3, 4, 6, 8]] == coords).all()  # original vertices kept bit for bit


def test_own_densification_equals_shapely_segmentize_when_no_edge_is_a_multiple(liaocheng_parcels):
    parcels, _ = liaocheng_parcels[4527]
    ours = ellipsoidal_area(parcels, "EPSG:4527", rounding="none")
    segmentized = ellipsoidal_area(
        shapely.segmentize(parcels, 69.999), "EPSG:4527", rounding="none", densify_m=None
    )
    # Same sub-edge counts except where ℓ/70 is within 1.4e-5 of an integer, and then the
    # area moves by ~1e-4 m² at most (chord effect of one extra sub-edge).
    np.testing.assert_allclose(ours, segmentized, rtol=0, atol=1e-3)


def test_densification_matters_for_long_edges(liaocheng_parcels):
    parcels, reference = liaocheng_parcels[4527]
    coarse = ellipsoidal_area(parcels, "EPSG:4527", densify_m=None, rounding="none")
    fine = ellipsoidal_area(parcels, "EPSG:4527", rounding="none")
    # Without densification 1 km parcels are off by metres² (1e-5 relative); with it by < 0.05.
    assert np.abs(coarse - reference).max() > 1.0
    assert np.abs(fine - reference).max() < 0.05


# ---------------------------------------------------------------------------------------------
# Structure: holes, parts, orientation, empties, types


# A 200 m × 200 m field at about 116.0°E 36.4°N (zone 39, EPSG:4527), with a 50 m × 50 m hole.
X0, Y0 = 39_410_000.0, 4_030_000.0
FIELD = shapely.box(X0, Y0, X0 + 200, Y0 + 200)
POND = shapely.box(X0 + 50, Y0 + 50, X0 + 100, Y0 + 100)
FIELD_WITH_POND = shapely.Polygon(FIELD.exterior, [POND.exterior])


def raw_area(geometries, crs="EPSG:4527", **kwargs):
    return ellipsoidal_area(geometries, crs, rounding="none", **kwargs)


def test_hand_checkable_field_is_planar_area_over_the_scale_factor_squared():
    # 90 km west of the CM: m ≈ 1 + y²/(2R²) with y = −90 000 m and R = √(MN) ≈ 6 372 km at
    # 36.4°N, so the planar 40 000 m² shrinks by ≈ 2 × 9e4²/(2 × 6.372e6²) ≈ 1.995e-4, to
    # 39 992.04 m². (R known to ~1e-4 → ±0.002 m²; the final rounding ±0.005 m².)
    y = X0 + 100 - 39_500_000
    expected = 40_000 / (1 + y**2 / (2 * 6_372_000**2)) ** 2
    assert ellipsoidal_area([FIELD], "EPSG:4527")[0] == pytest.approx(expected, abs=0.01)
    assert ellipsoidal_area([FIELD], "EPSG:4527")[0] < FIELD.area


def test_holes_subtract():
    field, pond, both = raw_area([FIELD, POND, FIELD_WITH_POND])
    assert both == pytest.approx(field - pond, abs=1e-6)
    assert pond == pytest.approx(2500 * field / 40_000, rel=1e-6)  # same scale factor


def test_multipolygon_parts_add_and_mixed_arrays_agree():
    east_field = shapely.affinity.translate(FIELD, 500, 0)
    farm = shapely.MultiPolygon([FIELD_WITH_POND, east_field])
    with_pond, east, together = raw_area([FIELD_WITH_POND, east_field, farm])
    assert together == pytest.approx(with_pond + east, abs=1e-6)
    # Polygon-only arrays take a different ragged layout from mixed ones: same numbers.
    assert raw_area([FIELD_WITH_POND, east_field]).tolist() == [with_pond, east]


def test_ring_layout_is_that_of_shapely_ragged_arrays():
    # The flat layout is built without ring geometries; it must be to_ragged_array's, also
    # when plain polygons, polygons with holes and multipolygons (one with a hole) are mixed.
    east_field = shapely.affinity.translate(FIELD, 500, 0)
    geoms = np.array([FIELD, FIELD_WITH_POND, shapely.MultiPolygon([FIELD_WITH_POND, east_field]),
                      east_field, shapely.MultiPolygon([east_field])], dtype=object)
    rings = area_module._parcel_rings(geoms, "EPSG:4527")
    _, coords, (ring_offsets, part_offsets, geom_offsets) = shapely.to_ragged_array(geoms)
    np.testing.assert_array_equal(rings.coords, coords)
    np.testing.assert_array_equal(rings.ring_offsets, ring_offsets)
    part_of_ring = np.repeat(np.arange(len(part_offsets) - 1), np.diff(part_offsets))
    geom_of_part = np.repeat(np.arange(len(geom_offsets) - 1), np.diff(geom_offsets))
    np.testing.assert_array_equal(rings.ring_owner, geom_of_part[part_of_ring])
    np.testing.assert_array_equal(
        rings.is_exterior, np.arange(len(ring_offsets) - 1) == part_offsets[:-1][part_of_ring]
    )


def test_batches_of_rings_do_not_change_a_bit(liaocheng_parcels, monkeypatch):
    parcels, _ = liaocheng_parcels[4527]  # with holes and multipart parcels
    whole = {mode: ellipsoidal_area(parcels, "EPSG:4527", rounding=mode)
             for mode in ("none", "area", "official")}
    monkeypatch.setattr(area_module, "_CHUNK_VERTICES", 7)  # batches of a ring or two
    for mode, expected in whole.items():
        np.testing.assert_array_equal(ellipsoidal_area(parcels, "EPSG:4527", rounding=mode), expected)


def test_orientation_and_start_vertex_do_not_matter(liaocheng_parcels):
    parcels, _ = liaocheng_parcels[4548]
    base = raw_area(parcels, "EPSG:4548")
    reversed_rings = raw_area(shapely.reverse(parcels), "EPSG:4548")
    oriented = raw_area(shapely.orient_polygons(parcels, exterior_cw=True), "EPSG:4548")
    # Only the summation order changes: float noise of ~1e-11 of the area.
    np.testing.assert_allclose(reversed_rings, base, rtol=1e-11, atol=1e-6)
    np.testing.assert_allclose(oriented, base, rtol=1e-11, atol=1e-6)
    # Starting the ring at another vertex (here the third) gives the same area too.
    shell = np.asarray(FIELD_WITH_POND.exterior.coords)[:-1]
    rolled = shapely.Polygon(np.roll(shell, 2, axis=0), [POND.exterior])
    assert raw_area([rolled])[0] == pytest.approx(raw_area([FIELD_WITH_POND])[0], abs=1e-6)


def test_missing_and_empty_geometries_give_nan():
    result = ellipsoidal_area(
        [None, FIELD, shapely.Polygon(), shapely.MultiPolygon()], "EPSG:4527"
    )
    assert np.isnan(result[[0, 2, 3]]).all()
    assert result[1] == ellipsoidal_area([FIELD], "EPSG:4527")[0]
    assert np.isnan(ellipsoidal_area([None], "EPSG:4527")).all()
    assert ellipsoidal_area([], "EPSG:4527").shape == (0,)


def test_non_polygons_are_refused_naming_their_positions():
    line = shapely.LineString([(X0, Y0), (X0 + 10, Y0)])
    point = shapely.Point(X0, Y0)
    with pytest.raises(GeometryError) as info:
        ellipsoidal_area([FIELD, line, FIELD, point], "EPSG:4527")
    message = str(info.value)
    assert "LineString" in message and "Point" in message
    assert "'1', '3' (2 in all)" in message


def test_geoseries_input_uses_its_crs_and_index_labels():
    geopandas = pytest.importorskip("geopandas")
    series = geopandas.GeoSeries([FIELD, None], index=["TB001", "TB002"], crs="EPSG:4527")
    result = ellipsoidal_area(series)
    assert result[0] == ellipsoidal_area([FIELD], "EPSG:4527")[0] and np.isnan(result[1])
    bad = geopandas.GeoSeries([FIELD, FIELD.boundary], index=["TB001", "TB009"], crs=4527)
    with pytest.raises(GeometryError, match="TB009"):
        ellipsoidal_area(bad)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_non_finite_coordinates_are_refused():
    broken = shapely.Polygon([(X0, Y0), (X0 + 10, Y0), (np.nan, Y0 + 10), (X0, Y0)])
    with pytest.raises(GeometryError, match="non-finite"):
        ellipsoidal_area([FIELD, broken], "EPSG:4527")


def test_bad_densify_length_is_refused():
    with pytest.raises(ValueError, match="densify_m"):
        ellipsoidal_area([FIELD], "EPSG:4527", densify_m=0)


# ---------------------------------------------------------------------------------------------
# Rounding


def test_intermediate_rounding_is_half_up_at_exact_ties():
    # 0.125 and 2.5 are exact in binary, so these are true ties; banker's rounding
    # (numpy.round) would give 0.12 and 2.
    values = np.array([0.125, 2.5, -2.5, 0.375, 1.2344999])
    np.testing.assert_array_equal(area_module.round_half_up(values[:1], 2), [0.13])
    np.testing.assert_array_equal(area_module.round_half_up(values[1:3], 0), [3.0, -3.0])
    np.testing.assert_array_equal(area_module.round_half_up(values[3:4], 2), [0.38])
    np.testing.assert_array_equal(area_module.round_half_up(values[4:], 3), [1.234])


def test_final_area_is_rounded_half_up_to_the_cent(monkeypatch):
    # Capture every rounding step; the last one turns the parcel areas into whole cents.
    calls = []
    real_half_up = area_module.round_half_up

    def spy(values, decimals):
        calls.append((np.array(values), decimals))
        return real_half_up(values, decimals)

    monkeypatch.setattr(area_module, "round_half_up", spy)
    official = ellipsoidal_area([FIELD, FIELD_WITH_POND], "EPSG:4527", rounding="official")
    # plane x, y to 1e-4 m; B, L to 1e-6″; area to 0.01 m²
    assert [decimals for _, decimals in calls] == [4, 4, 6, 6, 2]
    before = calls[-1][0]
    np.testing.assert_array_equal(official, real_half_up(before, 2))
    assert not np.array_equal(before, official)  # there was something to round


def test_large_areas_round_to_the_right_cent():
    # A county-sized value: 9 941 644 196.749218 must give …196.75. A relative tolerance
    # nudge (1e-12 × 9.9e11 ≈ 1 cent) would give …196.76.
    assert float(area_module.round_half_up(9_941_644_196.749218, 2)) == 9_941_644_196.75
    assert float(area_module.round_half_up(9_941_644_196.745, 2)) == 9_941_644_196.75
    assert float(area_module.round_half_up(9_941_644_196.744, 2)) == 9_941_644_196.74


# ---------------------------------------------------------------------------------------------
# Sanity property (32号 check): the ellipsoidal area never exceeds the Gauss-plane area


@st.composite
def liaocheng_parcel(draw):
    epsg = draw(st.sampled_from(sorted(CRS_ZONE)))
    lon = draw(st.floats(*ZONE_LON_RANGE[CRS_ZONE[epsg]]))
    lat = draw(st.floats(LAT_MIN, LAT_MAX))
    radius = draw(st.floats(25, 500))
    n_vertices = draw(st.integers(3, 20))
    seed = draw(st.integers(0, 2**32 - 1))
    cx, cy = pyproj.Transformer.from_crs(4490, epsg, always_xy=True).transform(lon, lat)
    rng = np.random.default_rng(seed)
    parcel = shapely.Polygon(_star_ring(rng, cx, cy, radius, n_vertices, concave=True))
    return epsg, parcel


# derandomize: the same examples on every run, so CI never flakes on a new draw.
@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(liaocheng_parcel())
def test_ellipsoidal_area_never_exceeds_planar_area(case):
    epsg, parcel = case
    official = ellipsoidal_area([parcel], f"EPSG:{epsg}")[0]
    # Liaocheng lies ≥ 0.47° (≥ 42 km) from either central meridian, so the scale factor is
    # ≥ 1 + 2.2e-5 and the margin (≥ 4.4e-5 of the area) dwarfs rounding (≤ 0.02 m²) and the
    # 70 m chord error (≤ 1e-6). Near a central meridian the margin vanishes and the
    # statutory method can exceed the plane area by those amounts.
    assert official <= parcel.area
    # And by the right amount: planar/ellipsoidal is the areal scale factor m², which PROJ
    # gives exactly at every vertex; the ratio lies between its extremes, up to the error of
    # the statutory method itself. That error is the 70 m chords in B/L: a chord of length ℓ
    # misses the plane line by the sagitta ℓ²·tan B/(8N) (a parallel's curvature on the
    # plane), i.e. ≤ ℓ³·tan B/(12N) m² per sub-edge and ≤ 70²·P·tan B/(12N) ≈ 5e-5·P m² for a
    # perimeter P. The bound below doubles that.
    xy = shapely.get_coordinates(parcel)
    lon, lat = pyproj.Transformer.from_crs(epsg, 4490, always_xy=True).transform(xy[:, 0], xy[:, 1])
    scale = pyproj.Proj(f"EPSG:{epsg}").get_factors(lon, lat).areal_scale
    unrounded = ellipsoidal_area([parcel], f"EPSG:{epsg}", rounding="none")[0]
    ratio = parcel.area / unrounded
    slack = 1e-4 * parcel.length / parcel.area
    # (For a 1 km parcel the slack is ~4e-7 against a scale excess m² − 1 of 4e-5 to 6e-4.)
    assert scale.min() - slack <= ratio <= scale.max() + slack


# ---------------------------------------------------------------------------------------------
# The screening area and the validation gaps

# CM 117°E with the zone-39 prefix; ±3° of longitude is up to 313 km east or west at 18°N,
# inside the 400 km that the area functions accept.
SCREEN_CRS = "EPSG:4527"


@st.composite
def parcel_near_a_central_meridian(draw):
    """A random parcel within ±3° of 117°E, 18–53°N: 0.5 m to 3 km across, squashed down to a
    sliver, with many or few vertices (long edges get densified), sometimes a hole."""
    lon = draw(st.floats(114.0, 120.0))
    lat = draw(st.floats(18.0, 53.0))
    radius = draw(st.floats(0.5, 1500.0))
    squash = draw(st.floats(0.01, 1.0))
    n_vertices = draw(st.integers(3, 40))
    with_hole = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cx, cy = pyproj.Transformer.from_crs(4490, SCREEN_CRS, always_xy=True).transform(lon, lat)
    shell = _star_ring(rng, 0.0, 0.0, radius, n_vertices, concave=True)
    holes = [_star_ring(rng, 0.0, 0.0, 0.25 * radius, 6, False)[::-1]] if with_hole else []
    parcel = shapely.Polygon(shell, holes)
    assume(parcel.is_valid)  # a hole can cross a jittered shell of few vertices
    parcel = shapely.affinity.rotate(shapely.affinity.scale(parcel, 1.0, squash, origin=(0, 0)),
                                     rng.uniform(0, np.pi), origin=(0, 0), use_radians=True)
    return shapely.affinity.translate(parcel, cx, cy)


SCREEN_SETTINGS = settings(
    max_examples=300, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@SCREEN_SETTINGS
@given(parcel_near_a_central_meridian())
def test_screening_area_stays_within_its_bound_of_the_statutory_area(parcel):
    # The bound is what area_gaps' margin is made of (twice it): if it holds, a screening gap
    # outside the margin lies on the same side of the tolerance as the statutory gap.
    rings = area_module._parcel_rings([parcel], SCREEN_CRS)
    corrected, bound = area_module._screening_area(rings)
    statutory = ellipsoidal_area([parcel], SCREEN_CRS)
    assert abs(corrected[0] - statutory[0]) <= bound[0]
    assert scale_corrected_area([parcel], SCREEN_CRS)[0] == corrected[0]


# Relative moves of a stored area away from the exact threshold, either way: from below a
# float's resolution, through the screening margin (~1e-5 for a field, more for small or thin
# parcels), to far outside it.
THRESHOLD_MOVES = np.concatenate([[0.0], np.geomspace(1e-13, 1e-2, 34)])
THRESHOLD_MOVES = np.concatenate([-THRESHOLD_MOVES[::-1], THRESHOLD_MOVES[1:]])


@SCREEN_SETTINGS
@given(parcel_near_a_central_meridian(), st.sampled_from([0.005, 0.001, 0.05]))
def test_area_gaps_flag_exactly_what_the_statutory_area_flags(parcel, tolerance):
    statutory = ellipsoidal_area([parcel], SCREEN_CRS)[0]
    # Stored areas at which the statutory gap crosses the tolerance, moved a little either way.
    stored = np.concatenate([statutory / (1 + tolerance) * (1 + THRESHOLD_MOVES),
                             statutory / (1 - tolerance) * (1 + THRESHOLD_MOVES)])
    gaps = area_gaps(np.full(len(stored), parcel, dtype=object), SCREEN_CRS, stored, tolerance)
    expected = np.abs(statutory - stored) / np.where(stored > 0, stored, np.nan)  # validation's
    np.testing.assert_array_equal(gaps > tolerance, expected > tolerance)
    # Far from the threshold the screening gap may differ a little; near it, not at all.
    near = np.abs(expected - tolerance) < 1e-6
    np.testing.assert_array_equal(gaps[near], expected[near])


def test_area_gaps_hand_checkable_square():
    # 9 999.39 m² (see test_hand_checkable_field… and ellipsoidal_area's example): more than
    # 0.5 % off a stored area above 9 999.39/0.995 = 10 049.64 or below 9 999.39/1.005 = 9 949.64.
    square = shapely.box(39_450_000, 4_000_000, 39_450_100, 4_000_100)
    assert ellipsoidal_area([square], "EPSG:4527")[0] == 9999.39
    stored = [10_049.7, 10_049.6, 9_949.6, 9_949.7, 9_999.39, 0.0, np.nan, np.inf, 10_049.7]
    squares = [square] * 8 + [None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing area is a NaN gap, not a RuntimeWarning
        gaps = area_gaps(squares, "EPSG:4527", stored, 0.005)
    assert (gaps > 0.005).tolist() == [True, False, True, False, False, False, False, False, False]
    assert gaps[0] == pytest.approx(50.31 / 10_049.7, abs=1e-8)
    assert gaps[4] == pytest.approx(0.0, abs=1e-6)  # decided by the (unrounded) screening area
    assert np.isnan(gaps[5:]).all()  # no (finite) stored area, or no geometry: no gap, as in validation
    with pytest.raises(ValueError, match="one stored area per geometry"):
        area_gaps(squares, "EPSG:4527", stored[:3], 0.005)


@SCREEN_SETTINGS
@given(parcel_near_a_central_meridian(), st.sampled_from([(0.005, 1.0), (0.001, 0.0), (0.05, 50.0)]))
def test_area_breaches_flag_exactly_what_the_statutory_area_flags(parcel, tolerances):
    relative, absolute = tolerances
    statutory = ellipsoidal_area([parcel], SCREEN_CRS)[0]
    # Stored areas where the audit's test |stored − A| > max(relative·A, absolute) changes side,
    # on both branches of the max, moved a little either way.
    edges = [statutory * (1 + relative), statutory * (1 - relative), statutory + absolute,
             statutory - absolute]
    stored = np.concatenate([edge * (1 + THRESHOLD_MOVES) for edge in edges])
    flagged, measured = area_breaches(np.full(len(stored), parcel, dtype=object), SCREEN_CRS, stored,
                                      relative, absolute)
    expected = np.abs(stored - statutory) > np.maximum(relative * statutory, absolute)  # the audit's
    np.testing.assert_array_equal(flagged, expected)
    np.testing.assert_array_equal(measured[flagged], np.full(flagged.sum(), statutory))
    assert np.isnan(measured[~flagged]).all()


def test_area_breaches_hand_checkable_square():
    # 9 999.39 m²: 0.5 % of it is 49.99697 m², so stored areas beyond 10 049.39 or below 9 949.39
    # breach; 1 m² decides for small gaps only when the share is smaller.
    square = shapely.box(39_450_000, 4_000_000, 39_450_100, 4_000_100)
    stored = [10_049.4, 10_049.38, 9_949.38, 9_949.4, 9_999.39, np.nan, np.inf, 10_049.4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing area or geometry is no breach, not a RuntimeWarning
        flagged, statutory = area_breaches([square] * 7 + [None], "EPSG:4527", stored, 0.005, 1.0)
    assert flagged.tolist() == [True, False, True, False, False, False, True, False]
    assert statutory[flagged].tolist() == [9999.39] * 3
    assert np.isnan(statutory[~flagged]).all()
    tiny = shapely.box(39_450_000, 4_000_000, 39_450_010, 4_000_010)  # 99.99 m²: 1 m² decides
    assert area_breaches([tiny] * 2, "EPSG:4527", [101.0, 100.9], 0.005, 1.0)[0].tolist() == [True, False]
    with pytest.raises(ValueError, match="one stored area per geometry"):
        area_breaches([square] * 3, "EPSG:4527", stored, 0.005, 1.0)


def test_scale_corrected_area_is_planar_area_over_the_scale_at_the_centroid():
    # FIELD with its pond: planar 37 500 m², centroid 90 km west of the CM at 36.4°N.
    corrected = scale_corrected_area([FIELD_WITH_POND], "EPSG:4527")
    centroid = FIELD_WITH_POND.centroid
    y = centroid.x - 39_500_000
    lat = math.radians(pyproj.Transformer.from_crs(4527, 4490, always_xy=True)
                       .transform(centroid.x, centroid.y)[1])
    m = CGCS2000_A * (1 - E2) / (1 - E2 * math.sin(lat) ** 2) ** 1.5
    n = CGCS2000_A / (1 - E2 * math.sin(lat) ** 2) ** 0.5
    k = math.cosh(y / math.sqrt(m * n))  # the transverse Mercator's scale on the Gaussian sphere
    assert corrected[0] == pytest.approx(37_500 / k**2, rel=2e-8)
    # Orientation, missing and empty geometries as in ellipsoidal_area.
    result = scale_corrected_area([shapely.reverse(FIELD_WITH_POND), None, shapely.Polygon()],
                                  "EPSG:4527")
    assert result[0] == pytest.approx(corrected[0], rel=1e-12) and np.isnan(result[1:]).all()
