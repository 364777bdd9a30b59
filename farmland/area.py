"""Statutory ellipsoidal parcel area (图斑椭球面积).

A parcel's official area (TBMJ) is its area on the CGCS2000 ellipsoid, computed the way
国土调查办发〔2008〕32号 prescribes and the third national land survey (三调) tools implement it
(docs/background.md §3.2): densify every ring edge to ≤ 70 m, round the Gauss-Krüger plane coordinates to
0.1 mm, inverse-project each vertex to latitude B / longitude L with the footpoint series, round B
and L to 1e-6 arc-second, sum the ellipsoidal-trapezoid series over the ring edges against the
reference meridian L = 0, take |outer ring| − |holes| per polygon, add multipolygon parts and round
half up to 0.01 m².

Everything here is vectorised over the vertices of many parcels at once: one flat coordinate
array with ring offsets (the layout of ``shapely.to_ragged_array``), numpy for the series in
batches of rings sized for the CPU cache, ``np.add.reduceat`` for rings and ``np.bincount`` for
parts and parcels. There is no Python loop per parcel or per ring.

Areas are in m² throughout; convert with :func:`farmland.units.m2_to_mu` (亩 = m² × 0.0015).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyproj
import shapely

from farmland.errors import CRSError, GeometryError, preview_ids
from farmland.units import round_half_up

__all__ = [
    "CGCS2000_A",
    "CGCS2000_F",
    "GaussKruger",
    "ellipsoidal_area",
    "area_gaps",
    "area_breaches",
    "ellipsoidal_trapezoid_area",
    "gauss_kruger_inverse",
    "gauss_kruger_parameters",
    "scale_corrected_area",
]

CGCS2000_A = 6378137.0
"""Semi-major axis of the CGCS2000 ellipsoid, m (identical to GRS80)."""

CGCS2000_F = 1.0 / 298.257222101
"""Flattening of the CGCS2000 ellipsoid (identical to GRS80)."""

# Footpoint-latitude constants k0..k4 of the 32号 inverse, as printed for CGCS2000 in the 三调
# area tool (docs/background.md §3.2 table). A plain reversion of the meridian-arc series truncated at
# e⁸ reproduces k0 and k1 but not k2..k4 (1e-6 to 3 % apart, < 0.1 mm in B), so the published
# values are used verbatim: computing B with the same constants as the official tool is what
# makes its rounding to 1e-6″ land on the same digit.
_FOOTPOINT_K = (
    1.57048761144159e-07,
    5.05250178820567e-03,
    2.98472900956587e-05,
    2.41626669230084e-07,
    2.22241238938534e-09,
)

_ARCSEC_PER_RAD = 648000.0 / math.pi
# Eastings farther than this from the central meridian cannot belong to a Gauss-Krüger zone
# (a 6° zone is at most ~334 km wide on each side); they mean a wrong CRS, a zone-prefix
# mismatch or swapped axes, and the footpoint series would silently return nonsense.
_MAX_OFFSET_FROM_CM_M = 400_000.0
_EPSG_CGCS2000_DATUM = 1043
_TM_METHOD_CODE = "9807"

# EPSG parameter codes of the Transverse Mercator method.
_LAT_ORIGIN, _LON_ORIGIN, _SCALE, _FALSE_EASTING, _FALSE_NORTHING = (
    "8801",
    "8802",
    "8805",
    "8806",
    "8807",
)


@dataclass(frozen=True)
class GaussKruger:
    """Parameters of a CGCS2000 Gauss-Krüger (transverse Mercator, scale 1) projection.

    Attributes
    ----------
    central_meridian_deg : float
        Longitude of the central meridian L0, degrees east.
    false_easting_m : float
        False easting, m, *including* the zone prefix when the CRS has one (38 500 000 for
        EPSG:4526, 500 000 for EPSG:4547).
    false_northing_m : float
        False northing, m (0 for every Chinese Gauss-Krüger CRS).
    scale_factor : float
        Scale factor on the central meridian (always 1 for Gauss-Krüger).
    zone : int or None
        Zone number read from the 8-digit false easting (38 for EPSG:4526); None when the CRS
        has no prefix (EPSG:4547/4548), because 3° and 6° zones share central meridians and the
        prefix-free form does not say which one is meant.
    a, f : float
        Semi-major axis (m) and flattening of the ellipsoid.
    epsg : int or None
        EPSG code if pyproj identifies the CRS, else None (custom WKT / PROJ strings).
    """

    central_meridian_deg: float
    false_easting_m: float
    false_northing_m: float
    scale_factor: float
    zone: int | None
    a: float
    f: float
    epsg: int | None

    @property
    def label(self) -> str:
        """A short human-readable name for messages, e.g. ``"EPSG:4527"``."""
        if self.epsg is not None:
            return f"EPSG:{self.epsg}"
        return (
            f"CGCS2000 Gauss-Krüger CM {self.central_meridian_deg:g}°E, "
            f"false easting {self.false_easting_m:.0f} m"
        )


def _suggest_cgcs2000_epsg(central_meridian_deg: float, false_easting_m: float) -> str:
    """Name the CGCS2000 Gauss-Krüger EPSG code with the same zone layout, for fix hints."""
    cm = central_meridian_deg
    zone = int(false_easting_m // 1_000_000) if false_easting_m >= 1_000_000 else None
    if zone is not None and 25 <= zone <= 45 and math.isclose(cm, 3 * zone):
        return f"EPSG:{4513 + zone - 25}"  # 3° zones with prefix: 4513 = zone 25 … 4533 = 45
    if zone is not None and 13 <= zone <= 23 and math.isclose(cm, 6 * zone - 3):
        return f"EPSG:{4491 + zone - 13}"  # 6° zones with prefix
    if zone is None and cm % 3 == 0 and 75 <= cm <= 135:
        return f"EPSG:{4534 + int(cm - 75) // 3}"  # 3° zones without prefix, 4547 = CM 114°E
    return "EPSG:4527 (zone 39, CM 117°E) or EPSG:4526 (zone 38, CM 114°E)"


def gauss_kruger_parameters(crs) -> GaussKruger:
    """Read and check the Gauss-Krüger parameters of a CGCS2000 projected CRS.

    Parameters
    ----------
    crs : object
        Anything :meth:`pyproj.CRS.from_user_input` accepts (``"EPSG:4527"``, ``4527``, WKT,
        a PROJ string, a :class:`pyproj.CRS`), or a :class:`GaussKruger` (returned as is).
        A compound CRS (e.g. ``EPSG:4527+5737``) is reduced to its horizontal part.

    Returns
    -------
    GaussKruger

    Raises
    ------
    farmland.errors.CRSError
        When the CRS is missing or unparsable, geographic, not a transverse Mercator
        projection with scale factor 1 and latitude of origin 0, not in metres, or not on
        CGCS2000 (Xian 1980, Beijing 1954, WGS 84, NAD83 …). The message says how to fix it.

    Notes
    -----
    The zone prefix is *part of the false easting* in EPSG:4513–4533 (3° zones, e.g.
    38 500 000 m for zone 38). Subtracting the CRS's false easting therefore removes both the
    prefix and the 500 km offset, exactly as the 32号 rule "drop the zone number from an
    8-digit easting, then 500 000 m" does.

    A CRS whose datum is not named (a PROJ string with ``+ellps=GRS80``, a custom WKT) is
    accepted when its ellipsoid is GRS80/CGCS2000: such strings cannot name a datum, and the
    two ellipsoids are the same. A datum that *is* identified as something other than
    China 2000 (NAD83 and ETRS89 also use GRS80) is refused.

    Examples
    --------
    >>> gk = gauss_kruger_parameters("EPSG:4527")
    >>> gk.central_meridian_deg, gk.false_easting_m, gk.zone
    (117.0, 39500000.0, 39)
    """
    if isinstance(crs, GaussKruger):
        return crs
    if crs is None:
        raise CRSError(
            "The layer has no coordinate reference system. Assign its CGCS2000 Gauss-Krüger "
            "CRS, e.g. EPSG:4527 (zone 39, eastings 39xxxxxx) or EPSG:4526 (zone 38, eastings "
            "38xxxxxx); an 8-digit easting's first two digits are the zone number."
        )
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(
            f"Cannot read the coordinate reference system {str(crs)[:120]!r}: {exc}. "
            "Give an EPSG code such as EPSG:4527 or the layer's .prj WKT."
        ) from exc
    if parsed.is_compound:
        parsed = parsed.sub_crs_list[0]
    if parsed.is_bound:
        parsed = parsed.source_crs
    name = parsed.name
    if parsed.is_geographic:
        raise CRSError(
            f"The CRS {name!r} is geographic (longitude/latitude in degrees); parcel areas "
            "need Gauss-Krüger plane coordinates. Reproject to CGCS2000 3-degree "
            "Gauss-Krüger, e.g. EPSG:4527 (zone 39, CM 117°E) or EPSG:4526 (zone 38, "
            "CM 114°E), choosing the zone the county's survey database uses."
        )
    operation = parsed.coordinate_operation
    if not parsed.is_projected or operation is None:
        raise CRSError(
            f"The CRS {name!r} is not a projected CRS. Assign or reproject to CGCS2000 "
            "3-degree Gauss-Krüger, e.g. EPSG:4527."
        )
    params = {p.code: p for p in operation.params}
    is_tm = operation.method_code == _TM_METHOD_CODE or (
        operation.method_name.lower() in ("transverse mercator", "gauss_kruger", "gauss kruger")
    )
    if not is_tm or not {_LON_ORIGIN, _FALSE_EASTING}.issubset(params):
        raise CRSError(
            f"The CRS {name!r} uses the {operation.method_name!r} projection; the statutory "
            "area method needs Gauss-Krüger (transverse Mercator). Reproject to CGCS2000 "
            "3-degree Gauss-Krüger, e.g. EPSG:4527 (zone 39) or EPSG:4526 (zone 38)."
        )

    def value(code: str, default: float) -> float:
        """Parameter in degrees (angles), metres (lengths) or unity, whatever the WKT used."""
        param = params.get(code)
        if param is None:
            return default
        factor = param.unit_conversion_factor  # to radians, metres or unity
        if code in (_LAT_ORIGIN, _LON_ORIGIN) and not math.isclose(
            factor, math.pi / 180.0, rel_tol=1e-12
        ):
            return math.degrees(param.value * factor)  # grads, radians …
        if code in (_FALSE_EASTING, _FALSE_NORTHING):
            return param.value * factor
        return float(param.value)

    central_meridian = value(_LON_ORIGIN, math.nan)
    false_easting = value(_FALSE_EASTING, 0.0)
    false_northing = value(_FALSE_NORTHING, 0.0)
    scale = value(_SCALE, 1.0)
    latitude_origin = value(_LAT_ORIGIN, 0.0)

    ellipsoid = parsed.ellipsoid
    datum = parsed.datum
    datum_id = (datum.to_json_dict().get("id") or {}) if datum is not None else {}
    a = ellipsoid.semi_major_metre
    inverse_flattening = ellipsoid.inverse_flattening
    is_cgcs2000_ellipsoid = math.isclose(a, CGCS2000_A, abs_tol=1e-6) and math.isclose(
        inverse_flattening, 1.0 / CGCS2000_F, abs_tol=1e-6
    )
    other_datum = bool(datum_id) and not (
        datum_id.get("authority") == "EPSG" and datum_id.get("code") == _EPSG_CGCS2000_DATUM
    )
    if not is_cgcs2000_ellipsoid or other_datum:
        datum_name = datum.name if datum is not None else "unknown"
        hint = _suggest_cgcs2000_epsg(central_meridian, false_easting)
        extra = ""
        if "xian" in datum_name.lower() or math.isclose(a, 6378140.0):
            extra = (
                " Xian 1980 is the 二调-era frame; 三调 and later data are CGCS2000. Convert "
                "with the provincial Xian 1980 → CGCS2000 parameters (not a plain datum shift)."
            )
        elif "beijing" in datum_name.lower() or math.isclose(a, 6378245.0):
            extra = " Convert with the provincial Beijing 1954 → CGCS2000 parameters."
        raise CRSError(
            f"The CRS {name!r} is on the datum {datum_name!r} (ellipsoid "
            f"{ellipsoid.name}, a = {a} m, 1/f = {inverse_flattening}); the statutory area is "
            f"defined on CGCS2000. Reproject the layer to CGCS2000 Gauss-Krüger with the same "
            f"zone, {hint}.{extra}"
        )
    if not math.isclose(scale, 1.0, abs_tol=1e-12) or latitude_origin != 0.0:
        raise CRSError(
            f"The CRS {name!r} is a transverse Mercator with scale factor {scale:g} and "
            f"latitude of origin {latitude_origin:g}° (UTM-like); Chinese Gauss-Krüger has "
            "scale factor 1 and origin on the equator. Reproject to CGCS2000 3-degree "
            "Gauss-Krüger, e.g. EPSG:4527."
        )
    if parsed.prime_meridian.longitude != 0.0:
        raise CRSError(
            f"The CRS {name!r} counts longitude from {parsed.prime_meridian.name!r}, not "
            "Greenwich; CGCS2000 uses Greenwich. Reproject to EPSG:4527 or EPSG:4526."
        )
    units = {axis.unit_name.lower() for axis in parsed.axis_info}
    if not units <= {"metre", "meter", "m"}:
        raise CRSError(
            f"The CRS {name!r} measures coordinates in {sorted(units)}; Gauss-Krüger "
            "coordinates must be in metres. Reproject to EPSG:4527 or EPSG:4526."
        )
    zone = int(false_easting // 1_000_000) if false_easting >= 1_000_000 else None
    return GaussKruger(
        central_meridian_deg=float(central_meridian),
        false_easting_m=float(false_easting),
        false_northing_m=float(false_northing),
        scale_factor=float(scale),
        zone=zone,
        a=float(a),
        f=1.0 / float(inverse_flattening),
        epsg=parsed.to_epsg(),
    )


def _series_coefficients(f: float) -> tuple[float, float, float, float, float, float]:
    """Return b/a and the 32号 series constants A, B, C, D, E for flattening ``f``."""
    e2 = f * (2.0 - f)  # = (a² − b²)/a²
    big_a = 1 + 3 / 6 * e2 + 30 / 80 * e2**2 + 35 / 112 * e2**3 + 630 / 2304 * e2**4
    big_b = 1 / 6 * e2 + 15 / 80 * e2**2 + 21 / 112 * e2**3 + 420 / 2304 * e2**4
    big_c = 3 / 80 * e2**2 + 7 / 112 * e2**3 + 180 / 2304 * e2**4
    big_d = 1 / 112 * e2**3 + 45 / 2304 * e2**4
    big_e = 5 / 2304 * e2**4
    return 1.0 - f, big_a, big_b, big_c, big_d, big_e


def ellipsoidal_trapezoid_area(
    lat1_rad, lat2_rad, dlon_rad, *, a: float = CGCS2000_A, f: float = CGCS2000_F
) -> np.ndarray:
    """Area of the ellipsoidal quadrilateral between two parallels and two meridians.

    This is formula (2) of 国土调查办发〔2008〕32号 (docs/background.md §3.2)::

        S = 2 b² ΔL [A sin(ΔB/2) cos Bm − B sin(3ΔB/2) cos 3Bm + C sin(5ΔB/2) cos 5Bm
                     − D sin(7ΔB/2) cos 7Bm + E sin(9ΔB/2) cos 9Bm]

    with ΔB = B2 − B1 and Bm = (B1 + B2)/2.

    Parameters
    ----------
    lat1_rad, lat2_rad : array_like
        Latitudes B1, B2 of the bounding parallels, radians.
    dlon_rad : array_like
        Longitude difference ΔL of the bounding meridians, radians.
    a, f : float, optional
        Semi-major axis (m) and flattening; CGCS2000 by default.

    Returns
    -------
    numpy.ndarray
        Signed area in m²: positive for B2 > B1 and ΔL > 0. Applied per polygon edge with
        ΔL = mean longitude of the edge (reference meridian 0) the signed values sum to the
        ring's area.

    Examples
    --------
    The 1° × 1° cell 36°–37°N (docs/background.md §7):

    >>> s = ellipsoidal_trapezoid_area(math.radians(36), math.radians(37), math.radians(1))
    >>> f"{float(s):.2f}"
    '9941644196.75'
    """
    b_over_a, big_a, big_b, big_c, big_d, big_e = _series_coefficients(f)
    b = a * b_over_a
    lat1 = np.asarray(lat1_rad, dtype="float64")
    lat2 = np.asarray(lat2_rad, dtype="float64")
    half_d = (lat2 - lat1) / 2.0
    mid = (lat1 + lat2) / 2.0
    series = (
        big_a * np.sin(half_d) * np.cos(mid)
        - big_b * np.sin(3 * half_d) * np.cos(3 * mid)
        + big_c * np.sin(5 * half_d) * np.cos(5 * mid)
        - big_d * np.sin(7 * half_d) * np.cos(7 * mid)
        + big_e * np.sin(9 * half_d) * np.cos(9 * mid)
    )
    return 2.0 * b * b * np.asarray(dlon_rad, dtype="float64") * series


def _footpoint_latitude(northing_m) -> np.ndarray:
    """32号 footpoint latitude Bf (radians) of a Gauss-Krüger northing x (false northing removed).

    Bf = E + cos E (k1 sin E − k2 sin³E + k3 sin⁵E − k4 sin⁷E) with E = k0·x
    (docs/background.md §3.2), the latitude of the central-meridian point at arc length x.
    """
    k0, k1, k2, k3, k4 = _FOOTPOINT_K
    e0 = k0 * np.asarray(northing_m, dtype="float64")
    s = np.sin(e0)
    s2 = s * s
    return e0 + np.cos(e0) * s * (k1 - s2 * (k2 - s2 * (k3 - s2 * k4)))


def _footpoint_inverse(gk: GaussKruger, easting_m, northing_m):
    """32号 Gauss inverse of plane coordinates as stored (false easting and northing included).

    Returns latitude B and longitude L in radians: the footpoint latitude, then the u = y′/N
    series of docs/background.md §3.2 (y′ = easting − false easting), written in Horner form.
    """
    e2 = gk.f * (2.0 - gk.f)
    second_e2 = e2 / (1.0 - e2)  # e′²
    polar_radius = gk.a / (1.0 - gk.f)  # c = a²/b
    footpoint = _footpoint_latitude(np.asarray(northing_m, dtype="float64") - gk.false_northing_m)
    offset_m = np.asarray(easting_m, dtype="float64") - gk.false_easting_m
    lon0_rad = math.radians(gk.central_meridian_deg)
    cos_bf = np.cos(footpoint)
    t = np.sin(footpoint) / cos_bf
    t2 = t * t
    eta2 = second_e2 * cos_bf * cos_bf
    v2 = 1.0 + eta2
    u = offset_m * np.sqrt(v2) / polar_radius  # y′/N, N = c/V
    u2 = u * u
    lat = footpoint - v2 * t * u2 * (
        0.5
        - u2 * ((5 + 3 * t2 + eta2 - 9 * eta2 * t2) / 24 - u2 * (61 + 90 * t2 + 45 * t2 * t2) / 720)
    )
    lon = lon0_rad + u * (
        1
        - u2
        * (
            (1 + 2 * t2 + eta2) / 6
            - u2 * (5 + 28 * t2 + 24 * t2 * t2 + 6 * eta2 + 8 * eta2 * t2) / 120
        )
    ) / cos_bf
    return lat, lon


def _densify(east: np.ndarray, north: np.ndarray, ring_offsets: np.ndarray, max_length: float):
    """Split ring edges longer than ``max_length`` into equal parts, the 三调 tool's way.

    An edge of length ℓ > max_length gets ⌊ℓ/max_length⌋ + 1 equal parts (so 140 m → three
    46.7 m parts, where ``shapely.segmentize`` would make two of 70 m); shorter edges are kept.
    Works on the flat coordinate columns, so no intermediate geometries are built.

    Returns the new eastings, northings and ring offsets. Original vertices are kept bit for bit.
    """
    joins = ring_offsets[1:] - 1  # the pair (last vertex of a ring, first of the next) is no edge
    d_east = np.empty(len(east))
    d_north = np.empty(len(north))
    for delta, values in ((d_east, east), (d_north, north)):
        np.subtract(values[1:], values[:-1], out=delta[:-1])
        delta[joins] = 0.0
    length = np.hypot(d_east, d_north)
    parts = np.where(length > max_length, np.floor(length / max_length) + 1, 1).astype(np.int64)
    if (parts == 1).all():
        return east, north, ring_offsets
    ends = np.cumsum(parts)
    # Column by column and with np.repeat rather than fancy indexing: the same values, cheaper.
    step = np.arange(ends[-1]) - np.repeat(ends - parts, parts)
    fraction = step / np.repeat(parts, parts)
    new_east = np.repeat(east, parts)
    new_east += fraction * np.repeat(d_east, parts)
    new_north = np.repeat(north, parts)
    new_north += fraction * np.repeat(d_north, parts)
    return new_east, new_north, np.concatenate(([0], ends))[ring_offsets]


def _ring_sums_of_series(lat, lon, ring_offsets, f):
    """Σ over each ring's edges of the trapezoid series, divided by b², via a per-vertex form.

    sin(kΔB/2)·cos(kBm) = [sin kB₂ − sin kB₁]/2, so the 32号 strip of an edge is exactly
    b²·ΔL·[G(B₂) − G(B₁)] with G(B) = A sin B − B sin 3B + C sin 5B − D sin 7B + E sin 9B.
    Evaluating G once per vertex (one sine plus a Chebyshev recurrence) instead of ten sines
    per edge is several times faster. The two forms agree to a few 1e-6 m² per ring, the float
    noise of summing strips of ~1e9 m² each (checked in the tests); because each vertex's G
    is shared by its two edges, the large ΔL against the reference meridian 0 cancels
    without extra loss.
    """
    _, big_a, big_b, big_c, big_d, big_e = _series_coefficients(f)
    s1 = np.sin(lat)
    two_cos_2b = 2.0 - 4.0 * s1 * s1  # 2 cos 2B; sin(k+2)B = 2 cos 2B · sin kB − sin(k−2)B
    s3 = two_cos_2b * s1 + s1
    s5 = two_cos_2b * s3 - s1
    s7 = two_cos_2b * s5 - s3
    s9 = two_cos_2b * s7 - s5
    g = big_a * s1 - big_b * s3 + big_c * s5 - big_d * s7 + big_e * s9
    strips = np.zeros(len(lat))
    strips[:-1] = (lon[:-1] + lon[1:]) * 0.5 * (g[1:] - g[:-1])
    strips[ring_offsets[1:] - 1] = 0.0  # pairs that join two rings are not edges
    return np.add.reduceat(strips, ring_offsets[:-1])


def gauss_kruger_inverse(easting_m, northing_m, crs) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-project Gauss-Krüger plane coordinates with the 32号 footpoint series.

    Parameters
    ----------
    easting_m, northing_m : array_like
        Plane coordinates in m, as stored in shapefiles/GeoPackages (x = easting, including
        the zone prefix if the CRS has one; y = northing).
    crs : object
        The layer's CRS (see :func:`gauss_kruger_parameters`).

    Returns
    -------
    lon_deg, lat_deg : numpy.ndarray
        Longitude and latitude, degrees (unrounded).

    Notes
    -----
    Within Liaocheng's zones (≤ 1.8° from the central meridian) this agrees with PROJ's exact
    transverse Mercator to about 0.1 mm; the residual comes from the truncated footpoint
    constants and is common to every official tool using 32号.
    """
    gk = gauss_kruger_parameters(crs)
    lat, lon = _footpoint_inverse(gk, easting_m, northing_m)
    return np.degrees(lon), np.degrees(lat)


