"""Arable land occupied by new construction, and of it illegal: reported and derived.

Two independent figures, kept side by side as a cross-check (data contract, "Outputs"):

* **Reported** — the satellite-enforcement monitoring parcels (卫片执法, WPZF) of the year: ZYGDMJ
  is the arable land occupied by new construction, WFZYGDMJ the part occupied illegally.
* **Derived** — the change records (DLTBGXGC) arable → construction, net of 田坎 (a piece's
  arable part is TBBGMJ × (1 − BGQKCXS), docs/background.md §1.4), split by the construction-land
  approvals (JSYDSP) in force at the change date: the share of the piece's planar area covered by
  approvals with PZRQ ≤ GXSJ is legal, the rest is not.

The 15 % rule (监察部等令第15号 第三条(一); docs/background.md §4.3): in one calendar year, illegally occupied
arable land reaching 15 % of the arable land occupied by new construction. The ratio is empty
when nothing was occupied, and illegal occupation with nothing occupied is flagged anyway (every
occupation was illegal).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from ..report import Report
from ..schema import RECTIFICATION_STATES
from ..units import SLIVER_M2, SLIVER_WIDTH_M
from .parts import evidence_rows, group_sums, prefixed

ILLEGAL_RATIO_THRESHOLD = 0.15
"""违法占用耕地比例 that triggers accountability: "达到15%以上" (监察部等令第15号 第三条(一);
聊政发〔2018〕34号 四(三)). The one definition of the 15 % line: :func:`illegal_ratio_flag` applies
it to the reported (WPZF) and to the derived (change records) figures alike."""

ILLEGAL_RATIO_DISAGREEMENT_TOLERANCE = 0.05
"""Absolute gap between the reported and the derived illegal ratio (a fraction: 0.05 = five
percentage points) beyond which ``illegal_ratio_disagreement`` is raised. The two figures measure
the same thing from independent sources (monitoring parcels vs change records and approvals);
a few points apart is ordinary noise of delineation and dating, more calls for a look."""

RATIO_TOLERANCE = 1e-9
"""Relative slack when comparing a ratio with 15 %: areas in m² summed in binary floating point
can land a hair below an exact 15.000 %, which "reaches 15 %" must still count."""

WPZF_COLUMNS = ["JCBH", "XZQDM", "JCNF", "XZJSYDMJ", "ZYGDMJ", "WFZYGDMJ", "ZGZT", "ZGMJ", "ZGFS"]
JSYDSP_COLUMNS = ["PZWH", "PZRQ", "XZQDM", "PZMJ", "ZYGDMJ"]


def ratio(numerator, denominator):
    """numerator ÷ denominator; NaN where the denominator is 0 or either side is NaN."""
    numerator = np.asarray(numerator, dtype="float64")
    denominator = np.asarray(denominator, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = numerator / denominator
    return np.where(denominator == 0, np.nan, out)


def illegal_ratio_flag(illegal, occupied, threshold: float = ILLEGAL_RATIO_THRESHOLD) -> np.ndarray:
    """1.0 where illegal ÷ occupied reaches ``threshold`` (or illegal > 0 with nothing occupied).

    NaN where either input is NaN (the layer was missing), else 0.0 or 1.0.
    """
    illegal = np.asarray(illegal, dtype="float64")
    occupied = np.asarray(occupied, dtype="float64")
    share = ratio(illegal, occupied)
    reached = share >= threshold * (1.0 - RATIO_TOLERANCE)
    flag = np.where(occupied > 0, reached, illegal > 0).astype("float64")
    return np.where(np.isnan(illegal) | np.isnan(occupied), np.nan, flag)


def illegal_ratio_disagreement(reported_ratio, derived_ratio, reported_flag, derived_flag,
                               tolerance: float = ILLEGAL_RATIO_DISAGREEMENT_TOLERANCE) -> np.ndarray:
    """1.0 where the reported and derived illegal ratios disagree, 0.0 where they agree.

    Disagree: exactly one of the two 15 % flags is raised, or both ratios are known and differ by
    more than ``tolerance`` (absolute). NaN where either flag is unknown (its layer was missing).
    A ratio that is empty because nothing was occupied is compared through its flag only.
    """
    reported_ratio, derived_ratio, reported_flag, derived_flag = (
        np.asarray(a, dtype="float64") for a in (reported_ratio, derived_ratio, reported_flag,
                                                  derived_flag))
    with np.errstate(invalid="ignore"):
        apart = np.abs(reported_ratio - derived_ratio) > tolerance + RATIO_TOLERANCE
    out = (apart | (reported_flag != derived_flag)).astype("float64")
    return np.where(np.isnan(reported_flag) | np.isnan(derived_flag), np.nan, out)


def overlaps(a, b) -> np.ndarray:
    """Intersections of ``a[i]`` and ``b[i]``, with slivers (:data:`farmland.units.SLIVER_M2`,
    :data:`~farmland.units.SLIVER_WIDTH_M`) replaced by empty polygons."""
    shared = shapely.intersection(a, b)
    shared[_is_sliver(shared)] = shapely.Polygon()
    return shared


def _is_sliver(geoms) -> np.ndarray:
    area = shapely.area(geoms)
    with np.errstate(invalid="ignore", divide="ignore"):
        width = 2 * area / shapely.length(geoms)
    return (area < SLIVER_M2) | (width < SLIVER_WIDTH_M)


def overlaps_in_partition(geoms, partition, subset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlaps of ``geoms`` with the parcels ``partition[subset]``: :func:`overlaps` of every
    pair whose interiors meet, without intersecting the pairs that only touch.

    Parameters
    ----------
    geoms : array of shapely polygons
        E.g. basic-farmland parcels.
    partition : array of shapely polygons, same CRS
        A layer whose parcels do not overlap (DLTB: validation refuses overlaps beyond slivers).
    subset : array of int
        Positions in ``partition`` of the parcels to overlay (e.g. construction-class parcels).

    Returns
    -------
    geom_index : ndarray of int
        Position in ``geoms``.
    subset_index : ndarray of int
        Position in ``subset`` (not in ``partition``).
    shared : ndarray of shapely geometries
        The overlap, never a sliver; pairs whose overlap is a sliver or nothing are left out.

    Notes
    -----
    Most features lie wholly inside one parcel of the partition (basic farmland is designated on
    survey parcels), found from the feature's representative point: that parcel is the only one
    it can share area with, since the partition's other parcels share none with it, and its many
    neighbours along the edges need no intersection. Features straddling parcels are intersected
    with every parcel whose box meets theirs.
    """
    geoms = np.asarray(geoms, dtype=object)
    partition = np.asarray(partition, dtype=object)
    subset = np.asarray(subset, dtype=np.intp)
    empty = np.empty(0, dtype=np.intp)
    if len(geoms) == 0 or len(subset) == 0:
        return empty, empty, np.empty(0, dtype=object)
    host = _host_parcel(geoms, partition)
    g, s = shapely.STRtree(partition[subset]).query(geoms)
    # A pair with the feature's own parcel, or of a feature that straddles parcels.
    needed = (host[g] < 0) | (subset[s] == host[g])
    g, s = g[needed], s[needed]
    shared = overlaps(geoms[g], partition[subset[s]])
    real = ~shapely.is_empty(shared)
    return g[real], s[real], shared[real]


