"""Apply a rule set to one phase/year of unit metrics: points, total, rank, outcome, triggers, trail.

Every rule is evaluated for all counties at once on numpy arrays; the only per-county Python
work is formatting the Chinese trail sentences and the evidence look-ups, which are inherently
one string per (county, rule).

Reconciliation, by construction (columns of :attr:`ScoreResult.table`)::

    total = Σ indicator columns + bonuses − deductions + clip_adjustment [+ fold_adjustment]

``clip_adjustment`` brings the raw sum into [0, full_marks] (clause 第七条: 满分为100分);
``fold_adjustment`` (final phase) is the change made by folding in the annual and mid-term
results (第九、十二条). The trail's ``points`` column sums to ``total`` for every county.

The trail is structured data (values, references, inputs, evidence); :mod:`.explain` alone turns
it into Chinese sentences, so the engine does not depend on the wording.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from farmland.errors import RuleError
from farmland.scoring.rules import (
    ADJUSTMENT_KINDS,
    GATE_KINDS,
    WEIGHTED_KINDS,
    Rule,
    RuleSet,
)
from farmland.scoring.triggers import TRIGGER_COLUMNS, trigger_codes

__all__ = ["RuleOutcome", "ScoreResult", "score", "EvidenceLookup"]

EvidenceLookup = Callable[[str, str], Sequence[str]]

#: Totals are compared (rank, grade) after rounding to this many decimals, so that float noise
#: such as 89.99999999999999 from 0.1-point steps neither splits a tie nor drops a grade.
TOTAL_DECIMALS = 6
_EPS = 1e-9

# pandas' rank returns floats; ranks are whole numbers, so store them as int64.
_RANK_DTYPE = "int64"

#: Survey-basis flags of the metrics stage and the metrics whose comparison they concern: a
#: rule reading one of these compares an area with a target possibly set on the other basis.
BASIS_SENSITIVE = {
    "arable_basis_mismatch": ("arable_target_mu", "arable_attainment", "arable_margin_mu"),
    "basic_farmland_basis_mismatch": (
        "basic_farmland_target_mu", "basic_farmland_attainment", "basic_farmland_margin_mu"),
}
_REBASED_TARGETS = {"arable_target_mu": ("arable_basis_mismatch", "arable_factor"),
                    "basic_farmland_target_mu": ("basic_farmland_basis_mismatch", "basic_farmland_factor")}


@dataclass(frozen=True, eq=False)
class RuleOutcome:
    """One rule applied to all counties (arrays of length n, in the table's row order).

    Attributes
    ----------
    points : signed contribution to the total in 分 (deductions negative, gates 0).
    fraction : share of the weight earned (weighted kinds; NaN otherwise).
    fired : threshold met / bonus or deduction non-zero / veto or cap triggered.
    missing : an input was NaN (or absent); the rule fell back to its ``missing`` policy.
    value : the primary figure judged (the ratio for a proportional rule with a denominator,
        the counted amount for bonus/deduction before steps, else the metric).
    reference : what ``value`` was compared with (threshold, metric, ``above``/``below``).
    inputs : every metric read, by name.
    """

    rule: Rule
    points: np.ndarray
    fraction: np.ndarray
    fired: np.ndarray
    missing: np.ndarray
    value: np.ndarray
    reference: np.ndarray
    inputs: dict[str, np.ndarray]
    amount: np.ndarray  # bonus/deduction: amount beyond above/below before rounding to steps
    not_applicable: np.ndarray | None = None  # ``applies_when`` is 0: the item does not concern the unit
    basis_mismatch: np.ndarray | None = None  # target and area on different survey bases (口径)

    @property
    def status(self) -> np.ndarray:
        """Chinese status per county (满分 / 部分得分 / 未得分 / 加分 / 扣分 / 触发 / 数据缺失 …)."""
        r = self.rule
        n = len(self.points)
        if not r.enabled:
            return np.full(n, "停用", dtype=object)
        if r.kind in WEIGHTED_KINDS:
            out = np.where(
                self.fraction >= 1 - _EPS, "满分", np.where(self.fraction > _EPS, "部分得分", "未得分")
            ).astype(object)
        elif r.kind in ADJUSTMENT_KINDS:
            label = "加分" if r.kind == "bonus" else "扣分"
            out = np.where(np.abs(self.points) > 0, label, "未触发").astype(object)
        else:
            out = np.where(self.fired, "触发", "未触发").astype(object)
        out[self.missing] = "不涉及" if r.missing == "full" else "数据缺失"
        if self.not_applicable is not None:
            out[self.not_applicable] = "不涉及"
        return out


@dataclass(frozen=True, eq=False, repr=False)
class ScoreResult:
    """Scores of one phase/year: the contract table, the trail, and what robustness needs.

    Attributes
    ----------
    metrics : DataFrame
        The input rows scored (one per county, in table order), for what-if and robustness.
    table : DataFrame
        One row per unit: xzqdm, xzqmc, phase, year, one column per indicator, bonus and
        deduction rule (named by rule id; deduction columns hold the points deducted, ≥ 0),
        bonuses, deductions, clip_adjustment, [phase_total, annual_mean, midterm_total,
        fold_adjustment — final phase with a fold], total (0–100), rank (1 = best, ties share
        the best rank), outcome, outcome_text, triggers (``CODE@YEAR;…``, 聊政发〔2018〕34号
        四(三)), review (findings to check before signing), basis_mismatch (ids of the rules
        comparing figures of different survey bases) and, only when the rule set defines them,
        grade, vetoes, caps.
    trail : DataFrame
        Long: one row per unit and rule (plus CLIP / FOLD rows where they change the total and
        one row per trigger or review finding): rule id, clause, kind, status, signed points,
        the values used, evidence ids. :func:`farmland.scoring.explain.annotated_trail` adds
        the Chinese sentence of each row.
    triggers : DataFrame
        The triggers and review findings of the span (:func:`.triggers.find_triggers`).
    """

    table: pd.DataFrame
    trail: pd.DataFrame
    rules: RuleSet
    phase: str
    year: int | None
    outcomes: tuple[RuleOutcome, ...]
    metrics: pd.DataFrame
    indicator_columns: tuple[str, ...]
    bonus_columns: tuple[str, ...]
    deduction_columns: tuple[str, ...]
    missing_columns: tuple[str, ...] = ()
    # what robustness needs to recompute totals under other weights
    fold_weights: np.ndarray | None = field(default=None)  # (n, 3): final, annual_mean, midterm
    fold_values: np.ndarray | None = field(default=None)  # (n, 2): annual_mean, midterm
    triggers: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TRIGGER_COLUMNS))
    level: str = "county"

    @property
    def codes(self) -> np.ndarray:
        return self.table["xzqdm"].to_numpy()

    @property
    def summary_columns(self) -> list[str]:
        """The columns a reader scans first: unit, total, rank, outcome, triggers (and grade)."""
        columns = ["xzqdm", "xzqmc", "total", "rank", "outcome", "triggers"]
        return columns + [c for c in ("grade", "vetoes") if c in self.table.columns]

    def _repr_html_(self) -> str:
        from farmland.reports.jupyter import score_table_html

        return score_table_html(self)

    def __repr__(self) -> str:
        return (
            f"ScoreResult(phase={self.phase!r}, year={self.year}, level={self.level!r}, "
            f"units={len(self.table)}, rules={self.rules.name!r})\n"
            + self.table[self.summary_columns].to_string(index=False)
        )


# --------------------------------------------------------------------------------------------
# inputs


def _prepare(metrics_wide: pd.DataFrame, phase: str, year: int | None,
             level: str = "county") -> tuple[pd.DataFrame, int | None]:
    df = metrics_wide
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"metrics_wide must be a DataFrame, got {type(df).__name__}")
    if "xzqdm" not in df.columns:
        if "xzqdm" in (df.index.names or []):
            df = df.reset_index()
        else:
            raise RuleError(
                "metrics frame has no xzqdm column or index; pass MetricsResult.wide(level='county', "
                f"phase=...) (columns found: {', '.join(map(str, df.columns[:8]))} …)"
            )
    if "level" in df.columns:
        df = df[df["level"].astype(str) == level]
    if "phase" in df.columns:
        phases = sorted(set(df["phase"].dropna().astype(str)))
        if phases and phases != [phase]:
            raise RuleError(
                f"the metrics are for phase {', '.join(phases)} but the rule set is for {phase!r}; "
                f"compute metrics for phase {phase!r} or load the {phases[0]} rule set"
            )
    if "year" in df.columns:
        years = sorted({int(y) for y in df["year"].dropna()})
        if year is not None:
            if int(year) not in years:
                raise RuleError(f"no metrics for year {year}; years present: {years}")
            df = df[df["year"].astype("int64") == int(year)]
        elif len(years) > 1:
            raise RuleError(f"metrics hold several years {years}; pass year= to choose one")
        elif years:
            year = years[0]
    if df.empty:
        raise RuleError(f"no {level} rows to score (empty metrics frame)")
    codes = df["xzqdm"].astype(str)
    dup = codes[codes.duplicated()].unique()
    if len(dup):
        raise RuleError(
            f"unit code(s) {', '.join(dup[:5])} appear more than once; score one phase and year "
            f"at a time"
        )
    df = df.reset_index(drop=True).copy()
    df["xzqdm"] = codes.to_numpy()
    df["xzqmc"] = df["xzqmc"].astype(str).to_numpy() if "xzqmc" in df.columns else ""
    return df, (None if year is None else int(year))


class _Metrics:
    """Float arrays by metric name; an absent column reads as all-NaN and is remembered."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.n = len(frame)
        self.absent: list[str] = []
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name in self.frame.columns:
                col = pd.to_numeric(self.frame[name], errors="coerce")
                arr = col.astype("float64").to_numpy(na_value=np.nan)
            else:
                arr = np.full(self.n, np.nan)
                self.absent.append(name)
            self._cache[name] = arr
        return self._cache[name]

    def optional(self, name: str) -> np.ndarray:
        """A column that may be absent without that being a rule's missing input (e.g. basis flags)."""
        if name in self.frame.columns:
            return self(name)
        return np.full(self.n, np.nan)

    def resolve(self, value: float | str | None, default: float = 0.0) -> np.ndarray:
        if value is None:
            return np.full(self.n, default)
        if isinstance(value, str):
            return self(value)
        return np.full(self.n, float(value))


_OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ">=": np.greater_equal,
    ">": np.greater,
    "<=": np.less_equal,
    "<": np.less,
    "==": np.equal,
    "!=": np.not_equal,
}


