"""Basic-farmland checks: 非农化, non-arable use, 非粮化 and 撂荒, and losses not re-designated.

Basic farmland (JBNTTB) is overlaid on the year's land-use parcels (DLTB) in one STRtree bulk
query; only pairs whose parcel class matters are intersected. 聊政发〔2018〕34号 二(一) forbids
building on basic farmland, digging ponds, planting trees and letting it lie waste; the ZZSXDM
planting attribute (三调, docs/background.md §1.2) records non-grain crops (FLS) and land not farmed (WG).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from ..metrics.occupation import covered_share, overlaps_in_partition
from .findings import fmt, finding_rows, join_ids, pct

NON_GRAIN = {"FLS": "种植非粮食作物"}
ABANDONED = {"WG": "未耕种"}


def non_arable_use(land_classes, codes) -> np.ndarray:
    """'园地', '林地', '坑塘' or '设施农用地' per code (both schemes), '' otherwise."""
    codes = pd.Series(codes, dtype=object).astype("string").fillna("").str.strip().str.upper()
    crosswalked = pd.Series(land_classes.crosswalk(codes), dtype="string").fillna("")
    sandiao = crosswalked.where(crosswalked != "", codes)
    out = np.full(len(codes), "", dtype=object)
    out[sandiao.str.startswith("02").to_numpy(dtype=bool)] = "园地"
    out[sandiao.str.startswith("03").to_numpy(dtype=bool)] = "林地"
    out[sandiao.str.startswith("1104").to_numpy(dtype=bool)] = "坑塘"
    out[sandiao.str.startswith("1202").to_numpy(dtype=bool)] = "设施农用地"
    return out


def bf_checks(data, options) -> list[pd.DataFrame]:
    parts = []
    if data.bf_now is not None and len(data.bf_now):
        parts.extend(_overlay(data, options))
    if data.bf_now is not None and data.bf_prev is not None:
        parts.append(_lost(data, options))
    return parts


def parcel_uses(table, dltb) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per DLTB parcel: construction land, the non-arable use ('' if none), non-grain, abandoned.

    Basic farmland overlapping a parcel with any of these is a finding of :func:`bf_checks`.
    """
    construction = table.is_construction(dltb["DLBM"])
    use = non_arable_use(table, dltb["DLBM"])
    zzsx = (dltb["ZZSXDM"].astype("string").fillna("").str.strip().str.upper().to_numpy(dtype=object)
            if "ZZSXDM" in dltb else np.full(len(dltb), "", dtype=object))
    arable = table.is_arable(dltb["DLBM"])
    non_grain = arable & np.isin(zzsx, list(NON_GRAIN))
    abandoned = arable & np.isin(zzsx, list(ABANDONED))
    return construction, use, non_grain, abandoned


def _overlay(data, options) -> list[pd.DataFrame]:
    bf, dltb, year = data.bf_now, data.dltb, data.year
    table = data.ws.land_classes
    construction, use, non_grain, abandoned = parcel_uses(table, dltb)
    candidates = np.flatnonzero(construction | (use != "") | non_grain | abandoned)
    if not len(candidates):
        return []
    bf_geoms = np.asarray(bf.geometry.values, dtype=object)
    b, p, shared = overlaps_in_partition(bf_geoms, np.asarray(dltb.geometry.values, dtype=object), candidates)
    if not len(b):
        return []
    area = shapely.area(shared)
    keep = area >= options.overlap_min_m2
    b, p, shared, area = b[keep], candidates[p[keep]], shared[keep], area[keep]
    bf_ids = ("JBNTTB:" + bf["BSM"].astype(str)).to_numpy(dtype=object)[b]
    parcel_ids = ("DLTB:" + dltb["BSM"].astype(str)).to_numpy(dtype=object)[p]
    unit = bf["unit"].to_numpy(dtype=object)[b]
    code = dltb["DLBM"].astype(str).to_numpy(dtype=object)[p]
    name = table.name_of(code)
    bf_area = shapely.area(bf_geoms[b])
    label = bf_ids + " 与 " + parcel_ids + "（" + code + " " + name + "）重叠 " + fmt(area) + " m²（占该基本农田图斑 " \
        + pct(area / bf_area) + "）"
    parts = []
    for check, mask, text in (
        ("bf.construction", construction[p], "：永久基本农田上已为建设用地，属非农化，须核实是否经国务院批准并补划。"),
        ("bf.non_arable", use[p] != "", "：永久基本农田上为" + use[p] + "，不得挖塘、植树造林或建设设施农用地，须核实并恢复耕地。"),
        ("bf.non_grain", non_grain[p], "：种植属性 ZZSXDM = FLS（种植非粮食作物），永久基本农田应重点用于粮食生产。"),
        ("bf.abandoned", abandoned[p], "：种植属性 ZZSXDM = WG（未耕种），永久基本农田不得撂荒。"),
    ):
        if mask.any():
            text = text[mask] if isinstance(text, np.ndarray) else text
            parts.append(finding_rows(check, year, unit[mask], bf_ids[mask] + ";" + parcel_ids[mask],
                                      value=area[mask], reference=bf_area[mask],
                                      explanation=label[mask] + text, geometry=shared[mask]))
    return parts


