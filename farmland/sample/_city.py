"""City-level files of the sample: XZQ, approvals, monitoring, projects, rasters and CSV tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import shapely

from ..units import M2_TO_MU, round_half_up
from . import _tables as T
from ._io import date_column, int_column, text_column, write_csv, write_gpkg

LANDCOVER_PIXEL_M = 250.0


class LandcoverCanvas:
    """One uint8 raster per year over the city (EPSG:4527): 1 cropland, 2 built-up, 3 other, 0 outside."""

    def __init__(self, bounds, pixel: float = LANDCOVER_PIXEL_M):
        xmin = math.floor(bounds[0] / pixel) * pixel
        ymin = math.floor(bounds[1] / pixel) * pixel
        xmax = math.ceil(bounds[2] / pixel) * pixel
        ymax = math.ceil(bounds[3] / pixel) * pixel
        self.width = int(round((xmax - xmin) / pixel))
        self.height = int(round((ymax - ymin) / pixel))
        self.transform = rasterio.Affine(pixel, 0.0, xmin, 0.0, -pixel, ymax)
        self.arrays: dict[int, np.ndarray] = {}

    def burn(self, year: int, geoms, values) -> None:
        """Give every pixel whose centre lies in a parcel that parcel's class (counties one by one).

        Same rule as ``rasterio.features.rasterize`` without ``all_touched``, but as one
        vectorised STRtree point query: rasterio would walk each parcel's ``__geo_interface__``
        in Python, which dominated the run time of large samples.
        """
        out = self.arrays.setdefault(year, np.zeros((self.height, self.width), dtype=np.uint8))
        geoms = np.asarray(geoms, dtype=object)
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        pixel, x0, y0 = self.transform.a, self.transform.c, self.transform.f
        c0, c1 = max(int((xmin - x0) // pixel), 0), min(int((xmax - x0) // pixel) + 1, self.width)
        r0, r1 = max(int((y0 - ymax) // pixel), 0), min(int((y0 - ymin) // pixel) + 1, self.height)
        rows, cols = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
        rows, cols = rows.ravel(), cols.ravel()
        centres = shapely.points(x0 + (cols + 0.5) * pixel, y0 - (rows + 0.5) * pixel)
        hit, parcel = shapely.STRtree(geoms).query(centres, predicate="intersects")
        # A centre on a shared edge touches two parcels: keep the lower index, deterministically.
        order = np.lexsort((parcel, hit))
        hit, parcel = hit[order], parcel[order]
        first = np.r_[True, hit[1:] != hit[:-1]]
        out[rows[hit[first]], cols[hit[first]]] = np.asarray(values)[parcel[first]]

    def write(self, root: Path) -> None:
        for year, data in sorted(self.arrays.items()):
            profile = dict(driver="GTiff", width=self.width, height=self.height, count=1, dtype="uint8",
                           crs=f"EPSG:{T.COMMON_EPSG}", transform=self.transform, nodata=0,
                           compress="deflate", predictor=2, tiled=True, blockxsize=256, blockysize=256)
            with rasterio.open(root / f"landcover_{year}.tif", "w", **profile) as dst:
                dst.write(data, 1)
                dst.update_tags(1, classes="1=耕地 cropland; 2=建设用地 built-up; 3=其他 other; 0=市域外 outside")


def solve_targets(actual_mu: dict[str, float], margins: dict[str, float], total_mu: int) -> dict[str, int]:
    """County targets (whole 亩) summing exactly to ``total_mu``, some counties above, some below.

    County c's target is actual_c / (1 + m_c), m_c being its margin over target. The designed
    offsets d_c (``CountySpec.arable_margin`` …) fix the sign of each margin: when the city as a
    whole is above ``total_mu``, counties with d_c < 0 keep exactly m_c = d_c and the others take
    m_c = λ·d_c, λ ≥ 0 solved by bisection so the targets add up; when the city is short, the
    roles swap (d_c > 0 fixed, the others scaled). Whole 亩 are then apportioned by largest
    remainder, so the sum is exact and each target is within 1 亩 of its real value.
    """
    codes = list(actual_mu)
    a = np.array([actual_mu[c] for c in codes], dtype=float)
    d = np.array([margins[c] for c in codes], dtype=float)
    surplus = a.sum() >= total_mu
    fixed = d < 0 if surplus else d > 0
    scaled = ~fixed

    def targets(lam):
        m = np.where(fixed, d, lam * d)
        return a / (1 + m)

    # Σ targets falls as λ grows (surplus: scaled margins grow; deficit: they grow more negative,
    # so bisect on a λ that keeps 1 + m above 0.02).
    lo, hi = 0.0, 1.0
    limit = np.inf if surplus else (0.98 / max(-d[scaled].min(), 1e-12) if (d[scaled] < 0).any() else 0.0)
    while (targets(hi).sum() > total_mu) == surplus and hi < min(limit, 1e6):
        hi = min(hi * 2, limit)
    for _ in range(200):
        mid = (lo + hi) / 2
        if (targets(mid).sum() > total_mu) == surplus:
            lo = mid
        else:
            hi = mid
    real = targets((lo + hi) / 2)
    real *= total_mu / real.sum()
    whole = np.floor(real).astype(np.int64)
    short = int(total_mu - whole.sum())
    whole[np.argsort(-(real - whole), kind="stable")[:short]] += 1
    return dict(zip(codes, whole.tolist()))


def write_city(root: Path, results, county_common, canvas: LandcoverCanvas, rng: np.random.Generator) -> dict:
    """Write every city-level file; returns a small summary (totals, ratios) for the caller."""
    _write_xzq(root, results, county_common)
    _write_approvals(root, results)
    ratios = _write_monitoring(root, results)
    _write_hsf(root, results)
    canvas.write(root)
    targets = _write_targets(root, results)
    write_tables(root, results, ratios, rng)
    write_workspace_file(root)
    return {"targets": targets, "ratios": ratios}


def write_tables(root: Path, results, ratios: dict, rng: np.random.Generator) -> None:
    """The CSV tables every generated workspace has: the 占补平衡 ledger, the checklist, the
    accountability events and the city statistics."""
    _write_ledger(root, results, rng)
    _write_checklist(root, [r.spec for r in results], rng)
    _write_events(root, results, ratios, rng)
    _write_city_stats(root, results)


def _write_xzq(root, results, county_common) -> None:
    codes, names, kzmj, note, geoms = [], [], [], [], []
    for r in results:
        codes.append(r.spec.xzqdm)
        names.append(r.spec.name)
        kzmj.append(r.kzmj)
        note.append(None)
        geoms.append(county_common[r.spec.xzqdm])
    host = next(r for r in results if r.spec.xzqdm == T.DEV_ZONE_HOST)
    codes.append(T.DEV_ZONE_CODE)
    names.append(T.DEV_ZONE_NAME)
    kzmj.append(host.dev_zone_kzmj)
    note.append("市属开发区，无行政区划代码（本样例自定 371571），图斑按空间位置归属；范围为乡级单位 "
                + "、".join(host.dev_zone_towns))
    geoms.append(host.dev_zone)
    write_gpkg(root / "xzq.gpkg", "XZQ", {"XZQDM": text_column(codes), "XZQMC": text_column(names),
                                          "KZMJ": np.array(kzmj), "BZ": text_column(note)},
               geoms, T.COMMON_EPSG, multi=True)


def _concat(frames) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _write_approvals(root, results) -> None:
    a = _concat([f for r in results for f in r.approvals])
    a = a.sort_values(["PZRQ", "PZWH"], kind="stable").reset_index(drop=True)
    write_gpkg(root / "approvals.gpkg", "JSYDSP", {
        "PZWH": text_column(a["PZWH"]), "XMMC": text_column(a["XMMC"]), "PZRQ": date_column(a["PZRQ"].to_numpy()),
        "XZQDM": text_column(a["XZQDM"]), "PZMJ": a["PZMJ"].to_numpy(float), "ZYGDMJ": a["ZYGDMJ"].to_numpy(float),
    }, a["geometry"].to_numpy(object), T.COMMON_EPSG, multi=True)


def _write_monitoring(root, results) -> dict:
    """wpzf_<year>.gpkg for 2016–2020; returns {(xzqdm, year): (occupied m², illegal m², ratio)}."""
    ratios = {}
    for year in T.YEARS[1:]:
        w = _concat([f for r in results for f in r.wpzf if len(f) and int(f["JCNF"].iloc[0]) == year])
        write_gpkg(root / f"wpzf_{year}.gpkg", "WPZF", {
            "JCBH": text_column(w["JCBH"]), "XZQDM": text_column(w["XZQDM"]),
            "JCNF": int_column(w["JCNF"]), "XZJSYDMJ": w["XZJSYDMJ"].to_numpy(float),
            "ZYGDMJ": w["ZYGDMJ"].to_numpy(float), "WFZYGDMJ": w["WFZYGDMJ"].to_numpy(float),
            "HFXSC": text_column(w["HFXSC"]),
        }, w["geometry"].to_numpy(object), T.COMMON_EPSG, multi=True)
        for code, g in w.groupby("XZQDM", sort=True):
            occ, ill = float(g["ZYGDMJ"].sum()), float(g["WFZYGDMJ"].sum())
            ratios[(code, year)] = (occ, ill, ill / occ if occ > 0 else math.nan)
    return ratios


def _write_hsf(root, results) -> None:
    h = _concat([f for r in results for f in r.hsf])
    write_gpkg(root / "hsf.gpkg", "GBZNT", {
        "XMBH": text_column(h["XMBH"]), "XMMC": text_column(h["XMMC"]), "XZQDM": text_column(h["XZQDM"]),
        "JSNF": int_column(h["JSNF"]), "JSMJ": h["JSMJ"].to_numpy(float),
    }, h["geometry"].to_numpy(object), T.COMMON_EPSG, multi=True)


def _write_targets(root, results) -> pd.DataFrame:
    """targets.csv: county targets sum exactly to the city's 844.64 万亩 and 724.05 万亩."""
    last = T.PERIOD[1]
    arable = solve_targets({r.spec.xzqdm: r.arable_m2[last] * M2_TO_MU for r in results},
                           {r.spec.xzqdm: r.spec.arable_margin for r in results}, T.ARABLE_TARGET_MU)
    bf = solve_targets({r.spec.xzqdm: r.bf_m2[last] * M2_TO_MU for r in results},
                       {r.spec.xzqdm: r.spec.bf_margin for r in results}, T.BASIC_FARMLAND_TARGET_MU)
    frame = pd.DataFrame({
        "xzqdm": [r.spec.xzqdm for r in results], "xzqmc": [r.spec.name for r in results],
        "arable_target_mu": [arable[r.spec.xzqdm] for r in results],
        "basic_farmland_target_mu": [bf[r.spec.xzqdm] for r in results],
    })
    for i, year in enumerate(range(T.PERIOD[0], T.PERIOD[1] + 1)):
        # Tasks are set in whole hundreds of 亩; the designed completion makes some fall short.
        frame[f"hsf_task_mu_{year}"] = [
            int(max(100, round(r.hsf_built_m2[year] * M2_TO_MU / r.spec.hsf_completion[i] / 100) * 100))
            for r in results
        ]
    frame = _carve_zone_targets(root, results, frame)
    write_csv(root / "targets.csv", frame)
    return frame


