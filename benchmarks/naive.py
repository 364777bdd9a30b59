"""The main assessment figures computed the straightforward geopandas way, as a user would write them.

This is the "(b) straightforward version" of ``benchmarks/bench_assess.py``: no farmland code
except the packaged land-class table (a CSV a user would copy), one county file at a time,
``geopandas.read_file``, ``to_crs``, a per-geometry ``pyproj.Geod`` area, ``geopandas.overlay``
and ``rasterio.mask`` per county. It is meant to be honest and readable, not fast, and it
computes only the main figures per county and year:

* arable area: Σ TBDLMJ of arable parcels (011/012/013, 0101/0102/0103), in 亩;
* basic farmland: Σ YJJBNTMJ (JBNTMJ in the older layer), in 亩;
* WPZF: Σ ZYGDMJ (occupied), Σ WFZYGDMJ (illegal) and the ≥ 15 % flag;
* derived occupation: change pieces arable → construction (net of 田坎), overlaid with the
  approvals in force at the change date (``geopandas.overlay``): derived occupied / illegal;
* the ellipsoidal area of every DLTB parcel: ``to_crs(EPSG:4490)`` then
  ``Geod(ellps="GRS80").geometry_area_perimeter`` per geometry (geodesic edges, no densification);
* land cover: cropland and built-up area per XZQ unit by ``rasterio.mask`` on the year's raster.

Development zones are not attributed by geometry here (every parcel counts for the county whose
database holds it), and the city's zone-38 county is reprojected to the approvals' CRS for the
overlay. Usage (the benchmark runs it in a fresh process)::

    python benchmarks/naive.py WORKSPACE_DIR
"""

from __future__ import annotations

import sys
import time
import tomllib
from collections import defaultdict
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio
import rasterio.mask

M2_PER_MU = 10_000 / 15  # 1 亩 = 666.67 m²


def land_class_sets() -> tuple[set[str], set[str]]:
    """Arable and construction codes of both schemes, from the packaged land-class table."""
    with resources.files("farmland.data").joinpath("landclass.csv").open(encoding="utf-8") as fh:
        table = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return (set(table.loc[table["group"] == "arable", "code"]),
            set(table.loc[table["group"] == "construction", "code"]))


def source(config: dict, name: str, year: int) -> tuple[str, str | None]:
    """``farmland.toml``'s ``[layers]`` entry as (path pattern, layer name)."""
    spec = config["layers"][name]
    spec = spec["source"] if isinstance(spec, dict) else spec
    path, _, layer = spec.replace("{year}", str(year)).partition(":")
    return path, layer or None


