"""Writing the sample's files reproducibly: GeoPackages, GeoTIFFs and CSVs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio

FIXED_TIMESTAMP = "2021-01-01T00:00:00Z"
"""Written into GeoPackage metadata instead of the wall-clock time, so reruns are byte-identical."""


@contextlib.contextmanager
def reproducible_gdal():
    """Pin GDAL's notion of "now" (``OGR_CURRENT_DATE``) while writing, and restore it after."""
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_TIMESTAMP})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def date_column(days: np.ndarray) -> pd.Series:
    """numpy ``datetime64[D]`` → a pandas column that GDAL writes as a Date (not DateTime) field."""
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(np.asarray(days, dtype="datetime64[D]"))))


def int_column(values) -> pd.Series:
    """Nullable 32-bit integers (NaN → null), e.g. GDDB which only arable parcels carry."""
    values = np.asarray(values, dtype=float)
    out = pd.array(np.where(np.isnan(values), 0, values).astype("int32"), dtype="Int32")
    out[np.isnan(values)] = pd.NA
    return pd.Series(out)


def text_column(values) -> pd.Series:
    """Text with nulls where the value is None (never the string 'None')."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def write_gpkg(path: Path, layer: str, columns: dict, geoms, epsg: int, *, multi: bool = False) -> None:
    """Write one layer (appending to the GeoPackage when it already holds other layers)."""
    frame = pd.DataFrame({name: (col.reset_index(drop=True) if isinstance(col, pd.Series) else col)
                          for name, col in columns.items()})
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(np.asarray(geoms, dtype=object)), crs=f"EPSG:{epsg}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # No R-tree: readers scan whole layers anyway, and the index is ~15 % of a county database.
    pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", use_arrow=True, promote_to_multi=multi,
                            layer_options={"SPATIAL_INDEX": "NO"})


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """UTF-8 CSV with '\\n' line ends on every platform (byte-identical reruns)."""
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
