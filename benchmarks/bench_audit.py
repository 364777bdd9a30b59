"""Audit benchmark: the whole audit of one year, and the land-cover fractions against exactextract.

    farmland sample /tmp/liaocheng60k --parcels 60000 --seed 1
    /usr/bin/time -v farmland -q audit /tmp/liaocheng60k --year 2020 -o /tmp/audit60k   # time, peak memory
    python benchmarks/bench_audit.py /tmp/liaocheng60k --year 2020                     # pixel rules

The second command times the class fractions of every DLTB parcel of the year by the exact rule
and the centre rule, and by exactextract (``pip install 'farmland[exact]'``) on the same parcels
and raster, and prints the largest differences in m² and in share of the parcel.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace")
    parser.add_argument("--year", type=int, default=2020)
    args = parser.parse_args()

    import geopandas as gpd

    from farmland.audit.landcover import class_fractions
    from farmland.layers import read_layer
    from farmland.workspace import Workspace

    ws = Workspace.load(args.workspace)
    dltb = read_layer(ws, "DLTB", args.year, columns=["BSM", "DLBM", "ZLDWDM"])
    raster = ws.paths("LANDCOVER", args.year)[0]
    classes = {name: tuple(v) for name, v in ws.landcover_classes.items()}
    print(f"{len(dltb)} parcels, raster {raster.name}")
    results = {}
    for method in ("exact", "centre"):
        start = time.perf_counter()
        results[method] = class_fractions(dltb.geometry.values, raster, classes, method=method, crs=dltb.crs)
        print(f"  {method:7s} {time.perf_counter() - start:6.2f} s")
    try:
        import exactextract
    except ImportError:
        print("  exactextract not installed (pip install 'farmland[exact]'): comparison skipped")
        return
    import rasterio

    with rasterio.open(raster) as src:
        pixel = abs(src.transform.a * src.transform.e)
        frame = gpd.GeoDataFrame({"i": np.arange(len(dltb))}, geometry=dltb.to_crs(src.crs).geometry.values,
                                 crs=src.crs)
    start = time.perf_counter()
    theirs = exactextract.exact_extract(str(raster), frame, ["unique", "frac", "count"], output="pandas")
    print(f"  exactextract {time.perf_counter() - start:6.2f} s")
    area = frame.geometry.area.to_numpy()
    for name, values in classes.items():
        expected = np.array([sum(f for u, f in zip(us, fs, strict=True) if u in values) * c * pixel
                             for us, fs, c in zip(theirs["unique"], theirs["frac"], theirs["count"], strict=True)])
        for method, ours in results.items():
            diff = np.abs(ours[f"{name}_m2"].to_numpy() - expected)
            print(f"  {name:9s} {method:7s} vs exactextract: max |Δ| {diff.max():12.4f} m², "
                  f"max |Δ|/area {np.max(diff / area):.2e}, mean |Δ|/area {np.mean(diff / area):.2e}")


if __name__ == "__main__":
    main()
