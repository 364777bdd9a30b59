"""Illegal occupation: change pieces without approvals, reported vs derived, approvals misused.

For a unit and year the change records (DLTBGXGC) arable → construction are set against the
construction-land approvals (JSYDSP) in force at the change date (GXSJ), as the metrics derive
``derived_illegal_arable_mu`` (:func:`farmland.metrics.occupation.approval_share`); what no
approval covers is a suspect piece. A unit whose monitoring parcels (WPZF) report far less
illegal occupation than the pieces imply — above all one whose derived ratio reaches 15 % while
the reported one does not (监察部等令第15号 第三条(一)) — is a finding naming the pieces and the
monitoring parcels. Approvals dated after the change they cover (先用后批) and approvals whose
arable area is exceeded by the pieces using them are findings too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from ..metrics.occupation import approval_share, illegal_ratio_flag, overlaps, ratio
from ..units import M2_TO_MU
from .findings import finding_rows, fmt, join_ids, pct


def arable_to_construction(data, pieces):
    """Which change pieces turn arable land into construction land, and their arable area (m²,
    net of the 田坎 deduction)."""
    table = data.ws.land_classes
    mask = table.is_arable(pieces["BGQDLBM"]) & table.is_construction(pieces["BGHDLBM"])
    kcxs = (np.nan_to_num(pieces["BGQKCXS"].to_numpy(dtype="float64", na_value=np.nan))
            if "BGQKCXS" in pieces else np.zeros(len(pieces)))
    net = np.nan_to_num(pieces["TBBGMJ"].to_numpy(dtype="float64", na_value=np.nan)) * (1.0 - kcxs)
    return mask, net


def occupation_checks(data, options) -> list[pd.DataFrame]:
    pieces = data.pieces
    if pieces is None or not len(pieces):
        return []
    year = data.year
    mask, net = arable_to_construction(data, pieces)
    idx = np.flatnonzero(mask)
    geoms = pieces.geometry.values[idx]
    dates = pieces["GXSJ"].to_numpy() if "GXSJ" in pieces else np.full(len(pieces), np.datetime64("NaT"))
    share, pair_piece, pair_approval = approval_share(geoms, dates[idx], year, data.approvals, data.report)
    net = net[idx]
    unapproved = net * (1.0 - share)
    unit = pieces["unit"].to_numpy(dtype=object)[idx]
    piece_ids = pieces["piece_id"].to_numpy(dtype=object)[idx]
    parts = []

    wpzf_hits = pd.Series("", index=range(len(idx)), dtype=object)
    reported_illegal = np.zeros(len(idx), dtype=bool)
    wpzf = data.wpzf
    if wpzf is not None and len(wpzf):
        tree = shapely.STRtree(wpzf.geometry.values)
        i, w = tree.query(geoms, predicate="intersects")
        if len(i):
            real = shapely.area(overlaps(geoms[i], wpzf.geometry.values[w])) > 0
            i, w = i[real], w[real]
            jcbh = ("WPZF:" + wpzf["JCBH"].astype(str)).to_numpy(dtype=object)
            wpzf_hits = join_ids(i, jcbh[w]).reindex(range(len(idx))).fillna("")
            illegal = np.nan_to_num(wpzf["WFZYGDMJ"].to_numpy(dtype="float64", na_value=np.nan)) > 0
            reported_illegal[np.unique(i[illegal[w]])] = True

    suspect = unapproved > np.maximum(options.piece_tolerance_m2, options.piece_tolerance * net)
    if suspect.any():
        said = np.where(reported_illegal[suspect], "卫片执法图斑已认定违法（" + wpzf_hits.to_numpy(dtype=object)[suspect] + "）。",
                        np.where(wpzf_hits.to_numpy(dtype=object)[suspect] != "",
                                 "与卫片执法图斑 " + wpzf_hits.to_numpy(dtype=object)[suspect] + " 重叠，但其未认定违法。",
                                 "没有卫片执法图斑覆盖，未上报。"))
        parts.append(finding_rows(
            "occupation.unapproved", year, unit[suspect], piece_ids[suspect],
            related_ids=wpzf_hits.to_numpy(dtype=object)[suspect],
            value=unapproved[suspect], reference=net[suspect],
            severity=np.where(reported_illegal[suspect], "info", "warning"),
            explanation=pieces["BGQDLBM"].astype(str).to_numpy(dtype=object)[idx][suspect] + " → "
            + pieces["BGHDLBM"].astype(str).to_numpy(dtype=object)[idx][suspect] + "，耕地 " + fmt(net[suspect])
            + " m² 中有 " + fmt(unapproved[suspect]) + " m² 在变更日期无有效批准文件覆盖；" + said,
            geometry=geoms[suspect]))

    parts.append(_underreported(data, options, unit, piece_ids, net, unapproved, suspect, geoms))
    parts.append(_before_approval(data, options, idx, geoms, dates[idx], net, unit, piece_ids, share))
    parts.append(_beyond_approval(data, options))
    return parts


def _underreported(data, options, unit, piece_ids, net, unapproved, suspect, geoms):
    """Per unit: WPZF's illegal arable (WFZYGDMJ) against what the pieces and approvals imply."""
    wpzf, year = data.wpzf, data.year
    if wpzf is None:
        return None
    derived_occ = pd.Series(net).groupby(unit).sum()
    derived_ill = pd.Series(unapproved).groupby(unit).sum()
    w_unit = wpzf["unit"].to_numpy(dtype=object)
    reported_occ = pd.Series(np.nan_to_num(wpzf["ZYGDMJ"].to_numpy(dtype="float64", na_value=np.nan))).groupby(w_unit).sum()
    reported_ill = pd.Series(np.nan_to_num(wpzf["WFZYGDMJ"].to_numpy(dtype="float64", na_value=np.nan))).groupby(w_unit).sum()
    codes = sorted(set(derived_occ.index) | set(reported_occ.index))
    d_occ, d_ill = derived_occ.reindex(codes).fillna(0.0), derived_ill.reindex(codes).fillna(0.0)
    r_occ, r_ill = reported_occ.reindex(codes).fillna(0.0), reported_ill.reindex(codes).fillna(0.0)
    d_flag = illegal_ratio_flag(d_ill, d_occ)
    r_flag = illegal_ratio_flag(r_ill, r_occ)
    gap_mu = (d_ill - r_ill).to_numpy() * M2_TO_MU
    hides = (d_flag == 1) & (r_flag == 0)
    far_below = gap_mu > np.maximum(options.illegal_gap_mu, options.illegal_gap_share * d_ill.to_numpy() * M2_TO_MU)
    hit = hides | far_below
    if not hit.any():
        return None
    codes = np.asarray(codes, dtype=object)[hit]
    pieces_by_unit = join_ids(unit[suspect], piece_ids[suspect])
    wpzf_by_unit = join_ids(w_unit, ("WPZF:" + wpzf["JCBH"].astype(str)).to_numpy(dtype=object))
    ids = pieces_by_unit.reindex(codes).fillna("").to_numpy(dtype=object)
    related = wpzf_by_unit.reindex(codes).fillna("").to_numpy(dtype=object)
    shapes = pd.Series(list(geoms[suspect]), dtype=object).groupby(unit[suspect]).agg(
        lambda g: shapely.union_all(np.asarray(list(g), dtype=object)))  # one union per unit
    d_ratio = ratio(d_ill, d_occ)[hit]
    r_ratio = ratio(r_ill, r_occ)[hit]
    head = np.where(hides[hit], f"{year} 年按变更调查和批准文件推算的违法占用耕地比例达到 15%，卫片执法上报的比例未达到：",
                    f"{year} 年卫片执法上报的违法占用耕地面积明显低于推算值：")
    return finding_rows(
        "occupation.underreported", year, codes, ids, related_ids=related,
        value=r_ill.to_numpy()[hit] * M2_TO_MU, reference=d_ill.to_numpy()[hit] * M2_TO_MU,
        severity=np.where(hides[hit], "error", "warning"),
        explanation=head + "上报违法占用耕地 " + fmt(r_ill.to_numpy()[hit] * M2_TO_MU) + " 亩（比例 " + pct(r_ratio)
        + "），推算 " + fmt(d_ill.to_numpy()[hit] * M2_TO_MU) + " 亩（比例 " + pct(d_ratio) + "，新增建设占用耕地 "
        + fmt(d_occ.to_numpy()[hit] * M2_TO_MU) + " 亩）。请核查所列变更图斑与卫片执法图斑。",
        geometry=shapes.reindex(codes).to_numpy(dtype=object))