def _carve_zone_targets(root, results, frame: pd.DataFrame) -> pd.DataFrame:
    """Give the development zone its own targets, taken out of its host county's (第二条).

    The zone answers for the land inside it, so its targets are set a little under what it has
    at the end of the period (+0.5 %), and the host's are reduced by the same: the city totals
    stay exact. Tasks of high-standard farmland are split by area share, in hundreds of 亩.
    """
    import pyogrio

    host = next(r for r in results if r.spec.xzqdm == T.DEV_ZONE_HOST)
    last = T.PERIOD[1]
    database = root / "counties" / T.DEV_ZONE_HOST / f"bgdc_{last}.gpkg"
    inside = {}
    for layer, area_field in (("DLTB", "TBDLMJ"), ("YJJBNTTB", "YJJBNTMJ")):
        parcels = pyogrio.read_dataframe(database, layer=layer, columns=["DLBM", area_field])
        within = shapely.contains_xy(host.dev_zone, *shapely.get_coordinates(
            shapely.point_on_surface(parcels.geometry.values)).T)
        arable = parcels["DLBM"].isin(("0101", "0102", "0103")) if layer == "DLTB" else True
        inside[layer] = float(parcels.loc[within & arable, area_field].sum()) * M2_TO_MU
    zone = {"xzqdm": T.DEV_ZONE_CODE, "xzqmc": T.DEV_ZONE_NAME,
            "arable_target_mu": int(math.floor(inside["DLTB"] / 1.005)),
            "basic_farmland_target_mu": int(math.floor(inside["YJJBNTTB"] / 1.005))}
    share = host.dev_zone_kzmj / host.kzmj
    for column in [c for c in frame.columns if c.startswith("hsf_task_mu_")]:
        zone[column] = int(round(frame.loc[frame["xzqdm"] == T.DEV_ZONE_HOST, column].iloc[0] * share / 100) * 100)
    is_host = frame["xzqdm"] == T.DEV_ZONE_HOST
    for column, value in zone.items():
        if column not in ("xzqdm", "xzqmc"):
            frame.loc[is_host, column] -= value
    return pd.concat([frame, pd.DataFrame([zone])], ignore_index=True)


