"""How robust is a result: distance to every gate and grade line, and ranks under other weights.

Two questions a county asks of its score (and the assessors should ask before publishing a
ranking, 第十一、十五条 “打分排序”):

* How close am I to a line? For every threshold, veto, cap, band and bonus/deduction step the
  distance in the rule's own units — in 亩 where the rule's figure is an area or a ratio of
  areas ("高于目标 68 亩"), and in points for grade boundaries.
* Would the ranking change if the weights were different? The method leaves weights to the
  assessing departments (第七条), so ranks are recomputed under seeded random perturbations of
  every indicator weight (default ±20 %, 1000 draws, vectorised with numpy) and reported as
  intervals; a rank that never moves is stable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from farmland.metrics.occupation import ILLEGAL_RATIO_THRESHOLD

from farmland.scoring.engine import TOTAL_DECIMALS, RuleOutcome, ScoreResult
from farmland.scoring.explain import format_value
from farmland.scoring.rules import WEIGHTED_KINDS, metric_info

__all__ = ["Robustness", "robustness", "boundaries", "rank_intervals", "ILLEGAL_RATIO_LINE"]

#: 15号令 第三条（一）: the illegal-occupation ratio line behind ``illegal_ratio_flag``.
#: The 15% line, as the metrics stage defines it (one definition for the whole toolkit).
ILLEGAL_RATIO_LINE = ILLEGAL_RATIO_THRESHOLD

# Ratio metrics whose lines can be restated in 亩: (numerator, denominator, numerator is part of
# the denominator). For a share like illegal ÷ occupied, adding x 亩 of illegal occupation adds
# x to both, so the line r is reached at x = (r·D − N) / (1 − r); otherwise at x = r·D − N.
_RATIO_PARTS = {
    "arable_attainment": ("arable_mu", "arable_target_mu", False),
    "basic_farmland_attainment": ("basic_farmland_mu", "basic_farmland_target_mu", False),
    "hsf_completion": ("hsf_built_mu", "hsf_task_mu", False),
    "illegal_ratio": ("illegal_arable_mu", "construction_on_arable_mu", True),
    "derived_illegal_ratio": ("derived_illegal_arable_mu", "derived_construction_on_arable_mu", True),
}


@dataclass(frozen=True, repr=False)
class Robustness:
    """Boundaries (long frame) and rank intervals (one row per county) of a :class:`ScoreResult`."""

    boundaries: pd.DataFrame
    ranks: pd.DataFrame
    spread: float
    draws: int
    seed: int

    def to_text(self, xzqdm: str | None = None) -> str:
        """Chinese summary: rank intervals for all counties, boundaries for one (or all)."""
        r = self.ranks
        lines = [
            f"权重扰动下的名次区间（各指标权重在 ±{self.spread:.0%} 内随机变化，{self.draws} 次，随机种子 {self.seed}）："
        ]
        for t in r.itertuples(index=False):
            stable = "稳定" if t.stable else f"{t.share_same_rank:.0%} 的抽样保持原名次"
            grade = f"；等次{t.grade}保持 {t.share_same_grade:.0%}" if "grade" in r.columns else ""
            lines.append(
                f"  {t.xzqdm} {t.xzqmc}：第 {t.rank} 名，区间 {t.rank_min}–{t.rank_max}"
                f"（90% 区间 {t.rank_p05}–{t.rank_p95}），{stable}{grade}"
            )
        b = self.boundaries
        if xzqdm is not None:
            b = b[b["xzqdm"] == str(xzqdm)]
        for code, part in b.groupby("xzqdm", sort=False):
            lines.append("")
            lines.append(f"{code} {part['xzqmc'].iloc[0]} 距各条界线：")
            lines.extend(f"  {t.rule_id}：{t.text}" for t in part.itertuples(index=False))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()


def robustness(
    result: ScoreResult,
    *,
    spread: float = 0.2,
    draws: int = 1000,
    seed: int = 0,
    renormalise: bool = True,
) -> Robustness:
    """Boundaries and rank intervals of a score result (see :func:`boundaries`, :func:`rank_intervals`)."""
    return Robustness(
        boundaries=boundaries(result),
        ranks=rank_intervals(result, spread=spread, draws=draws, seed=seed, renormalise=renormalise),
        spread=spread,
        draws=draws,
        seed=seed,
    )


# --------------------------------------------------------------------------------------------
# distances


def _sign(op: str) -> float:
    """+1 when the condition holds for large values (>, >=), −1 for small (<, <=), NaN for ==/!=."""
    return {">=": 1.0, ">": 1.0, "<=": -1.0, "<": -1.0}.get(op, np.nan)


def _metric(result: ScoreResult, name: str) -> np.ndarray:
    frame = result.metrics
    if name in frame.columns:
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.full(len(frame), np.nan)


def _area_distance(result: ScoreResult, metric: str, line: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Signed change in 亩 of the area behind ``metric`` that moves it from ``x`` onto ``line``.

    Positive = the area must grow. NaN when the metric is not an area or a known area ratio.
    """
    unit = metric_info(metric).unit
    if unit == "mu":
        return line - x
    if metric == "illegal_ratio_flag":
        metric, line = "illegal_ratio", np.full_like(x, ILLEGAL_RATIO_LINE)
    if metric in _RATIO_PARTS:
        num_name, den_name, nested = _RATIO_PARTS[metric]
        num, den = _metric(result, num_name), _metric(result, den_name)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (line * den - num) / (1.0 - line) if nested else line * den - num
    return np.full_like(x, np.nan)