def run(root: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    config = tomllib.loads((root / "farmland.toml").read_text(encoding="utf-8"))
    period = config["period"]
    years = range(period["base_year"], period["end"] + 1)
    arable, construction = land_class_sets()
    geod = pyproj.Geod(ellps="GRS80")  # CGCS2000 uses the GRS80 ellipsoid
    clock: dict[str, float] = defaultdict(float)

    def timed(what, fn, *args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        clock[what] += time.perf_counter() - start
        return out

    path, layer = source(config, "XZQ", 0)
    xzq = timed("read_file", gpd.read_file, root / path, layer=layer)
    path, layer = source(config, "JSYDSP", 0)
    approvals = timed("read_file", gpd.read_file, root / path, layer=layer)
    approvals["PZRQ"] = pd.to_datetime(approvals["PZRQ"])
    cropland, built = config["landcover"]["cropland"], config["landcover"]["built"]

    rows = []
    for year in years:
        path, layer = source(config, "WPZF", year)
        wpzf = timed("read_file", gpd.read_file, root / path, layer=layer) if (root / path).exists() else None
        pattern, _ = source(config, "DLTB", year)
        for county_file in sorted(root.glob(pattern)):
            row = {"year": year, "file": str(county_file.relative_to(root))}
            dltb = timed("read_file", gpd.read_file, county_file, layer="DLTB")
            code = str(dltb["ZLDWDM"].iloc[0])[:6]
            row["xzqdm"] = code
            row["arable_mu"] = dltb.loc[dltb["DLBM"].isin(arable), "TBDLMJ"].sum() / M2_PER_MU

            # Ellipsoidal area of every parcel, one geometry at a time.
            lonlat = timed("to_crs", dltb.to_crs, "EPSG:4490")
            start = time.perf_counter()
            areas = [abs(geod.geometry_area_perimeter(g)[0]) for g in lonlat.geometry]
            clock["geod_area"] += time.perf_counter() - start
            row["dltb_geod_area_mu"] = sum(areas) / M2_PER_MU
            row["dltb_area_max_rel_diff"] = float(np.max(np.abs(np.array(areas) / dltb["TBMJ"] - 1)))

            bf = timed("read_file", gpd.read_file, county_file, layer="YJJBNTTB")
            net = "YJJBNTMJ" if "YJJBNTMJ" in bf.columns else "JBNTMJ"
            row["basic_farmland_mu"] = bf[net].sum() / M2_PER_MU

            if wpzf is not None:
                mine = wpzf[wpzf["XZQDM"].astype(str) == code]
                occupied, illegal = mine["ZYGDMJ"].sum(), mine["WFZYGDMJ"].sum()
                row["construction_on_arable_mu"] = occupied / M2_PER_MU
                row["illegal_arable_mu"] = illegal / M2_PER_MU
                row["illegal_ratio"] = illegal / occupied if occupied > 0 else np.nan
                row["illegal_ratio_flag"] = bool(illegal / occupied >= 0.15) if occupied > 0 else illegal > 0

            if year > period["base_year"]:
                changes = timed("read_file", gpd.read_file, county_file, layer="DLTBGXGC")
                pieces = changes[changes["BGQDLBM"].isin(arable) & changes["BGHDLBM"].isin(construction)].copy()
                pieces["net_m2"] = pieces["TBBGMJ"] * (1 - pieces["BGQKCXS"].fillna(0))
                pieces["piece"] = np.arange(len(pieces))
                pieces["GXSJ"] = pd.to_datetime(pieces["GXSJ"])
                pieces = timed("to_crs", pieces.to_crs, approvals.crs)
                pieces["piece_m2"] = pieces.area
                cut = timed("overlay", gpd.overlay, pieces[["piece", "GXSJ", "net_m2", "piece_m2", "geometry"]],
                            approvals[["PZRQ", "geometry"]], how="intersection", keep_geom_type=True)
                cut = cut[cut["PZRQ"] <= cut["GXSJ"]]  # approvals in force at the change date
                approved = cut.area.groupby(cut["piece"]).sum()
                share = (approved.reindex(pieces["piece"]).fillna(0).to_numpy()
                         / pieces["piece_m2"].to_numpy()).clip(0, 1)
                derived = pieces["net_m2"].sum()
                derived_illegal = (pieces["net_m2"].to_numpy() * (1 - share)).sum()
                row["derived_construction_on_arable_mu"] = derived / M2_PER_MU
                row["derived_illegal_arable_mu"] = derived_illegal / M2_PER_MU
                row["derived_illegal_ratio"] = derived_illegal / derived if derived > 0 else np.nan
            rows.append(row)

        # Land cover per XZQ unit: mask the year's raster with each unit's polygon.
        path, _ = source(config, "LANDCOVER", year)
        if (root / path).exists():
            start = time.perf_counter()
            with rasterio.open(root / path) as raster:
                units = xzq.to_crs(raster.crs)
                cell_m2 = abs(raster.transform.a * raster.transform.e)
                for code, geom in zip(units["XZQDM"], units.geometry, strict=True):
                    pixels, _ = rasterio.mask.mask(raster, [geom], crop=True, filled=False)
                    values = pixels[0].compressed()
                    rows.append({"year": year, "xzqdm": code, "file": path,
                                 "landcover_cropland_mu": np.isin(values, cropland).sum() * cell_m2 / M2_PER_MU,
                                 "landcover_built_mu": np.isin(values, built).sum() * cell_m2 / M2_PER_MU})
            clock["rasterio_mask"] += time.perf_counter() - start
    figures = pd.DataFrame(rows).groupby(["year", "xzqdm"], as_index=False).first()
    return figures, dict(clock)


def main(argv=None) -> None:
    root = Path((argv or sys.argv[1:])[0])
    start = time.perf_counter()
    figures, clock = run(root)
    total = time.perf_counter() - start
    city = figures.groupby("year")[["arable_mu", "basic_farmland_mu"]].sum()
    print(city.to_string(float_format=lambda v: f"{v:,.2f}"))
    print(f"{total:.1f} s; " + ", ".join(f"{k} {v:.1f} s" for k, v in clock.items()))


if __name__ == "__main__":
    main()
