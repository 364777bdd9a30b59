"""``farmland validate``: check every layer of every year before anything is computed.

All checks report into one non-strict :class:`~farmland.report.Report`, so a single run lists
every problem (counts and the first ids) instead of stopping at the first. Errors are what would
make a figure wrong or unexplainable; warnings are what a careful analyst should look at but the
run can go on with (encoding detected, geometry repaired, CRS inferred).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import WorkspaceError
from .load import LayerStore
from .landclass import describe_unknown, distinct_values, scheme_for_year
from .layers import SOURCE_COLUMN, layer_exists
from .report import Report, shown_path
from .schema import EVENT_KINDS, KNOWN_RENAMES, RECTIFICATION_STATES, ZBPH_KINDS, ZBPH_SOURCES
from .topology import point_keys, side_by_side
from .units import SLIVER_WIDTH_M
from .workspace import Workspace

AREA_TOLERANCE_M2 = 0.01
"""Tolerance of the TBDLMJ = TBMJ − KCMJ identity: areas are stored to 0.01 m²."""

RECOMPUTED_AREA_TOLERANCE = 0.005
"""Relative gap between TBMJ and a fresh statutory area that flags a parcel (docs/background.md §3.3)."""

OVERLAP_TOLERANCE_M2 = 0.01


def validate_workspace(path: str | os.PathLike | Workspace, *, progress: Callable[[str], None] | None = None,
                       check_areas: bool = True, store: LayerStore | None = None) -> Report:
    """Check a workspace; return the report (``report.ok`` is False when there are errors).

    Parameters
    ----------
    path : path or Workspace
    progress : callable, optional
        Called with a short message as each layer is read.
    check_areas : bool, default True
        Recompute statutory ellipsoidal areas of DLTB parcels and flag those more than 0.5 %
        from TBMJ.
    store : farmland.load.LayerStore, optional
        The run's layer store, so later stages reuse what validation read (default: a store of
        its own, with the disk cache).
    """
    report = Report(strict=False)
    try:
        ws = path if isinstance(path, Workspace) else Workspace.load(path)
    except WorkspaceError as exc:
        report.error("workspace", "workspace-file", str(exc), exc=WorkspaceError)
        return report
    say = progress or (lambda message: None)
    store = store if store is not None else LayerStore(ws)
    try:
        _check_all(ws, store, report, say, check_areas)
    finally:
        store.close()
    return report


def _read_order(ws) -> list[tuple[str, int | None]]:
    """The geometric layers in the order the checks below read them (all fields, with geometry)."""
    yearly = [("DLTB", False), ("JBNTTB", False), ("DLTBGXGC", True), ("WPZF", True)]
    order = [(layer, year) for year in ws.period.data_years for layer, later in yearly
             if ws.has_layer(layer) and not (later and year == ws.period.base_year)]
    return order + [(layer, None) for layer in ("JSYDSP", "GBZNT") if ws.has_layer(layer)]


def _check_all(ws, store, report, say, check_areas) -> None:
    units = _check_units(store, report, say)
    store.read_ahead(_read_order(ws))
    unit_codes = set(units) if units is not None else None
    _check_targets(store, report, unit_codes)
    store.townships(report=report)
    present: dict[int, set[str]] = {}
    bf_present: dict[int, set[str] | None] = {}
    checked = _Checked()
    for year in ws.period.data_years:
        present[year] = _check_dltb(store, year, report, unit_codes, say, check_areas, checked)
        bf_present[year] = _check_basic_farmland(store, year, report, unit_codes, say)
        if year != ws.period.base_year:
            _check_changes(store, year, report, unit_codes, say)
            _check_enforcement(store, year, report, unit_codes, say)
        _check_landcover(store, year, report, say)
    if units is not None:
        _check_units_present(ws, units, present, report)
    _check_basic_farmland_present(ws, present, bf_present, report)
    _check_approvals(store, report, unit_codes, say)
    _check_hsf(store, report, unit_codes, say)
    _check_tables(store, report, unit_codes, say)


def _check_units_present(ws, units, present: dict[int, set[str] | None], report: Report) -> None:
    """Every county must have parcels in every snapshot: a missing county database reads as zero.

    A unit with parcels in no year at all is a development zone (attributed by geometry).
    """
    renames = {**KNOWN_RENAMES, **{new: old for old, new in KNOWN_RENAMES.items()}}
    read = {year: codes for year, codes in present.items() if codes is not None}
    for unit in units:
        if unit in ws.spatial_units:
            continue
        names = {unit, renames.get(unit, unit)}
        years_with = [y for y, codes in read.items() if names & codes]
        if not years_with:
            report.warning("XZQ", "unit-without-parcels", f"unit {unit} has no parcels coded with it in any "
                           "year; it is treated as a development zone and its parcels are attributed by "
                           f"geometry. List it in farmland.toml as [units] spatial = [\"{unit}\"] if that is "
                           "right; otherwise its county database is missing.", ids=[unit])
            continue
        missing = [y for y in read if y not in years_with]
        if missing:
            source = ws.layers["DLTB"].describe()
            report.error("DLTB", "unit-missing-in-year", f"unit {unit} has parcels in "
                         f"{', '.join(map(str, years_with))} but none in {', '.join(map(str, missing))}: its "
                         f"database for those years is missing or empty (layers.DLTB = \"{source}\"). Its "
                         "area would count as zero; add the file.", ids=[unit], field="ZLDWDM")


def _check_basic_farmland_present(ws, present, bf_present, report) -> None:
    """A county with basic farmland in some years but none in a year where it has land-use parcels:
    its basic-farmland layer of that year is missing or empty (the DLTB rule, for JBNTTB)."""
    read = {year: codes for year, codes in bf_present.items() if codes is not None}
    ever = set().union(*read.values()) if read else set()
    for year, codes in sorted(read.items()):
        without = sorted((ever & (present.get(year) or set())) - codes)
        if without:
            report.error("JBNTTB", "unit-missing-in-year", f"counties {', '.join(without)} have land-use parcels "
                         f"but no basic-farmland parcels in {year}, though they have them in other years: their "
                         f"database's {ws.layers['JBNTTB'].layer or 'JBNTTB'} layer is missing or empty, and their "
                         "basic farmland would count as zero.", year=year, field="ZLDWDM", ids=without)


def _check_units(store, report: Report, say) -> list[str] | None:
    ws = store.ws
    if not ws.has_layer("XZQ"):
        report.error("XZQ", "missing-layer", f"{ws.file}: [layers] has no XZQ; the county units "
                     "(XZQDM, XZQMC) are needed to attribute parcels. Add XZQ = \"xzq.gpkg:XZQ\".")
        return None
    say("XZQ")
    xzq = store.layer("XZQ", report=report)
    if xzq is None:
        return None
    codes = xzq["XZQDM"]
    blank = codes.isna()
    if blank.any():
        report.error("XZQ", "missing-code", f"{int(blank.sum())} units have no XZQDM; give every unit "
                     "a code (development zones: any code of your choosing).", field="XZQDM")
    dup = codes[codes.duplicated(keep=False) & ~blank]
    if len(dup):
        report.error("XZQ", "duplicate-id", "XZQDM values repeat; each unit needs one code.",
                     field="XZQDM", ids=sorted(dup.unique()))
    _units_overlap(ws, xzq, codes.fillna("(no XZQDM)"), report)
    short = codes[~blank & (codes.str.len() != 6)]
    if len(short):
        report.warning("XZQ", "code-length", "XZQDM should be the 6-digit county code.", field="XZQDM",
                       ids=short.tolist())
    return sorted(codes[~blank].unique())


def _units_overlap(ws, xzq, codes, report):
    """Units that overlap, unless one is a development zone listed in [units] spatial: an unlisted unit
    inside a county would take that county's parcels by geometry."""
    if "geometry" not in xzq:
        return
    geoms = xzq.geometry.values
    ok = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    left, right = shapely.STRtree(geoms[ok]).query(geoms[ok], predicate="intersects")
    pairs = [(ok[a], ok[b]) for a, b in zip(left, right) if a < b]
    spatial = set(ws.spatial_units)
    found = []
    for a, b in pairs:
        if codes.iloc[a] in spatial or codes.iloc[b] in spatial:
            continue
        area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
        if area > 1.0:  # shared borders touch; a real overlap has area
            found.append((codes.iloc[a], codes.iloc[b], area))
    if found:
        shown = ", ".join(f"{a}/{b} ({area * 0.0015:,.1f} 亩)" for a, b, area in found[:5])
        report.error("XZQ", "overlap", f"{len(found)} pairs of units overlap: {shown}. Parcels there would be "
                     "attributed twice or to the wrong unit. Fix the boundaries, or list a development zone in "
                     "farmland.toml as [units] spatial = [\"CODE\"].", field="XZQDM",
                     ids=sorted({c for a, b, _ in found for c in (a, b)}))


