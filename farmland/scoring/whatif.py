"""What-if: change metric inputs, recompute what depends on them, re-score, show the difference.

An assumption is one edit of one metric for one county (or ``*`` for all), e.g.
``371521.supplemented_mu+=120`` ("冠县 supplements another 120 亩") or
``371521.arable_mu=5000000``. After the edits, the metrics derived from an edited input are
recomputed with the metrics-interface formulas (balance = supplemented − occupied, attainment =
area ÷ target, illegal ratio and its 15% flag, …) unless the assumption set the derived metric
itself. Assumptions come from ``--assume`` strings or a small TOML file::

    # one table per county code (or "*"); a number sets, a string applies an operator
    [371521]
    supplemented_mu = "+=120"
    arable_mu = 5000000
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from farmland.errors import RuleError
from farmland.scoring.engine import ScoreResult, _evidence_lookup, score
from farmland.scoring.explain import format_value
from farmland.metrics.occupation import illegal_ratio_flag, ratio
from farmland.scoring.triggers import find_triggers
from farmland.scoring.rules import RuleSet, _is_known_metric, _suggest, known_metric_names, metric_info

__all__ = ["Assumption", "WhatIf", "parse_assumption", "load_assumptions", "apply_assumptions", "recompute_derived", "what_if"]

_OPS = ("+=", "-=", "*=", "=")
_ASSUME_RE = re.compile(
    r"^\s*(?P<code>[^.\s=]+)\.(?P<metric>[^\s+\-*=]+)\s*(?P<op>\+=|-=|\*=|=)\s*(?P<value>[-+0-9.eE_]+)\s*$"
)


@dataclass(frozen=True)
class Assumption:
    """Edit ``metric`` of county ``xzqdm`` (``*`` = every county): ``op`` is = += -= *=."""

    xzqdm: str
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.xzqdm}.{self.metric}{self.op}{self.value:g}"

    def describe(self) -> str:
        """Chinese wording, e.g. "371521 补充耕地 增加 120.00 亩"."""
        info = metric_info(self.metric)
        who = "所有县" if self.xzqdm == "*" else self.xzqdm
        amount = format_value(self.value, info.unit)
        verb = {"=": "设为", "+=": "增加", "-=": "减少", "*=": "乘以"}[self.op]
        if self.op == "*=":
            amount = f"{self.value:g}"
        return f"{who} {info.label}{verb} {amount}"


def _check(a: Assumption, where: str) -> Assumption:
    if not _is_known_metric(a.metric):
        raise RuleError(
            f"{where}: unknown metric {a.metric!r}{_suggest(a.metric, known_metric_names())}; assumptions "
            f"edit metrics of the metrics interface, e.g. 371521.supplemented_mu+=120"
        )
    if a.op not in _OPS:
        raise RuleError(f"{where}: operator must be one of {' '.join(_OPS)}")
    if not np.isfinite(a.value):
        raise RuleError(f"{where}: value must be a finite number")
    return a


def parse_assumption(text: str) -> Assumption:
    """Parse ``CODE.metric OP number`` (OP one of = += -= *=), as given to ``--assume``."""
    m = _ASSUME_RE.match(text)
    if not m:
        raise RuleError(
            f"cannot read assumption {text!r}; write COUNTY.metric OP number with OP one of "
            f"= += -= *=, e.g. 371521.supplemented_mu+=120 or 371521.arable_mu=5000000"
        )
    try:
        value = float(m["value"])
    except ValueError:
        raise RuleError(f"assumption {text!r}: {m['value']!r} is not a number") from None
    return _check(Assumption(m["code"], m["metric"], m["op"], value), f"assumption {text!r}")


def load_assumptions(source: str | Path | Mapping[str, Any]) -> tuple[Assumption, ...]:
    """Assumptions from a what-if TOML file (or its parsed mapping); see the module docstring."""
    where = str(source) if not isinstance(source, Mapping) else "<what-if table>"
    if isinstance(source, Mapping):
        doc = source
    else:
        try:
            doc = tomllib.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RuleError(f"cannot read what-if file {source}: {exc}") from exc
    out = []
    for code, edits in doc.items():
        if not isinstance(edits, Mapping):
            raise RuleError(f"{where}: [{code}] must be a table of metric = value lines")
        for metric, spec in edits.items():
            if isinstance(spec, bool) or not isinstance(spec, (int, float, str)):
                raise RuleError(f"{where}: [{code}] {metric}: give a number or a string like \"+=120\"")
            if isinstance(spec, str):
                out.append(parse_assumption(f"{code}.{metric}{spec.strip()}"))
            else:
                out.append(_check(Assumption(str(code), metric, "=", float(spec)), f"{where}: [{code}] {metric}"))
    return tuple(out)


# Derived metrics of the metrics interface: name -> (inputs, formula on float arrays). The ratio
# and the 15% flag are the metrics stage's own functions, so a what-if and a fresh run agree
# even on exact-15% inputs (one definition of the line, one tolerance).
_DERIVED: dict[str, tuple[tuple[str, ...], Any]] = {
    "balance_mu": (("supplemented_mu", "occupied_mu"), lambda s, o: s - o),
    "paddy_balance_mu": (("paddy_supplemented_mu", "paddy_occupied_mu"), lambda s, o: s - o),
    "grain_capacity_balance_t": (
        ("grain_capacity_supplemented_t", "grain_capacity_occupied_t"),
        lambda s, o: s - o,
    ),
    "bf_balance_mu": (("bf_redesignated_mu", "bf_occupied_mu"), lambda r, o: r - o),
    "arable_margin_mu": (("arable_mu", "arable_target_mu"), lambda a, t: a - t),
    "arable_attainment": (("arable_mu", "arable_target_mu"), ratio),
    "basic_farmland_margin_mu": (("basic_farmland_mu", "basic_farmland_target_mu"), lambda a, t: a - t),
    "basic_farmland_attainment": (("basic_farmland_mu", "basic_farmland_target_mu"), ratio),
    "illegal_ratio": (("illegal_arable_mu", "construction_on_arable_mu"), ratio),
    "illegal_ratio_flag": (("illegal_arable_mu", "construction_on_arable_mu"), illegal_ratio_flag),
    "derived_illegal_ratio": (("derived_illegal_arable_mu", "derived_construction_on_arable_mu"), ratio),
    "derived_illegal_ratio_flag": (("derived_illegal_arable_mu", "derived_construction_on_arable_mu"),
                                   illegal_ratio_flag),
    "hsf_completion": (("hsf_built_mu", "hsf_task_mu"), ratio),
}


def recompute_derived(
    frame: pd.DataFrame,
    changed: Iterable[str],
    keep: Iterable[str] = (),
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Recompute the derived metrics whose inputs are in ``changed`` (except those in ``keep``).

    Formulas as in the metrics interface: balances are supplemented − occupied, margins area −
    target, attainments and completion area ÷ target (NaN for a zero target), the illegal
    ratio illegal ÷ occupied (NaN for nothing occupied) and its flag (ratio ≥ 0.15, or illegal
    occupation with nothing occupied). ``arable_change_mu`` moves with ``arable_mu``: it is
    adjusted by the same 亩 the arable area was changed by (see :func:`apply_assumptions`).
    Only ``rows`` (a boolean mask; default all) are rewritten, so figures of untouched
    counties stay exactly as the metrics stage computed them.
    """
    changed, keep = set(changed), set(keep)
    out = frame.copy()
    for name, (inputs, fn) in _DERIVED.items():
        if name in keep or name not in out.columns or not (changed & set(inputs)):
            # An absent derived metric stays absent: the baseline scored it as missing too.
            continue
        if not all(c in out.columns for c in inputs):
            continue  # the metric cannot be recomputed without its inputs; leave it as given
        args = [pd.to_numeric(out[c], errors="coerce").to_numpy(float, na_value=np.nan) for c in inputs]
        with np.errstate(invalid="ignore", divide="ignore"):
            values = fn(*args)
        if rows is not None:
            old = pd.to_numeric(out[name], errors="coerce").to_numpy(float, na_value=np.nan)
            values = np.where(rows, values, old)
        out[name] = values
    return out