def _host_parcel(geoms: np.ndarray, partition: np.ndarray) -> np.ndarray:
    """Position of the one ``partition`` parcel covering each geometry, -1 where there is none."""
    valid = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    g, p = shapely.STRtree(partition).query(shapely.point_on_surface(geoms[valid]), predicate="within")
    g = valid[g]
    covered = _covered_by(geoms[g], partition[p])
    g, p = g[covered], p[covered]
    once = np.bincount(g, minlength=len(geoms)) == 1
    host = np.full(len(geoms), -1, dtype=np.intp)
    host[g[once[g]]] = p[once[g]]
    return host


def _covered_by(a, b) -> np.ndarray:
    """``shapely.covered_by(a, b)``, settling copies of one outline (a parcel's basic farmland,
    an approval drawn on a piece, either one a one-part MultiPolygon) by comparing coordinates,
    which costs far less than the full test."""
    one_part = (shapely.get_num_geometries(a) == 1) & (shapely.get_num_geometries(b) == 1)
    covered = one_part & shapely.equals_exact(shapely.get_geometry(a, 0), shapely.get_geometry(b, 0), 0.0)
    covered[~covered] = shapely.covered_by(a[~covered], b[~covered])
    return covered


def covered_share(targets, covers, keep=None, tree=None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Share of each target's planar area covered by the union of the covers it intersects.

    Parameters
    ----------
    targets, covers : array-like of shapely geometries, same CRS
    keep : callable(target_index, cover_index) -> bool array, optional
        Filter on candidate pairs (e.g. the approval was in force at the change date).
    tree : shapely.STRtree, optional
        The tree of ``covers``, when the caller has it already.

    Returns
    -------
    share : ndarray of float in [0, 1]
    target_index, cover_index : ndarray of int
        The pairs that were used (intersecting and kept).

    Notes
    -----
    Covers may overlap each other (two approvals of the same land), so the intersections are
    unioned per target before measuring: a padded 2-D array reduced by ``shapely.union_all``
    along its rows keeps the work in GEOS, with no Python loop over targets.
    """
    targets = np.asarray(targets, dtype=object)
    covers = np.asarray(covers, dtype=object)
    share = np.zeros(len(targets))
    empty = np.empty(0, dtype=np.intp)
    if len(targets) == 0 or len(covers) == 0:
        return share, empty, empty
    tree = tree if tree is not None else shapely.STRtree(covers)
    t, c = tree.query(targets, predicate="intersects")
    if keep is not None and len(t):
        mask = np.asarray(keep(t, c), dtype=bool)
        t, c = t[mask], c[mask]
    if len(t) == 0:
        return share, empty, empty
    area = shapely.area(targets)
    # A target inside one cover is covered whatever the others add: its share is 1 (covered is
    # set to its area below), so its pairs need no intersection, unless it is a sliver itself.
    inside = _covered_by(targets[t], covers[c])
    whole = np.zeros(len(targets), dtype=bool)
    whole[t[inside]] = True
    whole &= ~_is_sliver(targets)
    order = np.argsort(t, kind="stable")
    used_t, used_c = t[order], c[order]
    measured = ~whole[used_t]
    t, c = used_t[measured], used_c[measured]
    pieces = overlaps(targets[t], covers[c])
    uniq, start, counts = np.unique(t, return_index=True, return_counts=True)
    covered = np.where(whole, area, 0.0)
    single = counts == 1
    covered[uniq[single]] = shapely.area(pieces[start[single]])
    if (~single).any():
        multi = np.repeat(~single, counts)
        rows = np.repeat(np.arange((~single).sum()), counts[~single])
        rank = (np.arange(len(t)) - np.repeat(start, counts))[multi]
        grid = np.full(((~single).sum(), counts.max()), None, dtype=object)
        grid[rows, rank] = pieces[multi]
        covered[uniq[~single]] = shapely.area(shapely.union_all(grid, axis=1))
    # A target covered but for a sliver is covered.
    covered = np.where(area - covered < SLIVER_M2, area, covered)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(area > 0, covered / area, 0.0)
    return np.clip(share, 0.0, 1.0), used_t, used_c


def reported_occupation(wpzf: pd.DataFrame, keys: dict[str, np.ndarray], year: int,
                        report: Report):
    """Per-unit WPZF components (m²) and evidence, for monitoring parcels of ``year`` only.

    ``wpzf`` must already be filtered to JCNF = year and attributed (``keys``).
    """
    occupied = np.nan_to_num(wpzf["ZYGDMJ"].to_numpy(dtype="float64", na_value=np.nan))
    illegal = np.nan_to_num(wpzf["WFZYGDMJ"].to_numpy(dtype="float64", na_value=np.nan))
    ids = prefixed("WPZF", wpzf["JCBH"], fallback=np.arange(len(wpzf)))
    over = illegal > occupied + 0.005
    if over.any():
        report.warning("WPZF", "illegal-exceeds-occupied", "monitoring parcels whose illegally "
                       "occupied arable area (WFZYGDMJ) exceeds their occupied arable area (ZYGDMJ); "
                       "the figures are used as given, check them with the monitoring team.",
                       year=year, ids=ids[over])
    columns = {"wpzf_occupied_m2": occupied, "wpzf_illegal_m2": illegal}
    values = {level: group_sums(key, columns) for level, key in keys.items()}
    evidence = {}
    for level, key in keys.items():
        evidence[level] = pd.concat([
            evidence_rows(key, ids, "construction_on_arable_mu", occupied > 0),
            evidence_rows(key, ids, "illegal_arable_mu", illegal > 0),
            evidence_rows(key, ids, ["illegal_ratio", "illegal_ratio_flag",
                                     "opinion_trigger_illegal_ratio"], (occupied > 0) | (illegal > 0)),
        ], ignore_index=True)
    return values, evidence


def rectified_occupation(wpzf: pd.DataFrame, keys: dict[str, np.ndarray], year: int,
                         report: Report):
    """Per-unit illegal arable occupation rectified (m², ``wpzf_rectified_m2``) and its evidence.

    The rule: a monitoring parcel with illegal occupation (WFZYGDMJ > 0) counts its ZGMJ where
    ZGZT is 已整改, or ZGZT is blank and ZGMJ is given (an area rectified needs no status to
    be believed). 整改中 and 未整改 count nothing; 已整改 without ZGMJ counts nothing (an area
    cannot be assumed), with a warning. ZGMJ above WFZYGDMJ counts WFZYGDMJ, with a warning.
    ``None`` when WPZF has no ZGMJ field: the figure is unknown, not 0.
    """
    if "ZGMJ" not in wpzf:
        return None, None
    ids = prefixed("WPZF", wpzf["JCBH"], fallback=np.arange(len(wpzf)))
    illegal = np.nan_to_num(wpzf["WFZYGDMJ"].to_numpy(dtype="float64", na_value=np.nan))
    area = wpzf["ZGMJ"].to_numpy(dtype="float64", na_value=np.nan)
    state = (wpzf["ZGZT"].astype("string").str.strip() if "ZGZT" in wpzf
             else pd.Series(pd.NA, index=wpzf.index, dtype="string"))
    blank = state.isna().to_numpy() | (state == "").to_numpy(dtype=bool, na_value=True)
    done = (state == "已整改").to_numpy(dtype=bool, na_value=False)
    odd = ~blank & ~state.isin(RECTIFICATION_STATES).to_numpy(dtype=bool, na_value=False)
    if odd.any():
        report.warning("WPZF", "unknown-rectification-state", f"ZGZT other than "
                       f"{', '.join(RECTIFICATION_STATES)}: these parcels count no rectification.",
                       year=year, field="ZGZT", ids=ids[odd])
    unmeasured = done & np.isnan(area) & (illegal > 0)
    if unmeasured.any():
        report.warning("WPZF", "rectified-without-area", "parcels marked 已整改 without ZGMJ count "
                       "no rectified area; fill ZGMJ (m²).", year=year, field="ZGMJ", ids=ids[unmeasured])
    counted = (illegal > 0) & ~np.isnan(area) & (done | blank)
    over = counted & (area > illegal + 0.005)
    if over.any():
        report.warning("WPZF", "rectified-exceeds-illegal", "ZGMJ (rectified) exceeds WFZYGDMJ "
                       "(illegally occupied arable); WFZYGDMJ is counted. Check them with the "
                       "monitoring team.", year=year, field="ZGMJ", ids=ids[over])
    rectified = np.where(counted, np.minimum(np.nan_to_num(area), illegal), 0.0)
    values = {level: group_sums(key, {"wpzf_rectified_m2": rectified}) for level, key in keys.items()}
    evidence = {level: evidence_rows(key, ids, "illegal_rectified_mu", rectified > 0)
                for level, key in keys.items()}
    return values, evidence


def approval_share(piece_geometry, change_dates, year: int, approvals: pd.DataFrame | None,
                   report: Report) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Legal share of each change piece: planar share covered by approvals in force at GXSJ.

    Parameters
    ----------
    piece_geometry : array of shapely geometries
        The pieces (arable → construction) in their own CRS.
    change_dates : array of datetime64
        GXSJ per piece; a missing date counts as the year end (the change happened in ``year``).
    approvals : GeoDataFrame or None
        JSYDSP already in the pieces' CRS; None means no approvals (all illegal).

    Returns
    -------
    share : ndarray in [0, 1]
    piece_index, approval_index : the pairs used.
    """
    n = len(piece_geometry)
    if approvals is None or len(approvals) == 0 or n == 0:
        return np.zeros(n), np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    dates = pd.to_datetime(pd.Series(change_dates), errors="coerce").to_numpy(dtype="datetime64[ns]")
    undated = np.isnat(dates)
    if undated.any():
        report.info("DLTBGXGC", "undated-change", f"{int(undated.sum())} arable → construction "
                    f"pieces have no GXSJ; they are checked against approvals in force at "
                    f"{year}-12-31.", year=year)
        dates = np.where(undated, np.datetime64(f"{year}-12-31", "ns"), dates)
    approved_on = approvals["PZRQ"].to_numpy(dtype="datetime64[ns]")

    def in_force(piece_idx, approval_idx):
        when = approved_on[approval_idx]
        return ~np.isnat(when) & (when <= dates[piece_idx])

    return covered_share(piece_geometry, np.asarray(approvals.geometry.values, dtype=object),
                         keep=in_force)