class _Distinct:
    """A text column factorized once: its distinct values and each feature's position among them.

    Text columns hold one shared ``str`` per distinct value (``farmland.layers._as_text``): a
    snapshot has 300 000 parcels but a few thousand unit codes and a few dozen land classes, so a
    test of the text runs on ``values`` and ``per_feature`` maps it back, instead of string
    operations on every parcel. Missing values share the last slot, which holds None.
    """

    def __init__(self, column: pd.Series):
        self.index = column.index
        self.name = column.name
        self.inverse, self.values = distinct_values(column)

    def per_feature(self, per_value: np.ndarray) -> np.ndarray:
        return np.asarray(per_value)[self.inverse]

    def categorical(self) -> pd.Series:
        """The column as a categorical: functions that factorize it again (land-class lookups) then
        read the codes instead of hashing every string."""
        codes = np.where(self.inverse == len(self.values) - 1, -1, self.inverse)
        return pd.Series(pd.Categorical.from_codes(codes, self.values[:-1]), index=self.index,
                         name=self.name)


class _UnitCodes(_Distinct):
    """A unit-code column (ZLDWDM, XZQDM …) with the county (first six characters, "" where
    missing) of each distinct code: one layer's several tests of the county share one slicing."""

    def __init__(self, column: pd.Series):
        super().__init__(column)
        self.counties = np.array([str(code)[:6] for code in self.values[:-1]] + [""], dtype=object)

    def present(self) -> set[str]:
        """The counties of the features that have a code."""
        return set(self.counties[:-1])


def county_codes(codes: pd.Series) -> pd.Series:
    """The county part of unit codes (their first six characters; "" where missing).

    Sliced once per distinct code: a snapshot has a million parcels but a few thousand codes, and
    slicing every string in Python took 16 s of a 1M-parcel validation.
    """
    units = _UnitCodes(codes)
    return pd.Series(units.per_feature(units.counties), index=codes.index, dtype=object)


def _unit_mismatch(units: _UnitCodes, ids: pd.Series, unit_codes, report: Report, layer: str, year,
                   field: str, severity: str = "error"):
    if unit_codes is None:
        return
    unknown = ~pd.Series(units.counties).isin(unit_codes).to_numpy()  # per distinct code
    bad = units.per_feature(unknown)
    if bad.any():
        values = sorted(set(units.counties[np.unique(units.inverse[bad])]))
        report.add(
            severity, layer, "unknown-unit",
            f"{int(bad.sum())} features have {field} matching no unit in XZQ (county codes "
            f"{', '.join(map(repr, values[:5]))}). Fix the codes, or add the unit to XZQ and targets.",
            year=year, field=field, ids=ids[bad],
        )


@dataclass
class _Checked:
    """What the geometric checks found in the previous year-end snapshot, by parcel fingerprint.

    Consecutive snapshots differ only by the year's changes (a few per cent of the parcels), so
    a parcel whose shape, TBMJ and zone are unchanged keeps last year's result: the expensive
    overlap and area checks look only at changed parcels (and their neighbours), and what was
    found among unchanged ones is reported again for the new year.
    """

    fingerprints: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    met: _MetPairs = field(default_factory=lambda: _MetPairs.none())
    area_gaps: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))


@dataclass
class _MetPairs:
    """Pairs of parcels (by fingerprint) whose interiors meet, with the area and mean width shared."""

    fingerprints: np.ndarray
    area: np.ndarray
    width: np.ndarray

    @classmethod
    def none(cls) -> _MetPairs:
        return cls(np.empty((0, 2), np.uint64), np.empty(0), np.empty(0))


def _geometry_hashes(geoms) -> np.ndarray:
    """A 64-bit hash of each geometry's coordinates, in order (numpy only, no per-parcel Python)."""
    n = len(geoms)
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    out = np.zeros(n, np.uint64)
    if not len(coords):
        return out
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    position = np.arange(len(which)) - np.repeat(starts, np.diff(np.r_[starts, len(which)]))
    mixed = point_keys(coords)
    mixed *= position.astype(np.uint64) * np.uint64(2) + np.uint64(1)  # order matters; odd keeps bits
    out[which[starts]] = np.add.reduceat(mixed, starts)
    return out ^ shapely.get_num_interior_rings(geoms).astype(np.uint64, copy=False)


