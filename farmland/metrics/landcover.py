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
    """Area (m²) of each [landcover] class per county-level unit from one raster.

    Columns ``landcover_<class>_m2``: cropland and built always (empty when not mapped), then
    every further class the workspace names (water, forest …), reported as ``landcover.<class>``.

    Parameters
    ----------
    xzq : GeoDataFrame
        Unit polygons (XZQDM, geometry).
    units : UnitSet
        Zones are burnt last so they take their pixels from the host county.
    classes : dict
        ``{"cropland": (values…), "built": (values…), …}`` from ``[landcover]``.
    """
    from rasterio import features, windows

    # cropland and built first (the metrics the rules use), then any further class of [landcover].
    names = ["cropland", "built", *sorted(set(classes) - {"cropland", "built"})]
    wanted_by_name = {name: tuple(classes.get(name, ())) for name in names}
    if not any(wanted_by_name.values()):
        report.warning("LANDCOVER", "no-class-map", "[landcover] names no class values; landcover_* metrics "
                       "are empty.", year=year)
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
        counts = np.zeros((len(names), n_units))
        for row in range(0, dataset.height, STRIP_ROWS):
            window = windows.Window(0, row, dataset.width, min(STRIP_ROWS, dataset.height - row))
            values = dataset.read(1, window=window)
            unit_index = features.rasterize(shapes, out_shape=values.shape,
                                            transform=windows.transform(window, transform),
                                            fill=0, dtype="int32")
            for i, wanted in enumerate(wanted_by_name.values()):
                if wanted:
                    hit = np.isin(values, wanted)
                    counts[i] += np.bincount(unit_index[hit], minlength=n_units)
    out = pd.DataFrame({f"landcover_{name}_m2": counts[i, 1:] * pixel_m2 if wanted_by_name[name] else np.nan
                        for i, name in enumerate(names)},
                       index=pd.Index(codes, dtype=object, name="unit"))
    return out
