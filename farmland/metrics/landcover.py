"""Remote-sensing cross-check: cropland and built-up pixel areas per unit (LANDCOVER raster).

Units are burnt into the raster grid (pixel centres; development zones burnt over their host
counties, so a pixel belongs to one unit) and the class pixels counted per unit with
``np.bincount``, one strip of rows at a time so a city-wide 10 m raster never sits in memory
whole. Pixel areas are planar (cell size in the raster's Gauss-Krüger CRS): fine for a
plausibility check, never for official figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..landcover import open_raster
from ..report import Report

STRIP_ROWS = 1024


def landcover_parts(path: Path, year: int, xzq, units, classes: dict,
                    report: Report) -> pd.DataFrame | None:
    """Cropland and built-up area (m²) per county-level unit from one raster.

    Parameters
    ----------
    xzq : GeoDataFrame
        Unit polygons (XZQDM, geometry).
    units : UnitSet
        Zones are burnt last so they take their pixels from the host county.
    classes : dict
        ``{"cropland": (values…), "built": (values…)}`` from ``[landcover]``.
    """
    from rasterio import features, windows

    cropland = tuple(classes.get("cropland", ()))
    built = tuple(classes.get("built", ()))
    if not cropland and not built:
        report.warning("LANDCOVER", "no-class-map", "[landcover] names no cropland or built values; "
                       "landcover_* metrics are empty.", year=year)
        return None
    dataset = open_raster(path, year, report)
    if dataset is None:
        return None
    with dataset:
        polygons = xzq[["XZQDM", "geometry"]]
        if dataset.crs is not None and polygons.crs is not None:
            polygons = polygons.to_crs(dataset.crs.to_wkt())
        codes = list(units.codes)
        order = [c for c in codes if c not in units.zones] + [c for c in codes if c in units.zones]
        by_code = dict(zip(polygons["XZQDM"].astype(str), polygons.geometry, strict=True))
        shapes = [(by_code[c], codes.index(c) + 1) for c in order if c in by_code]
        transform = dataset.transform
        pixel_m2 = abs(transform.a * transform.e - transform.b * transform.d)
        n_units = len(codes) + 1
        counts = np.zeros((2, n_units))
        for row in range(0, dataset.height, STRIP_ROWS):
            window = windows.Window(0, row, dataset.width, min(STRIP_ROWS, dataset.height - row))
            values = dataset.read(1, window=window)
            unit_index = features.rasterize(shapes, out_shape=values.shape,
                                            transform=windows.transform(window, transform),
                                            fill=0, dtype="int32")
            for i, wanted in enumerate((cropland, built)):
                if wanted:
                    hit = np.isin(values, wanted)
                    counts[i] += np.bincount(unit_index[hit], minlength=n_units)
    out = pd.DataFrame({"landcover_cropland_m2": counts[0, 1:] * pixel_m2,
                        "landcover_built_m2": counts[1, 1:] * pixel_m2},
                       index=pd.Index(codes, dtype=object, name="unit"))
    if not cropland:
        out["landcover_cropland_m2"] = np.nan
    if not built:
        out["landcover_built_m2"] = np.nan
    return out