def _member(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``numpy.isin`` through a hash table: ten times faster on a snapshot's fingerprints."""
    return pd.Series(values).isin(known).to_numpy()


def _sources(frame) -> pd.Categorical:
    """The file each feature came from, as a categorical (one string per file, not per feature)."""
    if SOURCE_COLUMN not in frame:
        return pd.Categorical(np.full(len(frame), ""))
    return pd.Categorical(frame[SOURCE_COLUMN].astype(str) if frame[SOURCE_COLUMN].dtype != "category"
                          else frame[SOURCE_COLUMN])


def _fingerprints(frame) -> np.ndarray:
    """One 64-bit hash per parcel of what the geometric checks depend on: shape, TBMJ and the CRS of
    its file (the file's name changes every year; its zone decides how areas are measured).

    Parcels alike in all three (an exact duplicate) are told apart by their order of appearance,
    so a duplicate pair found overlapping one year is still a pair the next.
    """
    import hashlib

    n = len(frame)
    mixed = _geometry_hashes(frame.geometry.values)
    if "TBMJ" in frame:
        tbmj = np.ascontiguousarray(frame["TBMJ"].to_numpy(dtype="float64", na_value=np.nan))
        mixed ^= tbmj.view(np.uint64) * np.uint64(0x165667B19E3779F9)
    if SOURCE_COLUMN in frame:
        sources = _sources(frame)
        crs_of = frame.attrs.get("source_crs", {})
        zone_hash = np.array([int.from_bytes(hashlib.blake2b(str(crs_of.get(str(source))).encode(),
                                                             digest_size=8).digest(), "little")
                              for source in sources.categories] + [0], dtype=np.uint64)
        mixed ^= zone_hash[sources.codes]  # code -1 (no file) takes the last, 0
    order = np.argsort(mixed, kind="stable")
    ordered = mixed[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    occurrence = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    mixed[order] += occurrence.astype(np.uint64) * np.uint64(0x27D4EB2F165667C5)
    return mixed


def _check_dltb(store, year, report, unit_codes, say, check_areas, checked: _Checked | None = None
                ) -> set[str] | None:
    """Check one snapshot; return the county codes (ZLDWDM[:6]) that have parcels in it."""
    ws = store.ws
    say(f"DLTB {year}")
    frame = store.layer("DLTB", year, report=report)
    if frame is None:
        return None
    if len(frame) == 0:
        report.error("DLTB", "empty-layer", "the land-use layer has no parcels for this year; check the "
                     "source file.", year=year)
        return set()
    start = len(report.findings)
    ids = _ids_checks(frame, "BSM", "DLTB", year, report)
    _code_checks(ws, frame["DLBM"], ids, "DLTB", "DLBM", year, report)
    _area_checks(frame, ids, year, report)
    units = _UnitCodes(frame["ZLDWDM"])
    _unit_mismatch(units, ids, unit_codes, report, "DLTB", year, "ZLDWDM")
    bad_len = units.per_feature([len(code) != 19 for code in units.values[:-1]] + [False])
    if bad_len.any():
        report.warning("DLTB", "code-length", "ZLDWDM should have 19 characters (county 6 + township 3 + "
                       "village 3 + 7); township figures use its first 9.", year=year, field="ZLDWDM",
                       ids=ids[bad_len])
    if "SJNF" in frame:
        off = frame["SJNF"].notna() & (frame["SJNF"] != year)
        if off.any():
            report.warning("DLTB", "year-mismatch", f"SJNF differs from the snapshot year {year}; check "
                           "that the right year's database is configured.", year=year, field="SJNF",
                           ids=ids[off])
    checked = checked if checked is not None else _Checked()
    if "geometry" in frame:
        fingerprints = _fingerprints(frame)
        changed = ~_member(fingerprints, checked.fingerprints)
        own = _OwnCrs(frame)  # shared: both checks measure changed parcels in their file's zone
        checked.met = _overlap_check(frame, ids, "DLTB", year, report, fingerprints, changed, checked.met, own)
        if check_areas:
            checked.area_gaps = _recomputed_area_check(frame, ids, year, report, fingerprints, changed,
                                                       checked.area_gaps, own)
        checked.fingerprints = fingerprints
    _attach_files(report, start, frame, "BSM", store.ws.source("DLTB"))
    _one_source_per_county(frame, units, "DLTB", year, report)
    return units.present()


def _one_source_per_county(frame, units: _UnitCodes, layer, year, report):
    """Two files holding parcels of one county (a database copied beside the original) count it twice."""
    if SOURCE_COLUMN not in frame or frame[SOURCE_COLUMN].nunique() < 2:
        return
    # The distinct (county, file) pairs, from integer codes: a county in more than one is suspect.
    county, counties = pd.factorize(units.counties)
    county = units.per_feature(county)
    files = pd.Categorical(frame[SOURCE_COLUMN])
    file_names = np.array([str(name) for name in files.categories] + ["nan"], dtype=object)
    pairs = np.unique(county.astype(np.int64) * (len(file_names) + 1) + files.codes + 1)
    pair_county, pair_file = np.divmod(pairs, len(file_names) + 1)
    shared = np.flatnonzero(np.bincount(pair_county, minlength=len(counties)) > 1)
    for k in sorted(shared, key=lambda k: counties[k]):
        code = counties[k]
        if not code:
            continue
        names = sorted(set(file_names[pair_file[pair_county == k] - 1]))  # -1: a file of NaN
        if len(names) > 1:
            report.error(layer, "duplicate-source", f"county {code} has parcels in {len(names)} files "
                         f"({', '.join(names[:4])}); its area would be counted once per file. Keep one "
                         "database per county (remove the copy).", year=year, field="ZLDWDM", ids=[code])


def _attach_files(report: Report, start: int, frame, id_field: str, source) -> None:
    """Name the files behind the findings added since ``start`` (county databases share base names),
    when the layer was read from several files or is one county's part of such a layer."""
    import dataclasses

    if SOURCE_COLUMN not in frame or (frame[SOURCE_COLUMN].nunique() < 2 and source.part_of is None):
        return
    sources = None
    for i in range(start, len(report.findings)):
        finding = report.findings[i]
        if finding.file or not finding.ids:
            continue
        if sources is None:  # most snapshots have no finding with ids
            sources = pd.Series(_sources(frame), index=frame[id_field].astype(str))
        files = sorted(set(sources[sources.index.isin(finding.ids)].astype(str)))
        if files:
            shown = ", ".join(files[:3]) + (" …" if len(files) > 3 else "")
            report.findings[i] = dataclasses.replace(finding, file=shown)


def _no_negative(frame, fields, ids, layer, year, report, *, positive=(), required=()):
    """Area fields: NULL (where ``required``), ±inf, negative, zero (where ``positive``) are errors."""
    for column in fields:
        if column not in frame:
            continue
        values = frame[column]
        blank = values.isna() if column in required else pd.Series(False, index=frame.index)
        if blank.any():
            report.error(layer, "missing-value", f"{column} is empty (NULL) for {int(blank.sum())} features; a "
                         "figure computed from it would silently count them as 0. Fill it at the source.",
                         year=year, field=column, ids=ids[blank.to_numpy()])
        infinite = np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
        if infinite.any():
            report.error(layer, "non-finite", f"{column} is infinite for {int(infinite.sum())} features; fix "
                         "them at the source.", year=year, field=column, ids=ids[infinite])
        if column in positive:
            zero = values == 0
            if zero.any():
                report.error(layer, "zero-area", f"{column} is 0 for {int(zero.sum())} features, which cannot "
                             "be: a feature with no area drops out of every total. Fix it at the source.",
                             year=year, field=column, ids=ids[zero.to_numpy()])
        negative = values < 0
        if negative.any():
            report.error(layer, "negative-area", f"{column} is negative for {int(negative.sum())} features; "
                         "areas cannot be below zero. Fix them at the source.", year=year, field=column,
                         ids=ids[negative])


def _ids_checks(frame, field, layer, year, report) -> pd.Series:
    """Missing and repeated ids; return the ids to name features by in findings ("(no BSM)" where
    missing)."""
    ids = frame[field]
    index = pd.Index(ids)
    if len(ids) > 1 and index.is_monotonic_increasing and index.is_unique:
        # Strictly increasing, as ids delivered county by county usually are: one pass of comparisons
        # instead of hashing every id shows that none repeats, none is missing (None and NaN do not
        # sort among strings; a lone id would pass as "increasing") and only the first can be "".
        blank_count, dup, labelled = int(ids.iloc[0] == ""), ids.iloc[:0], ids
    else:
        # numpy's == on the object array: the Series operator took ten times as long
        blank = ids.isna().to_numpy() | (ids.to_numpy(dtype=object) == "")
        blank_count = int(blank.sum())
        dup = ids[ids.duplicated(keep=False).to_numpy() & ~blank]
        labelled = ids.fillna(f"(no {field})")
    if blank_count:
        report.error(layer, "missing-id", f"{blank_count} features have no {field}; every feature "
                     "needs its unique id.", year=year, field=field, count=blank_count)
    if len(dup):
        report.error(layer, "duplicate-id", f"{dup.nunique()} {field} values occur more than once "
                     f"({len(dup)} features); ids must be unique within a year (check for a county "
                     "delivered twice).", year=year, field=field, ids=sorted(dup.unique()))
    return labelled


def _code_checks(ws, codes, ids, layer, field, year, report):
    table = ws.land_classes
    distinct = _Distinct(codes)  # a few dozen land classes: each looked up once
    unknown = table.unknown_codes(distinct.categorical())
    if len(unknown):
        mask = distinct.per_feature(~table.is_known(distinct.values))
        report.error(
            layer, "unknown-code",
            f"{int(unknown.sum())} features have {field} codes not in the land-class table "
            f"(v{table.version}): {describe_unknown(unknown)}. Correct the codes (三调 4-digit such as "
            "0101, or 二调 3-digit such as 011), or regroup via [landclass].",
            year=year, field=field, ids=ids[mask],
        )
    expected = scheme_for_year(year)
    schemes = table.scheme_of(distinct.values)
    other = distinct.per_feature((schemes != expected) & (schemes != "unknown"))
    if other.any():
        first = schemes[distinct.inverse[np.argmax(other)]]
        report.warning(
            layer, "scheme-mismatch",
            f"{int(other.sum())} {field} codes belong to the {first} scheme, but {year} data are "
            f"expected in the {expected} scheme (三调 codes from 2019-12-31). Mixed schemes in one "
            "snapshot usually mean a crosswalk was missed.", year=year, field=field, ids=ids[other],
        )


def _magnitude_check(frame, field, ids, layer, year, report):
    """Σ stored area against Σ planar area of the shapes, per file: 亩 or 公顷 stored as m² shows.

    The ratio is 0.0015 for 亩 and 1e-4 for 公顷; a planar area is within 0.1 % of the statutory
    one, far closer than these factors.
    """
    if field not in frame or "geometry" not in frame:
        return
    # numpy, not pandas, per file: the same sums (NaN and ±inf count as 0) without a Series mask each.
    geometric = shapely.area(frame.geometry.values)
    geometric[np.isnan(geometric)] = 0.0
    stored = frame[field].to_numpy(dtype="float64", na_value=np.nan, copy=True)
    stored[~np.isfinite(stored)] = 0.0
    sources = _sources(frame)
    codes = sources.codes
    for code, source in sorted(enumerate(sources.categories), key=lambda item: item[1]):
        mask = codes == code
        total = float(geometric[mask].sum())
        if total <= 0:
            continue
        ratio = float(stored[mask].sum()) / total
        for unit, factor in (("亩", 0.0015), ("公顷 (ha)", 1e-4)):
            if factor / 1.3 <= ratio <= factor * 1.3:
                report.error(layer, "wrong-unit", f"Σ {field} is {ratio:.3g} × the area of the shapes: the areas "
                             f"are stored in {unit}, not m². Every figure from them would be off by a factor "
                             f"{1 / factor:,.0f}; store {field} in m² (the data contract's unit).", year=year,
                             field=field, file=source, ids=ids[mask])


def _area_checks(frame, ids, year, report):
    if "TBMJ" not in frame:
        return
    _no_negative(frame, ("TBMJ", "KCMJ", "TBDLMJ"), ids, "DLTB", year, report, positive=("TBMJ",),
                 required=("TBMJ", "TBDLMJ"))
    _magnitude_check(frame, "TBMJ", ids, "DLTB", year, report)
    if "KCXS" in frame:
        bad = frame["KCXS"].notna() & ~frame["KCXS"].between(0, 1)
        if bad.any():
            report.error("DLTB", "bad-coefficient", f"KCXS (deduction coefficient) is outside 0–1 for "
                         f"{int(bad.sum())} parcels; it is a fraction of the parcel.", year=year, field="KCXS",
                         ids=ids[bad])
    if "GDDB" in frame:
        grade = frame["GDDB"]
        bad = grade.notna() & ~(grade.between(1, 15) & (grade == np.floor(grade)))  # isin(1…15), cheaper
        if bad.any():
            report.error("DLTB", "bad-grade", f"GDDB (耕地等别) is not a whole grade 1–15 for {int(bad.sum())} "
                         "parcels; the weighted quality grade would be wrong.", year=year, field="GDDB",
                         ids=ids[bad])
    if "KCMJ" in frame:
        over = frame["KCMJ"] > frame["TBMJ"] + AREA_TOLERANCE_M2
        if over.any():
            report.error("DLTB", "deduction-exceeds-area", f"KCMJ > TBMJ for {int(over.sum())} parcels: the "
                         "deduction (田坎 etc.) cannot exceed the parcel area. Check KCXS/KCMJ.",
                         year=year, field="KCMJ", ids=ids[over])
    if "TBDLMJ" in frame and "KCMJ" in frame:
        expected = frame["TBMJ"] - frame["KCMJ"].fillna(0)
        for older in ("XZDWMJ", "LXDWMJ"):
            if older in frame:
                expected = expected - frame[older].fillna(0)
        off = (frame["TBDLMJ"] - expected).abs() > AREA_TOLERANCE_M2 + 1e-9
        if off.any():
            report.error("DLTB", "net-area-mismatch", f"TBDLMJ ≠ TBMJ − KCMJ (±0.01 m²) for {int(off.sum())} "
                         "parcels (older data also subtract XZDWMJ and LXDWMJ). Recompute TBDLMJ at the "
                         "source.", year=year, field="TBDLMJ", ids=ids[off])


def _overlap_check(frame, ids, layer, year, report, fingerprints=None, changed=None,
                   known: _MetPairs | None = None, own: _OwnCrs | None = None) -> _MetPairs:
    """Overlapping parcels: within a file in its own CRS, between files beyond slivers.

    A boundary that is straight in one Gauss-Krüger zone is slightly curved in the next (about
    0.5 mm of sagitta on a 1 km edge at Liaocheng's 150 km from the central meridian), so county
    databases delivered in zones 38 and 39 overlap by hair-thin slivers once brought to one CRS;
    their areas come from each file's own TBMJ, so nothing is counted twice.

    Only the parcels in ``changed`` (default: all) are compared with their neighbours (one
    bounding-box query); pairs in ``known`` (those whose interiors met in the previous snapshot)
    keep what was measured when both parcels are unchanged. Neighbours that
    :func:`farmland.topology.side_by_side` shows apart need nothing more; the rest take one DE-9IM
    test ("2********": the interiors share an area). Returns the pairs whose interiors meet.
    """
    known = known if known is not None else _MetPairs.none()
    if "geometry" not in frame:
        return _MetPairs.none()
    geoms = np.asarray(frame.geometry.values, dtype=object)
    n = len(frame)
    fingerprints = fingerprints if fingerprints is not None else np.arange(n, dtype=np.uint64)
    changed = changed if changed is not None else np.ones(n, bool)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    index = np.flatnonzero(ok)
    if len(index) < 2:
        return _MetPairs.none()
    sources = _sources(frame).codes

    # Pairs of unchanged parcels that met last year: both still there, so the same measurement.
    position = pd.Series(np.arange(n), index=fingerprints)
    a = position.reindex(known.fingerprints[:, 0]).to_numpy()
    b = position.reindex(known.fingerprints[:, 1]).to_numpy()
    still = ~(np.isnan(a) | np.isnan(b))
    kept_first, kept_second = a[still].astype(np.int64), b[still].astype(np.int64)
    kept_area, kept_width = known.area[still], known.width[still]

    queried = np.flatnonzero(ok & changed)
    found, neighbour = shapely.STRtree(geoms[index]).query(geoms[queried])
    first, second = queried[found], index[neighbour]
    del found, neighbour  # every neighbour pair: not to be held through the tests below
    # Each unordered pair once: a pair of two queried parcels was found from both ends.
    once = (first < second) | ((first > second) & ~changed[second])
    first, second = np.minimum(first[once], second[once]), np.maximum(first[once], second[once])
    across_files = sources[first] != sources[second]
    # Parcels of one file are compared in that file's own CRS: a straight edge of a zone-38 file
    # bends when brought to zone 39, so neighbours would seem to overlap where they do not.
    within = np.flatnonzero(~across_files)
    involved = np.zeros(n, bool)
    involved[first[within]] = involved[second[within]] = True
    own = (own if own is not None else _OwnCrs(frame)).including(np.flatnonzero(involved))
    apart = np.zeros(len(first), bool)
    apart[within] = side_by_side(own, first[within], second[within])
    first, second, across_files = first[~apart], second[~apart], across_files[~apart]
    left = np.where(across_files, geoms[first], own[first])
    right = np.where(across_files, geoms[second], own[second])
    meet = shapely.relate_pattern(left, right, "2********")
    first, second, left, right = first[meet], second[meet], left[meet], right[meet]
    shared = shapely.intersection(left, right)
    area = shapely.area(shared)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = 2 * area / shapely.length(shared)

    first, second = np.concatenate([kept_first, first]), np.concatenate([kept_second, second])
    first, second = np.minimum(first, second), np.maximum(first, second)
    area, width = np.concatenate([kept_area, area]), np.concatenate([kept_width, width])
    real = area > OVERLAP_TOLERANCE_M2
    sliver = real & (sources[first] != sources[second]) & (width < SLIVER_WIDTH_M)
    real &= ~sliver
    if sliver.any():
        report.warning(layer, "zone-slivers", f"{int(sliver.sum())} thin overlaps ({area[sliver].sum():.2f} m² in "
                       f"all, under {SLIVER_WIDTH_M} m wide) between parcels of different files, as expected where "
                       "counties delivered in different Gauss-Krüger zones meet; areas come from each file's "
                       "TBMJ, so nothing is counted twice.", year=year, count=int(sliver.sum()))
    if real.any():
        order = np.argsort(first[real] * n + second[real])
        examples = [f"{ids.iloc[a]}/{ids.iloc[b]}" for a, b in zip(first[real][order][:5], second[real][order][:5])]
        report.error(layer, "overlap", f"{int(real.sum())} pairs of parcels overlap (in all "
                     f"{area[real].sum():.2f} m²), so their area would be counted twice; e.g. "
                     f"{', '.join(examples)}. Remove the overlaps at the source (topology check).",
                     year=year, count=int(real.sum()),
                     ids=ids.iloc[np.unique(np.concatenate([first[real], second[real]]))])
    return _MetPairs(np.stack([fingerprints[first], fingerprints[second]], axis=1), area, width)


class _OwnCrs:
    """A snapshot's geometries in the CRS of the file each came from, transformed on demand and
    once: the overlap and area checks need them for overlapping sets of parcels."""

    def __init__(self, frame):
        self.frame = frame
        self.geoms = np.asarray(frame.geometry.values, dtype=object)
        self.own = self.geoms.copy()
        self.done = np.zeros(len(frame), bool)

    def including(self, positions: np.ndarray) -> np.ndarray:
        """The whole array, with at least ``positions`` in their own CRS."""
        todo = positions[~self.done[positions]]
        self.own[todo] = _in_own_crs(self.frame, self.geoms, todo)
        self.done[todo] = True
        return self.own


def _in_own_crs(frame, geoms, positions=None) -> np.ndarray:
    """The geometries at ``positions`` (default: all) in the CRS of the file each came from (the
    frame's CRS where they agree)."""
    positions = np.arange(len(frame)) if positions is None else np.asarray(positions, dtype=np.int64)
    own = np.asarray(geoms, dtype=object)[positions].copy()
    if SOURCE_COLUMN not in frame or frame.crs is None:
        return own
    sources = _sources(frame)
    codes = sources.codes[positions]
    for code, source in enumerate(sources.categories):
        crs = frame.attrs.get("source_crs", {}).get(str(source))
        if crs is None or crs.equals(frame.crs):
            continue
        mask = codes == code
        if mask.any():
            own[mask] = gpd.GeoSeries(own[mask], crs=frame.crs).to_crs(crs).values
    return own


def _recomputed_area_check(frame, ids, year, report, fingerprints=None, changed=None,
                           known_gaps=np.empty(0, np.uint64), own: _OwnCrs | None = None) -> np.ndarray:
    """Warn where TBMJ is more than 0.5 % from a fresh statutory area; return the flagged fingerprints.

    Only ``changed`` parcels are measured (default: all); an unchanged parcel flagged last year
    (``known_gaps``) is flagged again. :func:`farmland.area.area_gaps` screens with a fast area
    and measures the statutory one only near the tolerance, so the flags are the statutory ones.
    """
    from .area import area_gaps

    empty = np.empty(0, np.uint64)
    if "TBMJ" not in frame or "geometry" not in frame:
        return empty
    n = len(frame)
    fingerprints = fingerprints if fingerprints is not None else np.arange(n, dtype=np.uint64)
    changed = changed if changed is not None else np.ones(n, bool)
    tbmj = frame["TBMJ"].to_numpy(dtype="float64", na_value=np.nan)
    # Measured in each file's own zone, as TBMJ was; NULL and 0 areas are errors of their own (NaN).
    gap = np.full(n, np.nan)
    measured = np.flatnonzero(changed)
    own = (own if own is not None else _OwnCrs(frame)).including(measured)[measured]
    sources = _sources(frame)
    codes = sources.codes[measured]
    for code, source in enumerate(sources.categories):
        mask = codes == code
        if mask.any():
            crs = frame.attrs.get("source_crs", {}).get(source, frame.crs)
            gap[measured[mask]] = area_gaps(own[mask], crs, tbmj[measured[mask]], RECOMPUTED_AREA_TOLERANCE)
    off = (gap > RECOMPUTED_AREA_TOLERANCE) | (~changed & _member(fingerprints, known_gaps))
    if off.any():
        measured = gap[off & np.isfinite(gap)]
        largest = f" (largest {measured.max():.2%})" if len(measured) else ""
        report.warning("DLTB", "area-gap", f"{int(off.sum())} parcels' TBMJ differs from a fresh statutory "
                       f"ellipsoidal area by more than {RECOMPUTED_AREA_TOLERANCE:.1%}{largest}. Official "
                       f"figures keep TBMJ; check these shapes or areas.", year=year, field="TBMJ", ids=ids[off])
    return fingerprints[off]


def _check_basic_farmland(store, year, report, unit_codes, say):
    ws = store.ws
    if not ws.has_layer("JBNTTB"):
        return
    say(f"JBNTTB {year}")
    frame = store.layer("JBNTTB", year, report=report, geometry=True)
    if frame is None:
        return
    start = len(report.findings)
    ids = _ids_checks(frame, "BSM", "JBNTTB", year, report)
    if "DLBM" in frame:
        _code_checks(ws, frame["DLBM"], ids, "JBNTTB", "DLBM", year, report)
    if "YJJBNTMJ" in frame:
        _no_negative(frame, ("YJJBNTMJ", "TBMJ"), ids, "JBNTTB", year, report, positive=("YJJBNTMJ", "TBMJ"),
                     required=("YJJBNTMJ",))
        _magnitude_check(frame, "TBMJ" if "TBMJ" in frame else "YJJBNTMJ", ids, "JBNTTB", year, report)
        if "TBMJ" in frame:
            over = frame["YJJBNTMJ"] > frame["TBMJ"] + AREA_TOLERANCE_M2
            if over.any():
                report.error("JBNTTB", "net-area-exceeds-area", "YJJBNTMJ (net basic-farmland area) exceeds "
                             "the parcel area TBMJ.", year=year, field="YJJBNTMJ", ids=ids[over])
    units = _UnitCodes(frame["ZLDWDM"])
    _unit_mismatch(units, ids, unit_codes, report, "JBNTTB", year, "ZLDWDM")
    _attach_files(report, start, frame, "BSM", store.ws.source("JBNTTB"))
    _one_source_per_county(frame, units, "JBNTTB", year, report)
    return units.present()


def _check_changes(store, year, report, unit_codes, say):
    ws = store.ws
    if not ws.has_layer("DLTBGXGC"):
        return
    say(f"DLTBGXGC {year}")
    # Geometry too, though no check here needs it: the metrics' overlays need it from the same
    # store, and one read of features and shapes costs less than two.
    frame = store.layer("DLTBGXGC", year, report=report, geometry=True)
    if frame is None:
        return
    ids = frame["BGQTBBSM"].fillna("(no BGQTBBSM)") if "BGQTBBSM" in frame else pd.Series(
        frame.index.astype(str))
    _code_checks(ws, frame["BGQDLBM"], ids, "DLTBGXGC", "BGQDLBM", year, report)
    _code_checks(ws, frame["BGHDLBM"], ids, "DLTBGXGC", "BGHDLBM", year, report)
    _no_negative(frame, ("TBBGMJ",), ids, "DLTBGXGC", year, report, positive=("TBBGMJ",), required=("TBBGMJ",))
    _magnitude_check(frame, "TBBGMJ", ids, "DLTBGXGC", year, report)
    if "BGQKCXS" in frame:
        bad = (frame["BGQKCXS"] < 0) | (frame["BGQKCXS"] > 1)
        if bad.any():
            report.error("DLTBGXGC", "bad-coefficient", "BGQKCXS must be a fraction between 0 and 1.",
                         year=year, field="BGQKCXS", ids=ids[bad])
    if "GXSJ" in frame:
        off = frame["GXSJ"].notna() & (frame["GXSJ"].dt.year != year)
        if off.any():
            report.warning("DLTBGXGC", "date-outside-year", f"GXSJ falls outside {year}; change records "
                           "of a year should be dated in it.", year=year, field="GXSJ", ids=ids[off])
    _unit_mismatch(_UnitCodes(frame["BGQZLDWDM"]), ids, unit_codes, report, "DLTBGXGC", year, "BGQZLDWDM")


def _check_enforcement(store, year, report, unit_codes, say):
    ws = store.ws
    if not layer_exists(ws, "WPZF", year) and ws.has_layer("WPZF"):
        if "{year}" in ws.layers["WPZF"].template:
            report.error("WPZF", "missing-file", f"no satellite-enforcement file for {year} ("
                         f"{ws.layers['WPZF'].describe()}); the 15% ratio cannot be computed. Add it (an "
                         "empty layer if there were no monitoring parcels).", year=year)
            return
    if not ws.has_layer("WPZF"):
        return
    say(f"WPZF {year}")
    frame = store.layer("WPZF", year, report=report, geometry=True)  # see DLTBGXGC
    if frame is None:
        return
    if "{year}" not in ws.layers["WPZF"].template:
        frame = frame[frame["JCNF"] == year]
    ids = _ids_checks(frame, "JCBH", "WPZF", year, report)
    off = frame["JCNF"] != year
    if off.any():
        report.error("WPZF", "year-mismatch", f"JCNF differs from {year} in the {year} file.", year=year,
                     field="JCNF", ids=ids[off])
    _no_negative(frame, ("XZJSYDMJ", "ZYGDMJ", "WFZYGDMJ", "ZGMJ"), ids, "WPZF", year, report,
                 required=("XZJSYDMJ", "ZYGDMJ", "WFZYGDMJ"))
    _magnitude_check(frame, "XZJSYDMJ", ids, "WPZF", year, report)
    if "ZGMJ" in frame:
        over = frame["ZGMJ"] > frame["WFZYGDMJ"].fillna(0) + AREA_TOLERANCE_M2
        if over.any():
            report.error("WPZF", "rectified-exceeds-illegal", "ZGMJ (illegal arable occupation "
                         "rectified) exceeds WFZYGDMJ (arable occupied illegally): more cannot be "
                         "rectified than was occupied. Correct ZGMJ.", year=year, field="ZGMJ",
                         ids=ids[over])
    if "ZGZT" in frame:
        odd = frame["ZGZT"].notna() & ~frame["ZGZT"].str.strip().isin(RECTIFICATION_STATES)
        if odd.any():
            report.warning("WPZF", "bad-value", f"ZGZT should be one of {', '.join(RECTIFICATION_STATES)}.",
                           year=year, field="ZGZT", ids=ids[odd])
    over = frame["WFZYGDMJ"] > frame["ZYGDMJ"] + AREA_TOLERANCE_M2
    if over.any():
        report.error("WPZF", "illegal-exceeds-occupied", "WFZYGDMJ (illegally occupied arable) exceeds "
                     "ZYGDMJ (arable occupied).", year=year, field="WFZYGDMJ", ids=ids[over])
    over = frame["ZYGDMJ"] > frame["XZJSYDMJ"] + AREA_TOLERANCE_M2
    if over.any():
        report.error("WPZF", "arable-exceeds-new-construction", "ZYGDMJ (arable occupied) exceeds XZJSYDMJ "
                     "(new construction land).", year=year, field="ZYGDMJ", ids=ids[over])
    _unit_mismatch(_UnitCodes(frame["XZQDM"]), ids, unit_codes, report, "WPZF", year, "XZQDM")


def _check_approvals(store, report, unit_codes, say):
    ws = store.ws
    if not ws.has_layer("JSYDSP"):
        return
    say("JSYDSP")
    frame = store.layer("JSYDSP", report=report, geometry=True)
    if frame is None:
        return
    ids = frame["PZWH"].fillna("(no PZWH)")
    missing = frame["PZRQ"].isna()
    if missing.any():
        report.error("JSYDSP", "missing-date", "approvals without PZRQ cannot be matched to change dates.",
                     field="PZRQ", ids=ids[missing])
    _no_negative(frame, ("PZMJ", "ZYGDMJ"), ids, "JSYDSP", None, report)
    if "XZQDM" in frame:
        _unit_mismatch(_UnitCodes(frame["XZQDM"]), ids, unit_codes, report, "JSYDSP", None, "XZQDM", "warning")


def _check_hsf(store, report, unit_codes, say):
    ws = store.ws
    if not ws.has_layer("GBZNT"):
        return
    say("GBZNT")
    frame = store.layer("GBZNT", report=report, geometry=True)  # see DLTBGXGC
    if frame is None:
        return
    ids = frame["XMBH"].fillna("(no XMBH)")
    # A project is often mapped as several polygons sharing its XMBH: legitimate, but if each
    # repeats the project's total JSMJ it would be counted once per polygon.
    dup = frame["XMBH"][frame["XMBH"].notna() & frame["XMBH"].duplicated(keep=False)]
    if len(dup):
        report.warning("GBZNT", "repeated-project", f"{dup.nunique()} projects are mapped as several features "
                       f"({len(dup)} in all); their JSMJ is summed over the features, so each must carry its "
                       "own part of the built area, not the project total.", field="XMBH",
                       ids=sorted(dup.unique()))
    outside = ~frame["JSNF"].between(ws.period.base_year, ws.period.end)
    if outside.any():
        report.warning("GBZNT", "year-outside-period", f"JSNF outside {ws.period.base_year}–{ws.period.end}; "
                       "these projects count in no assessed year.", field="JSNF", ids=ids[outside])
    _no_negative(frame, ("JSMJ",), ids, "GBZNT", None, report, positive=("JSMJ",), required=("JSMJ",))
    _magnitude_check(frame, "JSMJ", ids, "GBZNT", None, report)
    _unit_mismatch(_UnitCodes(frame["XZQDM"]), ids, unit_codes, report, "GBZNT", None, "XZQDM")


def _check_years(frame, ws, layer, report, ids):
    outside = ~frame["year"].between(ws.period.base_year, ws.period.end)
    if outside.any():
        # Ledger and checklist rows are scored, so a wrong year silently drops points; events and
        # city statistics of other years are merely unused.
        severity = "error" if layer in ("ZBPH", "CHECKLIST") else "warning"
        report.add(severity, layer, "year-outside-period", f"year outside the period {ws.period.start}–"
                   f"{ws.period.end} (base {ws.period.base_year}); fix the year or the [period].",
                   field="year", ids=ids[outside])


def _check_tables(store, report, unit_codes, say):
    ws = store.ws
    for layer in ("ZBPH", "CHECKLIST", "EVENTS", "CITYSTATS"):
        if not ws.has_layer(layer):
            if layer in ("ZBPH", "CHECKLIST"):
                report.warning(layer, "missing-layer", f"[layers] has no {layer}; the indicators that "
                               "need it will score as missing data.")
            continue
        say(layer)
        frame = store.table(layer, report=report)
        if frame is None:
            continue
        rows = "row " + frame["row"].astype(str)
        _check_years(frame, ws, layer, report, rows)
        data = [c for c in frame.columns if c != "row"]
        repeated = frame.duplicated(subset=data, keep="first")
        if repeated.any():
            report.error(layer, "duplicate-row", f"{int(repeated.sum())} rows repeat an earlier row exactly; "
                         "each would be counted again. Delete the repeats (or tell them apart, e.g. by "
                         "project).", ids=rows[repeated])
        if "xzqdm" in frame:
            _unit_mismatch(_UnitCodes(frame["xzqdm"]), rows, unit_codes, report, layer, None, "xzqdm")
        if layer == "ZBPH":
            bad = ~frame["kind"].isin(ZBPH_KINDS)
            if bad.any():
                report.error(layer, "bad-value", f"kind must be one of {', '.join(ZBPH_KINDS)}.",
                             field="kind", ids=rows[bad])
            if "source" in frame:
                bad = frame["source"].notna() & ~frame["source"].isin(ZBPH_SOURCES)
                if bad.any():
                    report.warning(layer, "bad-value", f"source should be one of {', '.join(ZBPH_SOURCES)}.",
                                   field="source", ids=rows[bad])
            _no_negative(frame, ("area_mu",), rows, layer, None, report, required=("area_mu",))
        if layer == "CHECKLIST":
            _check_checklist_items(frame, rows, report)
            bad = ~frame["fraction"].between(0, 1)
            if bad.any():
                report.error(layer, "bad-value", "fraction must be between 0 and 1 (share of the item's "
                             "points earned).", field="fraction", ids=rows[bad])
        if layer == "EVENTS":  # levels were normalised, with their warnings, as the table was loaded
            bad = ~frame["kind"].isin(EVENT_KINDS)
            if bad.any():
                report.warning(layer, "bad-value", f"kind should be one of {', '.join(EVENT_KINDS)}.",
                               field="kind", ids=rows[bad])


def _known_checklist_items() -> set[str]:
    """Items the shipped rule sets score (``metric = "checklist.<item>"``)."""
    import re
    from importlib import resources

    items = set()
    for name in ("annual.toml", "midterm.toml", "final.toml"):
        text = resources.files("farmland.scoring").joinpath("data", name).read_text(encoding="utf-8")
        items.update(re.findall(r'"checklist\.([^"]+)"', text))
    return items


def _check_checklist_items(frame, rows, report):
    from .errors import closest_match

    blank = frame["fraction"].isna()
    if blank.any():
        report.error("CHECKLIST", "missing-value", "fraction is empty; an empty fraction would score 0 points. "
                     "Give the share of the item's points earned (0–1).", field="fraction", ids=rows[blank])
    known = _known_checklist_items()
    unknown = frame["item"].notna() & ~frame["item"].isin(known)
    for item in sorted(frame.loc[unknown, "item"].unique()):
        close = closest_match(item, known)
        hint = f" Did you mean {close!r}?" if close else ""
        report.error("CHECKLIST", "unknown-item", f"item {item!r} is scored by no rule set, so its points would "
                     f"be lost.{hint} Items: {', '.join(sorted(known))}.", field="item",
                     ids=rows[unknown & (frame["item"] == item)])
    key = ["xzqdm", "year", "item"]
    twice = frame.duplicated(subset=key, keep=False) & ~frame.duplicated(keep=False)
    if twice.any():
        report.error("CHECKLIST", "duplicate-id", "an item is listed more than once for a county and year with "
                     "different values; keep one row per xzqdm, year and item.", field="item", ids=rows[twice])


def _check_targets(store, report, unit_codes):
    ws = store.ws
    targets = store.targets(report=report)
    if targets is None:
        return
    rows = "row " + targets["row"].astype(str)
    for column in ("arable_target_mu", "basic_farmland_target_mu"):
        missing = targets[column].isna()
        if missing.any():
            report.error("TARGETS", "missing-target", f"{column} is empty; every unit needs its targets in 亩.",
                         field=column, ids=rows[missing])
        _no_negative(targets, (column,), rows, "TARGETS", None, report)
    blank = targets["xzqdm"].isna()
    if blank.any():
        report.error("TARGETS", "missing-code", "rows without xzqdm: every target row needs the unit's code.",
                     field="xzqdm", ids=rows[blank])
    targets = targets[~blank]
    dup = targets["xzqdm"][targets[["xzqdm", "basis"]].duplicated(keep=False)]
    if len(dup):
        report.error("TARGETS", "duplicate-id", "units listed twice in targets for one basis (keep "
                     "one row per unit and basis: 二调, 三调).", field="xzqdm", ids=sorted(dup.unique()))
    _check_city_targets(ws, targets, unit_codes, report)
    store.adjustments(unit_codes, report=report)
    if unit_codes is not None:
        without = sorted(set(unit_codes) - set(targets["xzqdm"]))
        if without:
            report.error("TARGETS", "missing-target", f"units in XZQ without targets: {', '.join(without)}. "
                         f"Add a row per unit to {Path(ws.targets_path).name}.", field="xzqdm", ids=without)
        extra = sorted(set(targets["xzqdm"]) - set(unit_codes))
        if extra:
            report.warning("TARGETS", "unknown-unit", "targets for codes that are not units in XZQ.",
                           field="xzqdm", ids=extra)


CITY_TARGET_TOLERANCE_MU = 0.5
"""Gap between Σ county targets and the city's target below which they are taken to agree (the
county targets are given in whole 亩)."""


def _check_city_targets(ws, targets, unit_codes, report: Report) -> None:
    """The county targets (base, 二调 rows: the period's) should add up to ``[city]``'s."""
    counties = targets["basis"] == "erdiao"
    if unit_codes is not None:
        counties &= targets["xzqdm"].isin(unit_codes)
    else:
        counties &= targets["xzqdm"].str.len() == 6
    for column, city in ws.city_targets.items():
        total = float(targets.loc[counties, column].sum())
        gap = total - city
        if abs(gap) > CITY_TARGET_TOLERANCE_MU:
            report.warning("TARGETS", "city-target-mismatch", f"the county {column} add up to "
                           f"{total:,.2f} 亩 ({total / 1e4:,.4f} 万亩), {abs(gap):,.2f} 亩 "
                           f"({abs(gap) / 1e4:,.4f} 万亩) {'above' if gap > 0 else 'below'} the city's "
                           f"{city:,.2f} 亩 ({city / 1e4:,.4f} 万亩; [city] {column} in farmland.toml). "
                           "Check the county split in targets.csv or the city figure.", field=column)


def _check_landcover(store, year, report, say):
    ws = store.ws
    if not ws.has_layer("LANDCOVER"):
        return
    try:
        paths = ws.paths("LANDCOVER", year)
    except WorkspaceError as exc:
        report.warning("LANDCOVER", "missing-file", str(exc) + " The remote-sensing cross-check is skipped "
                       "for this year.", year=year)
        return
    say(f"LANDCOVER {year}")
    from .landcover import check_raster

    for path in paths:
        store.note(path)
        check_raster(store, path, year, report)


_SEVERITY_LABEL = {"error": "错误 error", "warning": "警告 warning", "info": "说明 info"}


def render_report(report: Report, workspace) -> str:
    """A readable report: one line per finding grouped by severity, then a summary line."""
    lines = [f"检查 validate {workspace}"]
    for severity in ("error", "warning", "info"):
        found = [f for f in report.findings if f.severity == severity]
        if not found:
            continue
        lines.append("")
        lines.append(f"{_SEVERITY_LABEL[severity]} ({len(found)}):")
        for finding in found:
            where = finding.layer + (f" {finding.year}" if finding.year is not None else "")
            field = f" [{finding.field}]" if finding.field else ""
            shown = shown_path(finding.file) if finding.file else ""
            file = f" ({shown})" if shown and shown not in finding.message else ""
            lines.append(f"  - {where}{field}{file}: {finding.message}")
    errors, warnings = len(report.errors), len(report.warnings)
    lines.append("")
    if errors:
        lines.append(f"结果 result: {errors} error(s), {warnings} warning(s) — fix the errors and run again.")
    else:
        lines.append(f"结果 result: OK, no errors ({warnings} warning(s)).")
    return "\n".join(lines)