def _compare(x: np.ndarray, op: str, ref: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return _OPS[op](x, ref)


# --------------------------------------------------------------------------------------------
# rule evaluation (vectorised over counties)


def evaluate_rule(rule: Rule, get: _Metrics) -> RuleOutcome:
    """Apply one rule to every county. See :class:`RuleOutcome`."""
    n = get.n
    nan = np.full(n, np.nan)
    zeros = np.zeros(n)
    inputs = {m: get(m) for m in rule.metrics}
    x = inputs[rule.metric]
    kind = rule.kind

    if not rule.enabled:
        return RuleOutcome(rule, zeros, nan, np.zeros(n, bool), np.zeros(n, bool), x, nan, inputs, nan)

    if kind in ("threshold", "veto", "cap"):
        ref = get.resolve(rule.value)
        missing = np.isnan(x) | np.isnan(ref)
        met = _compare(x, rule.op, ref) & ~missing
        if kind == "threshold":
            fraction = met.astype(float)
            if rule.missing == "full":
                fraction[missing] = 1.0
            return RuleOutcome(rule, fraction * rule.points, fraction, fraction > 0, missing, x, ref, inputs, nan)
        return RuleOutcome(rule, zeros, nan, met, missing, x, ref, inputs, nan)

    if kind == "proportional":
        ratio, ref, missing, zero_den = _ratio(rule, get, x)
        with np.errstate(invalid="ignore"):
            fraction = np.clip((ratio - rule.zero_at) / (rule.full_at - rule.zero_at), 0.0, 1.0)
        if rule.zero_denominator == "full":
            fraction[zero_den] = 1.0
        elif rule.zero_denominator == "zero":
            fraction[zero_den] = 0.0
        fraction[missing] = 1.0 if rule.missing == "full" else 0.0
        return RuleOutcome(rule, fraction * rule.points, fraction, fraction > 0, missing, ratio, ref, inputs, nan)

    if kind == "banded":
        missing = np.isnan(x)
        cmp = np.greater_equal if rule.band_side == "min" else np.less_equal
        with np.errstate(invalid="ignore"):
            conds = [cmp(x, b.bound) for b in rule.bands]  # best band first: first match wins
        points = np.select(conds, [b.points for b in rule.bands], default=0.0)
        fraction = points / rule.points
        fraction[missing] = 1.0 if rule.missing == "full" else 0.0
        return RuleOutcome(rule, fraction * rule.points, fraction, fraction > 0, missing, x, nan, inputs, nan)

    if kind == "checklist":
        missing = np.isnan(x)
        fraction = np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0)
        fraction[missing] = 1.0 if rule.missing == "full" else 0.0
        return RuleOutcome(rule, fraction * rule.points, fraction, fraction > 0, missing, x, nan, inputs, nan)

    if kind in ADJUSTMENT_KINDS:
        if rule.below is not None:
            ref = get.resolve(rule.below)
            amount = ref - x
        else:
            ref = get.resolve(rule.above, default=0.0)
            amount = x - ref
        missing = np.isnan(x) | np.isnan(ref)
        amount = np.where(missing, 0.0, np.maximum(amount, 0.0))
        steps = amount / rule.per
        # A tiny tolerance so that e.g. 0.3/0.1 = 2.9999999999999996 counts as 3 whole steps.
        if rule.rounding == "floor":
            steps = np.floor(steps + _EPS)
        elif rule.rounding == "ceil":
            steps = np.ceil(steps - _EPS)
        # "+ 0.0" turns the -0.0 of ceil(-ε) into 0.0 so a zero deduction never prints as "-0".
        points = np.minimum(steps * rule.points_per, rule.cap) + 0.0
        sign = 1.0 if kind == "bonus" else -1.0
        return RuleOutcome(rule, sign * points, nan, points > 0, missing, x, ref, inputs, amount)

    raise AssertionError(f"unhandled rule kind {kind}")  # validated on load


