"""A synthetic "province": N counties stored as partitioned GeoParquet (issue 10, scale-out).

The counties are simulated exactly as the sample city's are (:class:`._county.CountySimulation`:
base-year parcels, five years of changes consistent with the snapshots, basic farmland,
approvals, monitoring, projects), on square outlines laid out in a grid, with the knobs of the
eight Liaocheng counties taken in turn. Every county-level layer is one GeoParquet file per
county (and year), in a folder named by the county's code::

    counties/<xzqdm>/DLTB_<year>.parquet      JBNTTB_<year>.parquet   DLTBGXGC_<year>.parquet
    counties/<xzqdm>/WPZF_<year>.parquet      JSYDSP.parquet          GBZNT.parquet

so the workspace's glob templates (``counties/*/DLTB_{year}.parquet``) read all of them and the
Dask path (:mod:`farmland.distributed`) gives each county's folder to one task. XZQ, the CSV
tables and the land-cover rasters are province-wide, as in the sample city.
"""

from __future__ import annotations

import math
import shutil
import uuid
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..errors import OutputError
from ..landclass import LandClassTable
from ..units import M2_TO_MU
from . import _tables as T
from ._city import LandcoverCanvas, solve_targets, write_tables
from ._county import CountySimulation
from ._io import int_column, text_column, write_csv

COUNTY_SIDE_M = 30_000.0
"""Side of a county's square outline (900 km², about a Liaocheng county), a multiple of the
250 m land-cover pixel so no pixel centre lies on a county border."""
ORIGIN = (39_350_000.0, 3_990_000.0)
"""South-west corner of the grid in EPSG:4527 (CGCS2000 GK zone 39, prefixed eastings)."""
ARABLE_SHARE = 0.62
"""Gross arable share of a county of mean arable weight (Liaocheng: about 0.63)."""
PROVINCE_CODE = "370000"
MAX_COUNTIES = 99

__all__ = ["generate_province", "province_codes"]


def province_codes(counties: int) -> list[str]:
    """The county codes of a province of ``counties`` counties: 379001, 379002, …"""
    return [f"3790{i + 1:02d}" for i in range(counties)]