def _area_metric(metric: str) -> str:
    if metric == "illegal_ratio_flag":
        return "illegal_arable_mu"
    if metric in _RATIO_PARTS:
        return _RATIO_PARTS[metric][0]
    return metric


def _fmt_mu(v: float) -> str:
    return f"{abs(v):,.2f} 亩"


def _condition_rows(result: ScoreResult, o: RuleOutcome) -> pd.DataFrame | None:
    r = o.rule
    s = _sign(r.op)
    if math.isnan(s):
        return None
    x, line = o.value, o.reference
    margin = s * (x - line)  # ≥ 0: condition holds (up to strictness)
    area_delta = _area_distance(result, r.metric, line, x)  # 亩 of change to land on the line
    unit = metric_info(r.metric).unit
    area_label = metric_info(_area_metric(r.metric)).label
    line_label = metric_info(r.value).label if isinstance(r.value, str) else format_value(float(r.value), unit)
    if r.metric == "illegal_ratio_flag":
        # Say where the county stands on the 15% line itself, not "否/是".
        num, den = _metric(result, "illegal_arable_mu"), _metric(result, "construction_on_arable_mu")
        with np.errstate(invalid="ignore", divide="ignore"):
            shown, shown_line, shown_unit = num / den, np.full_like(x, ILLEGAL_RATIO_LINE), "ratio"
        shown_label = "违法占用耕地比例"
    else:
        shown, shown_line, shown_unit, shown_label = x, line, unit, metric_info(r.metric).label
    texts = []
    for i in range(len(x)):
        if np.isnan(margin[i]):
            texts.append("数据缺失，无法计算距离")
            continue
        if unit == "mu":
            above = x[i] - line[i] >= 0
            pos = f"{'高于' if above else '低于'}{line_label} {_fmt_mu(x[i] - line[i])}"
        else:
            pos = (
                f"{shown_label} {format_value(shown[i], shown_unit)}，"
                f"界线 {format_value(shown_line[i], shown_unit)}"
            )
        d = area_delta[i]
        if np.isnan(d) and unit != "flag":
            d = line[i] - x[i]  # no area behind it: speak in the metric's own units
            label, amount = metric_info(r.metric).label, format_value(abs(d), unit)
        else:
            label, amount = area_label, _fmt_mu(d)
        holds = bool(o.fired[i])
        # The word for moving onto the line. At d == 0 the county sits on the line: the move
        # that flips the condition is away from the side where it holds.
        if d > 0 or (d == 0 and (s < 0) == (r.kind == "threshold")):
            direction = "增加"
        else:
            direction = "减少"
        if np.isnan(d):
            move = "；已触发" if holds else "；未触发"
        elif r.kind == "threshold":
            what = f"{r.points:g} 分"
            move = f"；{label}{direction} {amount}即失去 {what}" if holds else f"；{label}需{direction} {amount}方可得 {what}"
        else:
            effect = f"一票否决（{result.rules.fail_grade}）" if r.kind == "veto" else f"等次最高为{r.max_grade}"
            move = f"；已触发{effect}，{label}需{direction} {amount}方可解除" if holds else f"；{label}{direction} {amount}即触发{effect}"
        texts.append(pos + move)
    return pd.DataFrame(
        {
            "rule_id": r.id,
            "kind": r.kind,
            "metric": r.metric,
            "value": x,
            "line": line,
            "holds": o.fired.astype(bool),
            "distance": margin,
            "distance_mu": area_delta,
            "points_at_stake": r.points if r.kind == "threshold" else np.nan,
            "text": texts,
        }
    )