def _ratio(rule: Rule, get: _Metrics, x: np.ndarray):
    """Ratio for a proportional rule: numerator/denominator, with explicit zero-denominator cases.

    0/0 (nothing happened) is left to ``zero_denominator``; x/0 with x > 0 is +inf, which the
    clip maps to full marks when more is better (占补: supplemented with nothing occupied) and
    to zero when less is better (违法: illegal occupation with no occupation recorded, which
    docs/background.md §4.3 treats as ≥ 15%).
    """
    n = get.n
    if rule.denominator is None:
        return x, np.full(n, np.nan), np.isnan(x), np.zeros(n, bool)
    d = get(rule.denominator)
    missing = np.isnan(x) | np.isnan(d)
    zero_den = (d == 0) & (x == 0) & ~missing
    ratio = np.full(n, np.nan)
    with np.errstate(over="ignore"):  # a tiny denominator gives inf, which the clip handles
        np.divide(x, d, out=ratio, where=(d != 0) & ~missing)
    over_zero = (d == 0) & (x != 0) & ~missing
    ratio[over_zero] = np.sign(x[over_zero]) * np.inf
    if rule.zero_denominator == "missing":
        missing = missing | zero_den
    return ratio, d, missing, zero_den


# --------------------------------------------------------------------------------------------
# folding earlier results into the final score