def apply_assumptions(frame: pd.DataFrame, assumptions: Iterable[Assumption]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply assumptions to a wide metrics frame; return the new frame and the changed inputs.

    Returns
    -------
    (DataFrame, DataFrame)
        The edited frame (derived metrics recomputed) and a long frame of every changed value:
        xzqdm, metric, before, after, assumption (the text that caused it, or "推算" for a
        recomputed derived metric).
    """
    out = frame.copy()
    if "xzqdm" not in out.columns:
        out = out.reset_index()
    codes = out["xzqdm"].astype(str).to_numpy()
    before = out.copy()
    edited: set[str] = set()
    touched = np.zeros(len(out), bool)
    sources: dict[tuple[str, str], str] = {}
    for a in assumptions:
        rows = np.ones(len(out), bool) if a.xzqdm == "*" else codes == a.xzqdm
        if not rows.any():
            raise RuleError(
                f"assumption {a}: no county {a.xzqdm!r} in the metrics; counties: "
                f"{', '.join(codes[:12])}"
            )
        if a.metric not in out.columns:
            out[a.metric] = np.nan
            before[a.metric] = np.nan
        col = pd.to_numeric(out[a.metric], errors="coerce").to_numpy(float, na_value=np.nan).copy()
        old = col[rows]
        new = {"=": np.full(old.shape, a.value), "+=": old + a.value, "-=": old - a.value, "*=": old * a.value}[a.op]
        col[rows] = new
        out[a.metric] = col
        if a.metric == "arable_mu" and "arable_change_mu" in out.columns and "arable_change_mu" not in edited:
            # A different year-end area is a different change over the year, by the same amount.
            change = pd.to_numeric(out["arable_change_mu"], errors="coerce").to_numpy(float, na_value=np.nan).copy()
            change[rows] += new - old
            out["arable_change_mu"] = change
        edited.add(a.metric)
        touched |= rows
        for c in codes[rows]:
            sources.setdefault((c, a.metric), str(a))
    out = recompute_derived(out, edited, keep=edited, rows=touched)

    diffs = []
    for metric in out.columns:
        if not _is_known_metric(metric):
            continue
        b = pd.to_numeric(before[metric], errors="coerce").to_numpy(float, na_value=np.nan)
        a = pd.to_numeric(out[metric], errors="coerce").to_numpy(float, na_value=np.nan)
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        for i in np.flatnonzero(differ):
            diffs.append(
                {
                    "xzqdm": codes[i],
                    "metric": metric,
                    "before": b[i],
                    "after": a[i],
                    "assumption": sources.get((codes[i], metric), "推算"),
                }
            )
    changes = pd.DataFrame(diffs, columns=["xzqdm", "metric", "before", "after", "assumption"])
    changes = changes.sort_values("xzqdm", kind="stable").reset_index(drop=True)
    return out, changes


@dataclass(frozen=True, repr=False)
class WhatIf:
    """Baseline and scenario scores, the changed inputs and the per-county difference."""

    assumptions: tuple[Assumption, ...]
    baseline: ScoreResult
    scenario: ScoreResult
    inputs: pd.DataFrame
    diff: pd.DataFrame

    def to_text(self) -> str:
        """Chinese summary of the assumptions, changed inputs and changed results."""
        lines = ["假设："] + [f"  {a.describe()}（{a}）" for a in self.assumptions]
        if not self.inputs.empty:
            lines.append("指标变化：")
            for t in self.inputs.itertuples(index=False):
                info = metric_info(t.metric)
                lines.append(
                    f"  {t.xzqdm} {info.label}：{format_value(t.before, info.unit)} → "
                    f"{format_value(t.after, info.unit)}（{t.assumption}）"
                )
        changed = self.diff[self.diff["changed"]]
        lines.append("评分变化：" if not changed.empty else "评分无变化。")
        for t in changed.itertuples(index=False):
            grade = (f"，等次 {t.grade_before}→{t.grade_after}" if hasattr(t, "grade_before")
                     and t.grade_before != t.grade_after else "")
            outcome = f"，结果 {t.outcome_before or '无'}→{t.outcome_after or '无'}" if t.outcome_before != t.outcome_after else ""
            rules = f"；涉及 {t.rules_changed}" if t.rules_changed else ""
            lines.append(
                f"  {t.xzqdm} {t.xzqmc}：总分 {t.total_before:.2f} → {t.total_after:.2f}（{t.delta:+.2f}），"
                f"名次 {t.rank_before}→{t.rank_after}{grade}{outcome}{rules}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()


def what_if(
    metrics_wide: pd.DataFrame,
    rules: RuleSet,
    assumptions: Iterable[Assumption | str] | str | Path | Mapping[str, Any],
    *,
    year: int | None = None,
    evidence: Any = None,
    folded: Mapping[str, Any] | None = None,
    triggers: pd.DataFrame | None = None,
    level: str = "county",
) -> WhatIf:
    """Re-score under edited inputs and report what changed, county by county.

    Parameters
    ----------
    metrics_wide, rules, year, evidence, folded, triggers, level
        As for :func:`farmland.scoring.score`. In the annual phase the triggers are found again
        on the edited figures (the phase's row is the year's row); in the mid-term and final
        the span's yearly triggers are kept, since an assumption edits the span's totals only.
    assumptions
        ``--assume`` strings (``"371521.supplemented_mu+=120"``) or :class:`Assumption`
        objects, or a what-if TOML path, or its parsed mapping.

    Returns
    -------
    WhatIf
        ``.baseline`` and ``.scenario`` (ScoreResult), ``.inputs`` (changed metric values,
        including recomputed derived metrics), ``.diff`` (one row per county: totals, delta,
        ranks, grades before/after, changed rule ids) and ``.to_text()``.
    """
    if isinstance(assumptions, (Path, Mapping)) or (
        isinstance(assumptions, str) and not _ASSUME_RE.match(assumptions)
    ):
        parsed = load_assumptions(assumptions)
    elif isinstance(assumptions, str):
        parsed = (parse_assumption(assumptions),)
    else:
        parsed = tuple(a if isinstance(a, Assumption) else parse_assumption(a) for a in assumptions)
    baseline = score(metrics_wide, rules, year=year, evidence=evidence, folded=folded, triggers=triggers,
                     level=level)
    # Edit the rows that were scored (one year, one level), so codes line up exactly.
    edited, inputs = apply_assumptions(baseline.metrics, parsed)
    if triggers is not None and rules.phase == "annual":
        found = find_triggers(edited, [baseline.year], basis=rules.basis,
                              evidence=lambda code, metric, y: _evidence_lookup(evidence, "annual", y)(code, metric))
        # Supervision and major-case triggers come from event counts an assumption may not touch.
        triggers = found
    scenario = score(edited, rules, year=baseline.year, evidence=evidence, folded=folded, triggers=triggers,
                     level=level)

    b, s = baseline.table, scenario.table
    pts_cols = [*baseline.indicator_columns, *baseline.bonus_columns, *baseline.deduction_columns]
    moved = [
        ";".join(c for c in pts_cols if not np.isclose(b[c].iloc[i], s[c].iloc[i], atol=1e-9))
        for i in range(len(b))
    ]
    diff = pd.DataFrame(
        {
            "xzqdm": b["xzqdm"],
            "xzqmc": b["xzqmc"],
            "total_before": b["total"],
            "total_after": s["total"],
            "delta": s["total"] - b["total"],
            "rank_before": b["rank"],
            "rank_after": s["rank"],
            "outcome_before": b["outcome"],
            "outcome_after": s["outcome"],
            "triggers_before": b["triggers"],
            "triggers_after": s["triggers"],
            "rules_changed": moved,
        }
    )
    changed = (
        ~np.isclose(diff["delta"], 0.0, atol=1e-9)
        | (diff["rank_before"] != diff["rank_after"])
        | (diff["outcome_before"] != diff["outcome_after"])
        | (diff["triggers_before"] != diff["triggers_after"])
    )
    for column in ("grade", "vetoes"):
        if column in b.columns:
            diff[f"{column}_before"], diff[f"{column}_after"] = b[column], s[column]
            changed |= diff[f"{column}_before"] != diff[f"{column}_after"]
    diff["changed"] = changed
    return WhatIf(parsed, baseline, scenario, inputs, diff)