def _proportional_rows(result: ScoreResult, o: RuleOutcome) -> pd.DataFrame:
    r = o.rule
    lost = r.points - o.points
    if r.denominator is not None:
        num, den = o.inputs[r.metric], o.inputs[r.denominator]
        need = r.full_at * den - num  # numerator change (亩) to full marks, denominator held fixed
        with np.errstate(divide="ignore", invalid="ignore"):
            per_mu = r.points / ((r.full_at - r.zero_at) * den)  # points per 亩 of numerator
    else:
        need = r.full_at - o.value
        per_mu = np.full(len(lost), np.nan)
    label = metric_info(r.metric).label
    texts = []
    for i in range(len(lost)):
        if o.missing[i]:
            texts.append("数据缺失，无法计算距离")
        elif lost[i] <= 1e-9:
            texts.append(f"已得满分 {r.points:g} 分")
        else:
            change = "增加" if need[i] > 0 else "减少"
            unit = "亩" if r.denominator and metric_info(r.metric).unit == "mu" else ""
            rate = "" if np.isnan(per_mu[i]) or np.isinf(per_mu[i]) else f"，每 100 亩约 {abs(per_mu[i]) * 100:.2f} 分"
            texts.append(f"距满分差 {lost[i]:.2f} 分：{label}需{change} {abs(need[i]):,.2f} {unit}{rate}".rstrip())
    return pd.DataFrame(
        {
            "rule_id": r.id,
            "kind": r.kind,
            "metric": r.metric,
            "value": o.value,
            "line": r.full_at,
            "holds": lost <= 1e-9,
            "distance": -lost,
            "distance_mu": need if r.denominator and metric_info(r.metric).unit == "mu" else np.nan,
            "points_at_stake": lost,
            "text": texts,
        }
    )


def _banded_rows(o: RuleOutcome) -> pd.DataFrame:
    r = o.rule
    x = o.value
    bounds = np.array([b.bound for b in r.bands])
    sign = 1.0 if r.band_side == "min" else -1.0
    # Index of the band reached (len(bands) = below every band); bands are best first.
    reached = np.array([np.sum(sign * (xi - bounds) < 0) if not np.isnan(xi) else -1 for xi in x])
    unit = metric_info(r.metric).unit
    dist, texts = np.full(len(x), np.nan), []
    for i, k in enumerate(reached):
        if k < 0:
            texts.append("数据缺失，无法计算距离")
            continue
        parts = []
        if k > 0:  # a better band exists
            nxt = r.bands[k - 1]
            dist[i] = sign * (x[i] - nxt.bound)
            parts.append(f"距上一档（{format_value(nxt.bound, unit)}，{nxt.points:g} 分）差 {abs(x[i] - nxt.bound):.4g}")
        if k < len(r.bands):
            cur = r.bands[k]
            parts.append(f"距本档界线（{format_value(cur.bound, unit)}）余量 {abs(x[i] - cur.bound):.4g}")
        texts.append("；".join(parts) or "未达最低一档")
    return pd.DataFrame(
        {
            "rule_id": r.id,
            "kind": r.kind,
            "metric": r.metric,
            "value": x,
            "line": np.nan,
            "holds": o.fraction >= 1 - 1e-9,
            "distance": dist,
            "distance_mu": dist if unit == "mu" else np.nan,
            "points_at_stake": r.points - o.points,
            "text": texts,
        }
    )


