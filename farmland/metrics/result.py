"""The results table of a metrics run and its views (wide frame, evidence look-up).

One tidy table is the single source of every number (DESIGN.md, "One source for every number"):
one row per unit, phase, year and metric with its value, unit of measure, survey basis and the
ids of the features behind it. CSV, Excel, scorecards and sentences all read from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import WorkspaceError
from ..landclass import scheme_for_year
from ..report import Report
from .catalogue import CONTRACT_METRICS, metric_info, metric_order
from .derive import basis_of, derive_metrics
from .period import YEARLY_FLAGS, combine_years, yearly_flag_max

TABLE_COLUMNS = ["xzqdm", "xzqmc", "level", "phase", "year", "start_year", "metric", "value", "unit",
                 "basis", "evidence"]
_ROW_KEYS = ["xzqdm", "xzqmc", "year", "level", "phase", "start_year"]


@dataclass
class MetricsResult:
    """Metrics per unit, phase and year (see ``docs/data.md``).

    Attributes
    ----------
    table : DataFrame
        Columns :data:`TABLE_COLUMNS`: ``xzqdm`` (str), ``xzqmc`` (str), ``level`` (county,
        township, city), ``phase`` (annual, midterm, final), ``year`` (last data year covered),
        ``start_year`` (first data year covered), ``metric``, ``value`` (float, NaN = empty),
        ``unit`` (mu, ratio, grade, count, flag, t, fraction), ``basis`` (erdiao, sandiao or ''),
        ``evidence`` (tuple of ids such as ``"WPZF:JC001"``).
    report : Report
        Findings of the run (warnings: ledgers that do not close, series breaks, …).

    Notes
    -----
    The table is not to be changed once the result is made: the evidence look-up and the wide
    frames are built from it once, when first asked for (scoring both levels of every phase
    asks for the same pivots dozens of times).
    """

    table: pd.DataFrame = field(repr=False)
    report: Report | None = field(default=None, repr=False)
    _index: dict | None = field(default=None, init=False, repr=False)
    _wide: dict = field(default_factory=dict, init=False, repr=False)

    def __repr__(self) -> str:
        t = self.table
        spans = sorted({(p, int(y)) for p, y in zip(t["phase"], t["year"], strict=True)})
        return (f"MetricsResult(levels={sorted(set(t['level']))}, "
                f"spans={[f'{p} {y}' for p, y in spans]}, units={t['xzqdm'].nunique()}, "
                f"metrics={t['metric'].nunique()}, rows={len(t)})")

    @property
    def metrics(self) -> list[str]:
        return metric_order(self.table["metric"].unique())

    def wide(self, level="county", phase: str = "annual", years=None) -> pd.DataFrame:
        """One row per unit and year, one column per metric.

        Columns: ``xzqdm``, ``xzqmc``, ``year``, the data contract's output metrics in contract
        order, the extra metrics, then ``level``, ``phase`` and ``start_year``.

        Parameters
        ----------
        level : str or sequence of str
            ``"county"``, ``"township"``, ``"city"``, or several (e.g. ``("county", "city")`` for
            the contract's county rows plus the city-total row).
        phase : str
        years : int or sequence of int, optional
            Keep only these (last) data years.
        """
        levels = [level] if isinstance(level, str) else list(level)
        if years is not None:
            years = [years] if np.isscalar(years) else list(years)
        # A copy: a caller adding a column must not change what the next caller gets.
        return self._kept_wide(levels, phase, years).copy()

    def _kept_wide(self, levels: list, phase: str, years: list | None) -> pd.DataFrame:
        """:meth:`wide`'s frame as cached (not to be changed)."""
        key = (tuple(levels), phase, None if years is None else tuple(years))
        if key not in self._wide:
            self._wide[key] = (self._pivot(levels, phase) if years is None
                               else self._of_years(levels, phase, years))
        return self._wide[key]

    def _of_years(self, levels: list, phase: str, years: list) -> pd.DataFrame:
        """The rows of ``years`` cut from the pivot of every year, with the metrics those years
        have: what pivoting their rows alone gives, in the same order, for a fraction of the cost
        (scoring asks for each year and span of a level in turn)."""
        t = self.table
        select = t["level"].isin(levels) & (t["phase"] == phase) & t["year"].isin(years)
        if not select.any():
            return _empty_wide()
        present = set(t.loc[select, "metric"])
        whole = self._kept_wide(levels, phase, None)
        columns = [c for c in whole.columns if c in _ROW_KEYS or c in present]
        return whole.loc[whole["year"].isin(years).to_numpy(), columns].reset_index(drop=True)

    def _pivot(self, levels: list, phase: str) -> pd.DataFrame:
        t = self.table
        sub = t[t["level"].isin(levels) & (t["phase"] == phase)]
        keys = _ROW_KEYS
        if sub.empty:
            return _empty_wide()
        order = sub.drop_duplicates(keys)[keys].reset_index(drop=True)
        frame = sub.pivot(index=keys, columns="metric", values="value")
        frame = frame.reindex(pd.MultiIndex.from_frame(order))
        metrics = metric_order(frame.columns)
        frame = frame[metrics].reset_index()
        frame.columns.name = None
        return frame[[*keys[:3], *metrics, *keys[3:]]]

    def _build_index(self) -> dict:
        t = self.table
        # Lists, not the Series: stepping through Arrow-backed text one element at a time is
        # several times slower than converting each column at once.
        keys = zip(t["xzqdm"].tolist(), t["metric"].tolist(), t["phase"].tolist(),
                   t["year"].astype(int).tolist(), strict=True)
        return dict(zip(keys, t["evidence"].tolist(), strict=True))

    def evidence(self, xzqdm: str, metric: str, phase: str = "annual", year: int | None = None
                 ) -> tuple[str, ...]:
        """Ids behind one figure: ``"DLTB:<BSM>"``, ``"DLTBGXGC:<BGQTBBSM>"``, ``"WPZF:<JCBH>"``,
        ``"JSYDSP:<PZWH>"``, ``"GBZNT:<XMBH>"``, ``"JBNTTB:<BSM>"``, ``"ZBPH:<row>"``,
        ``"CHECKLIST:<row>"``, ``"EVENTS:<row>"`` (rows numbered as a spreadsheet shows them).

        ``year`` defaults to the latest year of that unit and phase. Raises ``KeyError`` when the
        figure was not computed; stocks and targets have no ids (an empty tuple).
        """
        if self._index is None:
            self._index = self._build_index()
        xzqdm = str(xzqdm)
        if year is None:
            found = [k[3] for k in self._index if k[0] == xzqdm and k[1] == metric and k[2] == phase]
            if not found:
                raise KeyError(f"no metric {metric!r} for unit {xzqdm} in phase {phase}")
            year = max(found)
        key = (xzqdm, metric, phase, int(year))
        if key not in self._index:
            raise KeyError(f"no metric {metric!r} for unit {xzqdm}, phase {phase}, year {year}")
        return self._index[key]

    def for_scoring(self, phase: str, year: int | None = None, level: str = "county"):
        """Unit rows of one phase and year, and ``evidence(xzqdm, metric)`` for the scorer."""
        wide = self.wide(level=level, phase=phase)
        if wide.empty:
            raise WorkspaceError(f"no {level} metrics were computed for phase {phase}; compute them "
                                 f"with level={level!r}, phases=({phase!r},).")
        spans = wide[["start_year", "year"]].drop_duplicates().astype(int)
        if year is None:
            chosen = int(spans["year"].max())
        elif (spans["year"] == year).any():
            chosen = int(year)
        elif phase == "annual":
            raise WorkspaceError(f"no annual metrics for {year}; computed: "
                                 + ", ".join(str(y) for y in sorted(spans["year"])))
        elif ((spans["start_year"] <= year) & (spans["year"] >= year)).any():
            chosen = int(spans.loc[(spans["start_year"] <= year) & (spans["year"] >= year), "year"].max())
        elif (spans["year"] < year).any():
            # A mid-term check is held in the period's third year, after the span it covers.
            chosen = int(spans.loc[spans["year"] < year, "year"].max())
        else:
            raise WorkspaceError(f"no {phase} metrics cover {year}; computed: "
                                 + ", ".join(f"{a}–{b}" for a, b in spans.itertuples(index=False)))
        frame = wide[wide["year"] == chosen].reset_index(drop=True)

        def evidence(xzqdm, metric):
            return self.evidence(xzqdm, metric, phase, chosen)

        return frame, evidence


def _empty_wide() -> pd.DataFrame:
    return pd.DataFrame(columns=[*_ROW_KEYS[:3], *CONTRACT_METRICS, *_ROW_KEYS[3:]])


def _long(names: dict[str, str], level: str, phase: str, year: int, start_year: int,
          metrics: pd.DataFrame, components: pd.DataFrame, evidence: pd.DataFrame) -> pd.DataFrame:
    """Tidy rows of one level, phase and span from a metrics frame (units × metrics)."""
    units = np.asarray(metrics.index, dtype=object)
    columns = list(metrics.columns)
    n_units, n_metrics = len(units), len(columns)
    infos = [metric_info(c) for c in columns]
    sources = basis_of(components.reindex(metrics.index), scheme_for_year(year))
    basis = np.empty((n_units, n_metrics), dtype=object)
    for j, info in enumerate(infos):
        basis[:, j] = sources[info.basis]
    unit_rows = np.repeat(units, n_metrics)
    metric_rows = np.tile(np.asarray(columns, dtype=object), n_units)
    frame = pd.DataFrame({
        "xzqdm": unit_rows,
        "xzqmc": np.repeat(np.asarray([names.get(u, "") for u in units], dtype=object), n_metrics),
        "level": level,
        "phase": phase,
        "year": year,
        "start_year": start_year,
        "metric": metric_rows,
        "value": metrics.to_numpy(dtype="float64", na_value=np.nan).ravel(),
        "unit": np.tile(np.asarray([i.unit for i in infos], dtype=object), n_units),
        "basis": basis.ravel(),
    })
    ids = _evidence_ids(evidence, infos)
    # Looked up from the object arrays: the frame's columns are Arrow-backed text, whose
    # element-by-element iteration costs more than the look-ups.
    frame["evidence"] = [ids.get(key, ()) for key in zip(unit_rows, metric_rows)]
    return frame


def _evidence_ids(evidence: pd.DataFrame, infos) -> dict[tuple[str, str], tuple]:
    """(unit, metric) → the distinct ids behind it, sorted; a metric that borrows its evidence
    (``evidence_from``) also gets the ids of the metrics it names.

    Evidence rows run to hundreds of thousands per span: they are deduplicated and sorted as
    one integer key per row, (unit, metric, id) in text order, not as a frame of strings.
    """
    evidence = evidence.dropna(subset=["unit"])
    if not len(evidence):
        return {}
    unit_code, units = pd.factorize(evidence["unit"], sort=True)
    id_code, ids = pd.factorize(evidence["id"], sort=True, use_na_sentinel=False)
    borrowing = [i for i in infos if i.evidence_from]
    names = pd.Index(sorted(set(evidence["metric"]) | {i.name for i in borrowing}), dtype=object)
    metric_code = names.get_indexer(evidence["metric"])
    n_metrics, n_ids = len(names), len(ids)
    keys = [(unit_code * n_metrics + metric_code) * n_ids + id_code]
    for info in borrowing:
        rows = np.isin(metric_code, names.get_indexer(list(info.evidence_from)))
        keys.append((unit_code[rows] * n_metrics + names.get_loc(info.name)) * n_ids + id_code[rows])
    # Sorted, then adjacent repeats dropped: np.unique (numpy 2.4) hashes a million distinct
    # keys first and takes tens of times longer than the sort alone.
    key = np.sort(np.concatenate(keys))
    key = key[np.r_[True, key[1:] != key[:-1]]]
    group = key // n_ids
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    id_text = np.asarray(ids, dtype=object)[key % n_ids]
    units = np.asarray(units, dtype=object)
    names = np.asarray(names, dtype=object)
    return {(units[g // n_metrics], names[g % n_metrics]): tuple(part)
            for g, part in zip(group[starts], np.split(id_text, starts[1:]), strict=True)}


def build_table(run, annual_years, spans) -> MetricsResult:
    """Assemble the results table of a run (see :mod:`.compute`)."""
    parts = []
    for level in run.levels:
        components = run.components.get(level, {})
        if not components:
            continue
        names = {u: run.unit_name(level, u) for f in components.values() for u in f.index}
        annual = {y: derive_metrics(v, level) for y, v in components.items()}
        for year in annual_years:
            if year in annual:
                parts.append(_long(names, level, "annual", year, year, annual[year], components[year],
                                   run.evidence[level][year]))
        for phase, span in spans.items():
            if not all(y in components for y in span):
                continue
            combined = combine_years(components, span)
            metrics = derive_metrics(combined, level)
            for flag, values in yearly_flag_max(annual, span, metrics.index).items():
                if flag in metrics:
                    metrics[flag] = values
            evidence = pd.concat([run.evidence[level][y] for y in span], ignore_index=True)
            parts.append(_long(names, level, phase, span[-1], span[0], metrics, combined, evidence))
    if parts:
        table = pd.concat(parts, ignore_index=True)
    else:
        table = pd.DataFrame({c: [] for c in TABLE_COLUMNS})
    table["year"] = table["year"].astype("int64")
    table["start_year"] = table["start_year"].astype("int64")
    table["value"] = table["value"].astype("float64")
    return MetricsResult(table=table[TABLE_COLUMNS], report=run.report)


__all__ = ["MetricsResult", "TABLE_COLUMNS", "YEARLY_FLAGS", "build_table"]
