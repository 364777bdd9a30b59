"""Benchmark farmland's two overlays against ``geopandas.overlay`` on the same inputs (issue 10).

Run from the repository root (the city is generated once by ``bench_assess.py`` or
``farmland sample DIR --parcels 300000 --seed 0``)::

    python benchmarks/bench_overlay.py                                  # benchmarks/_data/city_300000_s0
    python benchmarks/bench_overlay.py --workspace DIR --year 2020 --repeat 3

The issue's target: overlays only where a question needs them, each at most 0.35× of
``geopandas.overlay(..., how="intersection")`` on the same inputs. The two questions, with the
inputs the audit reads for the year (``farmland.audit.data.AuditData``, one CRS):

* **BF × construction-class parcels** — the year's basic farmland (JBNTTB) against the DLTB
  parcels it must not lie on (construction land, 园地/林地/坑塘/设施农用地, non-grain, abandoned):
  farmland's :func:`~farmland.metrics.occupation.overlaps_in_partition`, as
  ``farmland.audit.basic_farmland`` calls it, with the areas of the overlaps.
* **changes × approvals** — the year's change pieces arable → construction against the
  construction-land approvals (JSYDSP): :func:`~farmland.metrics.occupation.approval_share`, as
  the metrics and the audit call it (the legal share of each piece: approvals in force at the
  change date, overlapping approvals unioned).

Each side is timed alone (median of ``--repeat`` runs, STRtree/spatial index built inside the
timing on both sides); geopandas' time is the ``overlay`` call only, farmland's is the whole
answer. The areas are then compared: per (feature, parcel) pair for the first question, per
piece (area covered by approvals in force, unioned) for the second; pairs geopandas finds that
farmland leaves out must be slivers (:data:`farmland.units.SLIVER_M2`, ``SLIVER_WIDTH_M``), which
farmland never counts as land. Code, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

TARGET = 0.35


def _median_time(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _frame(geoms, crs, **columns):
    import geopandas as gpd

    return gpd.GeoDataFrame(columns, geometry=np.asarray(geoms, dtype=object), crs=crs)


def _gpd_overlay(left, right):
    import geopandas as gpd

    with warnings.catch_warnings():
        # keep_geom_type drops the edge/point contacts of touching parcels, and says so.
        warnings.simplefilter("ignore", UserWarning)
        return gpd.overlay(left, right, how="intersection")


def _slivers(geoms) -> np.ndarray:
    import shapely

    from farmland.units import SLIVER_M2, SLIVER_WIDTH_M

    area = shapely.area(geoms)
    with np.errstate(invalid="ignore", divide="ignore"):
        width = 2 * area / shapely.length(geoms)
    return (area < SLIVER_M2) | (width < SLIVER_WIDTH_M)


def bf_question(data, repeat: int) -> dict:
    import shapely

    from farmland.audit.basic_farmland import parcel_uses
    from farmland.metrics.occupation import overlaps_in_partition

    construction, use, non_grain, abandoned = parcel_uses(data.ws.land_classes, data.dltb)
    candidates = np.flatnonzero(construction | (use != "") | non_grain | abandoned)
    bf = np.asarray(data.bf_now.geometry.values, dtype=object)
    dltb = np.asarray(data.dltb.geometry.values, dtype=object)

    def ours():
        b, s, shared = overlaps_in_partition(bf, dltb, candidates)
        return b, s, shapely.area(shared)

    ours_s, (b, s, area) = _median_time(ours, repeat)
    left = _frame(bf, data.crs, bf=np.arange(len(bf)))
    right = _frame(dltb[candidates], data.crs, parcel=np.arange(len(candidates)))
    theirs_s, overlay = _median_time(lambda: _gpd_overlay(left, right), repeat)

    theirs = overlay.assign(area=shapely.area(overlay.geometry.values),
                            sliver=_slivers(overlay.geometry.values))
    theirs = theirs.groupby(["bf", "parcel"]).agg(area=("area", "sum"), sliver=("sliver", "all"))
    mine = pd.Series(area, index=pd.MultiIndex.from_arrays([b, s], names=["bf", "parcel"]))
    both = theirs.join(mine.rename("ours"), how="outer")
    common = both.dropna(subset=["area", "ours"])
    only_theirs = both[both["ours"].isna()]
    return {"question": "BF × construction-class parcels",
            "inputs": f"{len(bf):,} BF × {len(candidates):,} parcels",
            "farmland_s": ours_s, "geopandas_s": theirs_s,
            "pairs": len(common), "max_rel_diff": _max_rel(common["ours"], common["area"]),
            "missed": int((~only_theirs["sliver"].astype(bool)).sum()) + int(both["area"].isna().sum())}


def approvals_question(data, repeat: int) -> dict:
    import shapely

    from farmland.audit.occupation import arable_to_construction
    from farmland.metrics.occupation import approval_share
    from farmland.report import Report

    pieces, approvals = data.pieces, data.approvals
    mask, _ = arable_to_construction(data, pieces)
    idx = np.flatnonzero(mask)
    geoms = np.asarray(pieces.geometry.values, dtype=object)[idx]
    dates = (pieces["GXSJ"].to_numpy() if "GXSJ" in pieces else np.full(len(pieces), np.datetime64("NaT")))[idx]

    def ours():
        share, _, _ = approval_share(geoms, dates, data.year, approvals, Report(strict=False))
        return share

    ours_s, share = _median_time(ours, repeat)
    left = _frame(geoms, data.crs, piece=np.arange(len(geoms)),
                  changed=pd.to_datetime(pd.Series(dates), errors="coerce").fillna(
                      pd.Timestamp(f"{data.year}-12-31")).to_numpy())
    right = _frame(approvals.geometry.values, data.crs, approved=approvals["PZRQ"].to_numpy(dtype="datetime64[ns]"))
    theirs_s, overlay = _median_time(lambda: _gpd_overlay(left, right), repeat)

    in_force = overlay[overlay["approved"].notna() & (overlay["approved"] <= overlay["changed"])]
    in_force = in_force[~_slivers(in_force.geometry.values)]
    unioned = in_force.groupby("piece")["geometry"].agg(lambda g: shapely.union_all(np.asarray(g, dtype=object)))
    covered_theirs = pd.Series(0.0, index=np.arange(len(geoms)))
    covered_theirs[unioned.index] = shapely.area(np.asarray(unioned, dtype=object))
    covered_ours = share * shapely.area(geoms)
    touched = (covered_theirs > 0) | (covered_ours > 0)
    return {"question": "changes × approvals",
            "inputs": f"{len(geoms):,} pieces × {len(approvals):,} approvals",
            "farmland_s": ours_s, "geopandas_s": theirs_s, "pairs": int(touched.sum()),
            "max_rel_diff": _max_rel(covered_ours[touched], covered_theirs[touched].to_numpy()),
            "missed": int(((covered_ours == 0) & (covered_theirs > 0)).sum())}


def _max_rel(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, dtype="float64"), np.asarray(theirs, dtype="float64")
    if not len(ours):
        return 0.0
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path,
                        default=Path(__file__).parent / "_data" / "city_300000_s0")
    parser.add_argument("--year", type=int, help="data year (default: the period's last)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if not (args.workspace / "farmland.toml").exists():
        parser.error(f"{args.workspace} is not a workspace; generate it with "
                     f"`farmland sample {args.workspace} --parcels 300000 --seed 0`.")

    from farmland.audit.data import AuditData
    from farmland.load import LayerStore
    from farmland.pipeline import load_workspace
    from farmland.report import Report

    ws = load_workspace(args.workspace)
    year = args.year or ws.period.end
    data = AuditData.load(LayerStore(ws), year, Report(strict=False))
    rows = [bf_question(data, args.repeat), approvals_question(data, args.repeat)]

    print(f"{args.workspace.name}, {year}, median of {args.repeat}\n")
    print(f"| question | inputs | farmland s | geopandas.overlay s | ratio | pairs compared "
          f"| max rel. area diff | missed overlaps |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for row in rows:
        ratio = row["farmland_s"] / row["geopandas_s"]
        worst = max(worst, ratio)
        print(f"| {row['question']} | {row['inputs']} | {row['farmland_s']:.3f} | {row['geopandas_s']:.3f} "
              f"| {ratio:.2f} | {row['pairs']:,} | {row['max_rel_diff']:.1e} | {row['missed']} |")
    print(f"\ntarget ≤ {TARGET}×: {'met' if worst <= TARGET else 'NOT met'} (worst {worst:.2f}×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