def _step_rows(o: RuleOutcome) -> pd.DataFrame:
    r = o.rule
    amount = o.amount
    got = np.abs(o.points)
    capped = got >= r.cap - 1e-9
    steps = got / r.points_per
    if r.rounding == "ceil":
        nxt = np.where(amount > 0, steps * r.per, 0.0)  # the next step starts just past this
    elif r.rounding == "floor":
        nxt = (steps + 1) * r.per
    else:
        nxt = amount + r.per  # pro rata: every 亩 counts; report one step further
    to_next = np.maximum(nxt - amount, 0.0)
    unit = metric_info(r.metric).unit
    verb = "加" if r.kind == "bonus" else "扣"
    texts = []
    for i in range(len(amount)):
        if o.missing[i]:
            texts.append("数据缺失，无法计算距离")
        elif capped[i]:
            texts.append(f"已{verb}满上限 {r.cap:g} 分")
        elif unit == "flag":
            texts.append("未触发" if got[i] == 0 else f"已{verb} {got[i]:g} 分")
        else:
            more = "再超出" if r.kind == "bonus" else "再增加"
            nxt_pts = min(r.points_per, r.cap - got[i])
            if r.rounding == "ceil" and to_next[i] == 0:
                texts.append(f"{more}任意数量即{verb} {nxt_pts:g} 分")
            else:
                texts.append(f"{more} {format_value(to_next[i], unit)}即{verb} {nxt_pts:g} 分")
    return pd.DataFrame(
        {
            "rule_id": r.id,
            "kind": r.kind,
            "metric": r.metric,
            "value": o.value,
            "line": nxt,
            "holds": o.points != 0,
            "distance": np.where(capped | o.missing, np.nan, to_next),
            "distance_mu": np.where(capped | o.missing, np.nan, to_next) if unit == "mu" else np.nan,
            "points_at_stake": np.minimum(r.points_per, r.cap - got),
            "text": texts,
        }
    )


def _outcome_rows(result: ScoreResult) -> pd.DataFrame | None:
    """Distance in points to each outcome's total line (e.g. 表扬 at 90 分, a 建议值)."""
    lines = [o for o in result.rules.outcomes.listed if o.min_total is not None]
    if not lines:
        return None
    total = np.round(result.table["total"].to_numpy(float), TOTAL_DECIMALS)
    parts = []
    for o in lines:
        distance = total - o.min_total
        texts = [f"总分 {x:.2f}，{'高于' if d >= 0 else '低于'}{o.label}分数线 {o.min_total:g} 分"
                 f"（{result.rules.points_label}） {abs(d):.2f} 分" for x, d in zip(total, distance, strict=True)]
        parts.append(pd.DataFrame({
            "xzqdm": result.table["xzqdm"].to_numpy(), "xzqmc": result.table["xzqmc"].to_numpy(),
            "rule_id": f"OUTCOME-{o.key}", "kind": "outcome", "metric": "total", "value": total,
            "line": o.min_total, "holds": distance >= 0, "distance": distance, "distance_mu": np.nan,
            "points_at_stake": np.nan, "text": texts,
        }))
    return pd.concat(parts, ignore_index=True)