def _lost(data, options) -> pd.DataFrame | None:
    """Basic farmland of Y−1 no longer basic farmland at Y, in units that did not re-designate it.

    Compared by geometry (a renumbered parcel is not a loss): the share of each Y−1 parcel's
    planar area not covered by Y parcels is lost, applied to its net area (YJJBNTMJ); the share
    of each Y parcel not covered by Y−1 parcels is newly designated (补划). A unit whose losses
    exceed its new designations by more than the tolerance has each lost parcel as a finding.
    """
    prev, now, year = data.bf_prev, data.bf_now, data.year
    prev_geoms = prev.geometry.values
    now_geoms = now.geometry.values
    prev_net = _net(prev)
    now_net = _net(now)
    # Most parcels are the same id with the same shape in both years: only the others are overlaid.
    prev_same, now_same = _unchanged(prev, now)
    kept = np.ones(len(prev))
    kept[~prev_same], _, _ = covered_share(prev_geoms[~prev_same], now_geoms)
    lost = (1.0 - kept) * prev_net
    old = np.ones(len(now))
    old[~now_same], _, _ = covered_share(now_geoms[~now_same], prev_geoms)
    new = (1.0 - old) * now_net
    prev_unit = prev["unit"].to_numpy(dtype=object)
    lost_by_unit = pd.Series(lost).groupby(prev_unit).sum()
    new_by_unit = pd.Series(new).groupby(now["unit"].to_numpy(dtype=object)).sum()
    balance = lost_by_unit.sub(new_by_unit, fill_value=0.0)
    short = balance.index[balance > np.maximum(options.bf_tolerance_m2, 0.0)]
    mask = (lost > options.overlap_min_m2) & pd.Series(prev_unit).isin(short).to_numpy()
    if not mask.any():
        return None
    units = prev_unit[mask]
    new_here = new_by_unit.reindex(units).fillna(0.0).to_numpy()
    lost_here = lost_by_unit.reindex(units).to_numpy()
    ids = ("JBNTTB:" + prev["BSM"].astype(str)).to_numpy(dtype=object)[mask]
    newly = join_ids(now["unit"].to_numpy(dtype=object)[new > options.overlap_min_m2],
                     ("JBNTTB:" + now["BSM"].astype(str)).to_numpy(dtype=object)[new > options.overlap_min_m2])
    return finding_rows(
        "bf.lost", year, units, ids, value=lost[mask], reference=0.0,
        related_ids=newly.reindex(units).fillna("").to_numpy(dtype=object),
        explanation=ids + f" 在 {year - 1} 年末为永久基本农田，{year} 年末有 " + fmt(lost[mask])
        + " m² 不再是；本单位当年永久基本农田共减少 " + fmt(lost_here) + " m²，新划入仅 " + fmt(new_here)
        + " m²，减少部分未补划。",
        geometry=prev_geoms[mask])


def _unchanged(prev, now) -> tuple[np.ndarray, np.ndarray]:
    """Parcels present in both years under one BSM with an identical shape (per side)."""
    position = pd.Index(now["BSM"].astype(str)).get_indexer(prev["BSM"].astype(str))
    found = position >= 0
    same = np.zeros(len(prev), dtype=bool)
    same[found] = shapely.equals_exact(prev.geometry.values[found], now.geometry.values[position[found]], 0.0)
    now_same = np.zeros(len(now), dtype=bool)
    now_same[position[same]] = True
    return same, now_same


def _net(frame) -> np.ndarray:
    for name in ("YJJBNTMJ", "TBMJ"):
        if name in frame:
            values = frame[name].to_numpy(dtype="float64", na_value=np.nan)
            return np.where(np.isnan(values), shapely.area(frame.geometry.values), values)
    return shapely.area(frame.geometry.values)
