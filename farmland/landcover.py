"""Classified land-cover rasters (remote-sensing monitoring), read with rasterio.

The raster is a cross-check of the survey: cropland and built-up pixel areas per unit. Pixel
areas are planar (cell size squared in the raster's Gauss-Krüger CRS), which is adequate for a
plausibility check but never for official figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .crs import check_crs
from .errors import CRSError
from .report import Report
from .workspace import Workspace


def open_raster(path: Path, year, report: Report):
    """Open a raster or record an error naming the file; returns a rasterio dataset or None."""
    import rasterio

    try:
        return rasterio.open(path)
    except Exception as exc:  # rasterio raises RasterioIOError and friends
        report.error("LANDCOVER", "unreadable-file", f"cannot read raster {path} ({str(exc)[:160]}). "
                     "The file may be truncated or not a GeoTIFF; re-export it.", file=path, year=year)
        return None


def check_raster(ws: Workspace, path: Path, year, report: Report) -> bool:
    """Check one land-cover raster: readable, one integer band, CGCS2000 Gauss-Krüger, classes found."""
    dataset = open_raster(path, year, report)
    if dataset is None:
        return False
    with dataset:
        if dataset.count != 1 or not np.issubdtype(np.dtype(dataset.dtypes[0]), np.integer):
            report.error("LANDCOVER", "bad-raster", f"{path.name} must have one band of integer classes "
                         f"(found {dataset.count} band(s) of {dataset.dtypes[0]}).", file=path, year=year)
            return False
        if dataset.crs is None:
            report.error("LANDCOVER", "missing-crs", f"{path.name} has no CRS; georeference it in CGCS2000 "
                         "Gauss-Krüger (e.g. EPSG:4527).", file=path, year=year)
            return False
        try:
            check_crs(dataset.crs.to_wkt())
        except CRSError as exc:
            report.error("LANDCOVER", "bad-crs", f"{path.name}: {exc}", file=path, year=year)
            return False
        if not ws.landcover_classes:
            report.warning("LANDCOVER", "no-class-map", "[landcover] is missing: say which raster values "
                           "mean cropland and built-up, e.g. cropland = [1], built = [2].", file=path,
                           year=year)
    return True