def _write_ledger(root, results, rng) -> None:
    """zbph.csv: occupation and 补充 rows; shortfalls bought in (省统筹/跨县易地) except planned deficits."""
    rows = []
    for r in results:
        ledger = pd.DataFrame(r.ledger)
        for year in T.YEARS[1:]:
            ly = ledger[ledger["year"] == year] if len(ledger) else ledger
            occ = float(ly.loc[ly["kind"] == "占用", "area_mu"].sum()) if len(ly) else 0.0
            sup_rows = ly[ly["kind"] == "补充"].to_dict("records") if len(ly) else []
            occ_rows = ly[ly["kind"] == "占用"].to_dict("records") if len(ly) else []
            deficit = (r.spec.xzqdm, year) in T.LEDGER_DEFICITS
            if deficit:
                for row in sup_rows:  # accepted next year: this year closes short
                    row["year"] = year + 1
            sup = sum(row["area_mu"] for row in sup_rows if row["year"] == year)
            if not deficit and sup < occ:
                buy = float(round_half_up((occ - sup) * rng.uniform(1.0, 1.12), 2))
                source = "跨县易地" if r.spec.xzqdm == T.DEV_ZONE_HOST else str(rng.choice(["省统筹", "省统筹", "国家统筹"]))
                sup_rows.append(dict(xzqdm=r.spec.xzqdm, year=year, kind="补充",
                                     project=f"{r.spec.name}{year}年补充耕地指标调剂（{source}）", area_mu=buy,
                                     paddy_mu=0.0, grain_capacity_t=float(round_half_up(buy * 0.45, 2)), source=source))
            rows.extend(occ_rows)
            rows.extend(sup_rows)
    frame = pd.DataFrame(rows, columns=["xzqdm", "year", "kind", "project", "area_mu", "paddy_mu",
                                        "grain_capacity_t", "source"])
    frame = frame.sort_values(["xzqdm", "year", "kind"], kind="stable").reset_index(drop=True)
    write_csv(root / "zbph.csv", frame)


