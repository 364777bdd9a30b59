"""Benchmark ``compute_metrics`` for one year on a synthetic city of a million parcels.

Run from the repository root::

    python benchmarks/bench_metrics.py                          # 1 000 000 parcels, GeoPackage
    python benchmarks/bench_metrics.py --format parquet         # the same as GeoParquet
    python benchmarks/bench_metrics.py --parcels 200000 --zones # smaller, with a development zone

It writes (once; reused afterwards) a workspace under ``benchmarks/_data/``: eight counties as
strips of 30 m × 30 m square parcels (60 % arable, some with a 田坎 coefficient), DLTB and JBNTTB
for 2017 and 2018, the 2018 change records (0.5 % of the parcels built on, 0.2 % reclaimed), the
approvals covering half of the built-on pieces, monitoring parcels, high-standard farmland, the
tables and a 10 m land-cover raster. ``--zones`` adds a development zone without a code of its
own, so every parcel is placed by geometry.

Then, each in a fresh process so that generation does not pollute the figures, it measures

* the read floor: pyogrio reading the 2018 DLTB columns the metrics use (no geometry);
* ``compute_metrics(ws, [2018], level="county")`` (which also reads the 2017 snapshot as the
  opening balance),

and prints wall time and peak resident memory (``resource.getrusage``: ``ru_maxrss``). This is
code, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

X0, Y0 = 39_450_000.0, 4_000_000.0
CRS = "EPSG:4527"
SIZE = 30.0
COUNTIES = ["371502", "371503", "371521", "371522", "371524", "371525", "371526", "371581"]
NAMES = ["东昌府区", "茌平区", "阳谷县", "莘县", "东阿县", "冠县", "高唐县", "临清市"]
ZONE = "371571"


def _codes(rng, n):
    choices = np.array(["011", "012", "013", "203", "201", "202", "104", "031", "114", "021"],
                       dtype=object)
    weights = np.array([0.1, 0.3, 0.2, 0.15, 0.025, 0.025, 0.05, 0.05, 0.05, 0.05])
    return choices[rng.choice(len(choices), n, p=weights)]


def build(root: Path, n: int, fmt: str, zones: bool, seed: int = 0) -> None:
    """Write the synthetic workspace (vectorised: shapely.box over arrays, numpy codes)."""
    import geopandas as gpd
    import pandas as pd
    import rasterio
    import shapely
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ext = ".gpkg" if fmt == "gpkg" else ".parquet"
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    ix, iy = i % side, i // side
    county = ix * len(COUNTIES) // side
    township = iy * 10 // side + 1
    village = ix % 20 + 1
    lookup = np.array([f"{c}{t:03d}{v:03d}0000000" for c in COUNTIES for t in range(1, 11)
                       for v in range(1, 21)], dtype=object)
    zldwdm = lookup[county * 200 + (township - 1) * 20 + (village - 1)]
    bsm = np.char.add("3715", np.char.zfill(i.astype(str), 14)).astype(object)
    geometry = shapely.box(X0 + ix * SIZE, Y0 + iy * SIZE, X0 + (ix + 1) * SIZE, Y0 + (iy + 1) * SIZE)
    dlbm = _codes(rng, n)
    arable = np.isin(dlbm, ["011", "012", "013"])
    kcxs = np.where(arable & (rng.random(n) < 0.2), 0.05, 0.0)
    tbmj = np.full(n, SIZE * SIZE)
    kcmj = np.round(tbmj * kcxs, 2)
    gddb = np.where(arable, rng.integers(3, 11, n), np.nan)
    czcsxm = np.where(np.isin(dlbm, ["201", "202", "203"]), dlbm, None)

    def write(frame, name, layer):
        path = root / f"{name}{ext}"
        if fmt == "gpkg":
            frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio", use_arrow=True)
        else:
            frame.to_parquet(path)

    def dltb(codes, ids, k):
        km = np.round(tbmj * k, 2)
        return gpd.GeoDataFrame({"BSM": ids, "DLBM": codes, "ZLDWDM": zldwdm, "TBMJ": tbmj, "KCXS": k,
                                 "KCMJ": km, "TBDLMJ": tbmj - km, "GDDB": gddb, "CZCSXM": czcsxm},
                                geometry=geometry, crs=CRS)

    # 2018: 0.5 % of the parcels built on (arable → 203), 0.2 % reclaimed (104 → 012)
    built = rng.choice(np.flatnonzero(arable), n // 200, replace=False)
    reclaimed = rng.choice(np.flatnonzero(dlbm == "104"), n // 500, replace=False)
    dlbm18, bsm18, kcxs18 = dlbm.copy(), bsm.copy(), kcxs.copy()
    dlbm18[built] = "203"
    dlbm18[reclaimed] = "012"
    kcxs18[built] = 0.0
    kcxs18[reclaimed] = 0.05
    changed = np.concatenate([built, reclaimed])
    bsm18[changed] = np.char.add("N", bsm[changed].astype(str)).astype(object)

    print(f"writing {n} parcels × 2 years ({fmt}) to {root} …", flush=True)
    write(dltb(dlbm, bsm, kcxs), "dltb_2017", "DLTB")
    write(dltb(dlbm18, bsm18, kcxs18), "dltb_2018", "DLTB")

    in_bf = arable & (rng.random(n) < 0.6)
    for year, keep in ((2017, in_bf), (2018, in_bf & ~np.isin(i, built))):
        idx = np.flatnonzero(keep)
        net = tbmj[idx] - kcmj[idx]
        write(gpd.GeoDataFrame({"BSM": np.char.add("F", i[idx].astype(str)).astype(object),
                                "ZLDWDM": zldwdm[idx], "DLBM": dlbm[idx], "TBMJ": tbmj[idx],
                                "KCMJ": kcmj[idx], "YJJBNTMJ": net}, geometry=geometry[idx], crs=CRS),
              f"jbnttb_{year}", "YJJBNTTB")

    dates = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 365, len(changed)), unit="D")
    write(gpd.GeoDataFrame({
        "BGQTBBSM": bsm[changed], "BGHTBBSM": bsm18[changed], "BGQDLBM": dlbm[changed],
        "BGHDLBM": dlbm18[changed], "BGQZLDWDM": zldwdm[changed], "BGHZLDWDM": zldwdm[changed],
        "TBBGMJ": tbmj[changed], "BGQKCXS": kcxs[changed], "GXSJ": dates,
    }, geometry=geometry[changed], crs=CRS), "dltbgxgc_2018", "DLTBGXGC")

    approved = built[: len(built) // 2]
    write(gpd.GeoDataFrame({"PZWH": [f"鲁政土字〔2018〕{k}号" for k in range(len(approved))],
                            "PZRQ": pd.Timestamp("2017-12-01")}, geometry=geometry[approved], crs=CRS),
          "approvals", "JSYDSP")
    m = 3000
    pick = rng.choice(n, m, replace=False)
    occupied = rng.uniform(0, 900, m)
    write(gpd.GeoDataFrame({"JCBH": [f"JC{k:05d}" for k in range(m)],
                            "XZQDM": zldwdm[pick].astype(str).astype("U6").astype(object),
                            "JCNF": 2018, "XZJSYDMJ": 900.0, "ZYGDMJ": occupied,
                            "WFZYGDMJ": occupied * rng.uniform(0, 0.3, m)},
                           geometry=geometry[pick], crs=CRS), "wpzf", "WPZF")
    pick = rng.choice(n, 200, replace=False)
    write(gpd.GeoDataFrame({"XMBH": [f"G{k}" for k in range(200)],
                            "XZQDM": zldwdm[pick].astype(str).astype("U6").astype(object),
                            "JSNF": 2018, "JSMJ": 200_000.0}, geometry=geometry[pick], crs=CRS),
          "hsf", "GBZNT")
    width = side * SIZE
    strips = [shapely.box(X0 + k * width / 8, Y0, X0 + (k + 1) * width / 8, Y0 + width) for k in range(8)]
    codes, names = list(COUNTIES), list(NAMES)
    if zones:
        strips.append(shapely.box(X0 + width / 32, Y0 + width / 4, X0 + width / 16, Y0 + width / 2))
        codes.append(ZONE)
        names.append("聊城经济技术开发区")
    write(gpd.GeoDataFrame({"XZQDM": codes, "XZQMC": names}, geometry=strips, crs=CRS), "xzq", "XZQ")

    cells = int(width // 10)
    raster = rng.choice(np.array([1, 2, 3], dtype="uint8"), (cells, cells), p=[0.6, 0.25, 0.15])
    with rasterio.open(root / "landcover_2018.tif", "w", driver="GTiff", width=cells, height=cells,
                       count=1, dtype="uint8", crs=CRS, transform=from_origin(X0, Y0 + width, 10, 10),
                       tiled=True, compress="deflate") as dst:
        dst.write(raster, 1)

    pd.DataFrame({"xzqdm": codes, "xzqmc": names, "arable_target_mu": 50_000.0,
                  "basic_farmland_target_mu": 40_000.0, "hsf_task_mu_2018": 5_000.0}
                 ).to_csv(root / "targets.csv", index=False)
    (root / "zbph.csv").write_text("xzqdm,year,kind,project,area_mu,paddy_mu,grain_capacity_t,source\n"
                                   + "".join(f"{c},2018,占用,P{k},100,0,40,本地\n{c},2018,补充,Q{k},120,0,50,本地\n"
                                             for k, c in enumerate(COUNTIES)), encoding="utf-8")
    (root / "checklist.csv").write_text("xzqdm,year,item,fraction,evidence\n" + "".join(
        f"{c},2018,制度建设,0.8,文件\n" for c in COUNTIES), encoding="utf-8")
    layer = (lambda name, lyr: f"{name}{ext}" + (f":{lyr}" if fmt == "gpkg" else ""))
    (root / "farmland.toml").write_text(textwrap.dedent(f"""\
        [city]
        code = "371500"
        name = "聊城市"

        [period]
        start = 2016
        end = 2020
        base_year = 2015

        [targets]
        path = "targets.csv"

        [layers]
        XZQ = "{layer('xzq', 'XZQ')}"
        DLTB = "{layer('dltb_{year}', 'DLTB')}"
        JBNTTB = "{layer('jbnttb_{year}', 'YJJBNTTB')}"
        DLTBGXGC = "{layer('dltbgxgc_{year}', 'DLTBGXGC')}"
        JSYDSP = "{layer('approvals', 'JSYDSP')}"
        WPZF = "{layer('wpzf', 'WPZF')}"
        GBZNT = "{layer('hsf', 'GBZNT')}"
        ZBPH = "zbph.csv"
        CHECKLIST = "checklist.csv"
        LANDCOVER = "landcover_{{year}}.tif"

        [landcover]
        cropland = [1]
        built = [2]
        """), encoding="utf-8")
    (root / "READY").write_text("ok")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure(root: Path, what: str) -> dict:
    from farmland import Workspace

    ws = Workspace.load(root)
    start = time.perf_counter()
    if what == "read-floor":
        import pyogrio

        path = ws.paths("DLTB", 2018)[0]
        columns = ["BSM", "DLBM", "ZLDWDM", "TBMJ", "KCXS", "KCMJ", "TBDLMJ", "GDDB", "CZCSXM"]
        if path.suffix == ".parquet":
            import pandas as pd

            frame = pd.read_parquet(path, columns=columns)
        else:
            frame = pyogrio.read_dataframe(path, layer="DLTB", columns=columns, read_geometry=False,
                                           use_arrow=True)
        rows = len(frame)
    else:
        from farmland.metrics import compute_metrics
        from farmland.report import Report

        report = Report(strict=True)
        result = compute_metrics(ws, [2018], level="county", report=report)
        rows = len(result.table)
        city = result.wide(level="city").iloc[0]
        print(f"  city arable {city['arable_mu']:.2f} 亩, change {city['arable_change_mu']:.2f} 亩, "
              f"derived illegal {city['derived_illegal_arable_mu']:.2f} 亩, ledger residual "
              f"{city['ledger_residual_mu']:.6f} 亩; {len(report.warnings)} warnings", file=sys.stderr)
    return {"what": what, "seconds": time.perf_counter() - start, "peak_rss_mib": peak_rss_mib(),
            "rows": rows}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("gpkg", "parquet"), default="gpkg")
    parser.add_argument("--zones", action="store_true",
                        help="add a development zone (spatial attribution)")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--measure", choices=("read-floor", "metrics"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.dir or Path(__file__).parent / "_data" / (
        f"metrics_{args.parcels}_{args.format}" + ("_zones" if args.zones else ""))
    if args.measure:
        print(json.dumps(measure(root, args.measure)))
        return
    if not (root / "READY").exists():
        start = time.perf_counter()
        here = str(Path(__file__).parent)
        code = (f"import sys; sys.path.insert(0, {here!r}); import bench_metrics as b; "
                f"from pathlib import Path; "
                f"b.build(Path({str(root)!r}), {args.parcels}, {args.format!r}, {args.zones})")
        subprocess.run([sys.executable, "-c", code], check=True)
        print(f"generated in {time.perf_counter() - start:.1f} s")
    results = {}
    for what in ("read-floor", "metrics"):
        out = subprocess.run([sys.executable, __file__, "--dir", str(root), "--measure", what],
                             check=True, capture_output=True, text=True)
        sys.stderr.write(out.stderr)
        results[what] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[what]
        print(f"{what:>10}: {r['seconds']:7.1f} s, peak RSS {r['peak_rss_mib']:8.0f} MiB "
              f"({r['rows']} rows)")
    ratio = results["metrics"]["seconds"] / results["read-floor"]["seconds"]
    print(f"metrics / read floor: {ratio:.1f}× (the metrics read two DLTB years, JBNTTB with "
          "geometry and the change layers)")


if __name__ == "__main__":
    main()