@dataclass(frozen=True)
class _Rings:
    """The rings of a layer's parcels as flat arrays (built by :func:`_parcel_rings`)."""

    gk: GaussKruger
    geoms: np.ndarray  # the input as an object array
    positions: np.ndarray  # of the present (not missing, not empty) geometries in ``geoms``
    coords: np.ndarray  # (n, 2) easting, northing of every vertex of every ring
    ring_offsets: np.ndarray
    ring_owner: np.ndarray  # index into ``positions`` of each ring's parcel
    is_exterior: np.ndarray

    def parcel_sums(self, ring_values: np.ndarray) -> np.ndarray:
        """Per present parcel, the sum of its rings' values (in ring order)."""
        return np.bincount(self.ring_owner, weights=ring_values, minlength=len(self.positions))

    def scatter(self, parcel_values: np.ndarray) -> np.ndarray:
        """One value per input geometry: ``parcel_values`` at the present ones, NaN elsewhere."""
        result = np.full(len(self.geoms), np.nan)
        result[self.positions] = parcel_values
        return result


def _parcel_rings(geometries, crs) -> _Rings:
    """Check a layer's CRS, geometry types and coordinates; lay its rings out flat.

    ``geometries`` and ``crs`` are as in :func:`ellipsoidal_area`, whose Raises section lists
    the errors.
    """
    if crs is None:
        crs = getattr(geometries, "crs", None)
    gk = gauss_kruger_parameters(crs)
    geoms, labels = _as_geometry_array(geometries)
    counts = shapely.get_num_coordinates(geoms)
    present = counts > 0  # not missing (None counts 0) and not empty
    type_ids = shapely.get_type_id(geoms)
    polygonal = np.isin(type_ids, (3, 6))  # Polygon, MultiPolygon
    bad = np.flatnonzero(present & ~polygonal)
    if bad.size:
        kinds = sorted(set(type_ids[bad].tolist()))
        names = {0: "Point", 1: "LineString", 2: "LinearRing", 4: "MultiPoint",
                 5: "MultiLineString", 7: "GeometryCollection"}
        raise GeometryError(
            "Parcel areas need Polygon or MultiPolygon geometries; found "
            f"{', '.join(names.get(k, str(k)) for k in kinds)} at "
            f"{preview_ids(_labels(labels, bad))}. Fix or drop these features (e.g. keep only "
            "the polygonal parts with shapely.get_parts / GeoSeries.explode)."
        )
    positions = np.flatnonzero(present)
    coords, ring_offsets, ring_owner, is_exterior = _polygon_rings(
        geoms[positions], type_ids[positions], counts[positions]
    )

    def offenders(vertex_mask: np.ndarray) -> str:
        """Labels of the parcels owning the flagged vertices, for messages."""
        ring = np.searchsorted(ring_offsets, np.flatnonzero(vertex_mask), side="right") - 1
        return preview_ids(_labels(labels, positions[np.unique(ring_owner[ring])]))

    if not np.isfinite(coords).all():
        finite = np.isfinite(coords).all(axis=1)
        raise GeometryError(
            f"Parcels have non-finite (NaN/inf) coordinates at {offenders(~finite)}; "
            "repair or drop them."
        )
    # The original vertices are enough: densified ones lie between them.
    east = coords[:, 0]
    if len(east) and max(
        gk.false_easting_m - east.min(), east.max() - gk.false_easting_m
    ) > _MAX_OFFSET_FROM_CM_M:
        far = np.abs(east - gk.false_easting_m) > _MAX_OFFSET_FROM_CM_M
        sample = east[far][0]
        prefix = f" (zone prefix {int(sample // 1_000_000)})" if sample >= 1_000_000 else ""
        raise CRSError(
            f"Eastings such as {sample:.1f} m{prefix} lie more than "
            f"{_MAX_OFFSET_FROM_CM_M / 1000:.0f} km from the central meridian "
            f"{gk.central_meridian_deg:g}°E of {gk.label} (false easting "
            f"{gk.false_easting_m:.0f} m), at {offenders(far)}. The layer's CRS does not match "
            "its coordinates: 8-digit eastings 38xxxxxx are EPSG:4526 and 39xxxxxx EPSG:4527; "
            "6-digit eastings are EPSG:4547 (CM 114°E) or EPSG:4548 (CM 117°E). Also check "
            "that x is the easting (axis order)."
        )
    return _Rings(gk, geoms, positions, coords, ring_offsets, ring_owner, is_exterior)


