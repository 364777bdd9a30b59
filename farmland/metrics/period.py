"""Mid-term and final figures: yearly components combined over the span a phase covers.

The mid-term check covers the period's first two years, the final assessment all of it
(聊政办发〔2018〕17号 第四条). Flows are summed over the years, stocks taken at the last year end,
the ledger's opening balance at the first year's start; ratios are then recomputed from those
sums by :func:`.derive.derive_metrics`. The 15 % rule is a calendar-year rule
(监发〔2009〕5号: "一年度" is a natural year), so a span's flag is raised when any of its years
reached 15 %, not from the span's pooled ratio (which is still reported as ``illegal_ratio``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .parts import CHECKLIST_N, CHECKLIST_SUM, FIRST, LAST, MAX, SUM, aggregation

YEARLY_FLAGS = ("illegal_ratio_flag", "opinion_trigger_illegal_ratio", "derived_illegal_ratio_flag",
                "illegal_ratio_disagreement")
"""Flags of a span = the maximum of its years' flags (calendar-year rules)."""


def combine_years(per_year: dict[int, pd.DataFrame], years: list[int]) -> pd.DataFrame:
    """Combine the components of ``years`` (each a DataFrame indexed by unit).

    Sums propagate NaN (a year whose layer was missing leaves the span's figure empty); checklist
    components absent in a year mean "no rows that year" and count as 0.
    """
    frames = [per_year[y] for y in years]
    units = frames[0].index
    for frame in frames[1:]:
        units = units.union(frame.index, sort=False)
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    aligned = []
    for frame in frames:
        frame = frame.reindex(units)
        for column in columns:
            if column not in frame:
                checklist = column.startswith((CHECKLIST_SUM, CHECKLIST_N))
                frame[column] = 0.0 if checklist else np.nan
        aligned.append(frame[columns])
    stacked = np.stack([f.to_numpy(dtype="float64", na_value=np.nan) for f in aligned])
    out = {}
    for j, column in enumerate(columns):
        values = stacked[:, :, j]
        how = aggregation(column)
        if how == SUM:
            out[column] = values.sum(axis=0)
        elif how == LAST:
            out[column] = values[-1]
        elif how == FIRST:
            out[column] = values[0]
        elif how == MAX:
            with np.errstate(invalid="ignore"):
                out[column] = np.where(np.isnan(values).all(axis=0), np.nan,
                                       np.nanmax(np.where(np.isnan(values), -np.inf, values), axis=0))
        else:  # pragma: no cover - guarded by parts.aggregation
            raise ValueError(how)
    return pd.DataFrame(out, index=units)


def yearly_flag_max(annual: dict[int, pd.DataFrame], years: list[int], index) -> dict[str, np.ndarray]:
    """Per unit, 1 if any of ``years`` raised the calendar-year flag, NaN if unknown, else 0."""
    out = {}
    for flag in YEARLY_FLAGS:
        stacked = np.stack([annual[y].reindex(index)[flag].to_numpy(dtype="float64", na_value=np.nan)
                            for y in years])
        # Any year flagged flags the span; otherwise a year without data leaves it unknown.
        out[flag] = np.where((stacked == 1).any(axis=0), 1.0,
                             np.where(np.isnan(stacked).any(axis=0), np.nan, 0.0))
    return out