GOOD_RECORDS = np.array([0.45, 0.3, 0.15, 0.07, 0.03])
POOR_RECORDS = np.array([0.2, 0.3, 0.25, 0.15, 0.1])
"""Chances of earning 100/90/80/70/50 % of a checklist item's points."""


def _write_checklist(root, specs, rng) -> None:
    rows = []
    for spec in specs:
        diligence = rng.uniform(0.0, 1.0)  # some counties keep better records than others
        for year in range(T.PERIOD[0], T.PERIOD[1] + 1):
            for item, evidence in T.CHECKLIST_ITEMS.items():
                p = GOOD_RECORDS if diligence > 0.35 else POOR_RECORDS
                fraction = float(rng.choice([1.0, 0.9, 0.8, 0.7, 0.5], p=p))
                rows.append(dict(xzqdm=spec.xzqdm, year=year, item=item, fraction=fraction,
                                 evidence=str(rng.choice(list(evidence)))))
    write_csv(root / "checklist.csv", pd.DataFrame(rows))


def _write_events(root, results, ratios, rng) -> None:
    rows = []

    def add(code, year, kind, note, level_of=None):
        rows.append(dict(xzqdm=code, year=year, kind=kind, level=T.EVENT_LEVELS[level_of or kind],
                         note=note))

    for (code, year), (_, _, ratio) in sorted(ratios.items()):
        if not math.isnan(ratio) and ratio >= 0.15:
            add(code, year, "警示约谈", T.EVENT_NOTES["警示约谈"].format(year=year, ratio=ratio))
    for r in results:
        for year, kind, note in r.events:
            add(r.spec.xzqdm, year, kind, note, level_of="挂牌督办_基本农田" if kind == "挂牌督办" else None)
    # The largest illegal occupation of the period becomes a major case, and the second
    # largest is put under provincial supervision.
    by_area = sorted(ratios.items(), key=lambda kv: (-kv[1][1], kv[0]))
    for ((code, year), _), kind in zip(by_area, ("重大违法案件", "挂牌督办")):
        add(code, year, kind, T.EVENT_NOTES[kind].format(year=year))
    code = str(rng.choice([r.spec.xzqdm for r in results]))
    year = int(rng.integers(T.PERIOD[0], T.PERIOD[1] + 1))
    add(code, year, "公开通报", T.EVENT_NOTES["公开通报"].format(year=year))
    frame = pd.DataFrame(rows).sort_values(["year", "xzqdm", "kind"], kind="stable").reset_index(drop=True)
    write_csv(root / "events.csv", frame)