def _polygon_rings(geoms: np.ndarray, type_ids: np.ndarray, counts: np.ndarray):
    """Vertices and ring layout of non-empty Polygons and MultiPolygons.

    ``type_ids`` and ``counts`` are their shapely type ids (3, 6) and numbers of vertices.

    Returns ``(coords, ring_offsets, ring_owner, is_exterior)``: the (n, 2) vertex array in
    GEOS order (geometry by geometry, part by part, the exterior before its holes), the offsets
    of the rings in it, the position in ``geoms`` of each ring's geometry and whether the ring
    is an exterior. This is the layout of ``shapely.to_ragged_array``, which builds a geometry
    for every ring to get it and took longer than the whole series; here only polygons with
    holes and multipolygons are taken apart, a plain polygon is one ring of all its vertices.
    """
    coords = shapely.get_coordinates(geoms)
    is_split = (type_ids != 3) | (shapely.get_num_interior_rings(geoms) > 0)
    if not is_split.any():
        return coords, _offsets(counts), np.arange(len(geoms)), np.ones(len(geoms), bool)
    split = np.flatnonzero(is_split)
    parts, part_owner = shapely.get_parts(geoms[split], return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    first_of_part = np.ones(len(rings), bool)
    first_of_part[1:] = ring_part[1:] != ring_part[:-1]
    whole = np.flatnonzero(~is_split)
    owner = np.concatenate((whole, split[part_owner[ring_part]]))
    # Rings of a geometry are contiguous in ``coords``; a stable sort keeps their own order.
    order = np.argsort(owner, kind="stable")
    counts = np.concatenate((counts[whole], shapely.get_num_coordinates(rings)))[order]
    is_exterior = np.concatenate((np.ones(len(whole), bool), first_of_part))[order]
    return coords, _offsets(counts), owner[order], is_exterior


def _offsets(counts: np.ndarray) -> np.ndarray:
    """Offsets [0, c0, c0 + c1, …] of consecutive runs of the given lengths."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


# Rings are measured in batches of about this many vertices (~40 000 after densifying 三调-sized
# parcels): the dozens of temporaries of the series then stay in the CPU cache and are recycled
# by the allocator, where whole-layer temporaries cost fresh memory (page faults) every time.
# Batches of 2¹²–2¹⁴ vertices measured fastest on the 300k city; 2¹⁶ took ~1.5× as long.
_CHUNK_VERTICES = 1 << 14


def _ring_chunks(ring_offsets: np.ndarray):
    """(first, stop) ring ranges of about ``_CHUNK_VERTICES`` vertices each, covering all rings."""
    starts = np.searchsorted(
        ring_offsets, np.arange(0, ring_offsets[-1], _CHUNK_VERTICES), side="right"
    ) - 1
    bounds = np.unique(np.concatenate(([0], starts, [len(ring_offsets) - 1])))
    return zip(bounds[:-1].tolist(), bounds[1:].tolist())


def _ring_areas(coords, ring_offsets, gk: GaussKruger, densify_m, rounding: str) -> np.ndarray:
    """Unsigned statutory area (m²) of each ring: steps 1–5 of :func:`ellipsoidal_area`."""
    east, north = coords[:, 0], coords[:, 1]
    if densify_m is not None:
        east, north, ring_offsets = _densify(east, north, ring_offsets, densify_m)
    official_rounding = rounding == "official"
    if official_rounding:
        east = round_half_up(east, 4)
        north = round_half_up(north, 4)
    lat, lon = _footpoint_inverse(gk, east, north)
    if official_rounding:
        lat = round_half_up(lat * _ARCSEC_PER_RAD, 6) / _ARCSEC_PER_RAD
        lon = round_half_up(lon * _ARCSEC_PER_RAD, 6) / _ARCSEC_PER_RAD
    b = gk.a * (1.0 - gk.f)
    return b * b * np.abs(_ring_sums_of_series(lat, lon, ring_offsets, gk.f))


def _as_geometry_array(geometries) -> tuple[np.ndarray, object]:
    """Return (object array of geometries, labels used in messages)."""
    if isinstance(geometries, shapely.Geometry):
        return np.array([geometries], dtype=object), [0]
    # pandas/geopandas Series: report index labels, not positions, in messages.
    index = geometries.index if hasattr(geometries, "iloc") else None
    values = getattr(geometries, "array", geometries)  # GeoSeries → GeometryArray
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        array = array.reshape(-1)
    labels = index if index is not None and len(index) == len(array) else None
    return array, labels


def _labels(labels, positions: np.ndarray) -> list:
    """Index labels (Series) or positions (arrays, lists) of the given positions."""
    if labels is None:
        return positions.tolist()
    return list(labels[positions])


def ellipsoidal_area(
    geometries,
    crs=None,
    *,
    densify_m: float | None = 70.0,
    rounding: str = "area",
) -> np.ndarray:
    """Statutory ellipsoidal area (m²) of Gauss-Krüger polygons on the CGCS2000 ellipsoid.

    Implements 国土调查办发〔2008〕32号 as used in the third national land survey
    (docs/background.md §3.2), vectorised over all vertices of all parcels.

    Parameters
    ----------
    geometries : array_like of shapely.Polygon / shapely.MultiPolygon, or geopandas.GeoSeries
        Parcels in the plane coordinates of ``crs`` (x = easting, y = northing, metres; an
        8-digit easting keeps its zone prefix). A single geometry is treated as a list of one.
        Z values are ignored.
    crs : object, optional
        The layer's CRS: anything :func:`gauss_kruger_parameters` accepts. If omitted, the
        ``.crs`` of a GeoSeries is used.
    densify_m : float or None, default 70.0
        Longest sub-edge, m: every edge longer than this is split evenly before inverse
        projection, as the 三调 tool does, so that the straight plane edge is followed on the
        ellipsoid. None disables densification (not statutory; off by up to ~1e-5 of the
        area for 1 km parcels).
    rounding : {"area", "official", "none"}, default "area"
        ``"area"`` rounds the parcel area half up to 0.01 m², as areas are stored.
        ``"official"`` also applies the 三调 tool's intermediate steps — plane coordinates to
        1e-4 m and B, L to 1e-6 arc-second — for bit-for-bit parity with stored TBMJ. On survey
        data, whose coordinates are stored at 0.1 mm, the plane step changes nothing on the
        original vertices; on full-precision coordinates the two steps add rounding noise of up
        to ~1e-6 of a parcel's area (measured: 12 of 3000 realistic parcels then exceed both
        1e-6 relative and 0.01 m² against GeographicLib, none with ``"area"``), so it is not the
        default. ``"none"`` returns the unrounded series value (for cross-checks).

    Returns
    -------
    numpy.ndarray
        float64 area in m², one per input geometry. **Missing (None) or empty geometries give
        NaN**, so that a sum with ``np.nansum`` or pandas skips them while their absence stays
        visible.

    Raises
    ------
    farmland.errors.GeometryError
        If a geometry is not a Polygon or MultiPolygon, or has non-finite coordinates (the
        message lists the offending positions, or index labels of a Series).
    farmland.errors.CRSError
        If the CRS is not CGCS2000 Gauss-Krüger (see :func:`gauss_kruger_parameters`), or if
        eastings lie more than 400 km from the CRS's central meridian, which means a wrong CRS,
        a zone-prefix mismatch (e.g. 38xxxxxx eastings in an EPSG:4527 layer) or swapped axes.

    Notes
    -----
    Steps, following docs/background.md §3.2:

    1. split every edge longer than ``densify_m`` into ⌊ℓ/densify_m⌋ + 1 equal parts, the
       rule of the 三调 tool (``shapely.segmentize`` makes ⌈ℓ/densify_m⌉ parts, which differs
       only for exact multiples); done in numpy on the flat coordinate array;
    2. round plane coordinates to 0.1 mm;
    3. inverse Gauss-Krüger with the 32号 footpoint series (not PROJ, which is exact to the
       nanometre but differs from the statutory series by up to ~0.1 mm in latitude, enough
       to change the 6th decimal of an arc-second and, occasionally, the last cent).
       The zone prefix is removed by subtracting the CRS's false easting;
    4. B, L in arc-seconds rounded to 6 decimals;
    5. per edge, the trapezoid series (:func:`ellipsoidal_trapezoid_area`) with ΔL = mean
       longitude (reference meridian 0), summed per ring (evaluated in the equivalent
       per-vertex form, see ``_ring_sums_of_series``);
    6. per polygon |exterior| − Σ|holes| (so ring orientation never matters), parts added,
       rounded half up to 0.01 m² (exactly, like the tool; see ``_half_up``).

    Accuracy: against GeographicLib on the same polygon (edges straight on the plane), the
    statutory value differs by ≤ ~1e-6 of the area or ≤ 0.04 m² for parcels up to 1 km; that
    is the method's own error, from following each ≤ 70 m sub-edge as a chord in B/L (the
    sagitta of a parallel on the plane is ℓ²·tan B/(8N)). Without densification the
    difference reaches ~2e-5 (metres² on 1 km parcels).

    The Gauss-Krüger scale factor is ≥ 1, so the result does not exceed the planar area
    (``shapely.area``) — planar area overstates Liaocheng parcels by 0.004–0.06 % — except
    within a few km of a central meridian, where the scale excess is smaller than the
    chord error above (Liaocheng is ≥ 42 km from both central meridians).

    Examples
    --------
    A 100 m × 100 m square 50 km west of the central meridian 117°E (scale factor
    ≈ 1 + 5e4²/(2 × 6.37e6²) ≈ 1.0000308, so the ellipsoid holds 10 000/1.0000308² m²):

    >>> import shapely
    >>> square = shapely.box(39_450_000, 4_000_000, 39_450_100, 4_000_100)
    >>> ellipsoidal_area([square, None], "EPSG:4527").tolist()
    [9999.39, nan]
    """
    if rounding not in ("area", "official", "none"):
        raise ValueError(f'rounding must be "area", "official" or "none", got {rounding!r}')
    if densify_m is not None and not (densify_m > 0 and math.isfinite(densify_m)):
        raise ValueError(
            f"densify_m must be a positive length in metres or None, got {densify_m!r}"
        )
    rings = _parcel_rings(geometries, crs)
    gk, ring_offsets = rings.gk, rings.ring_offsets

    ring_area = np.empty(len(ring_offsets) - 1)
    for first, stop in _ring_chunks(ring_offsets):
        v0, v1 = ring_offsets[first], ring_offsets[stop]
        ring_area[first:stop] = _ring_areas(
            rings.coords[v0:v1], ring_offsets[first : stop + 1] - v0, gk, densify_m, rounding
        )
    area = rings.parcel_sums(np.where(rings.is_exterior, ring_area, -ring_area))
    if rounding in ("official", "area"):
        area = round_half_up(area, 2)
    return rings.scatter(area)


def _ring_measures(east: np.ndarray, north: np.ndarray, ring_offsets: np.ndarray):
    """Per ring: signed planar area ∫dA (m²), first moments ∫x dA and ∫y dA (m³), perimeter,
    least and greatest easting (m).

    Green's theorem edge by edge, in forms that multiply coordinates only by coordinate
    differences (∮x dy, ∮x²/2 dy, −∮y²/2 dx), so that with the false easting removed
    (|x| < 400 km) the area of even a small parcel keeps ~1e-8 m², without shifting each ring to
    an origin of its own. The moments only place the centroid, to well under a metre.
    """
    x0, x1 = east[:-1], east[1:]
    y0, y1 = north[:-1], north[1:]
    dx = np.zeros(len(east))
    dy = np.zeros(len(east))
    np.subtract(x1, x0, out=dx[:-1])
    np.subtract(y1, y0, out=dy[:-1])
    joins = ring_offsets[1:] - 1  # pairs that join two rings are not edges
    dx[joins] = 0.0
    dy[joins] = 0.0
    starts = ring_offsets[:-1]
    perimeter = np.add.reduceat(np.hypot(dx, dy), starts)
    dx, dy = dx[:-1], dy[:-1]
    return (
        np.add.reduceat((x0 + x1) * dy, starts) / 2.0,
        np.add.reduceat((x0 * x0 + x0 * x1 + x1 * x1) * dy, starts) / 6.0,
        np.add.reduceat((y0 * y0 + y0 * y1 + y1 * y1) * dx, starts) / -6.0,
        perimeter,
        np.minimum.reduceat(east, starts),
        np.maximum.reduceat(east, starts),
    )


# Bound on |statutory − screening area| of a parcel (m²), see area_gaps: the statutory rounding
# to 0.01 m²; its 70 m chords, ≤ 70²·tan B/(12N) ≈ 0.6e-4 (B = 45°) … 0.9e-4 (53°N) m² per metre
# of perimeter (the sagitta ℓ²·tan B/(8N) of each sub-edge; tests/test_area.py) — taken as 2e-4;
# and, relative, the screening formula's truncation and the curvature of 1/k² across the parcel
# (A·w²/R² for an east-west extent w), with 1e-6 for the former where ~2e-8 is measured.
_BOUND_ROUNDING_M2 = 0.005
_BOUND_CHORD_M2_PER_M = 2e-4
_BOUND_RELATIVE = 1e-6
_MARGIN_FACTOR = 2.0  # the screening decides only outside twice the bound


def _screening_area(rings: _Rings) -> tuple[np.ndarray, np.ndarray]:
    """Scale-corrected area (see :func:`scale_corrected_area`) of each present parcel and a
    bound on its distance to the statutory area, both m²."""
    gk, ring_offsets = rings.gk, rings.ring_offsets
    measures = np.empty((6, len(ring_offsets) - 1))
    for first, stop in _ring_chunks(ring_offsets):
        v0, v1 = ring_offsets[first], ring_offsets[stop]
        # Offsets from the central meridian and the equator.
        east = rings.coords[v0:v1, 0] - gk.false_easting_m
        north = rings.coords[v0:v1, 1] - gk.false_northing_m
        measures[:, first:stop] = _ring_measures(east, north, ring_offsets[first : stop + 1] - v0)
    ring_area, moment_x, moment_y, perimeter, east_min, east_max = measures
    # |exterior| − |holes| whatever the rings' orientation, as in ellipsoidal_area.
    sign = np.where(rings.is_exterior, 1.0, -1.0) * np.sign(ring_area)
    planar = rings.parcel_sums(sign * ring_area)
    with np.errstate(invalid="ignore", divide="ignore"):  # zero-area parcels stay 0, below
        y_offset = rings.parcel_sums(sign * moment_x) / planar  # centroid, from the CM
        x_northing = rings.parcel_sums(sign * moment_y) / planar
    e2 = gk.f * (2.0 - gk.f)
    sin_b = np.sin(_footpoint_latitude(x_northing))
    w2 = 1.0 - e2 * sin_b * sin_b
    radius2 = gk.a * gk.a * (1.0 - e2) / (w2 * w2)  # R² = M·N
    q = y_offset * y_offset / radius2
    scale = 1.0 + q / 2.0 + q * q / 24.0
    corrected = np.where(planar == 0.0, 0.0, planar / (scale * scale))

    if len(ring_area) > len(planar):  # holes or several parts: extremes over the rings
        parcel_min = np.full(len(planar), np.inf)
        parcel_max = np.full(len(planar), -np.inf)
        np.minimum.at(parcel_min, rings.ring_owner, east_min)
        np.maximum.at(parcel_max, rings.ring_owner, east_max)
        east_min, east_max = parcel_min, parcel_max
    width = east_max - east_min
    bound = (
        _BOUND_ROUNDING_M2
        + _BOUND_CHORD_M2_PER_M * rings.parcel_sums(perimeter)
        + (_BOUND_RELATIVE + width * width / radius2) * np.abs(planar)
    )
    return corrected, bound


def scale_corrected_area(geometries, crs=None) -> np.ndarray:
    """Fast screening area (m²): planar area over the squared Gauss-Krüger scale at the centroid.

    Not the statutory area (see :func:`ellipsoidal_area`), but within a few 1e-7 of it on real
    parcels and many times faster: no densification and no per-vertex inverse projection, one
    shoelace pass over the vertices. For screening, e.g. :func:`area_gaps`.

    Gauss-Krüger is conformal, so an area element on the ellipsoid is the plane element over the
    squared point scale k². With y the distance from the central meridian on the plane (easting
    − false easting), k = 1 + y²/(2R²) + y⁴/(24R⁴), R = √(MN) the mean radius of curvature
    (the Gauss projection's length ratio 长度比, docs/background.md §3.8 [S-gk-scale]): on a
    sphere of radius R the transverse Mercator's scale is exactly cosh(y/R), and the Gaussian sphere
    osculating the ellipsoid at latitude B leaves differences of order η²·y⁴/R⁴ (measured:
    ≤ 4e-8 of the area against GeographicLib within ±3° of the central meridian, 18–53°N).
    Here k is taken at each parcel's planar centroid, which makes
    the term linear in y − y_c vanish, and R at the centroid's footpoint latitude,
    M = a(1 − e²)/W³, N = a/W, W² = 1 − e² sin²B, so R² = a²(1 − e²)/W⁴.

    Parameters
    ----------
    geometries, crs
        As in :func:`ellipsoidal_area` (same checks, same errors).

    Returns
    -------
    numpy.ndarray
        float64 m² per geometry, unrounded; NaN for missing or empty geometries.

    Notes
    -----
    Error against the statutory :func:`ellipsoidal_area`, measured on all 1 842 322 DLTB
    parcels of the six years of the generated 300 000-parcel city (``farmland sample
    --parcels 300000 --seed 0``; zones 38 and 39, parcels 0.5 m² to 5 ha): relative difference
    at most 1.2e-3 and 99.9th percentile 9.3e-7 against the stored form (rounding ``"area"``;
    the maximum is a 0.58 m² parcel, i.e. the rounding to 0.01 m²), at most 2.3e-6 and 99.9th
    percentile 5.8e-7 against the unrounded series. That difference is the statutory method's
    own: against GeographicLib on 1 m-densified edges this formula is within ~4e-8 on sampled
    parcels, the statutory area within ~1.5e-6 (its 70 m chords). The formula's own error is
    the curvature of 1/k² across the parcel, at most A·w²/R² for an east-west extent w
    (2.5e-8 for 1 km), and the truncation above.

    Examples
    --------
    The 100 m square of :func:`ellipsoidal_area`'s example, 50 km west of 117°E:

    >>> import shapely
    >>> square = shapely.box(39_450_000, 4_000_000, 39_450_100, 4_000_100)
    >>> round(float(scale_corrected_area([square], "EPSG:4527")[0]), 2)
    9999.39
    """
    rings = _parcel_rings(geometries, crs)
    return rings.scatter(_screening_area(rings)[0])


def _stored_areas(stored_m2, rings: _Rings) -> np.ndarray:
    """The stored areas as float64, one per geometry of ``rings`` (else a ValueError)."""
    stored = np.asarray(stored_m2, dtype="float64")
    if stored.shape != (len(rings.geoms),):
        raise ValueError(
            f"stored_m2 has {stored.size} values for {len(rings.geoms)} geometries; give one "
            "stored area per geometry (NaN where there is none)."
        )
    return stored


def _screened(geometries, crs, stored_m2, undecided):
    """What :func:`area_gaps` and :func:`area_breaches` share: the stored areas, the screening
    areas (:func:`scale_corrected_area`) and the statutory areas of the parcels that
    ``undecided(stored, screening, bound)`` picks (NaN elsewhere), with their positions."""
    rings = _parcel_rings(geometries, crs)
    stored = _stored_areas(stored_m2, rings)
    corrected, bound = _screening_area(rings)
    screening = rings.scatter(corrected)
    with np.errstate(invalid="ignore"):  # missing areas or geometries are NaN: decided, not warned of
        again = np.flatnonzero(undecided(stored, screening, rings.scatter(bound)))
    statutory = np.full(len(stored), np.nan)
    if again.size:
        statutory[again] = ellipsoidal_area(rings.geoms[again], rings.gk)
    return stored, screening, statutory, again


def area_gaps(geometries, crs, stored_m2, tolerance: float) -> np.ndarray:
    """Relative gaps |area − stored| / stored, exact wherever they decide ``gap > tolerance``.

    For validation's recomputed-area check (docs/background.md §3.3): ``area_gaps(...) >
    tolerance`` flags exactly the parcels that ``ellipsoidal_area`` (rounding ``"area"``)
    flags, at a fraction of its cost. Each gap is first computed from
    :func:`scale_corrected_area`; parcels whose screening gap lies within a safety margin of
    ``tolerance`` are measured again with the statutory :func:`ellipsoidal_area`, and their gap
    is then bit for bit ``np.abs(ellipsoidal_area(g) − stored) / stored``.

    Parameters
    ----------
    geometries : array_like of shapely.Polygon / shapely.MultiPolygon, or geopandas.GeoSeries
        Parcels in the plane coordinates of ``crs``, as for :func:`ellipsoidal_area`.
    crs : object
        Their CGCS2000 Gauss-Krüger CRS (None: the GeoSeries' own), as for
        :func:`ellipsoidal_area`.
    stored_m2 : array_like of float
        The stored areas (TBMJ, m²), one per geometry.
    tolerance : float
        The relative gap that flags a parcel (validation's ``RECOMPUTED_AREA_TOLERANCE``).

    Returns
    -------
    numpy.ndarray
        float64 relative gap per geometry. NaN where the geometry is missing or empty, or the
        stored area is missing, zero or negative — so ``gap > tolerance`` is False there, as
        in validation. A gap decided by the screening area is within the bound below (over the
        stored area) of the statutory gap: ~1e-5 for a field, more for tiny parcels, whose
        statutory area is rounded to 0.01 m².

    Raises
    ------
    ValueError
        If ``stored_m2`` does not have one value per geometry.
    farmland.errors.GeometryError, farmland.errors.CRSError
        As :func:`ellipsoidal_area`.

    Notes
    -----
    The safety margin is twice a bound on |statutory − screening area| of each parcel:
    0.005 m² (the statutory rounding) + 2e-4 m²/m × perimeter (the statutory 70 m chords,
    at most ~0.9e-4 m²/m up to 53°N) + (1e-6 + w²/R²) × area (the screening formula, whose
    measured error is ~2e-8, and the curvature of 1/k² over an east-west extent w). The gap
    moves by at most that bound over ``stored``; outside twice it the screening gap is on the
    same side of ``tolerance`` as the statutory one. On the 300 000-parcel generated city,
    whose TBMJ are statutory areas, 12 of its 1 842 322 parcels (tiny ones) are measured again.

    Examples
    --------
    The 100 m square of :func:`ellipsoidal_area`'s example measures 9 999.39 m², which is
    more than 0.5 % from a stored area above 9 999.39/0.995 = 10 049.64 or below
    9 999.39/1.005 = 9 949.64:

    >>> import shapely
    >>> square = shapely.box(39_450_000, 4_000_000, 39_450_100, 4_000_100)
    >>> stored = [10_049.7, 10_049.6, 9_949.6, 9_949.7, 0.0]
    >>> gaps = area_gaps([square] * 5, "EPSG:4527", stored, 0.005)
    >>> (gaps > 0.005).tolist()
    [True, False, True, False, False]
    """
    def gaps_of(stored, area):
        denominator = np.where(stored > 0, stored, np.nan)  # NULL, 0 and negative: NaN gaps
        return np.abs(area - stored) / denominator, denominator

    def undecided(stored, screening, bound):
        gaps, denominator = gaps_of(stored, screening)
        return np.abs(gaps - tolerance) <= _MARGIN_FACTOR * bound / denominator

    stored, screening, statutory, again = _screened(geometries, crs, stored_m2, undecided)
    with np.errstate(invalid="ignore"):  # NaN is the answer there, not a mistake to warn of
        gaps, _ = gaps_of(stored, screening)
        gaps[again] = gaps_of(stored, statutory)[0][again]
    return gaps


def area_breaches(geometries, crs, stored_m2, relative: float, absolute_m2: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Parcels whose stored area is more than max(``relative`` × statutory, ``absolute_m2``)
    from the statutory area, and that area for them.

    For the audit's TBMJ check (:mod:`farmland.audit.areas`): the flags and the areas reported
    are exactly those of ``ellipsoidal_area``, which is measured only for the flagged parcels
    and those near the threshold; the others are decided by :func:`scale_corrected_area`, as in
    :func:`area_gaps`.

    Parameters
    ----------
    geometries, crs
        As in :func:`ellipsoidal_area`.
    stored_m2 : array_like of float
        The stored areas (TBMJ, m²), one per geometry.
    relative : float
        Tolerated gap as a share of the statutory area (0.005 = 0.5 %) …
    absolute_m2 : float
        … or this many m², whichever is larger.

    Returns
    -------
    flagged : numpy.ndarray of bool
        ``abs(stored − statutory) > max(relative × statutory, absolute_m2)``; False where the
        geometry or the stored area is missing.
    statutory : numpy.ndarray of float64
        The statutory area (m²) where flagged, NaN elsewhere.

    Notes
    -----
    The excess f(A) = |stored − A| − max(relative·A, absolute_m2) moves by at most
    (1 + relative) × |A − A'| when the area moves from A to A'. The screening area is within
    :func:`area_gaps`' bound of the statutory one, so where the screening excess is more than
    twice (1 + relative) × that bound away from 0 the statutory excess has the same sign.
    """
    def undecided(stored, screening, bound):  # flagged by the screening area, or near the line
        excess = np.abs(stored - screening) - np.maximum(relative * screening, absolute_m2)
        return (excess > 0) | (np.abs(excess) <= _MARGIN_FACTOR * (1.0 + relative) * bound)

    stored, _, statutory, _ = _screened(geometries, crs, stored_m2, undecided)
    with np.errstate(invalid="ignore"):  # a missing area or geometry is no breach, not a warning
        flagged = np.abs(stored - statutory) > np.maximum(relative * statutory, absolute_m2)
    statutory[~flagged] = np.nan
    return flagged, statutory
