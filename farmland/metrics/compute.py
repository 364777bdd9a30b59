"""Compute every metric of a workspace per unit, year and phase: :func:`compute_metrics`.

One pass per year, in ascending order, reading each layer once per year with only the columns
it needs; geometry only where an overlay needs it (change pieces against approvals and basic
farmland; every layer's features against development-zone polygons when the city has zones).
A year-end snapshot read for year Y is kept, reduced, as the opening of Y+1. Layers without a
``{year}`` in their source (approvals, high-standard farmland, tables) are read once per run.

Missing inputs: XZQ and DLTB are required. A layer that is not configured leaves the metrics it
feeds empty, with a warning naming them; a per-year file missing for an assessed year is an error
(data contract: "a missing layer that a requested metric needs is an error"), for the period's
base year (read for its stocks and as an opening balance) only a note.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import WorkspaceError
from ..schema import TARGET_BASES
from ..layers import layer_exists
from ..load import LayerStore
from ..report import Report
from ..workspace import Workspace
from .attribution import CITY, COUNTY, LEVELS, TOWNSHIP, UnitSet, check_attributed
from .flows import (GBZNT_COLUMNS, adjustment_parts, bf_flows, checklist_parts,
                    event_parts, hsf_parts, zbph_parts)
from .landcover import landcover_parts
from .ledger import (DLTBGXGC_COLUMNS, LEDGER_TOLERANCE_MU, change_parts, classify_pieces,
                     explain_residual, not_closing, residual_m2)
from .occupation import (JSYDSP_COLUMNS, WPZF_COLUMNS, approval_share, rectified_occupation,
                         reported_occupation)
from .opinion import citystats_parts
from .parts import (UnitKeys, aggregate_units, components_of, empty_evidence, evidence_rows,
                    prefixed)
from ..landclass import scheme_for_year
from .derive import basis_of, target_choice
from .result import MetricsResult, build_table
from .stocks import DLTB_COLUMNS, JBNTTB_COLUMNS, bf_snapshot, parcel_snapshot

PHASES = ("annual", "midterm", "final")

_NEEDED_FOR = {
    "DLTB": "arable_mu, mean_quality_grade, arable_change_mu and the area ledger",
    "JBNTTB": "basic_farmland_mu, bf_occupied_mu and bf_redesignated_mu",
    "DLTBGXGC": "derived_construction_on_arable_mu, derived_illegal_arable_mu, the arable ledger "
                "and bf_occupied_mu",
    "JSYDSP": "the legal share of derived_construction_on_arable_mu",
    "WPZF": "construction_on_arable_mu, illegal_arable_mu, illegal_ratio",
    "GBZNT": "hsf_built_mu, hsf_completion",
    "ZBPH": "occupied_mu, supplemented_mu, balance_mu",
    "CHECKLIST": "checklist.<item>",
    "EVENTS": "events_count, events_provincial_count and opinion_trigger_events",
    "LANDCOVER": "landcover_cropland_mu, landcover_built_mu",
    "CITYSTATS": "land_supply_rate and construction_land_per_gdp_change",
}


def compute_metrics(ws: Workspace, years: Iterable[int] | None = None, *,
                    level: str | Sequence[str] = "county", phases: Sequence[str] = ("annual",),
                    report: Report | None = None,
                    progress: Callable[[str], None] | None = None,
                    store: LayerStore | None = None) -> MetricsResult:
    """Compute the assessment metrics of a workspace.

    Parameters
    ----------
    ws : Workspace
    years : iterable of int, optional
        Data years for the annual phase (``--year``). Default: every data year of the period
        (base year included) that has a DLTB snapshot. For ``midterm``/``final`` the span is the
        phase's years up to the latest year given (a partial span is reported as a warning).
    level : {"county", "township", "city"} or sequence of them
        ``"county"`` gives the county rows *and* the city-total row, as the data contract's
        ``farmland metrics`` output has; a sequence gives exactly the levels listed.
    phases : sequence of {"annual", "midterm", "final"}
    report : Report, optional
        Where findings go (by default strict: the first error raises).
    progress : callable(str), optional
        Called with a short message before each layer is read.
    store : farmland.load.LayerStore, optional
        The run's layer store, shared with validation (default: a store of its own, with the
        disk cache).

    Returns
    -------
    MetricsResult
        ``.table`` (tidy: unit × phase × year × metric), ``.wide()`` and ``.evidence()``.

    Notes
    -----
    The data are expected to have passed :func:`farmland.validate.validate_workspace` (the
    functions of :mod:`farmland.pipeline` and every command validate first, through the same
    store): a county database missing in one year, say, is refused there, not here.

    Areas are in 亩 (m² × 0.0015 exactly) at full precision; ratios are fractions. Every area
    metric carries its survey basis (口径): ``erdiao`` up to 2018, ``sandiao`` from the third
    survey (2019-12-31), read from the codes found. The targets of the 2016–2020 period are on the
    ``erdiao`` basis.
    """
    report = report if report is not None else Report(strict=True)
    levels = _levels(level)
    phases = tuple(dict.fromkeys(phases))
    bad = [p for p in phases if p not in PHASES]
    if bad or not phases:
        raise WorkspaceError(f"unknown phase {bad or phases!r}: use annual, midterm or final.")
    run = _Run(ws, levels, report, progress, store if store is not None else LayerStore(ws))
    return run.execute(years, phases)


def metrics_for_scoring(result: MetricsResult, phase: str, year: int | None = None):
    """The county wide frame of one phase and year, and an evidence look-up for the scorer.

    Parameters
    ----------
    result : MetricsResult
    phase : {"annual", "midterm", "final"}
    year : int, optional
        The data year; for midterm/final a row is found when ``year`` is its last year, falls in
        its span, or (a check held after the span) is later than it. Default: the latest.

    Returns
    -------
    wide : DataFrame
        ``result.wide(level="county", phase=phase)`` for that one year.
    evidence : callable(xzqdm, metric) -> tuple of str
    """
    return result.for_scoring(phase, year)


def _levels(level) -> tuple[str, ...]:
    if isinstance(level, str):
        if level not in LEVELS:
            raise WorkspaceError(f"unknown level {level!r}: use county, township or city.")
        return (COUNTY, CITY) if level == COUNTY else (level,)
    levels = tuple(dict.fromkeys(level))
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad or not levels:
        raise WorkspaceError(f"unknown level {bad or levels!r}: use county, township or city.")
    return levels


class _Run:
    """State of one computation: caches of layers read, components per level and year."""

    def __init__(self, ws: Workspace, levels, report: Report, progress, store: LayerStore):
        self.ws = ws
        self.store = store
        self.levels = levels
        self.report = report
        self.progress = progress or (lambda message: None)
        self.base_levels = []
        if COUNTY in levels or CITY in levels:
            self.base_levels.append(COUNTY)
        if TOWNSHIP in levels:
            self.base_levels.append(TOWNSHIP)
        self.units: UnitSet | None = None
        self.xzq = None
        self.assessed: set[int] = set()
        self._static: dict[str, object] = {}
        self._presence: dict[tuple[str, int], bool] = {}
        self._layer_names: dict[object, set[str] | None] = {}
        self._warned: set[str] = set()
        self._snapshots: dict[int, object] = {}
        self._stock_values: dict[int, dict] = {}
        self._bf: dict[int, object] = {}
        self.components: dict[str, dict[int, pd.DataFrame]] = {lv: {} for lv in (*self.base_levels, CITY)}
        self.evidence: dict[str, dict[int, list]] = {lv: {} for lv in (*self.base_levels, CITY)}

    # -- plan ----------------------------------------------------------------------------------

    def execute(self, years, phases) -> MetricsResult:
        period = self.ws.period
        if years is None:
            years = [y for y in period.data_years if layer_exists(self.ws, "DLTB", y)]
            if not years:
                raise WorkspaceError(f"no DLTB snapshot found for any year {period.data_years[0]}–"
                                     f"{period.data_years[-1]}; check layers.DLTB in farmland.toml.")
        years = sorted({int(y) for y in ([years] if np.isscalar(years) else years)})
        annual_years = years if "annual" in phases else []
        spans: dict[str, list[int]] = {}
        for phase in ("midterm", "final"):
            if phase not in phases:
                continue
            covered = period.covered_years(phase)
            span = [y for y in covered if y <= years[-1]]
            if not span:
                self.report.warning("METRICS", "empty-span", f"the {phase} phase covers "
                                    f"{covered[0]}–{covered[-1]}, after the latest year asked for "
                                    f"({years[-1]}); it is left out.")
                continue
            if span != covered:
                self.report.warning("METRICS", "partial-span", f"the {phase} phase covers "
                                    f"{covered[0]}–{covered[-1]} but data up to {years[-1]} were asked "
                                    f"for; its figures cover {span[0]}–{span[-1]} only.")
            spans[phase] = span
        compute_years = sorted(set(annual_years).union(*spans.values()))
        self.assessed = {y for y in compute_years if y != period.base_year}

        self.progress("读取 XZQ")
        self.xzq = self.store.layer("XZQ", columns=["XZQDM", "XZQMC"], geometry=True,
                              report=self.report, needed_for="the units of every metric")
        if self.xzq is None:
            raise WorkspaceError("XZQ could not be read; see the findings above.")
        self.xzq["XZQDM"] = self.xzq["XZQDM"].astype(str)
        for year in compute_years:
            self._year(year)
            # Keep only what the next year needs: its opening snapshot.
            for old in [y for y in self._snapshots if y < year]:
                del self._snapshots[old]
            for old in [y for y in self._bf if y < year]:
                del self._bf[old]

        city_parts = self._city_parts(compute_years)
        for year in compute_years:
            self._aggregate_city(year, city_parts.get(year))
        return build_table(self, annual_years, spans)

    # -- reading -------------------------------------------------------------------------------

    def _configured(self, layer: str, what: str | None = None) -> bool:
        if self.ws.has_layer(layer):
            return True
        if layer not in self._warned:
            self._warned.add(layer)
            needed = what or _NEEDED_FOR.get(layer, "its metrics")
            if layer in ("EVENTS", "CITYSTATS"):
                self.report.info(layer, "layer-not-configured", f"{layer} (optional) is not "
                                 f"configured: {needed} "
                                 + ("count no events." if layer == "EVENTS" else "are empty."))
            else:
                self.report.warning(layer, "layer-not-configured", f"{layer} is not configured in "
                                    f"farmland.toml, so {needed} are empty.")
        return False

    def _read(self, layer: str, year: int | None, columns, geometry: bool, *, context=False):
        if not self._configured(layer):
            return None
        per_year = self.ws.layers[layer].per_year
        cached = self._static.get(layer) if not per_year else None
        # A static layer is read once, unless a later use needs the geometry the first did not.
        if cached is not None and (not geometry or "geometry" in cached):
            return cached
        if per_year and not self._present(layer, year):
            if context or year not in self.assessed:
                outcome = ("0: no records" if layer in ("WPZF", "DLTBGXGC") and year not in self.assessed
                           else "empty")
                self.report.info(layer, "missing-year", f"{layer} has no file for {year}; "
                                 f"{_NEEDED_FOR.get(layer, 'its metrics')} for {year} are {outcome}.",
                                 year=year)
                return None
        self.progress(f"读取 {layer} {year}" if per_year else f"读取 {layer}")
        frame = self.store.layer(layer, year if per_year else None, columns=columns,
                           geometry=geometry, report=self.report, needed_for=_NEEDED_FOR.get(layer))
        if not per_year:
            self._static[layer] = frame
        return frame

    def _present(self, layer: str, year: int) -> bool:
        """Files of ``layer`` for ``year`` exist and hold the named layer (base-year packages
        often carry the snapshot but no change records). Asked many times per year: cached."""
        key = (layer, year)
        if key not in self._presence:
            self._presence[key] = self._look_for(layer, year)
        return self._presence[key]

    def _look_for(self, layer: str, year: int) -> bool:
        if not layer_exists(self.ws, layer, year):
            return False
        name = self.ws.layers[layer].layer
        if name is None:
            return True
        for path in self.ws.paths(layer, year):
            names = self._names_in(path)
            if names is None:  # unreadable: let read_layer report it properly
                return True
            if name.lower() not in names:
                return False
        return True

    def _names_in(self, path) -> set[str] | None:
        """Layer names of a file (lower case), None if unreadable; listed once per run, as one
        county database holds the snapshot, the basic farmland and the change records."""
        if path not in self._layer_names:
            import pyogrio

            try:
                self._layer_names[path] = {str(n).lower() for n in pyogrio.list_layers(path)[:, 0]}
            except Exception:
                self._layer_names[path] = None
        return self._layer_names[path]

    def _table(self, layer: str):
        if layer in self._static:
            return self._static[layer]
        frame = None
        if self._configured(layer):
            self.progress(f"读取 {layer}")
            frame = self.store.table(layer, report=self.report, needed_for=_NEEDED_FOR.get(layer))
        self._static[layer] = frame
        return frame

    def _targets(self):
        if "TARGETS" not in self._static:
            frame = None
            if self.ws.targets_path is not None:
                self.progress("读取 targets")
                frame = self.store.targets(report=self.report)
            else:
                self.report.warning("TARGETS", "not-configured", "[targets] is not configured: "
                                    "targets, attainment and completion ratios are empty.")
            self._static["TARGETS"] = frame
        return self._static["TARGETS"]

    @property
    def _zones(self) -> bool:
        if COUNTY not in self.base_levels:
            return False
        if self.units is None:
            return bool(self.ws.spatial_units)
        return bool(self.units.zones)

    # -- attribution ---------------------------------------------------------------------------

    def _ensure_units(self, frame, year):
        if self.units is not None:
            return
        codes = pd.Series(pd.unique(frame["ZLDWDM"].astype(object)), dtype=object).dropna()
        prefixes = codes.astype(str).str.slice(0, 6).unique()
        self.units = UnitSet.from_xzq(self.xzq, city_code=self.ws.city_code,
                                      city_name=self.ws.city_name, spatial_units=self.ws.spatial_units,
                                      parcel_codes=prefixes, report=self.report, year=year)

    def _parcel_keys(self, frame, code_column: str, layer: str, year: int, ids, areas,
                     fallback_column: str | None = None) -> dict[str, UnitKeys]:
        """Unit keys of a parcel-like layer (every feature must be attributed), factorized once
        for the check and the sums (:class:`~.parts.UnitKeys`)."""
        codes = frame[code_column]
        if fallback_column is not None and fallback_column in frame:
            codes = codes.where(codes.notna(), frame[fallback_column])
        county, township = self.units.county_and_attributed_township_of(codes)
        keys = {}
        if COUNTY in self.base_levels:
            k = county
            if self.units.zones and "geometry" in frame:
                k, _ = self.units.move_to_zones(k, frame.geometry.values, frame.crs)
            keys[COUNTY] = UnitKeys.of(k)
            check_attributed(layer, year, keys[COUNTY], ids, areas, self.report,
                             field_name=code_column)
        if TOWNSHIP in self.base_levels:
            keys[TOWNSHIP] = UnitKeys.of(township)
            check_attributed(layer, year, keys[TOWNSHIP], ids, areas, self.report,
                             field_name=code_column, what="features (township level)")
        return keys

    def _code_keys(self, frame, code_column: str, layer: str, year: int, ids, amounts):
        """Unit keys of a layer or table coded by XZQDM (township level only for 9-digit codes)."""
        codes = frame[code_column]
        keys = {}
        if COUNTY in self.base_levels:
            k = self.units.county_of(codes)
            if self.units.zones and "geometry" in frame:
                counties = [c for c in self.units.codes if c not in self.units.zones]
                # Rows coded with a zone's own code stay there; host-county rows move by position.
                host = pd.Series(k, dtype=object).isin(counties).to_numpy()
                moved, _ = self.units.move_to_zones(k, frame.geometry.values, frame.crs)
                k = np.where(host, moved, k)
            check_attributed(layer, year, k, ids, amounts, self.report, what="rows",
                             field_name=code_column)
            keys[COUNTY] = k
        if TOWNSHIP in self.base_levels:
            k = self.units.township_of(codes)
            if pd.isna(pd.Series(k, dtype=object)).any():
                key = f"{layer}-township"
                if key not in self._warned:
                    self._warned.add(key)
                    self.report.info(layer, "no-township-code", f"{layer} rows carry county codes "
                                     f"only ({code_column} shorter than 9 characters), so their "
                                     "figures are empty at the township level.", year=year)
                k = None
            keys[TOWNSHIP] = k
        return keys

    # -- one year ------------------------------------------------------------------------------

    def _snapshot(self, year: int, *, context=False):
        if year in self._snapshots:
            return self._snapshots[year]
        frame = self._read("DLTB", year, DLTB_COLUMNS, geometry=self._zones, context=context)
        if frame is None:
            self._snapshots[year] = None
            return None
        self._ensure_units(frame, year)
        if self._zones and "geometry" not in frame:
            # Zones were discovered in this very read (no [units] spatial in farmland.toml): the
            # geometry is needed to place parcels, so read it once more for this year only.
            self.progress(f"读取 DLTB {year}（几何）")
            shapes = self.store.layer("DLTB", year, columns=["BSM"], geometry=True,
                                report=self.report)
            import geopandas as gpd

            frame = gpd.GeoDataFrame(frame, geometry=shapes.geometry.values, crs=shapes.crs)
        ids = frame["BSM"].to_numpy(dtype=object)
        keys = self._parcel_keys(frame, "ZLDWDM", "DLTB", year, ids,
                                 frame["TBMJ"].to_numpy(dtype="float64", na_value=0.0))
        snap = parcel_snapshot(frame, year, keys, self.ws.land_classes, self.report)
        self._snapshots[year] = snap
        self._stock_values[year] = snap.values
        return snap

    def _bf_snapshot(self, year: int, *, context=False):
        if year in self._bf:
            return self._bf[year]
        frame = self._read("JBNTTB", year, JBNTTB_COLUMNS, geometry=True, context=context)
        if frame is None:
            self._bf[year] = None
            return None
        ids = frame["BSM"].to_numpy(dtype=object)
        area = frame["YJJBNTMJ"].to_numpy(dtype="float64", na_value=0.0) if "YJJBNTMJ" in frame \
            else np.zeros(len(frame))
        keys = self._parcel_keys(frame, "ZLDWDM", "JBNTTB", year, ids, area)
        snap = bf_snapshot(frame, year, keys, self.ws.land_classes, self.report)
        self._bf[year] = snap
        return snap

    def _year(self, year: int) -> None:
        snap = self._snapshot(year)
        if snap is None:
            # Non-strict report: the error is recorded; nothing can be computed for the year.
            return
        prev_year = year - 1
        prev = None
        if self._present("DLTB", prev_year):
            prev = self._snapshot(prev_year, context=True)
        else:
            note = self.report.info if year <= self.ws.period.base_year else self.report.warning
            note("DLTB", "no-previous-snapshot", f"no DLTB snapshot for {prev_year}: arable_change_mu "
                 f"and the area ledger of {year} are empty.", year=year)
        self._pieces = (None, None, None)
        bf = self._bf_snapshot(year) if self._configured("JBNTTB") else None
        bf_prev = None
        if bf is not None and self._present("JBNTTB", prev_year):
            bf_prev = self._bf_snapshot(prev_year, context=True)

        parts: dict[str, dict[str, pd.DataFrame | None]] = {lv: {} for lv in self.base_levels}
        evidence: dict[str, list] = {lv: [] for lv in self.base_levels}

        def put(group, values, ev=None, levels=None):
            for lv in levels or self.base_levels:
                parts[lv][group] = None if values is None else values.get(lv)
                if ev is not None and lv in ev:
                    evidence[lv].append(ev[lv])

        put("dltb", snap.values)
        put("prev", None if prev is None else self._prev_values(prev, snap))
        put("bf", None if bf is None else bf.values)
        if bf is not None and bf_prev is not None:
            for lv in self.base_levels:
                prev_bf = bf_prev.values[lv]["bf_m2"].rename("bf_prev_m2")
                if parts[lv]["prev"] is not None:
                    parts[lv]["prev"] = parts[lv]["prev"].drop(columns="bf_prev_m2").join(
                        prev_bf, how="outer").fillna(0.0)

        self._changes(year, snap, prev, bf, bf_prev, put)
        self._wpzf(year, put)
        self._hsf(year, put)
        self._tables(year, put)
        self._landcover(year, put)

        for lv in self.base_levels:
            frame = _choose_targets(self._assemble(lv, parts[lv]), year)
            if lv == TOWNSHIP:
                self._check_townships(frame.index, year)
            self.components[lv][year] = frame
            ev = pd.concat(evidence[lv], ignore_index=True) if evidence[lv] else empty_evidence()
            ev = pd.concat([ev, self._ledger_findings(lv, year, frame, snap, prev)], ignore_index=True)
            self.evidence[lv][year] = ev
        self._basis_findings(year)

    def _prev_values(self, prev, snap):
        out = {}
        for lv in self.base_levels:
            now, before = snap.values[lv], prev.values[lv]
            table = pd.DataFrame({"arable_prev_m2": before["arable_m2"]}).join(
                pd.DataFrame(index=now.index), how="outer").fillna(0.0)
            table["bf_prev_m2"] = np.nan
            basis_now = _majority(now, "dltb").reindex(table.index)
            basis_before = _majority(before, "dltb").reindex(table.index)
            table["series_break"] = ((basis_now != basis_before) & basis_now.notna()
                                     & basis_before.notna()).astype("float64")
            out[lv] = table
        return out

    def _changes(self, year, snap, prev, bf, bf_prev, put):
        names = ("gxgc", "bf_flow")
        pieces = None
        if self._configured("DLTBGXGC"):
            pieces = self._read("DLTBGXGC", year, DLTBGXGC_COLUMNS, geometry=True)
        if pieces is not None and not self.ws.layers["DLTBGXGC"].per_year:
            when = pd.to_datetime(pieces.get("GXSJ"), errors="coerce") if "GXSJ" in pieces else None
            if when is None:
                raise WorkspaceError("DLTBGXGC has no {year} in its source and no GXSJ field to tell "
                                     "the years apart; give one file per year.")
            pieces = pieces[(when.dt.year == year).to_numpy()].reset_index(drop=True)
        if pieces is None:
            for name in names:
                put(name, None)
            if self._no_records("DLTBGXGC", year):
                self._put_zero(put, "gxgc")
            return
        n = len(pieces)
        ids_raw = pieces["BGQTBBSM"] if "BGQTBBSM" in pieces else pd.Series([None] * n)
        ids = prefixed("DLTBGXGC", ids_raw, fallback=np.arange(n))
        area = pieces["TBBGMJ"].to_numpy(dtype="float64", na_value=0.0)
        keys_before = self._parcel_keys(pieces, "BGQZLDWDM", "DLTBGXGC", year, ids, area)
        keys_after = keys_before
        if "BGHZLDWDM" in pieces:
            keys_after = self._parcel_keys(pieces, "BGHZLDWDM", "DLTBGXGC", year, ids, area,
                                           fallback_column="BGQZLDWDM")
        classified = classify_pieces(pieces, year, self.ws.land_classes, snap.arable, self.report)

        share = np.zeros(n)
        approval_evidence = None
        has_geometry = "geometry" in pieces
        legality_known = has_geometry and self._configured("JSYDSP")
        if not has_geometry:
            self.report.warning("DLTBGXGC", "no-geometry", "the change records have no geometry, so "
                                "they cannot be checked against approvals or basic farmland: "
                                "derived_illegal_arable_mu and bf_occupied_mu are empty.", year=year)
        candidates = np.flatnonzero(classified.to_construction)
        if len(candidates) and legality_known:
            approvals = self._approvals(pieces.crs)
            if approvals is None:
                legality_known = False
            else:
                dates = (pieces["GXSJ"].to_numpy() if "GXSJ" in pieces
                         else np.full(n, np.datetime64("NaT")))
                got, piece_idx, approval_idx = approval_share(
                    np.asarray(pieces.geometry.values, dtype=object)[candidates], dates[candidates],
                    year, approvals, self.report)
                share[candidates] = got
                used_pieces = candidates[piece_idx]
                approval_ids = prefixed("JSYDSP", approvals["PZWH"].to_numpy(dtype=object)[approval_idx])
                approval_evidence = {
                    lv: evidence_rows(keys_after[lv][used_pieces], approval_ids,
                                      ["derived_construction_on_arable_mu", "derived_illegal_ratio",
                                       "arable_loss_construction_legal_mu"])
                    for lv in self.base_levels}
        values, ev = change_parts(classified, share, keys_before, keys_after, approval_evidence)
        if not legality_known:
            # Without approvals (or shapes to overlay them) legal and illegal are unknown, not 0.
            for table in values.values():
                table[["derived_illegal_m2", "loss_construction_legal_m2",
                       "loss_construction_illegal_m2"]] = np.nan
        put("gxgc", values, ev)
        self._pieces = (classified, keys_before, keys_after)

        if bf is not None and bf_prev is not None and bf.geometry is not None and has_geometry:
            bf_values, bf_ev = bf_flows(bf_prev, bf, pieces.geometry.values, pieces.crs, ids,
                                        classified.new_construction)
            put("bf_flow", bf_values, bf_ev)
        else:
            put("bf_flow", None)

    def _approvals(self, crs):
        approvals = self._read("JSYDSP", None, JSYDSP_COLUMNS, geometry=True)
        if approvals is None:
            return None
        if "JSYDSP-dates" not in self._warned:
            self._warned.add("JSYDSP-dates")
            undated = approvals["PZRQ"].isna().to_numpy()
            if undated.any():
                self.report.warning("JSYDSP", "undated-approval", "approvals without PZRQ cannot be "
                                    "shown to be in force at a change date and are not used.",
                                    field="PZRQ", ids=approvals["PZWH"].to_numpy(dtype=object)[undated])
        if crs is not None and approvals.crs is not None and not approvals.crs.equals(crs):
            approvals = approvals.to_crs(crs)
        return approvals

    def _no_records(self, layer: str, year: int) -> bool:
        """A configured per-year layer without a file for a year that is not assessed (the base
        year's package usually has no change records or monitoring): no records, so its flows
        are 0 (data contract: "a flow with no records in the year is 0"), not unknown."""
        return (self._configured(layer) and self.ws.layers[layer].per_year and year not in self.assessed
                and not self._present(layer, year))

    def _put_zero(self, put, group: str, levels=None) -> None:
        levels = levels or self.base_levels
        put(group, {lv: pd.DataFrame(columns=components_of(group), dtype="float64") for lv in levels},
            levels=levels)

    def _wpzf(self, year, put):
        frame = self._read("WPZF", year, WPZF_COLUMNS, geometry=self._zones)
        if frame is None:
            for group in ("wpzf", "rectification"):
                if self._no_records("WPZF", year):
                    self._put_zero(put, group)
                else:
                    put(group, None)
            return
        frame, keys = self._rows_of_year(frame, "WPZF", "JCNF", "JCBH", "ZYGDMJ", year)
        values, ev = reported_occupation(frame, keys, year, self.report)
        put("wpzf", values, ev)
        values, ev = rectified_occupation(frame, keys, year, self.report)
        put("rectification", values, ev)

    def _rows_of_year(self, frame, layer: str, year_field: str, id_field: str, area_field: str, year: int):
        """Rows of ``year`` of a county-coded layer (WPZF, GBZNT) and their unit per level."""
        frame = frame[(frame[year_field] == year).to_numpy()].reset_index(drop=True)
        ids = prefixed(layer, frame[id_field], fallback=np.arange(len(frame)))
        keys = self._code_keys(frame, "XZQDM", layer, year, ids,
                               frame[area_field].to_numpy(dtype="float64", na_value=0.0))
        return frame, {lv: k for lv, k in keys.items() if k is not None}

    def _hsf(self, year, put):
        column = f"hsf_task_mu_{year}"
        task, goals = {}, {}
        for lv in self.base_levels:
            targets = self._targets_of(lv)
            task[lv] = (None if targets is None or column not in targets
                        else self._target_frame(targets, lv, {"hsf_task_mu": column}))
            goals[lv] = (None if targets is None else self._target_frame(
                targets, lv, {"arable_target": "arable_target_mu",
                              "bf_target": "basic_farmland_target_mu"}, by_basis=True))
        targets = self._targets()
        if targets is not None and column not in targets and year in self.assessed:
            self.report.warning("TARGETS", "no-hsf-task", f"targets.csv has no column {column}: "
                                f"hsf_task_mu and hsf_completion of {year} are empty (未下达任务).", year=year)
        put("hsf_task", task)
        put("targets_by_basis", goals)
        self._adjustments(year, put)

        frame = self._read("GBZNT", year, GBZNT_COLUMNS, geometry=self._zones)
        if frame is None:
            put("hsf", None)
            return
        frame, keys = self._rows_of_year(frame, "GBZNT", "JSNF", "XMBH", "JSMJ", year)
        values, ev = hsf_parts(frame, keys)
        put("hsf", {lv: values.get(lv) for lv in keys}, ev)

    def _targets_of(self, level):
        """The target table of a level: targets.csv; for townships the township list when it
        carries targets, else targets.csv's 9-digit rows."""
        if level == TOWNSHIP:
            townships = self._townships()
            if townships is not None and ({"arable_target_mu", "basic_farmland_target_mu"}
                                          & set(townships.columns)):
                return townships
        return self._targets()

    def _townships(self):
        if "TOWNSHIPS" not in self._static:
            self._static["TOWNSHIPS"] = None
            if self.ws.townships_path is not None:
                self.progress("读取 TOWNSHIPS")
                frame = self.store.townships(report=self.report)
                if frame is not None:
                    frame = frame.rename(columns={"xzdm": "xzqdm", "xzmc": "xzqmc"})
                self._static["TOWNSHIPS"] = frame
        return self._static["TOWNSHIPS"]

    def _check_townships(self, codes, year):
        """Township codes of the data that the township list does not name: a warning, once each."""
        townships = self._townships()
        if townships is None:
            return
        known = set(townships["xzqdm"].dropna())
        missing = sorted(c for c in codes if c not in known and f"TOWNSHIP-{c}" not in self._warned)
        if missing:
            self._warned.update(f"TOWNSHIP-{c}" for c in missing)
            self.report.warning("TOWNSHIPS", "unknown-township", f"township codes (ZLDWDM[:9]) in the "
                                f"data without a row in {self.ws.townships_path.name}: "
                                f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}. Their "
                                "rows carry no name nor targets; add them (xzdm, xzmc).", year=year,
                                field="xzdm", ids=missing)

    def _target_frame(self, targets, level, columns, by_basis=False):
        """Targets per unit: ``columns`` maps a component to its targets.csv column.

        ``by_basis``: one component per survey basis (``<name>_erdiao_mu``, ``<name>_sandiao_mu``)
        from the rows of that ``basis``; the metrics pick the one matching the stock's basis.
        Otherwise the unit's first non-empty value over its rows.
        """
        codes = targets["xzqdm"].astype("string").str.strip()
        if level == COUNTY:
            select = codes.isin(self.units.codes).to_numpy(dtype=bool, na_value=False)
        else:
            select = (codes.str.len() == 9).to_numpy(dtype=bool, na_value=False)
        basis = targets["basis"].to_numpy(dtype=object)
        key = "TARGETS-" + level
        if key not in self._warned:
            self._warned.add(key)
            if level == COUNTY:
                other = codes[~select & (codes.str.len() != 9).to_numpy(dtype=bool, na_value=True)]
                if len(other):
                    self.report.warning("TARGETS", "unknown-unit", "targets.csv rows whose xzqdm is "
                                        "not a unit in XZQ are ignored.", ids=list(other))
                missing = [c for c in self.units.codes if c not in set(codes.dropna())]
                if missing:
                    self.report.info("TARGETS", "no-target", "units without a row in targets.csv "
                                     "have empty targets and attainment.", ids=missing)
            pairs = pd.Series(list(zip(codes[select], basis[select])), dtype=object)
            dup = pairs.duplicated().to_numpy()
            if dup.any():
                self.report.error("TARGETS", "duplicate-unit", "targets lists a unit more than once "
                                  "for one basis; keep one row per unit and basis (二调, 三调).",
                                  ids=list(codes[select][dup]))
        chosen = targets[select]
        index = pd.Index(codes[select].to_numpy(dtype=object), name="unit")
        out = {}
        for name, source in columns.items():
            # A target column the table does not carry (a township list with arable targets only,
            # say) leaves that target empty: never a KeyError, never a silent 0.
            raw = chosen[source].to_numpy(dtype="float64", na_value=np.nan) if source in chosen \
                else np.full(len(chosen), np.nan)
            values = pd.Series(raw, index=index)
            if not by_basis:
                out[name] = values.groupby(level=0, sort=False).first()
                continue
            for scheme in TARGET_BASES.values():
                out[f"{name}_{scheme}_mu"] = values.where(basis[select] == scheme) \
                    .groupby(level=0, sort=False).max()
        return pd.DataFrame(out)

    def _adjustments(self, year, put):
        """The register of target adjustments in force in ``year``: county-coded, so a township
        has none (its targets in the township list are the ones it is held to)."""
        if "ADJUSTMENTS" not in self._static:
            self._static["ADJUSTMENTS"] = self.store.adjustments(self.units.codes, report=self.report)
        register = self._static["ADJUSTMENTS"]
        levels = [lv for lv in self.base_levels if lv == COUNTY]
        if TOWNSHIP in self.base_levels:
            self._put_zero(put, "adjustments", [TOWNSHIP])
        if not levels:
            return
        if register is None:  # no register: no adjustment was made
            self._put_zero(put, "adjustments", levels)
            return
        rows = register[(register["year"] <= year).to_numpy(dtype=bool, na_value=False)]
        keys = self.units.county_of(rows["xzqdm"])
        values, ev = adjustment_parts(rows, keys)
        put("adjustments", {COUNTY: values}, {COUNTY: ev}, levels=levels)

    def _tables(self, year, put):
        for layer, group, fn, amount in (("ZBPH", "zbph", zbph_parts, "area_mu"),
                                         ("EVENTS", "events", event_parts, None),
                                         ("CHECKLIST", "checklist", checklist_parts, "fraction")):
            table = self._table(layer)
            if table is None:
                if layer == "EVENTS":
                    # Optional: no file means no events were recorded.
                    put(group, {lv: pd.DataFrame(columns=components_of("events"), dtype="float64")
                                for lv in self.base_levels})
                else:
                    put(group, None)
                continue
            rows = table[(table["year"] == year).to_numpy()].reset_index(drop=True)
            ids = prefixed(layer, rows["row"])
            amounts = (rows[amount].to_numpy(dtype="float64", na_value=0.0) if amount
                       else np.ones(len(rows)))
            keys = self._code_keys(rows, "xzqdm", layer, year, ids, amounts)
            values, ev = fn(rows, keys, year, self.report)
            put(group, {lv: values.get(lv) for lv in self.base_levels}, ev)

    def _landcover(self, year, put):
        levels = [lv for lv in self.base_levels if lv == COUNTY]
        if TOWNSHIP in self.base_levels:
            put("landcover", None, levels=[TOWNSHIP])
        if not levels:
            return
        if not self._configured("LANDCOVER"):
            put("landcover", None, levels=levels)
            return
        if not layer_exists(self.ws, "LANDCOVER", year):
            if year in self.assessed:
                # Revision 2: imagery is not bought every year; the raster metrics of the year are empty.
                self.report.warning("LANDCOVER", "missing-file", f"no LANDCOVER raster for {year} "
                                    f"({self.ws.layers['LANDCOVER'].template}); landcover_cropland_mu and "
                                    "landcover_built_mu are empty for that year.", year=year)
            else:
                self.report.info("LANDCOVER", "missing-year", f"no LANDCOVER raster for {year}.",
                                 year=year)
            put("landcover", None, levels=levels)
            return
        path = self.ws.paths("LANDCOVER", year)[0]
        self.store.note(path)
        self.progress(f"读取 LANDCOVER {year}")
        values = landcover_parts(path, year, self.xzq, self.units, self.ws.landcover_classes,
                                 self.report)
        put("landcover", {COUNTY: values}, levels=levels)

    # -- assembling ----------------------------------------------------------------------------

    def _assemble(self, level: str, parts: dict[str, pd.DataFrame | None]) -> pd.DataFrame:
        if level == COUNTY:
            index = pd.Index(self.units.codes, dtype=object, name="unit")
        else:
            index = pd.Index([], dtype=object)
            for group in ("dltb", "prev", "bf", "gxgc"):
                frame = parts.get(group)
                if frame is not None:
                    index = index.union(frame.index.astype(object))
            index = pd.Index(sorted(index), dtype=object, name="unit")
        frames = []
        for group, frame in parts.items():
            names = components_of(group) if group != "checklist" else None
            # Units without records have 0 of a flow; without a target or task, an empty target.
            fill = np.nan if group in ("targets_by_basis", "hsf_task") else 0.0
            if frame is None:
                if names:
                    frames.append(pd.DataFrame(np.nan, index=index, columns=names))
                continue
            frame = frame.reindex(index, fill_value=fill)
            if names:
                # The group's fixed components, plus further [landcover] classes the workspace names.
                extra = [c for c in frame.columns if group == "landcover" and c not in names]
                frame = frame.reindex(columns=names + extra, fill_value=0.0)
            frames.append(frame.astype("float64"))
        return pd.concat(frames, axis=1)

    def _ledger_findings(self, level, year, frame, snap, prev) -> pd.DataFrame:
        residual = residual_m2(frame)
        failing = not_closing(residual)
        if not len(failing):
            return empty_evidence()
        classified, keys_before, keys_after = getattr(self, "_pieces", (None, None, None))
        rows = explain_residual(prev.arable if prev is not None else None, snap.arable, classified,
                                keys_before[level] if keys_before else None,
                                keys_after[level] if keys_after else None, level, failing)
        detail = ", ".join(f"{u} {residual[u] * 0.0015:+.4f} 亩" for u in failing[:8])
        ids = rows["id"].tolist()
        self.report.warning("METRICS", "ledger-not-closing", f"the {level} arable ledger of {year} "
                            f"does not close (opening + gains − losses ≠ closing beyond "
                            f"{LEDGER_TOLERANCE_MU} 亩): {detail}. "
                            + ("Parcels and change records that explain it follow."
                               if ids else "No single parcel explains it (rounding or areas "
                               "re-measured without a change record)."), year=year, ids=ids)
        return rows

    def _basis_findings(self, year):
        level = self.base_levels[0]
        frame = self.components[level][year]
        breaks = frame.index[frame["series_break"].fillna(0) > 0]
        if len(breaks):
            self.report.warning("METRICS", "series-break", f"arable_change_mu and the ledger of {year} "
                                "compare a 二调-basis snapshot with a 三调-basis one (the 2019-12-31 "
                                "break); the figures are kept and marked series_break = 1, but they "
                                "mix two surveys and are not a real change.", year=year,
                                ids=list(breaks))
        crossed = [u for name in ("arable_target", "bf_target")
                   for u in frame.index[frame[f"{name}_mismatch_n"] == 1]]
        if crossed and "basis-targets" not in self._warned:
            self._warned.add("basis-targets")
            self.report.info("TARGETS", "target-basis", f"from {year} some targets are on another "
                             "survey basis than the stocks (e.g. 二调 targets against 三调 areas) and "
                             "targets.csv has no row of the stocks' basis for them: attainment "
                             "compares across the survey break and is marked arable_basis_mismatch / "
                             "basic_farmland_basis_mismatch = 1. Add rows with basis = 三调 to use "
                             "targets on the stocks' basis.", year=year, ids=sorted(set(crossed)))

    def _city_parts(self, years) -> dict[int, dict]:
        if CITY not in self.levels:
            return {}
        stats = self._table("CITYSTATS") if self._configured("CITYSTATS") else None
        base_year = self.ws.period.base_year
        base = np.nan
        if stats is not None:
            values = self._stock_values.get(base_year)
            if values is None and layer_exists(self.ws, "DLTB", base_year):
                snap = self._snapshot(base_year, context=True)
                values = snap.values if snap is not None else None
            if values is None:
                self.report.warning("DLTB", "no-base-snapshot", f"no DLTB snapshot for the base year "
                                    f"{base_year}: construction_land_per_gdp_change is empty.")
            else:
                base = float(values[COUNTY]["group_construction_m2"].sum())
        return {y: citystats_parts(stats, y, base_year, base) for y in years}

    def _aggregate_city(self, year, city_parts):
        if COUNTY not in self.components or year not in self.components[COUNTY]:
            return
        city = aggregate_units(self.components[COUNTY][year], self.ws.city_code, self.units.zones)
        for name, value in (city_parts or {}).items():
            city[name] = value
        self.components[CITY][year] = city
        ev = self.evidence[COUNTY][year]
        ev = ev.assign(unit=self.ws.city_code)
        self.evidence[CITY][year] = ev

    # -- naming --------------------------------------------------------------------------------

    def unit_name(self, level: str, code: str) -> str:
        if level == CITY:
            return self.ws.city_name
        if level == COUNTY:
            return self.units.names.get(code, "")
        townships = self._townships()
        if townships is not None:
            names = self._static.setdefault("TOWNSHIP-NAMES", dict(zip(townships["xzqdm"],
                                                                      townships["xzqmc"])))
            if isinstance(names.get(code), str):
                return names[code]
        return f"{self.units.county_name(code)} {code}".strip()


