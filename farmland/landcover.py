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


def open_raster(path: Path, year, report: Report):
    """Open a raster or record an error naming the file; returns a rasterio dataset or None."""
    import rasterio

    try:
        return rasterio.open(path)
    except Exception as exc:  # rasterio raises RasterioIOError and friends
        report.error("LANDCOVER", "unreadable-file", f"cannot read raster {path} ({str(exc)[:160]}). "
                     "The file may be truncated or not a GeoTIFF; re-export it.", file=path, year=year)
        return None


def check_raster(store, path: Path, year, report: Report) -> bool:
    """Check one land-cover raster: readable, one integer band, CGCS2000 Gauss-Krüger, classes found.

    ``store``: the run's :class:`~farmland.load.LayerStore` (the units' extent comes from its XZQ).
    """
    ws = store.ws
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
        return _check_content(store, dataset, path, year, report)
    return True


#: Fewer cells than this cannot describe a county (a 1-pixel or 1-row export is a broken file).
MIN_CELLS = 4
#: Cells read to judge a raster's content: a decimated view, so a city-wide raster costs little.
SAMPLE_SHAPE = 1024


def _check_content(store, dataset, path: Path, year, report: Report) -> bool:
    """A raster that says nothing is an error, not an empty figure: too few cells, no data at all,
    nowhere near the city's units, or none of the configured classes."""
    from rasterio.enums import Resampling

    ws = store.ws
    if dataset.width * dataset.height < MIN_CELLS:
        report.error("LANDCOVER", "degenerate-raster", f"{path.name} has {dataset.width}×{dataset.height} cells; "
                     "a land-cover raster must cover the city. Re-export the classification.", file=path, year=year)
        return False
    shape = (min(dataset.height, SAMPLE_SHAPE), min(dataset.width, SAMPLE_SHAPE))
    cells = dataset.read(1, out_shape=shape, masked=True, resampling=Resampling.nearest)
    if cells.mask.all():
        report.error("LANDCOVER", "empty-raster", f"{path.name} holds only nodata cells "
                     f"(nodata = {dataset.nodata}); re-export the classification or fix its nodata value.",
                     file=path, year=year)
        return False
    units = _units_bounds(store, dataset.crs)
    if units is not None:
        left, bottom, right, top = dataset.bounds
        ux0, uy0, ux1, uy1 = units
        overlap = max(0.0, min(right, ux1) - max(left, ux0)) * max(0.0, min(top, uy1) - max(bottom, uy0))
        share = overlap / max((ux1 - ux0) * (uy1 - uy0), 1e-9)
        if share == 0:
            report.error("LANDCOVER", "off-site-raster", f"{path.name} lies outside the city's units (raster "
                         f"bounds {tuple(round(v) for v in dataset.bounds)}, units "
                         f"{tuple(round(v) for v in units)} in {dataset.crs}); check its CRS and extent.",
                         file=path, year=year)
            return False
        if share < 0.5:
            report.warning("LANDCOVER", "partial-raster", f"{path.name} covers only {share:.0%} of the city's "
                           "extent; land-cover figures of units outside it will be too low.", file=path, year=year)
    wanted = sorted({v for values in ws.landcover_classes.values() for v in values})
    if wanted and not np.isin(cells.compressed(), wanted).any():
        report.warning("LANDCOVER", "no-known-class", f"{path.name} has none of the classes of [landcover] "
                       f"({', '.join(map(str, wanted))}) in a {shape[0]}×{shape[1]} sample of its cells; check "
                       "the class map.", file=path, year=year)
    return True


def _units_bounds(store, crs) -> tuple[float, float, float, float] | None:
    """Bounds of the XZQ units in ``crs`` (None when they cannot be read: XZQ has its own checks)."""
    from rasterio.warp import transform_bounds

    try:
        units = store.layer("XZQ", columns=["XZQDM"])
    except Exception:  # noqa: BLE001 - XZQ's problems are reported by its own checks
        return None
    if units is None or not len(units) or units.crs is None:
        return None
    return transform_bounds(units.crs, crs, *units.total_bounds)