def _before_approval(data, options, idx, geoms, dates, net, unit, piece_ids, share):
    """Pieces covered by an approval dated after the change (先用后批: built before approval).

    Only pieces not wholly covered by approvals already in force: a later approval over land
    already approved is a re-approval, not a use before approval.
    """
    approvals = data.approvals
    if approvals is None or not len(approvals) or not len(idx):
        return None
    tree = shapely.STRtree(approvals.geometry.values)
    p, a = tree.query(geoms, predicate="intersects")
    when = approvals["PZRQ"].to_numpy(dtype="datetime64[ns]")[a]
    changed = pd.to_datetime(pd.Series(dates[p]), errors="coerce").to_numpy(dtype="datetime64[ns]")
    late = ~np.isnat(when) & ~np.isnat(changed) & (when > changed) & (share[p] < 1.0 - 1e-9)
    p, a = p[late], a[late]
    if not len(p):
        return None
    shared = overlaps(geoms[p], approvals.geometry.values[a])
    area = shapely.area(shared)
    real = area > options.piece_tolerance_m2
    p, a, shared, area = p[real], a[real], shared[real], area[real]
    if not len(p):
        return None
    pzwh = approvals["PZWH"].astype(str).to_numpy(dtype=object)[a]
    days = ((approvals["PZRQ"].to_numpy(dtype="datetime64[ns]")[a]
             - pd.to_datetime(pd.Series(dates[p])).to_numpy(dtype="datetime64[ns]")) / np.timedelta64(1, "D"))
    return finding_rows(
        "occupation.before_approval", data.year, unit[p], piece_ids[p], related_ids="JSYDSP:" + pzwh,
        value=area, reference=net[p], difference=days, measure_unit="m²；差值为天",
        explanation=piece_ids[p] + " 于 " + pd.Series(dates[p]).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
        + " 变为建设用地，覆盖它的批准文件 " + pzwh + " 批准于 " + pd.Series(approvals["PZRQ"].to_numpy()[a]).dt.strftime(
            "%Y-%m-%d").to_numpy(dtype=object) + "（晚 " + fmt(days, 0) + " 天），重叠 " + fmt(area)
        + " m²：先用地后批准，批准前的占用属违法用地。",
        geometry=shared)


