"""补充耕地 and high-standard farmland: the ledger against the change records, projects against use.

* A 补充 row of the 占补平衡 ledger (ZBPH) supplied locally (source 本地 or blank) must show up
  as arable land gained in the same unit and year of the change records; supplements from
  elsewhere (省统筹, 国家统筹, 跨县易地) do not, and are not checked here.
* High-standard farmland (GBZNT) completed before the year and built on during it, and two
  projects whose areas overlap (the second would count the same land again), are suspects.
* The metrics' ledger residual (耕地台账不平) is carried over with its evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from ..metrics.ledger import LEDGER_TOLERANCE_MU, classify_pieces
from ..metrics.occupation import overlaps
from ..units import M2_TO_MU
from .findings import finding_rows, fmt, join_ids

LOCAL_SOURCES = ("本地", "")


def ledger_checks(data, options, metrics=None) -> list[pd.DataFrame]:
    parts = [_supplement(data, options), *_hsf(data, options)]
    if metrics is not None:
        parts.append(_residual(data, metrics))
    return parts


def _supplement(data, options):
    zbph, pieces, year = data.zbph, data.pieces, data.year
    if zbph is None or pieces is None:
        return None
    rows = zbph[(zbph["year"] == year) & (zbph["kind"] == "补充")]
    source = rows["source"].fillna("").astype(str).str.strip() if "source" in rows else pd.Series("", index=rows.index)
    rows = rows[source.isin(LOCAL_SOURCES)]
    if not len(rows):
        return None
    dltb = data.dltb
    table = data.ws.land_classes
    arable = table.is_arable(dltb["DLBM"])
    kcxs = dltb["KCXS"].to_numpy(dtype="float64", na_value=np.nan) if "KCXS" in dltb else np.zeros(len(dltb))
    arable_now = pd.DataFrame({"BSM": dltb["BSM"].astype(str)[arable].to_numpy(dtype=object),
                               "kcxs": np.nan_to_num(kcxs[arable])})
    from ..report import Report

    classified = classify_pieces(pieces, year, table, arable_now, Report(strict=False))
    gain = classified.after_m2 * classified.gain
    unit = pieces["unit"].to_numpy(dtype=object)
    gains_mu = pd.Series(gain).groupby(unit).sum() * M2_TO_MU
    zbph_unit = data.code_units(rows["xzqdm"])
    declared = pd.Series(rows["area_mu"].to_numpy(dtype="float64", na_value=0.0)).groupby(zbph_unit).sum()
    found = gains_mu.reindex(declared.index).fillna(0.0)
    short = declared - found
    off = short > np.maximum(options.ledger_tolerance_mu, options.ledger_tolerance_share * declared)
    if not off.any():
        return None
    codes = declared.index[off].to_numpy(dtype=object)
    row_ids = join_ids(zbph_unit, ("ZBPH:row " + rows["row"].astype(str)).to_numpy(dtype=object))
    gain_ids = join_ids(unit[gain > 0], pieces["piece_id"].to_numpy(dtype=object)[gain > 0])
    d, f = declared[off].to_numpy(), found[off].to_numpy()
    return finding_rows(
        "ledger.supplement", year, codes, row_ids.reindex(codes).fillna("").to_numpy(dtype=object),
        related_ids=gain_ids.reindex(codes).fillna("").to_numpy(dtype=object), value=d, reference=f,
        explanation=f"{year} 年台账登记本地补充耕地 " + fmt(d) + " 亩，变更调查中同年新增耕地仅 " + fmt(f)
        + " 亩，差 " + fmt(d - f) + " 亩：补充耕地未在变更调查中体现，请核查补充耕地项目是否验收入库。")


def _hsf(data, options) -> list[pd.DataFrame]:
    gbznt, pieces, year = data.gbznt, data.pieces, data.year
    if gbznt is None or not len(gbznt):
        return []
    parts = []
    geoms = gbznt.geometry.values
    jsnf = gbznt["JSNF"].to_numpy(dtype="float64", na_value=np.nan)
    xmbh = ("GBZNT:" + gbznt["XMBH"].astype(str)).to_numpy(dtype=object)
    unit = data.place(data.code_units(gbznt["XZQDM"]), gbznt)
    if pieces is not None and len(pieces):
        table = data.ws.land_classes
        built = table.is_construction(pieces["BGHDLBM"]) & ~table.is_construction(pieces["BGQDLBM"])
        idx = np.flatnonzero(built)
        done = np.flatnonzero(jsnf < year)
        if len(idx) and len(done):
            tree = shapely.STRtree(geoms[done])
            p, g = tree.query(pieces.geometry.values[idx], predicate="intersects")
            g = done[g]
            shared = overlaps(pieces.geometry.values[idx][p], geoms[g])
            area = shapely.area(shared)
            real = area >= options.overlap_min_m2
            if real.any():
                p, g, shared, area = p[real], g[real], shared[real], area[real]
                piece_ids = pieces["piece_id"].to_numpy(dtype=object)[idx][p]
                parts.append(finding_rows(
                    "hsf.occupied", year, pieces["unit"].to_numpy(dtype=object)[idx][p], piece_ids,
                    related_ids=xmbh[g], value=area, reference=shapely.area(geoms[g]),
                    explanation=piece_ids + "（" + pieces["BGQDLBM"].astype(str).to_numpy(dtype=object)[idx][p] + " → "
                    + pieces["BGHDLBM"].astype(str).to_numpy(dtype=object)[idx][p] + "）占用 " + jsnf[g].astype(int).astype(str)
                    + " 年建成的高标准农田 " + xmbh[g] + " " + fmt(area) + " m²。",
                    geometry=shared))
    this_year = np.flatnonzero(jsnf == year)
    if len(this_year):
        tree = shapely.STRtree(geoms)
        a, b = tree.query(geoms[this_year], predicate="intersects")
        a = this_year[a]
        # Each pair once: the project of this year against an earlier one, or two of this year once.
        keep = (a != b) & ((jsnf[b] < year) | ((jsnf[b] == year) & (a < b)))
        a, b = a[keep], b[keep]
        if len(a):
            shared = overlaps(geoms[a], geoms[b])
            area = shapely.area(shared)
            real = area >= options.overlap_min_m2
            a, b, shared, area = a[real], b[real], shared[real], area[real]
            if len(a):
                parts.append(finding_rows(
                    "hsf.overlap", year, unit[a], xmbh[a] + ";" + xmbh[b], value=area, reference=shapely.area(geoms[a]),
                    explanation=xmbh[a] + "（" + str(year) + " 年建成）与 " + xmbh[b] + "（" + jsnf[b].astype(int).astype(str)
                    + " 年）重叠 " + fmt(area) + " m²：同一地块重复计入高标准农田建设面积。",
                    geometry=shared))
    return parts


def _residual(data, metrics):
    wide = metrics.wide(level="county", phase="annual", years=[data.year])
    if "ledger_residual_mu" not in wide:
        return None
    residual = wide["ledger_residual_mu"].to_numpy(dtype="float64", na_value=np.nan)
    off = np.abs(residual) > LEDGER_TOLERANCE_MU
    if not off.any():
        return None
    codes = wide["xzqdm"].to_numpy(dtype=object)[off]
    ids = np.array([";".join(metrics.evidence(c, "ledger_residual_mu", "annual", data.year)) for c in codes],
                   dtype=object)  # one look-up per unit
    return finding_rows(
        "ledger.residual", data.year, codes, ids, value=residual[off], reference=0.0,
        explanation=f"{data.year} 年耕地台账（年初耕地 + 增加 − 减少 = 年末耕地）不平，差额 " + fmt(residual[off])
        + " 亩；所列图斑面积在两期间变化但无变更记录，或变更记录所指图斑不在年末数据中。")