def _grade_rows(result: ScoreResult) -> pd.DataFrame | None:
    if not result.rules.grades:
        return None
    t = result.table
    total = np.round(t["total"].to_numpy(float), TOTAL_DECIMALS)
    grades = result.rules.grades
    mins = np.array([g.min_points for g in grades])
    names = [g.name for g in grades]
    by_points = np.array([int(np.argmax(tot >= mins)) for tot in total])  # grade from points alone
    texts, below_next, above_floor = [], np.full(len(total), np.nan), np.full(len(total), np.nan)
    for i, k in enumerate(by_points):
        above_floor[i] = total[i] - mins[k]
        parts = [f"总分 {total[i]:.2f}，高于{names[k]}下限 {above_floor[i]:.2f} 分"]
        if k > 0:
            below_next[i] = mins[k - 1] - total[i]
            parts.append(f"距{names[k - 1]}还差 {below_next[i]:.2f} 分")
        if "vetoes" in t.columns and t["vetoes"].iloc[i]:
            parts.append(f"但已被否决（{t['vetoes'].iloc[i].replace(';', '、')}），等次为{result.rules.fail_grade}")
        elif "caps" in t.columns and t["caps"].iloc[i]:
            parts.append(f"但受限制（{t['caps'].iloc[i].replace(';', '、')}），等次为{t['grade'].iloc[i]}")
        texts.append("，".join(parts))
    return pd.DataFrame(
        {
            "rule_id": "GRADE",
            "kind": "grade",
            "metric": "total",
            "value": total,
            "line": mins[by_points],
            "holds": True,
            "distance": above_floor,
            "distance_mu": np.nan,
            "points_at_stake": below_next,
            "text": texts,
        }
    )