def _choose_targets(frame: pd.DataFrame, year: int) -> pd.DataFrame:
    """Replace the per-basis base targets of a unit-year by the one on the stock's basis (else
    the other, marked), so that a city or a span adds up the targets the units were held to."""
    sources = basis_of(frame, scheme_for_year(year))
    out = frame.drop(columns=components_of("targets_by_basis"))
    for name, stock in (("arable_target", "dltb"), ("bf_target", "bf")):
        value, basis, mismatch = target_choice(frame, sources[stock], name)
        known = ~np.isnan(value)
        out[f"{name}_mu"] = value
        out[f"{name}_mismatch_n"] = mismatch
        for scheme in ("erdiao", "sandiao"):
            out[f"{name}_{scheme}_n"] = np.where(known, (basis == scheme).astype("float64"), np.nan)
    return out


def _majority(frame: pd.DataFrame, prefix: str) -> pd.Series:
    erdiao = frame[f"{prefix}_erdiao_n"]
    sandiao = frame[f"{prefix}_sandiao_n"]
    out = pd.Series(np.where(sandiao > erdiao, "sandiao", np.where(erdiao > 0, "erdiao", None)),
                    index=frame.index, dtype=object)
    return out


__all__ = ["PHASES", "compute_metrics", "metrics_for_scoring"]
