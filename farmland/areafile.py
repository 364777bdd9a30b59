"""Add the statutory ellipsoidal area to every feature of a file (``farmland area``)."""

from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio

from .area import ellipsoidal_area
from .crs import check_crs, infer_crs_from_eastings
from .errors import CRSError, DataFileError, OutputError
from .output import atomic_path, check_target
from .report import Report
from .workspace import split_source

_DRIVERS = {
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gdb": "OpenFileGDB",
}


@dataclass(frozen=True)
class AreaSummary:
    features: int
    total_m2: float
    crs_name: str
    empty: int
    largest_gap_vs_tbmj: float | None
    """Largest |area − TBMJ| / TBMJ when the input has TBMJ, else None."""


def add_area_column(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    field: str = "area_m2",
    rounding: str = "area",
    overwrite: bool = False,
    report: Report | None = None,
) -> AreaSummary:
    """Read ``source`` (``file`` or ``file:layer``), add ``field`` = ellipsoidal area in m², write ``output``.

    All attributes are kept; ``rounding`` is passed to :func:`~farmland.area.ellipsoidal_area`. The CRS must be CGCS2000 Gauss-Krüger; a missing CRS is inferred
    from 8-digit eastings with a warning. The output format follows its suffix (.gpkg, .shp,
    .fgb, .geojson, .gdb or .parquet) and is written atomically.
    """
    report = report if report is not None else Report(strict=True)
    path_text, layer = split_source(str(source))
    path = Path(path_text)
    if not path.exists():
        raise DataFileError(f"{path} does not exist.")
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix != ".parquet" and suffix not in _DRIVERS:
        raise OutputError(f"cannot write {output.name}: use .gpkg, .shp, .fgb, .geojson, .gdb or .parquet.")
    # The input file (with a shapefile's sidecars) is never an output, whatever its other layers.
    inputs = [path, *path.parent.glob(glob.escape(path.stem) + ".*")] if path.suffix.lower() == ".shp" else [path]
    check_target(output, overwrite=overwrite, inputs=inputs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            info = pyogrio.read_info(path, layer=layer)
            frame = pyogrio.read_dataframe(path, layer=layer, use_arrow=True)
        except Exception as exc:
            raise DataFileError(f"cannot read {source} ({str(exc).splitlines()[0][:200]}). Name the layer as "
                                "FILE:LAYER if the file holds several; re-export it if it is damaged.") from None
    for warning in caught:
        report.warning("area", "reader-warning", f"{path.name}: {str(warning.message).splitlines()[0][:200]}")
    if info.get("geometry_type") in (None, "None") or "geometry" not in getattr(frame, "columns", ()):
        raise DataFileError(f"{path.name} has no geometries (a table such as a CSV?); farmland area needs a "
                            "polygon layer (GeoPackage, Shapefile, FileGDB, FlatGeobuf, GeoJSON, GeoParquet).")
    if frame.crs is None:
        crs = infer_crs_from_eastings(info.get("total_bounds"))
        if crs is None:
            raise CRSError(f"{path.name} has no CRS and its eastings carry no zone prefix; add a .prj "
                           "(e.g. EPSG:4527 for zone 39) before computing areas.")
        report.warning("area", "crs-inferred", f"{path.name} has no CRS; {crs.name} was inferred from its "
                       "8-digit eastings.")
        frame = frame.set_crs(crs)
    else:
        crs = check_crs(frame.crs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        area = ellipsoidal_area(frame.geometry.values, crs, rounding=rounding)
    for warning in caught:
        report.warning("area", "area-warning", f"{path.name}: {str(warning.message).splitlines()[0][:200]}")
    gap = None
    tbmj_col = next((c for c in frame.columns if c.upper() == "TBMJ"), None)
    if tbmj_col is not None:
        tbmj = np.asarray(frame[tbmj_col], dtype="float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.abs(area - tbmj) / tbmj
        gap = float(np.nanmax(rel)) if np.isfinite(rel).any() else None
    frame[field] = area

    with atomic_path(output, overwrite=overwrite, inputs=inputs) as tmp:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            pyogrio.write_dataframe(frame, tmp, layer=layer or info.get("layer_name") or path.stem,
                                    driver=_DRIVERS[suffix], encoding="UTF-8" if suffix == ".shp" else None)
    return AreaSummary(
        features=len(frame),
        total_m2=float(np.nansum(area)),
        crs_name=crs.name,
        empty=int(np.isnan(area).sum()),
        largest_gap_vs_tbmj=gap,
    )
