"""Coordinate reference systems: CGCS2000 3-degree Gauss-Krüger only, zone read from each dataset.

Liaocheng straddles the zone 38/39 boundary at 115.5°E (docs/data.md), so a zone is never
assumed for the city: it is read from each file's CRS, or, when a file has none, inferred from
the zone prefix of 8-digit eastings (38xxxxxx → zone 38, EPSG:4526).
"""

from __future__ import annotations

import math

import pyproj

from .errors import CRSError

# CGCS2000 3-degree Gauss-Krüger zones 25–45 with the zone number in the false easting are
# EPSG:4513–4533, i.e. EPSG = 4488 + zone.
_PREFIXED_ZONE_EPSG_OFFSET = 4488


def check_crs(crs_like) -> pyproj.CRS:
    """Return the CRS if it is a CGCS2000 Gauss-Krüger projection, else raise CRSError with the fix."""
    from .area import gauss_kruger_parameters

    try:
        crs = pyproj.CRS.from_user_input(crs_like)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"unrecognised coordinate reference system {str(crs_like)[:80]!r} ({exc}).") from None
    gauss_kruger_parameters(crs)  # raises CRSError naming what is wrong and how to fix it
    return crs


def infer_crs_from_eastings(bounds) -> pyproj.CRS | None:
    """CRS of a prefixed CGCS2000 3-degree zone, inferred from 8-digit eastings; None if impossible.

    ``bounds`` is (xmin, ymin, xmax, ymax) with x the easting. Both ends must carry the same
    zone prefix and the northings must be plausible for China (0–6 000 km).
    """
    if bounds is None or len(bounds) != 4 or not all(math.isfinite(v) for v in bounds):
        return None
    xmin, ymin, xmax, ymax = bounds
    if not (10_000_000 <= xmin and xmax < 100_000_000 and 0 <= ymin and ymax <= 6_000_000):
        return None
    zone_min, zone_max = int(xmin // 1_000_000), int(xmax // 1_000_000)
    if zone_min != zone_max or not (25 <= zone_min <= 45):
        return None
    return pyproj.CRS.from_epsg(_PREFIXED_ZONE_EPSG_OFFSET + zone_min)