def generate_province(outdir, *, counties: int = 30, parcels: int = 30_000, seed: int = 0,
                      overwrite: bool = False) -> Path:
    """Write a synthetic province of ``counties`` counties as partitioned GeoParquet.

    Parameters
    ----------
    outdir : path
        Folder to create (written beside it and renamed into place).
    counties : int, default 30
        Number of counties, 1–99.
    parcels : int, default 30 000
        About how many base-year parcels in all, split evenly; at least 100 per county.
    seed : int, default 0
    overwrite : bool, default False
        Replace an existing province folder (one with ``farmland.toml``).

    Returns
    -------
    pathlib.Path
        ``outdir``, a workspace: ``farmland assess OUTDIR`` (or ``--workers N``) reads it.
    """
    if isinstance(counties, bool) or not isinstance(counties, (int, np.integer)) or not 1 <= counties <= MAX_COUNTIES:
        raise ValueError(f"counties must be an integer from 1 to {MAX_COUNTIES} (got {counties!r}).")
    if isinstance(parcels, bool) or not isinstance(parcels, (int, np.integer)) or parcels < 100 * counties:
        raise ValueError(f"parcels must be an integer ≥ 100 per county ({100 * counties}; got {parcels!r}).")
    outdir = Path(outdir)
    if outdir.exists() and not (overwrite and (outdir / "farmland.toml").is_file()):
        raise OutputError(f"{outdir} already exists; pass overwrite=True to replace a province written before.")
    outdir.parent.mkdir(parents=True, exist_ok=True)
    partial = outdir.parent / f".{outdir.name}.partial-{uuid.uuid4().hex[:12]}"
    partial.mkdir()
    try:
        _generate(partial, int(counties), int(parcels), int(seed))
        if outdir.exists():
            shutil.rmtree(outdir)
        partial.rename(outdir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return outdir


def _specs(n: int) -> list[T.CountySpec]:
    return [replace(T.COUNTIES[i % len(T.COUNTIES)], index=i, xzqdm=code, name=f"示例县{i + 1:02d}",
                    cnmaps_code="", epsg=T.COMMON_EPSG)
            for i, code in enumerate(province_codes(n))]


def _outlines(n: int) -> list[shapely.Geometry]:
    columns = math.ceil(math.sqrt(n))
    x0, y0 = ORIGIN
    return [shapely.box(x0 + (i % columns) * COUNTY_SIDE_M, y0 + (i // columns) * COUNTY_SIDE_M,
                        x0 + (i % columns + 1) * COUNTY_SIDE_M, y0 + (i // columns + 1) * COUNTY_SIDE_M)
            for i in range(n)]


def _generate(root: Path, n: int, parcels: int, seed: int) -> None:
    from ..area import ellipsoidal_area
    from . import _split_count

    table = LandClassTable.default()
    specs, outlines = _specs(n), _outlines(n)
    area = np.asarray(ellipsoidal_area(np.asarray(outlines, dtype=object), f"EPSG:{T.COMMON_EPSG}"), dtype=float)
    counts = _split_count(parcels, area)
    weights = np.array([s.arable_weight for s in specs])
    goals = ARABLE_SHARE * area * weights / weights.mean()
    mean_margin = float(np.average([s.arable_margin for s in specs], weights=goals))
    mean_bf_margin = float(np.average([s.bf_margin for s in specs], weights=goals))
    bf_share = T.BASIC_FARMLAND_TARGET_MU / T.ARABLE_TARGET_MU * (1 + mean_bf_margin) / (1 + mean_margin)
    canvas = LandcoverCanvas(shapely.total_bounds(np.asarray(outlines, dtype=object)))

    results = []
    for spec, outline, count, goal in zip(specs, outlines, counts, goals, strict=True):
        sim = CountySimulation(spec, outline, int(count), float(goal), bf_share, seed, root, table, canvas,
                               ellipsoidal_area)
        result = sim.run()
        _county_to_parquet(root / "counties" / spec.xzqdm, result)
        results.append(result)

    rng = np.random.default_rng([seed, 104729])
    _write_xzq(root, results, outlines)
    ratios = _ratios(results)
    canvas.write(root)
    totals = _write_targets(root, results)
    write_tables(root, results, ratios, rng)
    (root / "farmland.toml").write_text(_workspace_toml(*totals), encoding="utf-8", newline="\n")
    (root / "README.md").write_text(
        f"# 示例省 — synthetic province of {n} counties (not official data)\n\n"
        f"Generated by `farmland.sample.generate_province(counties={n}, parcels={parcels}, seed={seed})`.\n"
        "Each county's layers are GeoParquet files in `counties/<xzqdm>/`; see farmland/sample/_province.py.\n",
        encoding="utf-8", newline="\n")


_LAYERS = {"DLTB": "DLTB", "YJJBNTTB": "JBNTTB", "DLTBGXGC": "DLTBGXGC"}


def _county_to_parquet(folder: Path, result) -> None:
    """The simulation's county databases (GeoPackage) as one GeoParquet file per layer and year,
    and the county's approvals, monitoring parcels and projects beside them."""
    for year in T.YEARS:
        database = folder / f"bgdc_{year}.gpkg"
        present = {str(name) for name in pyogrio.list_layers(database)[:, 0]}
        for layer, name in _LAYERS.items():
            if layer in present:
                pyogrio.read_dataframe(database, layer=layer).to_parquet(folder / f"{name}_{year}.parquet")
        database.unlink()
    crs = f"EPSG:{T.COMMON_EPSG}"
    a = _frames(result.approvals)
    _write_parquet(folder / "JSYDSP.parquet", {
        "PZWH": text_column(a.get("PZWH", [])), "XMMC": text_column(a.get("XMMC", [])),
        # a timestamp, not Arrow's date32: farmland's GeoParquet reader does not parse date32 yet
        "PZRQ": pd.Series(a["PZRQ"].to_numpy() if len(a) else [], dtype="datetime64[ms]"),
        "XZQDM": text_column(a.get("XZQDM", [])), "PZMJ": _floats(a, "PZMJ"), "ZYGDMJ": _floats(a, "ZYGDMJ"),
    }, a, crs)
    for year in T.YEARS[1:]:
        w = _frames([f for f in result.wpzf if len(f) and int(f["JCNF"].iloc[0]) == year])
        _write_parquet(folder / f"WPZF_{year}.parquet", {
            "JCBH": text_column(w.get("JCBH", [])), "XZQDM": text_column(w.get("XZQDM", [])),
            "JCNF": int_column(w["JCNF"] if len(w) else []), "XZJSYDMJ": _floats(w, "XZJSYDMJ"),
            "ZYGDMJ": _floats(w, "ZYGDMJ"), "WFZYGDMJ": _floats(w, "WFZYGDMJ"),
            "HFXSC": text_column(w.get("HFXSC", [])),
        }, w, crs)
    h = _frames(result.hsf)
    _write_parquet(folder / "GBZNT.parquet", {
        "XMBH": text_column(h.get("XMBH", [])), "XMMC": text_column(h.get("XMMC", [])),
        "XZQDM": text_column(h.get("XZQDM", [])), "JSNF": int_column(h["JSNF"] if len(h) else []),
        "JSMJ": _floats(h, "JSMJ"),
    }, h, crs)


def _frames(frames) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(float) if len(frame) else np.empty(0)


def _write_parquet(path: Path, columns: dict, frame: pd.DataFrame, crs: str) -> None:
    data = pd.DataFrame({name: (col.reset_index(drop=True) if isinstance(col, pd.Series) else col)
                         for name, col in columns.items()})
    for name in data.columns:  # an empty text column would be stored as Arrow's null type
        if data[name].dtype == object:
            data[name] = data[name].astype("string")
    geoms = frame["geometry"].to_numpy(object) if len(frame) else np.empty(0, dtype=object)
    gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms), crs=crs).to_parquet(path)


def _ratios(results) -> dict:
    """{(xzqdm, year): (occupied m², illegal m², ratio)} of the monitoring, for the events table."""
    ratios = {}
    for r in results:
        for year in T.YEARS[1:]:
            w = _frames([f for f in r.wpzf if len(f) and int(f["JCNF"].iloc[0]) == year])
            if len(w):
                occ, ill = float(w["ZYGDMJ"].sum()), float(w["WFZYGDMJ"].sum())
                ratios[(r.spec.xzqdm, year)] = (occ, ill, ill / occ if occ > 0 else math.nan)
    return ratios


def _write_xzq(root: Path, results, outlines) -> None:
    frame = gpd.GeoDataFrame({
        "XZQDM": pd.array([r.spec.xzqdm for r in results], dtype="string"),
        "XZQMC": pd.array([r.spec.name for r in results], dtype="string"),
        "KZMJ": [r.kzmj for r in results],
    }, geometry=gpd.GeoSeries(outlines), crs=f"EPSG:{T.COMMON_EPSG}")
    frame.to_parquet(root / "xzq.parquet")


def _write_targets(root: Path, results) -> tuple[int, int]:
    """targets.csv solved (as the city's) to add up to province totals a little under the 2020 areas."""
    last = T.PERIOD[1]
    totals = []
    columns = {}
    for name, areas, margin in (("arable_target_mu", "arable_m2", "arable_margin"),
                                ("basic_farmland_target_mu", "bf_m2", "bf_margin")):
        actual = {r.spec.xzqdm: getattr(r, areas)[last] * M2_TO_MU for r in results}
        margins = {r.spec.xzqdm: getattr(r.spec, margin) for r in results}
        total = int(sum(actual.values()) / (1 + float(np.mean(list(margins.values())))))
        columns[name] = solve_targets(actual, margins, total)
        totals.append(total)
    frame = pd.DataFrame({"xzqdm": [r.spec.xzqdm for r in results], "xzqmc": [r.spec.name for r in results],
                          **{name: [values[r.spec.xzqdm] for r in results] for name, values in columns.items()}})
    for i, year in enumerate(range(T.PERIOD[0], last + 1)):
        frame[f"hsf_task_mu_{year}"] = [
            int(max(100, round(r.hsf_built_m2[year] * M2_TO_MU / r.spec.hsf_completion[i] / 100) * 100))
            for r in results]
    write_csv(root / "targets.csv", frame)
    return totals[0], totals[1]


def _workspace_toml(arable_mu: int, bf_mu: int) -> str:
    return f"""\
# 示例省 — synthetic province (farmland.sample.generate_province; not official data)
[city]
code = "{PROVINCE_CODE}"
name = "示例省"
arable_target_mu = {arable_mu}
basic_farmland_target_mu = {bf_mu}

[period]
start = {T.PERIOD[0]}
end = {T.PERIOD[1]}
base_year = {T.BASE_YEAR}

[targets]
path = "targets.csv"

[layers]            # one GeoParquet file per county (and year): counties/<xzqdm>/
XZQ       = "xzq.parquet"
DLTB      = "counties/*/DLTB_{{year}}.parquet"
JBNTTB    = "counties/*/JBNTTB_{{year}}.parquet"
DLTBGXGC  = "counties/*/DLTBGXGC_{{year}}.parquet"
JSYDSP    = "counties/*/JSYDSP.parquet"
WPZF      = "counties/*/WPZF_{{year}}.parquet"
GBZNT     = "counties/*/GBZNT.parquet"
ZBPH      = "zbph.csv"
CHECKLIST = "checklist.csv"
LANDCOVER = "landcover_{{year}}.tif"
EVENTS    = "events.csv"
CITYSTATS = "city_stats.csv"

[landcover]
cropland = [1]
built = [2]
"""