GDP_100M_YUAN = {2015: 2050.3, 2016: 2141.6, 2017: 2236.0, 2018: 2325.8, 2019: 2259.7, 2020: 2316.8}
"""Synthetic GDP (亿元); the 2019 dip mimics a census revision, not any official figure."""
SUPPLY_RATE = {2015: 0.81, 2016: 0.86, 2017: 0.83, 2018: 0.77, 2019: 0.84, 2020: 0.88}


def _write_city_stats(root, results) -> None:
    a = _concat([f for r in results for f in r.approvals])
    approved = a.groupby(a["PZRQ"].to_numpy().astype("datetime64[Y]").astype(int) + 1970)["PZMJ"].sum()
    rows = []
    for year in T.YEARS:
        mu = float(round_half_up(approved.get(year, 0.0) * M2_TO_MU, 2))
        rows.append(dict(year=year, gdp_100m_yuan=GDP_100M_YUAN[year], approved_mu=mu,
                         supplied_mu=float(round_half_up(mu * SUPPLY_RATE[year], 2))))
    write_csv(root / "city_stats.csv", pd.DataFrame(rows))


WORKSPACE_TOML = """\
# 聊城市耕地保护责任目标考核 — synthetic sample workspace (see README.md; not official data)
[city]
code = "371500"
name = "聊城市"
arable_target_mu = 8446400          # 844.64 万亩 耕地保有量 (聊政发〔2018〕34号 二)
basic_farmland_target_mu = 7240500  # 724.05 万亩 永久基本农田

[period]            # the five-year planning period under assessment
start = 2016
end = 2020
base_year = 2015    # the year-end snapshot the period starts from

[targets]
path = "targets.csv"

[layers]
XZQ       = "xzq.gpkg:XZQ"
DLTB      = "counties/*/bgdc_{year}.gpkg:DLTB"      # one database per county, each in its own zone
JBNTTB    = "counties/*/bgdc_{year}.gpkg:YJJBNTTB"
DLTBGXGC  = "counties/*/bgdc_{year}.gpkg:DLTBGXGC"
JSYDSP    = "approvals.gpkg:JSYDSP"
WPZF      = "wpzf_{year}.gpkg:WPZF"
GBZNT     = "hsf.gpkg:GBZNT"
ZBPH      = "zbph.csv"
CHECKLIST = "checklist.csv"
LANDCOVER = "landcover_{year}.tif"
EVENTS    = "events.csv"          # optional
CITYSTATS = "city_stats.csv"      # optional

[landcover]         # raster class values meaning cropland / built-up
cropland = [1]
built = [2]

[units]             # development zones in XZQ, attributed by geometry (no code in ZLDWDM)
spatial = ["371571"]
"""


def write_workspace_file(root: Path) -> None:
    (root / "farmland.toml").write_text(WORKSPACE_TOML, encoding="utf-8", newline="\n")
