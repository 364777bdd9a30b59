"""The accountability triggers of 聊政发〔2018〕34号 四(三), found per unit and year.

The opinion lists the cases that cost points in the *comprehensive* economic and social
assessment (经济社会发展综合考核): a protection target not met, 省级以上 挂牌督办 / 警示约谈 /
公开通报, a 重大违法案件, and a county-year whose illegally occupied arable land reaches 15% of the
arable land occupied by new construction. They are reported beside the farmland score, each with
its year and evidence, and never become farmland points by themselves: only a rule set's
``[outcomes]`` may use them (the default final: 整改 where one occurred, 第十七条).

Everything here reads figures the metrics stage computed (one source for every number); the
function is pure over frames so the CLI, ``assess`` and notebooks share it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from farmland.scoring.rules import TRIGGER_LABELS, BasisPolicy

__all__ = ["TRIGGER_COLUMNS", "find_triggers", "trigger_codes", "REVIEW_LABELS"]

TRIGGER_COLUMNS = ["xzqdm", "kind", "code", "year", "label", "evidence", "details"]

#: Findings that do not trigger anything but must be looked at before the verdict is signed.
REVIEW_LABELS = {
    "illegal_ratio_disagreement": "卫片执法上报的违法占用耕地比例与变更调查推算结果不一致",
}

#: 省级以上 supervision events by kind (34号 四(三): 被省级以上挂牌督办、警示约谈、公开通报).
SUPERVISION_METRICS = (
    "events_provincial_supervised_count",
    "events_provincial_interview_count",
    "events_provincial_public_notice_count",
)
MAJOR_CASE_METRIC = "events_major_case_count"

#: The target comparisons: trigger code → (area, target, basis-mismatch flag, basis factor name).
TARGETS = {
    "arable_below_target": ("arable_mu", "arable_target_mu", "arable_basis_mismatch", "arable_factor"),
    "bf_below_target": ("basic_farmland_mu", "basic_farmland_target_mu", "basic_farmland_basis_mismatch",
                        "basic_farmland_factor"),
}

Evidence = Callable[[str, str, int], Sequence[str]]


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy("float64", na_value=np.nan)


def _values(frame: pd.DataFrame, i: int, names: Sequence[str]) -> dict[str, float | None]:
    out = {}
    for name in names:
        if name in frame.columns:
            v = pd.to_numeric(pd.Series([frame[name].iloc[i]]), errors="coerce").iloc[0]
            out[name] = None if pd.isna(v) else float(v)
    return out


def find_triggers(annual: pd.DataFrame, years: Sequence[int], *, basis: BasisPolicy = BasisPolicy(),
                  evidence: Evidence | None = None) -> pd.DataFrame:
    """The 34号 四(三) triggers and the review findings of each unit over ``years``.

    Parameters
    ----------
    annual : DataFrame
        Annual-phase wide metrics (``MetricsResult.wide(level, "annual")``), one row per unit and
        year; at least the years of the span.
    years : sequence of int
        The data years the phase covers (annual: one; mid-term: the period's first two; final:
        all five). Flow triggers (15%, supervision, major case) are looked for in each year;
        the targets at the end of the last year.
    basis : BasisPolicy
        The rule set's survey-basis policy: ``no_verdict`` raises no target trigger where the
        target's basis differs from the area's; ``rebase`` compares with the target × factor.
    evidence : callable(xzqdm, metric, year) -> ids, optional

    Returns
    -------
    DataFrame
        Columns :data:`TRIGGER_COLUMNS`: ``kind`` is ``trigger`` (a 34号 trigger, codes as
        :data:`farmland.scoring.rules.TRIGGER_LABELS`) or ``review`` (:data:`REVIEW_LABELS`);
        ``year`` the data year; ``evidence`` a tuple of ids; ``details`` a dict of the figures.
    """
    lookup = evidence or (lambda code, metric, year: ())
    years = sorted(int(y) for y in years)
    rows: list[dict] = []

    def ids(code: str, metrics: Sequence[str], year: int) -> tuple[str, ...]:
        found: list[str] = []
        for metric in metrics:
            try:
                found.extend(lookup(code, metric, year))
            except LookupError:
                continue
        return tuple(dict.fromkeys(str(i) for i in found))

    def add(kind, unit, code, year, metrics, frame, i, detail_names):
        rows.append({
            "xzqdm": unit, "kind": kind, "code": code, "year": year,
            "label": TRIGGER_LABELS.get(code) or REVIEW_LABELS[code],
            "evidence": ids(unit, metrics, year), "details": _values(frame, i, detail_names),
        })

    year_column = pd.to_numeric(annual["year"], errors="coerce") if "year" in annual else None
    ratio_details = ("illegal_ratio", "illegal_arable_mu", "construction_on_arable_mu", "illegal_ratio_rectified",
                     "illegal_rectified_mu", "derived_illegal_ratio", "derived_illegal_arable_mu",
                     "derived_construction_on_arable_mu", "illegal_ratio_disagreement")
    for year in years:
        frame = annual[year_column == year].reset_index(drop=True) if year_column is not None else annual
        units = frame["xzqdm"].astype(str).to_numpy()
        flag = _column(frame, "illegal_ratio_flag")
        disagree = _column(frame, "illegal_ratio_disagreement")
        supervision = np.nansum(np.column_stack([_column(frame, m) for m in SUPERVISION_METRICS]), axis=1)
        major = _column(frame, MAJOR_CASE_METRIC)
        for i in np.flatnonzero(flag == 1):
            add("trigger", units[i], "illegal_ratio_15", year, ("illegal_arable_mu",), frame, i, ratio_details)
        for i in np.flatnonzero(supervision > 0):
            add("trigger", units[i], "supervision", year, SUPERVISION_METRICS, frame, i, SUPERVISION_METRICS)
        for i in np.flatnonzero(major > 0):
            add("trigger", units[i], "major_case", year, (MAJOR_CASE_METRIC,), frame, i, (MAJOR_CASE_METRIC,))
        for i in np.flatnonzero(disagree == 1):
            add("review", units[i], "illegal_ratio_disagreement", year,
                ("illegal_arable_mu", "derived_illegal_arable_mu"), frame, i, ratio_details)
        if year == years[-1]:
            for code, (area, target, mismatch_flag, factor_name) in TARGETS.items():
                value, goal = _column(frame, area), _column(frame, target)
                mismatch = _column(frame, mismatch_flag) == 1
                if basis.policy == "rebase":
                    goal = np.where(mismatch, goal * getattr(basis, factor_name), goal)
                with np.errstate(invalid="ignore"):
                    below = value < goal
                if basis.policy == "no_verdict":
                    below &= ~mismatch
                for i in np.flatnonzero(below):
                    add("trigger", units[i], code, year, (), frame, i, (area, target, mismatch_flag))
                    rows[-1]["details"]["assessed_target"] = float(goal[i])
    out = pd.DataFrame(rows, columns=TRIGGER_COLUMNS)
    order = {c: k for k, c in enumerate([*TRIGGER_LABELS, *REVIEW_LABELS])}
    out["_order"] = out["code"].map(order)
    out = out.sort_values(["xzqdm", "year", "_order"], kind="stable").drop(columns="_order")
    out["year"] = out["year"].astype("int64")
    return out.reset_index(drop=True)


def trigger_codes(triggers: pd.DataFrame, codes: Sequence[str], kind: str = "trigger") -> np.ndarray:
    """Per unit in ``codes``, the ``CODE@YEAR`` list joined with ``;`` (empty when none)."""
    part = triggers[triggers["kind"] == kind]
    joined = (part["code"] + "@" + part["year"].astype(str)).groupby(part["xzqdm"]).agg(";".join)
    return np.array([joined.get(str(c), "") for c in codes], dtype=object)