def _beyond_approval(data, options):
    """Approvals whose arable area (ZYGDMJ, else PZMJ) is exceeded by the pieces that use them.

    Use accumulates over the period's change records up to the audited year; an approval is
    reported in the year its use first needs the pieces of that year.
    """
    approvals, year = data.approvals, data.year
    if approvals is None or not len(approvals):
        return None
    approved = (approvals["ZYGDMJ"] if "ZYGDMJ" in approvals else pd.Series(np.nan, index=approvals.index))
    approved = approved.to_numpy(dtype="float64", na_value=np.nan)
    if "PZMJ" in approvals:
        approved = np.where(np.isnan(approved), approvals["PZMJ"].to_numpy(dtype="float64", na_value=np.nan), approved)
    if np.isnan(approved).all():
        return None
    used = np.zeros(len(approvals))
    used_now = np.zeros(len(approvals))
    users = []
    tree = shapely.STRtree(approvals.geometry.values)
    for y in [y for y in data.ws.period.data_years if y <= year]:  # a handful of years, not parcels
        pieces = data.change_pieces(y)
        if pieces is None or not len(pieces):
            continue
        mask, net = arable_to_construction(data, pieces)
        idx = np.flatnonzero(mask)
        geoms = pieces.geometry.values[idx]
        p, a = tree.query(geoms, predicate="intersects")
        if not len(p):
            continue
        area = shapely.area(overlaps(geoms[p], approvals.geometry.values[a]))
        planar = shapely.area(geoms[p])
        with np.errstate(invalid="ignore", divide="ignore"):
            arable = np.where(planar > 0, area / planar, 0.0) * net[idx][p]
        used += np.bincount(a, weights=arable, minlength=len(approvals))
        if y == year:
            used_now += np.bincount(a, weights=arable, minlength=len(approvals))
            users.append(pd.DataFrame({"a": a[arable > 0], "id": pieces["piece_id"].to_numpy(dtype=object)[idx][p][arable > 0]}))
    allowed = approved + np.maximum(options.piece_tolerance * approved, options.piece_tolerance_m2)
    over = (used > allowed) & (used_now > 0) & ~np.isnan(approved)
    if not over.any():
        return None
    users = pd.concat(users, ignore_index=True) if users else pd.DataFrame({"a": [], "id": []})
    piece_ids = join_ids(users["a"].to_numpy(), users["id"].to_numpy(dtype=object)).reindex(np.flatnonzero(over)).fillna("")
    pzwh = approvals["PZWH"].astype(str).to_numpy(dtype=object)[over]
    units = data.place(data.code_units(approvals["XZQDM"]) if "XZQDM" in approvals
                       else np.full(len(approvals), "未归属", dtype=object), approvals)[over]
    return finding_rows(
        "occupation.beyond_approval", year, units, "JSYDSP:" + pzwh, related_ids=piece_ids.to_numpy(dtype=object),
        value=used[over], reference=approved[over],
        explanation="批准文件 " + pzwh + " 批准占用耕地 " + fmt(approved[over]) + " m²，截至 " + str(year)
        + " 年变更调查中由其覆盖的耕地转建设用地已达 " + fmt(used[over]) + " m²，超出批准面积。",
        geometry=approvals.geometry.values[over])