def boundaries(result: ScoreResult) -> pd.DataFrame:
    """Distance of every county to every line in the rule set, and to the grade boundaries.

    Returns
    -------
    DataFrame
        Long, one row per county and enabled rule (plus one ``GRADE`` row): xzqdm, xzqmc,
        rule_id, kind, metric, value, line, holds (condition met / full marks / adjustment
        non-zero), distance (in the metric's units; for conditions ≥ 0 means on the side where
        the condition holds, for grades the points above the grade's lower bound),
        distance_mu (signed change in 亩 of the underlying area that lands on the line: + grow,
        − shrink; NaN where no area applies), points_at_stake, text (Chinese).
    """
    parts = []
    for o in result.outcomes:
        r = o.rule
        if not r.enabled:
            continue
        if r.kind in ("threshold", "veto", "cap"):
            part = _condition_rows(result, o)
        elif r.kind == "proportional":
            part = _proportional_rows(result, o)
        elif r.kind == "banded":
            part = _banded_rows(o)
        elif r.kind in ("bonus", "deduction"):
            part = _step_rows(o)
        else:  # checklist: linear in its fraction, no line to cross
            continue
        if part is not None:
            part.insert(0, "xzqdm", result.table["xzqdm"].to_numpy())
            part.insert(1, "xzqmc", result.table["xzqmc"].to_numpy())
            parts.append(part)
    grade = _grade_rows(result)
    if grade is not None:
        grade.insert(0, "xzqdm", result.table["xzqdm"].to_numpy())
        grade.insert(1, "xzqmc", result.table["xzqmc"].to_numpy())
        parts.append(grade)
    outcome = _outcome_rows(result)
    if outcome is not None:
        parts.append(outcome)
    out = pd.concat(parts, ignore_index=True)
    order = {c: i for i, c in enumerate(result.table["xzqdm"])}
    return out.sort_values("xzqdm", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# rank intervals


def _min_ranks(totals: np.ndarray, chunk_elems: int = 4_000_000) -> np.ndarray:
    """Competition ("min") ranks of each column of ``totals`` (n × draws), 1 = highest.

    rank_i = 1 + #{j : t_j > t_i}, exactly the ``min`` tie rule, computed by broadcasting in
    chunks of draws so memory stays under ``chunk_elems`` booleans.
    """
    n, m = totals.shape
    ranks = np.empty((n, m), dtype=np.int64)
    step = max(1, chunk_elems // max(1, n * n))
    for s in range(0, m, step):
        t = totals[:, s : s + step]
        ranks[:, s : s + step] = 1 + (t[None, :, :] > t[:, None, :]).sum(axis=1)
    return ranks


def rank_intervals(
    result: ScoreResult,
    *,
    spread: float = 0.2,
    draws: int = 1000,
    seed: int = 0,
    renormalise: bool = True,
) -> pd.DataFrame:
    """Ranks under randomly perturbed indicator weights (Monte Carlo, seeded, vectorised).

    Each draw multiplies every indicator weight by an independent factor uniform in
    [1 − spread, 1 + spread] and, with ``renormalise`` (default), rescales them to sum to the
    full marks again. Indicator points scale with their weight (points = weight × fraction
    earned); bonuses, deductions, clipping, the fold and vetoes/caps are applied as in
    :func:`farmland.scoring.score`.

    Returns
    -------
    DataFrame
        One row per county: xzqdm, xzqmc, total, rank, rank_min, rank_max, rank_p05, rank_p95,
        share_same_rank, stable (rank never moves), grade, share_same_grade, gap_above and
        gap_below (points to the next better / worse total).
    """
    if not 0 <= spread < 1:
        raise ValueError(f"spread must be in [0, 1), got {spread}")
    if draws < 1:
        raise ValueError(f"draws must be ≥ 1, got {draws}")
    t = result.table
    rules = result.rules
    weighted = [o for o in result.outcomes if o.rule.enabled and o.rule.kind in WEIGHTED_KINDS]
    fractions = np.column_stack([o.fraction for o in weighted])  # n × k
    weights = np.array([o.rule.points for o in weighted])  # k
    rng = np.random.default_rng(seed)
    factors = rng.uniform(1 - spread, 1 + spread, size=(draws, len(weights)))
    w = weights * factors  # draws × k
    if renormalise:
        w *= rules.full_marks / w.sum(axis=1, keepdims=True)
    adjust = (t["bonuses"] - t["deductions"]).to_numpy(float)
    totals = np.clip(fractions @ w.T + adjust[:, None], 0.0, rules.full_marks)  # n × draws
    if result.fold_weights is not None:
        fw, fv = result.fold_weights, np.nan_to_num(result.fold_values)
        totals = fw[:, :1] * totals + (fw[:, 1:] * fv).sum(axis=1, keepdims=True)
    totals = np.round(totals, TOTAL_DECIMALS)
    ranks = _min_ranks(totals)

    grades = {}
    if rules.grades:
        # Grades per draw: vetoes and caps do not depend on weights, so apply the result's.
        mins = np.array([g.min_points for g in rules.grades])
        names = [g.name for g in rules.grades]
        gidx = (totals[:, :, None] < mins[None, None, :]).sum(axis=2)  # grades are best first
        grade_now = np.array([names.index(g) for g in t["grade"]])
        vetoed = t["vetoes"].astype(bool).to_numpy() if "vetoes" in t.columns else np.zeros(len(t), bool)
        cap_limit = np.zeros(len(t), int)
        for o in result.outcomes:
            if o.rule.enabled and o.rule.kind == "cap":
                cap_limit = np.where(o.fired, np.maximum(cap_limit, names.index(o.rule.max_grade)), cap_limit)
        gidx = np.maximum(gidx, cap_limit[:, None])
        gidx = np.where(vetoed[:, None], len(names) - 1, gidx)
        grades = {"grade": t["grade"].to_numpy(), "share_same_grade": (gidx == grade_now[:, None]).mean(axis=1)}

    base_rank = t["rank"].to_numpy()
    base_total = np.round(t["total"].to_numpy(float), TOTAL_DECIMALS)
    order = np.sort(base_total)
    gap_above = np.array([order[order > x].min() - x if (order > x).any() else np.nan for x in base_total])
    gap_below = np.array([x - order[order < x].max() if (order < x).any() else np.nan for x in base_total])
    return pd.DataFrame(
        {
            "xzqdm": t["xzqdm"].to_numpy(),
            "xzqmc": t["xzqmc"].to_numpy(),
            "total": t["total"].to_numpy(float),
            "rank": base_rank,
            "rank_min": ranks.min(axis=1),
            "rank_max": ranks.max(axis=1),
            "rank_p05": np.percentile(ranks, 5, axis=1, method="lower").astype(int),
            "rank_p95": np.percentile(ranks, 95, axis=1, method="higher").astype(int),
            "share_same_rank": (ranks == base_rank[:, None]).mean(axis=1),
            "stable": ranks.min(axis=1) == ranks.max(axis=1),
            **grades,
            "gap_above": gap_above,
            "gap_below": gap_below,
        }
    )