def _totals_by_code(item: Any) -> pd.Series:
    table = item.table if isinstance(item, ScoreResult) else item
    if not isinstance(table, pd.DataFrame) or not {"xzqdm", "total"} <= set(table.columns):
        raise RuleError(
            "folded results must be ScoreResult objects or score tables with xzqdm and total "
            f"columns, got {type(item).__name__}"
        )
    return pd.Series(table["total"].to_numpy(float), index=table["xzqdm"].astype(str).to_numpy())


def _fold_inputs(folded: Mapping[str, Any] | None, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean annual total, mid-term total (NaN where absent) and the number of annual results."""
    n = len(codes)
    annual_mean = np.full(n, np.nan)
    midterm = np.full(n, np.nan)
    n_annual = np.zeros(n, int)
    if not folded:
        return annual_mean, midterm, n_annual
    unknown = set(folded) - {"annual", "midterm"}
    if unknown:
        raise RuleError(f"folded takes keys 'annual' and 'midterm', got {sorted(unknown)}")
    annual = folded.get("annual")
    if annual is not None:
        if isinstance(annual, (ScoreResult, pd.DataFrame)):
            annual = [annual]
        frame = pd.concat([_totals_by_code(a).rename(i) for i, a in enumerate(annual)], axis=1)
        frame = frame.reindex(codes)
        annual_mean = frame.mean(axis=1, skipna=True).to_numpy(float)
        n_annual = frame.notna().sum(axis=1).to_numpy(int)
    if folded.get("midterm") is not None:
        midterm = _totals_by_code(folded["midterm"]).reindex(codes).to_numpy(float)
    return annual_mean, midterm, n_annual


# --------------------------------------------------------------------------------------------
# evidence


def _evidence_lookup(evidence: Any, phase: str, year: int | None) -> EvidenceLookup:
    """Normalise the evidence argument to ``f(xzqdm, metric) -> tuple of ids``."""
    if evidence is None:
        return lambda code, metric: ()
    method = getattr(evidence, "evidence", None)
    if callable(method):  # a MetricsResult: evidence(xzqdm, metric, phase, year)
        base = lambda code, metric: method(code, metric, phase, year)  # noqa: E731
    elif callable(evidence):
        base = evidence
    elif isinstance(evidence, Mapping):
        base = lambda code, metric: evidence.get((code, metric), ())  # noqa: E731
    else:
        raise TypeError(
            "evidence must be a callable (xzqdm, metric) -> ids, a MetricsResult, or a mapping "
            f"{{(xzqdm, metric): ids}}; got {type(evidence).__name__}"
        )
    cache: dict[tuple[str, str], tuple[str, ...]] = {}

    def lookup(code: str, metric: str) -> tuple[str, ...]:
        key = (code, metric)
        if key not in cache:
            try:
                ids = base(code, metric)
            except LookupError:
                # A metric without recorded evidence (e.g. a target) is not an error.
                ids = ()
            cache[key] = tuple(str(i) for i in (ids or ()))
        return cache[key]

    return lookup


# --------------------------------------------------------------------------------------------
# the public entry point


def _apply_scope(o: RuleOutcome, get: _Metrics, rules: RuleSet) -> RuleOutcome:
    """Mark where a rule does not apply (``applies_when``) and where it compares across bases."""
    r = o.rule
    if not r.enabled:
        return o
    n = get.n
    fraction, points, missing = o.fraction.copy(), o.points.copy(), o.missing.copy()
    not_applicable = np.zeros(n, bool)
    if r.applies_when is not None:
        # 不涉及: the item concerns only units that have the task (第八、十三条 “涉及…的县”).
        not_applicable = get(r.applies_when) == 0
        fraction[not_applicable] = 1.0
        points[not_applicable] = r.points
        missing[not_applicable] = False
    mismatch = np.zeros(n, bool)
    for flag, metrics in BASIS_SENSITIVE.items():
        if set(metrics) & set(r.metrics):
            mismatch |= get.optional(flag) == 1
    if rules.basis.policy == "no_verdict" and r.kind in WEIGHTED_KINDS and mismatch.any():
        full = 1.0 if r.missing == "full" else 0.0
        fraction[mismatch] = full
        points[mismatch] = full * r.points
        missing |= mismatch
    return dataclasses.replace(o, fraction=fraction, points=points, missing=missing,
                               not_applicable=not_applicable, basis_mismatch=mismatch)


def _rebased(frame: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """Targets × the rule set's stated factor where their basis differs (``[basis] policy = rebase``)."""
    if rules.basis.policy != "rebase":
        return frame
    frame = frame.copy()
    for target, (flag, factor_name) in _REBASED_TARGETS.items():
        if target in frame.columns and flag in frame.columns:
            mismatch = pd.to_numeric(frame[flag], errors="coerce").to_numpy() == 1
            values = pd.to_numeric(frame[target], errors="coerce").to_numpy("float64", na_value=np.nan)
            frame[target] = np.where(mismatch, values * getattr(rules.basis, factor_name), values)
    return frame


def _outcomes(rules: RuleSet, total: np.ndarray, rank: np.ndarray, grade: np.ndarray | None,
              triggered: list[set[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Outcome label and its text per unit: the first listed outcome whose criteria all hold."""
    n = len(total)
    spec = rules.outcomes
    label = np.full(n, spec.default, dtype=object)
    default_text = f"{spec.text}（{spec.clause}）" if spec.text and spec.clause else spec.text
    text = np.full(n, default_text, dtype=object)
    decided = np.zeros(n, bool)
    any_trigger = np.array([bool(t) for t in triggered])
    for o in spec.listed:
        hit = ~decided
        if o.triggers:
            hit &= np.array([bool(t & set(o.triggers)) for t in triggered])
        if o.no_triggers:
            hit &= ~any_trigger
        if o.min_total is not None:
            hit &= total >= o.min_total - _EPS
        if o.top_n:
            hit &= rank <= o.top_n
        if o.grades:
            hit &= np.isin(grade, o.grades)
        label[hit] = o.label
        text[hit] = f"{o.text}（{o.clause}）" if o.clause else o.text
        decided |= hit
    return label, text


def score(
    metrics_wide: pd.DataFrame,
    rules: RuleSet,
    *,
    year: int | None = None,
    evidence: Any = None,
    folded: Mapping[str, Any] | None = None,
    triggers: pd.DataFrame | None = None,
    level: str = "county",
) -> ScoreResult:
    """Score every unit of one phase and year with a rule set.

    Parameters
    ----------
    metrics_wide : DataFrame
        ``MetricsResult.wide(level=level, phase=rules.phase)``: one row per unit, xzqdm
        (column or index), xzqmc, optionally year, and one column per metric (areas in 亩,
        ratios as fractions, flags 0/1). A metric a rule needs but the frame lacks reads as
        missing: the rule scores 0 (or full, for ``missing = "full"``) with note 数据缺失.
    rules : RuleSet
        From :func:`farmland.scoring.load_rules`.
    year : int, optional
        The data year (for mid-term/final the last year of the covered span). Required when
        the frame holds several years; otherwise taken from its ``year`` column.
    evidence : callable or MetricsResult, optional
        ``evidence(xzqdm, metric) -> ids``, or a ``MetricsResult`` (its ``evidence(xzqdm,
        metric, phase, year)`` is used), or a mapping ``{(xzqdm, metric): ids}``. Ids are
        recorded in the trail for every rule that reads the metric.
    folded : mapping, optional
        For a final rule set with a ``[fold]``: ``{"annual": [ScoreResult | table, ...],
        "midterm": ScoreResult | table}``. Each unit's annual totals are averaged; a
        component a unit lacks is dropped and the fold weights are rescaled (noted in the
        trail).
    triggers : DataFrame, optional
        The span's 34号 四(三) triggers (:func:`farmland.scoring.triggers.find_triggers`); they
        decide outcomes whose criteria name triggers and are reported, never scored.
    level : {"county", "township"}
        Which rows of ``metrics_wide`` to score (第十九条: counties assess their townships).

    Returns
    -------
    ScoreResult
        ``.table`` (contract columns), ``.trail`` (long, structured), ``.triggers``.

    Notes
    -----
    总分 = Σ 指标得分 + 加分 − 扣分, clipped to [0, 100] (第七条 满分为100分); ranks use the "min"
    method on totals rounded to 6 decimals, 1 = best (第十一、十五条 打分排序). Outcomes follow the
    rule set's ``[outcomes]`` (default: 通报 for the annual and mid-term, 第九、十二条; 表扬 / 整改
    in the final, 第十七条). Grades, vetoes and caps exist only in rule sets that define them.
    """
    if not isinstance(rules, RuleSet):
        raise TypeError(f"rules must be a RuleSet from load_rules(), got {type(rules).__name__}")
    phase = rules.phase
    frame, year = _prepare(metrics_wide, phase, year, level)
    if folded and rules.fold is None:
        raise RuleError(
            f"{rules.origin}: results to fold were given but the rule set has no [fold] table; "
            f"add [fold] final/annual_mean/midterm weights to a final rule set"
        )
    get = _Metrics(_rebased(frame, rules))
    outcomes = tuple(_apply_scope(evaluate_rule(r, get), get, rules) for r in rules.rules)
    n = get.n
    codes = frame["xzqdm"].to_numpy(dtype=object)
    names = frame["xzqmc"].to_numpy(dtype=object)

    by_kind = lambda *kinds: [o for o in outcomes if o.rule.enabled and o.rule.kind in kinds]  # noqa: E731
    indicator = by_kind(*WEIGHTED_KINDS)
    bonus = by_kind("bonus")
    deduction = by_kind("deduction")
    vetoes = by_kind("veto")
    caps = by_kind("cap")

    indicator_sum = np.sum([o.points for o in indicator], axis=0) if indicator else np.zeros(n)
    bonuses = np.sum([o.points for o in bonus], axis=0) if bonus else np.zeros(n)
    deductions = -np.sum([o.points for o in deduction], axis=0) if deduction else np.zeros(n)
    raw = indicator_sum + bonuses - deductions
    phase_total = np.clip(raw, 0.0, rules.full_marks)
    clip_adjustment = phase_total - raw

    fold_weights = fold_values = None
    total = phase_total
    if rules.fold is not None:
        annual_mean, midterm, n_annual = _fold_inputs(folded, codes)
        w = np.array([rules.fold.final, rules.fold.annual_mean, rules.fold.midterm])
        avail = np.column_stack([np.ones(n, bool), ~np.isnan(annual_mean), ~np.isnan(midterm)])
        fold_weights = np.where(avail, w, 0.0)
        fold_weights = fold_weights / fold_weights.sum(axis=1, keepdims=True)
        fold_values = np.column_stack([annual_mean, midterm])
        total = (
            fold_weights[:, 0] * phase_total
            + fold_weights[:, 1] * np.nan_to_num(annual_mean)
            + fold_weights[:, 2] * np.nan_to_num(midterm)
        )
    fold_adjustment = total - phase_total

    rounded = np.round(total, TOTAL_DECIMALS)
    rank = pd.Series(rounded).rank(method="min", ascending=False).to_numpy().astype(_RANK_DTYPE)

    grade = None
    if rules.grades:
        grade_names = [g.name for g in rules.grades]
        grade_idx = np.select(
            [rounded >= g.min_points for g in rules.grades], np.arange(len(rules.grades)),
            default=len(rules.grades) - 1,
        )
        for o in caps:
            limit = grade_names.index(o.rule.max_grade)
            grade_idx = np.where(o.fired, np.maximum(grade_idx, limit), grade_idx)
        vetoed = np.any([o.fired for o in vetoes], axis=0) if vetoes else np.zeros(n, bool)
        grade_idx = np.where(vetoed, len(grade_names) - 1, grade_idx)
        grade = np.array(grade_names, dtype=object)[grade_idx]

    if triggers is None:
        triggers = pd.DataFrame(columns=TRIGGER_COLUMNS)
    triggers = triggers[triggers["xzqdm"].astype(str).isin(codes)].reset_index(drop=True)
    fired_triggers = triggers[triggers["kind"] == "trigger"]
    # One grouping of the few triggers, not a mask over them per unit (hundreds of townships).
    codes_fired = fired_triggers.groupby("xzqdm", sort=False)["code"].agg(set)
    triggered = [set(codes_fired.get(c, ())) for c in codes]
    outcome, outcome_text = _outcomes(rules, rounded, rank, grade, triggered)

    fired_ids = lambda outs: [  # noqa: E731
        ";".join(o.rule.id for o in outs if o.fired[i]) for i in range(n)
    ]
    mismatched = [o for o in outcomes if o.basis_mismatch is not None]

    table = pd.DataFrame({"xzqdm": codes, "xzqmc": names, "phase": phase, "year": year})
    table["year"] = table["year"].astype("Int64")
    for o in indicator + bonus:
        table[o.rule.id] = o.points
    for o in deduction:
        table[o.rule.id] = np.abs(o.points)  # points deducted, ≥ 0
    table["bonuses"] = bonuses
    table["deductions"] = deductions
    table["clip_adjustment"] = clip_adjustment
    if rules.fold is not None:
        table["phase_total"] = phase_total
        table["annual_mean"] = fold_values[:, 0]
        table["midterm_total"] = fold_values[:, 1]
        table["fold_adjustment"] = fold_adjustment
    table["total"] = total
    table["rank"] = rank
    table["outcome"] = outcome
    table["outcome_text"] = outcome_text
    table["triggers"] = trigger_codes(triggers, codes)
    table["review"] = trigger_codes(triggers, codes, kind="review")
    table["basis_mismatch"] = [";".join(o.rule.id for o in mismatched if o.basis_mismatch[i]) for i in range(n)]
    if grade is not None:
        table["grade"] = grade
    if vetoes:
        table["vetoes"] = fired_ids(vetoes)
    if caps:
        table["caps"] = fired_ids(caps)

    lookup = _evidence_lookup(evidence, phase, year)
    trail = _build_trail(
        outcomes, codes, names, phase, year, lookup, clip_adjustment, fold_adjustment, rules, fold_weights,
        fold_values, phase_total, triggers,
    )
    return ScoreResult(
        table=table,
        trail=trail,
        rules=rules,
        phase=phase,
        year=year,
        outcomes=outcomes,
        metrics=frame,
        indicator_columns=tuple(o.rule.id for o in indicator),
        bonus_columns=tuple(o.rule.id for o in bonus),
        deduction_columns=tuple(o.rule.id for o in deduction),
        missing_columns=tuple(dict.fromkeys(get.absent)),
        fold_weights=fold_weights,
        fold_values=fold_values,
        triggers=triggers,
        level=level,
    )


#: Trail columns, in order. ``inputs`` maps every metric a rule read to its value; ``value`` is
#: the figure judged and ``reference`` what it was compared with; ``amount`` the counted part of
#: a bonus or deduction; ``fold`` rows carry the weights and components in ``inputs``.
TRAIL_COLUMNS = [
    "xzqdm", "xzqmc", "phase", "year", "rule_id", "name", "kind", "clause", "status", "points", "max_points",
    "fraction", "fired", "missing", "not_applicable", "basis_mismatch", "metric", "value", "reference",
    "amount", "inputs", "evidence", "source",
]


def _build_trail(
    outcomes: Iterable[RuleOutcome],
    codes: np.ndarray,
    names: np.ndarray,
    phase: str,
    year: int | None,
    lookup: EvidenceLookup,
    clip_adjustment: np.ndarray,
    fold_adjustment: np.ndarray,
    rules: RuleSet,
    fold_weights: np.ndarray | None,
    fold_values: np.ndarray | None,
    phase_total: np.ndarray,
    triggers: pd.DataFrame,
) -> pd.DataFrame:
    n = len(codes)
    no = np.zeros(n, bool)
    parts = []
    for o in outcomes:
        r = o.rule
        inputs = [{m: _py(v[i]) for m, v in o.inputs.items()} for i in range(n)]
        evidence = [
            tuple(dict.fromkeys(e for m in r.metrics for e in lookup(codes[i], m))) for i in range(n)
        ]
        if r.kind in WEIGHTED_KINDS:
            max_points = r.points
        elif r.kind in ADJUSTMENT_KINDS:
            max_points = r.cap if r.kind == "bonus" else -r.cap
        else:
            max_points = 0.0
        parts.append(pd.DataFrame({
            "xzqdm": codes, "xzqmc": names, "rule_id": r.id, "name": r.name, "kind": r.kind,
            "clause": r.clause, "status": o.status, "points": o.points, "max_points": max_points,
            "fraction": o.fraction, "fired": o.fired if r.kind in GATE_KINDS else o.points != 0,
            "missing": o.missing, "not_applicable": no if o.not_applicable is None else o.not_applicable,
            "basis_mismatch": no if o.basis_mismatch is None else o.basis_mismatch,
            "metric": r.metric, "value": o.value, "reference": o.reference, "amount": o.amount,
            "inputs": inputs, "evidence": evidence, "source": r.source,
        }))
    clipped = np.abs(clip_adjustment) > 0
    if clipped.any():
        idx = np.flatnonzero(clipped)
        parts.append(_special_rows(
            codes[idx], names[idx], "CLIP", "clip", "第七条（满分为100分）", clip_adjustment[idx],
            [{"raw_total": _py(phase_total[i] - clip_adjustment[i]), "phase_total": _py(phase_total[i]),
              "full_marks": rules.full_marks} for i in idx],
        ))
    if rules.fold is not None:
        parts.append(_special_rows(
            codes, names, "FOLD", "fold", rules.fold.clause, fold_adjustment,
            [{"phase_total": _py(phase_total[i]), "annual_mean": _py(fold_values[i, 0]),
              "midterm_total": _py(fold_values[i, 1]), "weight_final": _py(fold_weights[i, 0]),
              "weight_annual_mean": _py(fold_weights[i, 1]), "weight_midterm": _py(fold_weights[i, 2])}
             for i in range(n)],
        ))
    if len(triggers):
        name_of = dict(zip(codes, names, strict=True))
        m = len(triggers)
        parts.append(pd.DataFrame({
            "xzqdm": triggers["xzqdm"].to_numpy(object), "xzqmc": [name_of[c] for c in triggers["xzqdm"]],
            "rule_id": (triggers["code"] + "@" + triggers["year"].astype(str)).to_numpy(object),
            "name": triggers["label"].to_numpy(object), "kind": triggers["kind"].to_numpy(object),
            "clause": np.where(triggers["kind"] == "trigger", "聊政发〔2018〕34号 四（三）", "第六条、第十四条"),
            "status": np.where(triggers["kind"] == "trigger", "触发（不计分）", "待核实"),
            "points": 0.0, "max_points": np.nan, "fraction": np.nan, "fired": True, "missing": False,
            "not_applicable": False, "basis_mismatch": False, "metric": "", "value": np.nan,
            "reference": np.nan, "amount": np.nan, "inputs": list(triggers["details"]),
            "evidence": list(triggers["evidence"]), "source": [""] * m,
        }))
    trail = pd.concat(parts, ignore_index=True)
    trail.insert(2, "phase", phase)
    trail.insert(3, "year", pd.array([year] * len(trail), dtype="Int64"))
    return trail[TRAIL_COLUMNS]


def _special_rows(codes, names, rule_id, kind, clause, points, inputs) -> pd.DataFrame:
    m = len(codes)
    return pd.DataFrame({
        "xzqdm": codes, "xzqmc": names, "rule_id": rule_id,
        "name": "总分截断" if kind == "clip" else "年度自查、期中检查结果纳入期末考核",
        "kind": kind, "clause": clause, "status": "调整", "points": points, "max_points": np.nan,
        "fraction": np.nan, "fired": np.abs(points) > 0, "missing": False, "not_applicable": False,
        "basis_mismatch": False, "metric": "", "value": np.nan, "reference": np.nan, "amount": np.nan,
        "inputs": inputs, "evidence": [() for _ in range(m)], "source": "",
    })


def _py(v: Any) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v
