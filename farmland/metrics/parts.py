"""Additive building blocks ("components") of the metrics, and how they aggregate.

Every metric is derived from per-unit sums (m², 亩, t, counts) so that a higher level and a longer
span are computed the same way: the city row sums the county components and derives its ratios
from those sums (never by averaging ratios), and a mid-term or final span sums the yearly flow
components and takes stock components at the last year end. A component's aggregation says how
it combines over years; over units everything adds up.

Components whose source layer is missing are NaN, and NaN propagates through sums (a target or a
layer that is not there makes every figure computed from it empty, data contract "Conventions").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .catalogue import EVENT_METRICS, PROVINCIAL_EVENT_METRICS

SUM = "sum"
LAST = "last"
FIRST = "first"
MAX = "max"

_GROUPS = ("arable", "agricultural", "construction", "unused", "unknown")
_KINDS = ("construction", "ecological", "restructuring", "other")

COMPONENT_GROUPS: dict[str, dict[str, str]] = {
    # DLTB snapshot at the year end (m², counts of parcels by scheme for the basis)
    "dltb": {
        "arable_m2": LAST, "grade_weighted_m2": LAST, "graded_m2": LAST, "total_m2": LAST,
        **{f"group_{g}_m2": LAST for g in _GROUPS},
        "urban_industrial_m2": LAST, "dltb_erdiao_n": LAST, "dltb_sandiao_n": LAST,
    },
    "bf": {"bf_m2": LAST, "bf_erdiao_n": LAST, "bf_sandiao_n": LAST},
    # the previous year end, for changes and the ledger's opening balance
    "prev": {"arable_prev_m2": FIRST, "bf_prev_m2": FIRST, "series_break": MAX},
    "wpzf": {"wpzf_occupied_m2": SUM, "wpzf_illegal_m2": SUM},
    "rectification": {"wpzf_rectified_m2": SUM},  # optional WPZF fields ZGZT/ZGMJ
    "gxgc": {
        "derived_occupied_m2": SUM, "derived_illegal_m2": SUM, "loss_construction_m2": SUM,
        "loss_construction_legal_m2": SUM, "loss_construction_illegal_m2": SUM,
        **{f"loss_{k}_m2": SUM for k in _KINDS[1:]},
        **{f"gain_{k}_m2": SUM for k in _KINDS},
        "internal_m2": SUM, "gxgc_erdiao_n": LAST, "gxgc_sandiao_n": LAST,
    },
    "bf_flow": {"bf_occupied_m2": SUM, "bf_redesignated_m2": SUM},
    "hsf": {"hsf_built_m2": SUM},
    "hsf_task": {"hsf_task_mu": SUM},
    "zbph": {
        "zbph_occupied_mu": SUM, "zbph_supplemented_mu": SUM, "paddy_occupied_mu": SUM,
        "paddy_supplemented_mu": SUM, "grain_occupied_t": SUM, "grain_supplemented_t": SUM,
        "supplemented_upper_mu": SUM, "zbph_upper_n": SUM,
    },
    # base targets as read, per survey basis (targets.csv basis): replaced, once a unit's year is
    # assembled, by the "targets" chosen on the stock's basis (compute._choose_targets)
    "targets_by_basis": {f"{t}_{b}_mu": LAST for t in ("arable_target", "bf_target")
                         for b in ("erdiao", "sandiao")},
    # the base target chosen, whether it is on the other basis, and the count of units per basis
    "targets": {f"{t}_{c}": LAST for t in ("arable_target", "bf_target")
                for c in ("mu", "mismatch_n", "erdiao_n", "sandiao_n")},
    # target adjustments in force at the year end (register rows with year ≤ data year)
    "adjustments": {"arable_target_adjustment_mu": LAST, "bf_target_adjustment_mu": LAST,
                    "adjustment_upper_n": LAST},
    "events": {"events_n": SUM, **{f"{name}_n": SUM for name in EVENT_METRICS.values()},
               "events_provincial_n": SUM,
               **{f"{name}_n": SUM for name in PROVINCIAL_EVENT_METRICS.values()}},
    "landcover": {"landcover_cropland_m2": LAST, "landcover_built_m2": LAST},
    # city-only figures (CITYSTATS) and the base year of the per-GDP indicator
    # (five-year figures are already a window: a span takes its last year's)
    "city": {"citystats_approved_mu": SUM, "citystats_supplied_mu": SUM,
             "citystats_approved_5y_mu": LAST, "citystats_supplied_5y_mu": LAST,
             "gdp_100m_yuan": LAST, "gdp_comparable_100m_yuan": LAST, "base_construction_m2": LAST,
             "base_gdp_100m_yuan": LAST, "base_gdp_comparable_100m_yuan": LAST},
}

TARGET_COMPONENTS = (*COMPONENT_GROUPS["targets"], *COMPONENT_GROUPS["hsf_task"])
"""Targets and tasks (亩): summed over the units that have one when units are combined."""

CHECKLIST_SUM = "checklist_sum."
CHECKLIST_N = "checklist_n."


LANDCOVER_PREFIX = "landcover_"


def aggregation(component: str) -> str:
    """How a component combines over years (sum, last, first, max)."""
    for group in COMPONENT_GROUPS.values():
        if component in group:
            return group[component]
    if component.startswith((CHECKLIST_SUM, CHECKLIST_N)):
        return SUM
    if component.startswith(LANDCOVER_PREFIX) and component.endswith("_m2"):
        return LAST  # a further [landcover] class: a stock, like cropland and built
    raise KeyError(f"unknown component {component!r}")


def aggregate_units(frame: pd.DataFrame, code: str, zones=()) -> pd.DataFrame:
    """One row (index ``code``) combining the units of ``frame``: the city from its counties.

    Every component adds up over units, and NaN propagates (a layer missing for one unit leaves
    the total empty; data contract: "a target or task that was not set is empty, and so is
    anything computed from it"). The one exception is a development zone (``zones``) without
    targets or tasks of its own: its land was counted in its host county's target, so it leaves
    the city's target as the sum of the counties'. A flag component (series break) is raised by
    any unit.
    """
    optional = frame.index.isin(list(zones))
    row = {}
    for column in frame.columns:
        values = frame[column].to_numpy(dtype="float64", na_value=np.nan)
        if aggregation(column) == MAX:
            row[column] = values.max()
        elif column in TARGET_COMPONENTS:
            counted = values[~(optional & np.isnan(values))]
            row[column] = counted.sum() if len(counted) else np.nan
        else:
            row[column] = values.sum()
    return pd.DataFrame([row], index=pd.Index([code], dtype=object, name="unit"), dtype="float64")


def components_of(group: str) -> list[str]:
    return list(COMPONENT_GROUPS[group])


@dataclass(frozen=True)
class UnitKeys:
    """Unit code per row with its factorization, made once per layer and level.

    The attribution check and every per-unit sum of a layer group by the same keys; factorizing
    a few hundred thousand text keys again for each of them was a good part of a run. Indexing
    and ``numpy.asarray`` give the plain keys, so evidence and snapshots use it as the array.

    Attributes
    ----------
    values : ndarray of object
        Unit code per row (None = unattributed).
    codes : ndarray of int
        Position of each row's unit in ``units``; -1 where None.
    units : ndarray of object
        The distinct unit codes, sorted.
    """

    values: np.ndarray
    codes: np.ndarray
    units: np.ndarray

    @classmethod
    def of(cls, keys) -> UnitKeys:
        if isinstance(keys, UnitKeys):
            return keys
        values = np.asarray(keys, dtype=object)
        codes, units = pd.factorize(pd.Series(values, dtype=object), sort=True)
        return cls(values=values, codes=codes, units=np.asarray(units, dtype=object))

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index):
        return self.values[index]

    def __array__(self, dtype=None, copy=None):
        return np.array(self.values, dtype=dtype, copy=copy)


def group_sums(keys, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Sum each column by unit key with ``np.bincount`` (no per-row Python).

    Parameters
    ----------
    keys : ndarray of object or UnitKeys
        Unit code per row; None rows are left out (they were reported when attributed).
    columns : dict of name → ndarray of float
        Values per row; NaN is treated as 0 (callers fill missing areas before).

    Returns
    -------
    DataFrame
        Index: the unit codes found (``unit``), one column per input column.
    """
    keys = UnitKeys.of(keys)
    codes = keys.codes
    # Every row attributed is the rule: the rows are then summed as they are, not copied out.
    every = bool((codes >= 0).all())
    ok = slice(None) if every else codes >= 0
    codes = codes[ok]
    out = {}
    for name, values in columns.items():
        values = np.asarray(values, dtype="float64")
        if np.ndim(values) == 0:
            values = np.full(len(keys), float(np.nan_to_num(values)))
        elif not np.isfinite(values).all():  # areas are finite but for a few: one pass to tell
            values = np.nan_to_num(values)
        out[name] = np.bincount(codes, weights=values[ok], minlength=len(keys.units))
    return pd.DataFrame(out, index=pd.Index(keys.units, name="unit"))


def evidence_rows(keys: np.ndarray, ids, metrics, mask=None) -> pd.DataFrame:
    """Long evidence rows (unit, metric, id) for the rows selected by ``mask``.

    ``ids`` are already prefixed with their layer ("WPZF:JC001"); every metric in ``metrics``
    gets the same ids.
    """
    keys = np.asarray(keys, dtype=object)
    ids = np.asarray(ids, dtype=object)
    select = pd.notna(pd.Series(keys, dtype=object)).to_numpy()
    if mask is not None:
        select = select & np.asarray(mask, dtype=bool)
    if isinstance(metrics, str):
        metrics = [metrics]
    # Object columns: the ids are only deduplicated and sorted later, never worth text arrays.
    frames = [pd.DataFrame({"unit": keys[select], "metric": metric, "id": ids[select]}, dtype=object)
              for metric in metrics]
    if not frames:
        return empty_evidence()
    return pd.concat(frames, ignore_index=True)


def empty_evidence() -> pd.DataFrame:
    return pd.DataFrame({"unit": pd.Series(dtype=object), "metric": pd.Series(dtype=object),
                         "id": pd.Series(dtype=object)})


def prefixed(layer: str, values, fallback=None) -> np.ndarray:
    """Evidence ids ``"LAYER:<value>"``; missing values use ``fallback`` (e.g. a row number)."""
    text = pd.Series(np.asarray(values, dtype=object), dtype=object).astype("string")
    if fallback is not None:
        rows = pd.Series(np.asarray(fallback, dtype=object), dtype=object).astype("string")
        text = text.fillna("row " + rows)
    return (layer + ":" + text.fillna("?")).to_numpy(dtype=object)
