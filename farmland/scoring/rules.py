"""Scoring rule sets: TOML files validated into frozen dataclasses.

The county method (聊政办发〔2018〕17号 第七条) fixes only the frame: a score out of 100, the
content list of each check (第八、十、十三条) and the consequences (第十七条). The indicator
table itself is left to the assessing departments "and adjusted as needed", so every weight,
threshold, bonus, deduction, veto, grade boundary and the folding of annual and mid-term results
into the final score lives in a TOML rule set (one shipped default per phase under
``farmland/scoring/data``), never in code. ``docs/rules.md`` explains how to write one.

Validation happens once, on load, and every problem names the rule, the key and the fix: a
rule set that loads is one the engine can apply without further checks.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from farmland.errors import RuleError, closest_match

__all__ = [
    "PHASES",
    "RULE_KINDS",
    "WEIGHTED_KINDS",
    "KNOWN_METRICS",
    "MetricInfo",
    "Band",
    "Rule",
    "Grade",
    "Outcome",
    "Outcomes",
    "BasisPolicy",
    "Fold",
    "RuleSet",
    "load_rules",
    "loads_rules",
    "default_rules_path",
    "metric_info",
    "known_metric_names",
]

PHASES = ("annual", "midterm", "final")
PHASE_LABELS = {"annual": "年度自查", "midterm": "期中检查", "final": "期末考核"}

#: Kinds whose ``points`` are a share of the 100 full marks (their weights must sum to 100).
WEIGHTED_KINDS = ("threshold", "proportional", "banded", "checklist")
#: Kinds that add to or subtract from the weighted sum, each capped.
ADJUSTMENT_KINDS = ("bonus", "deduction")
#: Kinds that award no points but act on the grade; only rule sets with [grades] may use them
#: (neither Liaocheng text has grades or vetoes: they belong to opt-in example rule sets).
GATE_KINDS = ("veto", "cap")
RULE_KINDS = WEIGHTED_KINDS + ADJUSTMENT_KINDS + GATE_KINDS

KIND_LABELS = {
    "threshold": "达标得分",
    "proportional": "按比例得分",
    "banded": "分档得分",
    "checklist": "检查项得分",
    "bonus": "加分",
    "deduction": "扣分",
    "veto": "否决",
    "cap": "限制评优",
}

OPERATORS = (">=", ">", "<=", "<", "==", "!=")

# Keys every rule may carry, and the keys each kind adds. Anything else is a typo and an error.
_COMMON_KEYS = {"id", "kind", "name", "clause", "source", "enabled", "note", "missing", "applies_when"}
_KIND_KEYS: dict[str, set[str]] = {
    "threshold": {"metric", "op", "value", "points"},
    "proportional": {"metric", "denominator", "zero_at", "full_at", "zero_denominator", "points"},
    "banded": {"metric", "bands", "points"},
    "checklist": {"metric", "points"},
    "bonus": {"metric", "per", "points_per", "cap", "above", "below", "rounding"},
    "deduction": {"metric", "per", "points_per", "cap", "above", "below", "rounding"},
    "veto": {"metric", "op", "value"},
    "cap": {"metric", "op", "value", "max_grade"},
}
_REQUIRED_KEYS: dict[str, set[str]] = {
    "threshold": {"metric", "op", "value", "points"},
    "proportional": {"metric", "points"},
    "banded": {"metric", "bands", "points"},
    "checklist": {"metric", "points"},
    "bonus": {"metric", "per", "points_per", "cap"},
    "deduction": {"metric", "per", "points_per", "cap"},
    "veto": {"metric", "op", "value"},
    "cap": {"metric", "op", "value"},
}
_TOP_KEYS = {"ruleset", "grades", "outcomes", "basis", "checklist", "fold", "rule"}
_RULESET_KEYS = {"name", "phase", "version", "description", "full_marks", "source", "points_label", "example"}
_OUTCOME_KEYS = {"label", "text", "clause", "triggers", "no_triggers", "min_total", "top_n", "grades"}
_OUTCOMES_KEYS = {"default", "text", "clause"}
_BASIS_KEYS = {"policy", "method", "arable_factor", "basic_farmland_factor"}
BASIS_POLICIES = ("compare", "rebase", "no_verdict")

#: The accountability triggers of 聊政发〔2018〕34号 四(三), as the score outputs name them.
TRIGGER_LABELS = {
    "arable_below_target": "未完成耕地保有量目标任务",
    "bf_below_target": "未完成永久基本农田保护面积目标任务",
    "illegal_ratio_15": "年度内违法占用耕地面积占新增建设用地占用耕地总面积的比例达到15%",
    "supervision": "被省级以上挂牌督办、警示约谈、公开通报",
    "major_case": "发生重大违法案件",
}

#: Checklist items the method names (17号 第八、十、十三条 content lists); a rule set that scores
#: another item declares it in ``[checklist] items`` so a typo cannot silently score 0.
STANDARD_CHECKLIST_ITEMS = (
    "耕地质量保护与提升",
    "动态监测",
    "制度建设",
    "补充耕地统筹",
)
_FOLD_KEYS = {"final", "annual_mean", "midterm", "clause"}


@dataclass(frozen=True)
class MetricInfo:
    """What a metric measures: Chinese label and unit (``mu`` = 亩, ``ratio``, ``count`` …)."""

    label: str
    unit: str


#: Metrics the scoring stage may reference (the metrics ↔ scoring interface). Units as in
#: ``MetricsResult.table.unit``: mu = 亩, ratio / fraction dimensionless, t = tonnes.
KNOWN_METRICS: dict[str, MetricInfo] = {
    name: MetricInfo(label, unit)
    for name, label, unit in [
        ("arable_mu", "耕地面积", "mu"),
        ("arable_target_mu", "耕地保有量目标", "mu"),
        ("arable_attainment", "耕地保有量目标完成率", "ratio"),
        ("basic_farmland_mu", "永久基本农田面积", "mu"),
        ("basic_farmland_target_mu", "永久基本农田保护目标", "mu"),
        ("basic_farmland_attainment", "永久基本农田保护目标完成率", "ratio"),
        ("arable_change_mu", "耕地面积变化", "mu"),
        ("construction_on_arable_mu", "新增建设用地占用耕地", "mu"),
        ("illegal_arable_mu", "违法占用耕地", "mu"),
        ("illegal_ratio", "违法占用耕地比例", "ratio"),
        ("illegal_ratio_flag", "违法占用耕地比例达到15%", "flag"),
        ("derived_construction_on_arable_mu", "变更调查推算的新增建设占用耕地", "mu"),
        ("derived_illegal_arable_mu", "变更调查推算的违法占用耕地", "mu"),
        ("derived_illegal_ratio", "变更调查推算的违法占用耕地比例", "ratio"),
        ("hsf_built_mu", "高标准农田建成面积", "mu"),
        ("hsf_task_mu", "高标准农田建设任务", "mu"),
        ("hsf_completion", "高标准农田建设任务完成率", "ratio"),
        ("occupied_mu", "占用耕地", "mu"),
        ("supplemented_mu", "补充耕地", "mu"),
        ("balance_mu", "占补平衡结余", "mu"),
        ("mean_quality_grade", "耕地平均质量等别", "grade"),
        ("arable_margin_mu", "耕地面积超出保有量目标", "mu"),
        ("basic_farmland_margin_mu", "永久基本农田面积超出保护目标", "mu"),
        ("paddy_occupied_mu", "占用水田", "mu"),
        ("paddy_supplemented_mu", "补充水田", "mu"),
        ("paddy_balance_mu", "水田占补结余", "mu"),
        ("grain_capacity_occupied_t", "占用耕地粮食产能", "t"),
        ("grain_capacity_supplemented_t", "补充耕地粮食产能", "t"),
        ("grain_capacity_balance_t", "粮食产能占补结余", "t"),
        ("supplemented_upper_level_mu", "上级统筹及跨县易地补充耕地", "mu"),
        ("bf_occupied_mu", "永久基本农田占用", "mu"),
        ("bf_redesignated_mu", "永久基本农田补划", "mu"),
        ("bf_balance_mu", "永久基本农田补划结余", "mu"),
        ("arable_loss_construction_legal_mu", "依法建设占用减少耕地", "mu"),
        ("arable_loss_construction_illegal_mu", "违法建设占用减少耕地", "mu"),
        ("arable_loss_ecological_mu", "生态退耕减少耕地", "mu"),
        ("arable_loss_restructuring_mu", "农业结构调整减少耕地", "mu"),
        ("arable_loss_other_mu", "其他原因减少耕地", "mu"),
        ("arable_gain_mu", "耕地增加", "mu"),
        ("ledger_residual_mu", "耕地增减台账差额", "mu"),
        ("landcover_cropland_mu", "遥感监测耕地", "mu"),
        ("landcover_built_mu", "遥感监测建设用地", "mu"),
        ("events_count", "问责事件", "count"),
        ("events_supervised_count", "挂牌督办", "count"),
        ("events_interview_count", "警示约谈", "count"),
        ("events_public_notice_count", "公开通报", "count"),
        ("events_major_case_count", "重大违法案件", "count"),
        ("events_provincial_count", "省级以上问责事件", "count"),
        ("events_provincial_supervised_count", "省级以上挂牌督办", "count"),
        ("events_provincial_interview_count", "省级以上警示约谈", "count"),
        ("events_provincial_public_notice_count", "省级以上公开通报", "count"),
        ("illegal_rectified_mu", "已整改违法占用耕地", "mu"),
        ("illegal_ratio_rectified", "扣除已整改后的违法占用耕地比例", "ratio"),
        ("derived_illegal_ratio_flag", "变更调查推算的违法占用耕地比例达到15%", "flag"),
        ("illegal_ratio_disagreement", "上报与推算的违法占用耕地比例不一致", "flag"),
        ("arable_basis_mismatch", "耕地目标与面积调查口径不一致", "flag"),
        ("basic_farmland_basis_mismatch", "永久基本农田目标与面积调查口径不一致", "flag"),
        ("upper_level_involved", "涉及补充耕地上级统筹或跨县易地占补", "flag"),
    ]
}
CHECKLIST_PREFIX = "checklist."
LANDCOVER_CLASS_PREFIX = "landcover."  # further [landcover] classes, in 亩


@functools.cache
def _catalogue_extras() -> dict[str, MetricInfo]:
    """Metrics the metrics stage emits beyond the fixed interface (e.g. 聊政发〔2018〕34号 checks).

    Read from ``farmland.metrics.catalogue`` when it is importable, so a rule set may use any
    metric the metrics stage computes; the interface list above stays the floor, so scoring
    does not depend on the metrics package being present.
    """
    try:
        from farmland.metrics.catalogue import METRICS
    except ImportError:
        return {}
    return {
        name: MetricInfo(m.label, m.unit) for name, m in METRICS.items() if name not in KNOWN_METRICS
    }


def metric_info(name: str) -> MetricInfo:
    """Label and unit of a metric; ``checklist.<item>`` metrics are fractions named by the item."""
    if name in KNOWN_METRICS:
        return KNOWN_METRICS[name]
    if name.startswith(CHECKLIST_PREFIX) and len(name) > len(CHECKLIST_PREFIX):
        return MetricInfo(f"检查项“{name[len(CHECKLIST_PREFIX):]}”完成程度", "fraction")
    if name.startswith(LANDCOVER_CLASS_PREFIX) and len(name) > len(LANDCOVER_CLASS_PREFIX):
        return MetricInfo(f"遥感监测“{name[len(LANDCOVER_CLASS_PREFIX):]}”面积", "mu")
    return _catalogue_extras().get(name, MetricInfo(name, ""))


def _is_known_metric(name: str) -> bool:
    return (
        name in KNOWN_METRICS
        or any(name.startswith(p) and len(name) > len(p) for p in (CHECKLIST_PREFIX, LANDCOVER_CLASS_PREFIX))
        or name in _catalogue_extras()
    )


def known_metric_names() -> tuple[str, ...]:
    """Every metric name a rule may use (besides ``checklist.<item>``)."""
    return (*KNOWN_METRICS, *_catalogue_extras())


@dataclass(frozen=True)
class Band:
    """One band of a ``banded`` rule: ``points`` when the metric is ≥ ``min`` (or ≤ ``max``)."""

    bound: float
    points: float

    def __repr__(self) -> str:
        return f"Band({self.bound:g} → {self.points:g})"


@dataclass(frozen=True, repr=False)
class Rule:
    """One scoring rule, as validated from a ``[[rule]]`` table.

    Only the fields of its ``kind`` are set; the others keep their defaults. Threshold-like
    comparisons (``metric op value``) take ``value`` as a number or as another metric's name,
    e.g. ``arable_mu >= arable_target_mu``. Points are in 分 (out of 100); areas in 亩.
    """

    id: str
    kind: str
    name: str
    clause: str
    source: str
    metric: str
    enabled: bool = True
    note: str = ""
    missing: str = "zero"  # "zero": 数据缺失 → 0 points / gate not fired; "full": 不涉及 → full
    points: float | None = None
    op: str | None = None
    value: float | str | None = None
    denominator: str | None = None
    zero_at: float = 0.0
    full_at: float = 1.0
    zero_denominator: str = "missing"
    bands: tuple[Band, ...] = ()
    band_side: str = "min"  # "min": higher is better; "max": lower is better
    per: float | None = None
    points_per: float | None = None
    cap: float | None = None
    above: float | str | None = None
    below: float | str | None = None
    rounding: str = "floor"
    max_grade: str | None = None
    applies_when: str | None = None  # a 0/1 metric: where 0 the rule does not apply (不涉及, full)

    @property
    def weighted(self) -> bool:
        """True for kinds whose ``points`` count towards the 100 full marks."""
        return self.kind in WEIGHTED_KINDS

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric this rule reads (for evidence and missing-data checks)."""
        names = [self.metric]
        for extra in (self.denominator, self.value, self.above, self.below, self.applies_when):
            if isinstance(extra, str):
                names.append(extra)
        return tuple(dict.fromkeys(names))

    def __repr__(self) -> str:
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        shown = []
        for f in dataclasses.fields(self):
            if f.name in ("name", "clause", "source", "note"):
                continue
            value = getattr(self, f.name)
            if f.name in ("id", "kind", "metric") or value != defaults[f.name]:
                shown.append(f"{f.name}={value!r}")
        return f"Rule({', '.join(shown)})"


@dataclass(frozen=True)
class Grade:
    """A grade and its inclusive lower bound in points (docs/background.md §4.4(d))."""

    name: str
    min_points: float


@dataclass(frozen=True)
class Outcome:
    """One outcome a unit can receive, and when (第九、十二、十七条).

    All criteria given must hold: ``triggers`` (any of these 34号 triggers occurred in the span),
    ``no_triggers`` (none occurred), ``min_total`` (total ≥ this, in 分), ``top_n`` (rank ≤ n),
    ``grades`` (one of these grades; only in rule sets with grades). The first outcome whose
    criteria hold wins, in file order.
    """

    key: str
    label: str
    text: str
    clause: str = ""
    triggers: tuple[str, ...] = ()
    no_triggers: bool = False
    min_total: float | None = None
    top_n: int = 0
    grades: tuple[str, ...] = ()

    def criteria_text(self, points_label: str = "") -> str:
        """The criteria in Chinese, as printed on every card."""
        parts = []
        if self.triggers:
            names = "、".join(TRIGGER_LABELS[t] for t in self.triggers)
            parts.append(f"考核期内出现聊政发〔2018〕34号 四（三）所列情形之一（{names}）")
        if self.no_triggers:
            parts.append("考核期内未出现聊政发〔2018〕34号 四（三）所列情形")
        if self.min_total is not None:
            label = f"（{points_label}）" if points_label else ""
            parts.append(f"总分不低于 {self.min_total:g} 分{label}")
        if self.top_n:
            parts.append(f"排名前 {self.top_n} 名")
        if self.grades:
            parts.append(f"等次为{'、'.join(self.grades)}")
        when = "且".join(parts) if parts else "所有单位"
        clause = f"（{self.clause}）" if self.clause else ""
        return f"{self.label}：{when}{clause}"


@dataclass(frozen=True)
class Outcomes:
    """The outcomes of a phase: ``default`` for every unit no listed outcome matches.

    The method's defaults: the annual self-check and the mid-term check are reported (通报) and
    folded into the final (第九、十二条); only the final praises (表扬, 成效突出) or orders
    rectification (整改, 问题突出) with approvals suspended (第十七条).
    """

    default: str = ""
    text: str = ""
    clause: str = ""
    listed: tuple[Outcome, ...] = ()

    def criteria_lines(self, points_label: str = "") -> tuple[str, ...]:
        lines = [o.criteria_text(points_label) for o in self.listed]
        if self.default:
            rest = "其余单位" if self.listed else "所有单位"
            clause = f"（{self.clause}）" if self.clause else ""
            lines.append(f"{self.default}：{rest}{clause}")
        return tuple(lines)


@dataclass(frozen=True)
class BasisPolicy:
    """What to do when a target set on one survey basis (口径) meets an area on the other.

    ``compare`` (default): compare and mark ``basis_mismatch``; ``rebase``: multiply the target
    by a stated factor (``method`` says where it comes from) and mark; ``no_verdict``: the rule
    gives no verdict for that unit (scored as its ``missing`` policy) and no target trigger.
    """

    policy: str = "compare"
    method: str = ""
    arable_factor: float = 1.0
    basic_farmland_factor: float = 1.0


@dataclass(frozen=True)
class Fold:
    """Weights folding earlier results into the final score (第九、十二条 “纳入期末考核”).

    ``final`` weighs the final-phase score itself, ``annual_mean`` the mean of the annual
    self-check totals and ``midterm`` the mid-term total; they sum to 1. A component a county
    lacks is dropped and the remaining weights are rescaled to sum to 1.
    """

    final: float
    annual_mean: float
    midterm: float
    clause: str = "第九条、第十二条"


@dataclass(frozen=True, repr=False)
class RuleSet:
    """A validated rule set for one phase. Load it with :func:`load_rules`."""

    name: str
    phase: str
    version: str
    rules: tuple[Rule, ...]
    grades: tuple[Grade, ...] = ()
    outcomes: Outcomes = Outcomes()
    basis: BasisPolicy = BasisPolicy()
    fold: Fold | None = None
    full_marks: float = 100.0
    description: str = ""
    points_label: str = "建议值"
    example: str = ""  # non-empty: an opt-in example, e.g. "非本办法规定", shown wherever it is used
    checklist_items: tuple[str, ...] = STANDARD_CHECKLIST_ITEMS
    origin: str = "<string>"
    sha256: str = ""

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError naming the known ids otherwise)."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"no rule {rule_id!r} in {self.name!r}; rules: {', '.join(self.ids)}")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    @property
    def enabled(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def of_kind(self, *kinds: str) -> tuple[Rule, ...]:
        """Enabled rules of the given kinds, in file order."""
        return tuple(r for r in self.rules if r.enabled and r.kind in kinds)

    @property
    def fail_grade(self) -> str | None:
        """The lowest grade, forced by a veto (不合格); None in a rule set without grades."""
        return self.grades[-1].name if self.grades else None

    @property
    def title(self) -> str:
        """Name, version and the labels a reader must see: 建议值, an example's 非本办法规定."""
        text = f"{self.name}（版本 {self.version}）" if self.version else self.name
        if self.points_label:
            text += f"；分值为{self.points_label}"
        if self.example:
            text += f"；示例规则集，{self.example}"
        return text

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric an enabled rule reads."""
        return tuple(dict.fromkeys(m for r in self.enabled for m in r.metrics))

    def replace(self, rule_id: str, **changes: Any) -> RuleSet:
        """A copy with one rule's fields changed (re-validated: the copy must still be sound)."""
        self.rule(rule_id)  # KeyError naming the known ids
        rules = tuple(dataclasses.replace(r, **changes) if r.id == rule_id else r for r in self.rules)
        new = dataclasses.replace(self, rules=rules, sha256="")
        _check_weights(new)
        return new

    def __repr__(self) -> str:
        counts = {k: len(self.of_kind(k)) for k in RULE_KINDS}
        kinds = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        lines = [
            f"RuleSet({self.name!r}, phase={self.phase!r}, version={self.version!r}, "
            f"{len(self.enabled)} enabled rules: {kinds})"
        ]
        for r in self.rules:
            if r.kind in WEIGHTED_KINDS:
                pts = f"{r.points:g} pts"
            elif r.kind in ADJUSTMENT_KINDS:
                sign = "+" if r.kind == "bonus" else "−"
                pts = f"{sign}{r.points_per:g} per {r.per:g}, cap {r.cap:g}"
            else:
                pts = f"{r.op} {r.value}"
            flag = "" if r.enabled else " (disabled)"
            lines.append(f"  {r.id:<24} {r.kind:<12} {r.metric:<30} {pts}{flag}")
        if self.grades:
            grades = ", ".join(f"{g.name}≥{g.min_points:g}" for g in self.grades)
            lines.append(f"  grades: {grades}")
        for line in self.outcomes.criteria_lines(self.points_label):
            lines.append(f"  outcome {line}")
        if self.fold:
            f = self.fold
            lines.append(
                f"  fold: final {f.final:g}, annual_mean {f.annual_mean:g}, midterm {f.midterm:g}"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# loading


def default_rules_path(phase: str) -> Path:
    """Path of the shipped default rule set for ``phase`` (annual, midterm, final)."""
    if phase not in PHASES:
        raise RuleError(f"unknown phase {phase!r}; use one of {', '.join(PHASES)}")
    return Path(str(resources.files("farmland.scoring") / "data" / f"{phase}.toml"))


def load_rules(path: str | Path | None = None, phase: str | None = None) -> RuleSet:
    """Load and validate a scoring rule set.

    Parameters
    ----------
    path : str or Path, optional
        A rule-set TOML file. When omitted, the shipped default for ``phase`` is loaded.
    phase : {"annual", "midterm", "final"}, optional
        The phase wanted. Default ``"annual"`` when ``path`` is omitted; when both are
        given, the file's ``[ruleset] phase`` must match it.

    Returns
    -------
    RuleSet

    Raises
    ------
    RuleError
        On unreadable TOML, unknown keys, unknown metrics, missing or inconsistent weights,
        bad grades or fold weights — the message names the rule and the fix.
    """
    if path is None:
        path = default_rules_path(phase or "annual")
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleError(f"cannot read rule set {path}: {exc.strerror or exc}") from exc
    rules = loads_rules(raw.decode("utf-8-sig"), origin=str(path))
    if phase is not None and rules.phase != phase:
        raise RuleError(
            f"{path}: rule set is for phase {rules.phase!r} but phase {phase!r} was asked for; "
            f"pass the matching --phase or fix [ruleset] phase"
        )
    return rules


def loads_rules(text: str, *, origin: str = "<string>") -> RuleSet:
    """Validate a rule set given as TOML text (see :func:`load_rules`)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{origin}: not valid TOML: {exc}") from exc
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return _build(doc, origin=origin, sha256=sha)


def _suggest(word: str, choices) -> str:
    match = closest_match(word, choices)
    return f" (did you mean {match!r}?)" if match else ""


def _unknown_keys(where: str, keys, allowed: set[str], origin: str) -> None:
    unknown = [k for k in keys if k not in allowed]
    if unknown:
        k = unknown[0]
        raise RuleError(
            f"{origin}: {where}: unknown key {k!r}{_suggest(k, allowed)}; "
            f"allowed keys: {', '.join(sorted(allowed))}"
        )


def _number(where: str, key: str, value: Any, origin: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RuleError(f"{origin}: {where}: {key!r} must be a finite number, got {value!r}")
    return float(value)


def _number_or_metric(where: str, key: str, value: Any, origin: str) -> float | str:
    if isinstance(value, str):
        if not _is_known_metric(value):
            raise RuleError(
                f"{origin}: {where}: {key!r} names unknown metric {value!r}"
                f"{_suggest(value, known_metric_names())}; give a number or a known metric name"
            )
        return value
    return _number(where, key, value, origin)


_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def _build_rule(raw: Mapping[str, Any], index: int, grade_names: tuple[str, ...], origin: str) -> Rule:
    rid = raw.get("id")
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        raise RuleError(
            f"{origin}: rule #{index + 1} has no valid 'id' (got {rid!r}); give each [[rule]] an "
            f"id of letters, digits and '-', e.g. id = \"R-ARABLE-TARGET\""
        )
    where = f"rule {rid}"
    kind = raw.get("kind")
    if kind not in RULE_KINDS:
        raise RuleError(
            f"{origin}: {where}: unknown kind {kind!r}{_suggest(str(kind), RULE_KINDS)}; "
            f"kinds: {', '.join(RULE_KINDS)}"
        )
    allowed = _COMMON_KEYS | _KIND_KEYS[kind]
    _unknown_keys(f"{where} ({kind})", raw.keys(), allowed, origin)
    for key in sorted(_REQUIRED_KEYS[kind] | {"clause", "source"}):
        if key not in raw:
            what = "weight" if key == "points" else "key"
            raise RuleError(
                f"{origin}: {where} ({kind}) has no {key!r} {what}; every {kind} rule needs "
                f"{', '.join(sorted(_REQUIRED_KEYS[kind]))} plus 'clause' and 'source'"
            )
    for key in ("name", "clause", "source", "note"):
        if key in raw and not isinstance(raw[key], str):
            raise RuleError(f"{origin}: {where}: {key!r} must be text")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"{origin}: {where}: 'enabled' must be true or false, got {enabled!r}")

    metric = raw["metric"]
    if not isinstance(metric, str) or not _is_known_metric(metric):
        raise RuleError(
            f"{origin}: {where}: unknown metric {metric!r}{_suggest(str(metric), known_metric_names())}; "
            f"use a metric of the metrics interface or checklist.<item>"
        )
    missing = raw.get("missing", "zero")
    if missing not in ("zero", "full"):
        raise RuleError(f"{origin}: {where}: 'missing' must be \"zero\" or \"full\", got {missing!r}")
    if kind in GATE_KINDS and not grade_names:
        raise RuleError(
            f"{origin}: {where}: a {kind} rule acts on the grade, but the rule set has no [grades]; "
            f"add [grades] (an example rule set, not the method's: neither 17号 nor 34号 has grades "
            f"or vetoes) or remove the rule"
        )
    applies_when = raw.get("applies_when")
    if applies_when is not None:
        if kind not in WEIGHTED_KINDS:
            raise RuleError(f"{origin}: {where}: 'applies_when' is for indicator rules ({', '.join(WEIGHTED_KINDS)})")
        if not isinstance(applies_when, str) or not _is_known_metric(applies_when):
            raise RuleError(
                f"{origin}: {where}: 'applies_when' names unknown metric {applies_when!r}"
                f"{_suggest(str(applies_when), known_metric_names())}; give a 0/1 metric such as "
                f"\"upper_level_involved\""
            )

    kw: dict[str, Any] = dict(
        id=rid,
        kind=kind,
        name=raw.get("name", rid),
        clause=raw["clause"],
        source=raw["source"],
        metric=metric,
        enabled=enabled,
        note=raw.get("note", ""),
        missing=missing,
        applies_when=applies_when,
    )
    if "points" in raw:
        kw["points"] = _number(where, "points", raw["points"], origin)
        if kw["points"] <= 0:
            raise RuleError(f"{origin}: {where}: 'points' (weight) must be > 0, got {raw['points']!r}")
    if "op" in raw:
        if raw["op"] not in OPERATORS:
            raise RuleError(
                f"{origin}: {where}: 'op' must be one of {' '.join(OPERATORS)}, got {raw['op']!r}"
            )
        kw["op"] = raw["op"]
    if "value" in raw:
        kw["value"] = _number_or_metric(where, "value", raw["value"], origin)

    if kind == "checklist" and not metric.startswith(CHECKLIST_PREFIX):
        raise RuleError(
            f"{origin}: {where}: a checklist rule reads a checklist.<item> metric (a fraction), "
            f"not {metric!r}; use kind = \"proportional\" for other ratios"
        )
    if kind == "proportional":
        if "denominator" in raw:
            den = raw["denominator"]
            if not isinstance(den, str) or not _is_known_metric(den):
                raise RuleError(
                    f"{origin}: {where}: unknown denominator metric {den!r}"
                    f"{_suggest(str(den), known_metric_names())}"
                )
            kw["denominator"] = den
        kw["zero_at"] = _number(where, "zero_at", raw.get("zero_at", 0.0), origin)
        kw["full_at"] = _number(where, "full_at", raw.get("full_at", 1.0), origin)
        if kw["zero_at"] == kw["full_at"]:
            raise RuleError(f"{origin}: {where}: 'zero_at' and 'full_at' must differ")
        zd = raw.get("zero_denominator", "missing")
        if zd not in ("missing", "full", "zero"):
            raise RuleError(
                f"{origin}: {where}: 'zero_denominator' must be \"missing\", \"full\" or \"zero\", "
                f"got {zd!r}"
            )
        kw["zero_denominator"] = zd
    if kind == "banded":
        kw["bands"], kw["band_side"] = _build_bands(where, raw["bands"], kw["points"], origin)
    if kind in ADJUSTMENT_KINDS:
        for key in ("per", "points_per", "cap"):
            kw[key] = _number(where, key, raw[key], origin)
            if kw[key] <= 0:
                raise RuleError(f"{origin}: {where}: {key!r} must be > 0, got {raw[key]!r}")
        if "above" in raw and "below" in raw:
            raise RuleError(
                f"{origin}: {where}: give 'above' (count the amount over it) or 'below' (count the "
                f"shortfall under it), not both"
            )
        for key in ("above", "below"):
            if key in raw:
                kw[key] = _number_or_metric(where, key, raw[key], origin)
        rounding = raw.get("rounding", "floor")
        if rounding not in ("floor", "ceil", "none"):
            raise RuleError(
                f"{origin}: {where}: 'rounding' must be \"floor\" (whole steps), \"ceil\" (a part "
                f"step counts as one) or \"none\" (pro rata), got {rounding!r}"
            )
        kw["rounding"] = rounding
    if kind == "cap":
        max_grade = raw.get("max_grade", grade_names[1] if len(grade_names) > 1 else None)
        if max_grade not in grade_names:
            raise RuleError(
                f"{origin}: {where}: 'max_grade' {max_grade!r} is not a grade; grades: "
                f"{', '.join(grade_names)}"
            )
        kw["max_grade"] = max_grade
    return Rule(**kw)


def _build_bands(where: str, bands: Any, points: float, origin: str) -> tuple[tuple[Band, ...], str]:
    if not isinstance(bands, list) or not bands:
        raise RuleError(
            f"{origin}: {where}: 'bands' must be a non-empty list like "
            f"[{{min = 1.0, points = 10}}, {{min = 0.9, points = 6}}]"
        )
    sides = set()
    out = []
    for b in bands:
        if not isinstance(b, dict):
            raise RuleError(f"{origin}: {where}: each band is a table {{min|max = x, points = p}}")
        _unknown_keys(f"{where} band", b.keys(), {"min", "max", "points"}, origin)
        side = [k for k in ("min", "max") if k in b]
        if len(side) != 1 or "points" not in b:
            raise RuleError(
                f"{origin}: {where}: each band needs exactly one of 'min'/'max' and 'points', got {b!r}"
            )
        sides.add(side[0])
        out.append(
            Band(
                _number(where, side[0], b[side[0]], origin),
                _number(where, "band points", b["points"], origin),
            )
        )
    if len(sides) != 1:
        raise RuleError(f"{origin}: {where}: bands mix 'min' and 'max'; use one side for all bands")
    side = sides.pop()
    # Best band first: for "min" the highest lower bound, for "max" the lowest upper bound.
    out.sort(key=lambda b: -b.bound if side == "min" else b.bound)
    bounds = [b.bound for b in out]
    if len(set(bounds)) != len(bounds):
        raise RuleError(f"{origin}: {where}: two bands share the bound {bounds}")
    pts = [b.points for b in out]
    if any(p < 0 or p > points for p in pts):
        raise RuleError(f"{origin}: {where}: band points must lie in [0, points={points:g}], got {pts}")
    if any(a < b for a, b in zip(pts, pts[1:])):
        raise RuleError(f"{origin}: {where}: a better band must not earn fewer points: {pts}")
    if pts[0] != points:
        raise RuleError(
            f"{origin}: {where}: the best band earns {pts[0]:g} but the rule's weight is "
            f"{points:g}; make them equal so full marks are reachable"
        )
    return tuple(out), side


def _build_grades(raw: Any, origin: str) -> tuple[Grade, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or len(raw) < 2:
        raise RuleError(f"{origin}: [grades] must map at least two grade names to lower bounds")
    grades = [Grade(str(k), _number(f"grade {k}", "lower bound", v, origin)) for k, v in raw.items()]
    mins = [g.min_points for g in grades]
    if any(a <= b for a, b in zip(mins, mins[1:])):
        listed = ", ".join(f"{g.name} = {g.min_points:g}" for g in grades)
        raise RuleError(
            f"{origin}: [grades]: list the grades best first with falling lower bounds (got {listed}); "
            f"two grades may not share a bound"
        )
    if grades[-1].min_points != 0:
        raise RuleError(
            f"{origin}: [grades]: the lowest grade ({grades[-1].name}) must start at 0 so every "
            f"total has a grade; it starts at {grades[-1].min_points:g}"
        )
    return tuple(grades)


def _text(where: str, key: str, value: Any, origin: str) -> str:
    if not isinstance(value, str):
        raise RuleError(f"{origin}: {where}: {key!r} must be text, got {type(value).__name__} {value!r}")
    return value


def _build_outcomes(raw: Any, phase: str, grade_names: tuple[str, ...], origin: str) -> Outcomes:
    if raw is None:
        return Outcomes()
    if not isinstance(raw, dict):
        raise RuleError(f"{origin}: [outcomes] must be a table")
    scalars = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in raw.items() if isinstance(v, dict)}
    _unknown_keys("[outcomes]", scalars.keys(), _OUTCOMES_KEYS, origin)
    listed = []
    for key, c in tables.items():
        where = f"[outcomes.{key}]"
        _unknown_keys(where, c.keys(), _OUTCOME_KEYS, origin)
        for req in ("label", "text"):
            if req not in c:
                raise RuleError(f"{origin}: {where} has no {req!r}")
        triggers = c.get("triggers", [])
        if not isinstance(triggers, list) or any(t not in TRIGGER_LABELS for t in triggers):
            bad = [t for t in triggers if t not in TRIGGER_LABELS] if isinstance(triggers, list) else [triggers]
            raise RuleError(
                f"{origin}: {where}: unknown trigger {bad[0]!r}{_suggest(str(bad[0]), TRIGGER_LABELS)}; "
                f"triggers: {', '.join(TRIGGER_LABELS)}"
            )
        no_triggers = c.get("no_triggers", False)
        if not isinstance(no_triggers, bool):
            raise RuleError(f"{origin}: {where}: 'no_triggers' must be true or false")
        if triggers and no_triggers:
            raise RuleError(f"{origin}: {where}: 'triggers' and 'no_triggers' exclude each other")
        grades = c.get("grades", [])
        if not isinstance(grades, list) or any(g not in grade_names for g in grades):
            known = ", ".join(grade_names) or "none: the rule set has no [grades]"
            raise RuleError(f"{origin}: {where}: 'grades' must list grades of [grades] ({known}), got {grades!r}")
        top_n = c.get("top_n", 0)
        if not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 0:
            raise RuleError(f"{origin}: {where}: 'top_n' must be a whole number ≥ 0")
        min_total = c.get("min_total")
        if min_total is not None:
            min_total = _number(where, "min_total", min_total, origin)
        listed.append(Outcome(
            key, _text(where, "label", c["label"], origin), _text(where, "text", c["text"], origin),
            _text(where, "clause", c.get("clause", ""), origin), tuple(triggers), no_triggers, min_total,
            top_n, tuple(grades),
        ))
    if listed and phase != "final":
        # 第九、十二条: the annual and mid-term results are reported and folded into the final;
        # 第十七条 (表扬 / 整改 with approvals suspended) follows the final only.
        raise RuleError(
            f"{origin}: [outcomes.{listed[0].key}]: only a final rule set may list outcomes "
            f"(第十七条 follows the final assessment); give the {phase} phase a 'default' such as \"通报\""
        )
    return Outcomes(
        default=_text("[outcomes]", "default", scalars.get("default", ""), origin),
        text=_text("[outcomes]", "text", scalars.get("text", ""), origin),
        clause=_text("[outcomes]", "clause", scalars.get("clause", ""), origin),
        listed=tuple(listed),
    )


def _build_basis(raw: Any, origin: str) -> BasisPolicy:
    if raw is None:
        return BasisPolicy()
    if not isinstance(raw, dict):
        raise RuleError(f"{origin}: [basis] must be a table")
    _unknown_keys("[basis]", raw.keys(), _BASIS_KEYS, origin)
    policy = raw.get("policy", "compare")
    if policy not in BASIS_POLICIES:
        raise RuleError(f"{origin}: [basis] policy must be one of {', '.join(BASIS_POLICIES)}, got {policy!r}")
    method = _text("[basis]", "method", raw.get("method", ""), origin)
    factors = {k: _number("[basis]", k, raw.get(k, 1.0), origin) for k in ("arable_factor", "basic_farmland_factor")}
    if policy == "rebase" and not method:
        raise RuleError(
            f"{origin}: [basis] policy = \"rebase\" needs 'method': say where the factors come from "
            f"(e.g. the 二调→三调 conversion the province published)"
        )
    if any(f <= 0 for f in factors.values()):
        raise RuleError(f"{origin}: [basis]: factors must be > 0, got {factors}")
    return BasisPolicy(policy, method, **factors)


def _build_checklist(raw: Any, origin: str) -> tuple[str, ...]:
    if raw is None:
        return STANDARD_CHECKLIST_ITEMS
    if not isinstance(raw, dict):
        raise RuleError(f"{origin}: [checklist] must be a table like items = [\"耕地保护宣传\"]")
    _unknown_keys("[checklist]", raw.keys(), {"items"}, origin)
    items = raw.get("items", [])
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise RuleError(f"{origin}: [checklist] items must be a list of item names")
    return tuple(dict.fromkeys((*STANDARD_CHECKLIST_ITEMS, *items)))


def _check_checklist_items(rules: tuple[Rule, ...], items: tuple[str, ...], origin: str) -> None:
    for r in rules:
        for metric in r.metrics:
            if metric.startswith(CHECKLIST_PREFIX) and metric[len(CHECKLIST_PREFIX):] not in items:
                item = metric[len(CHECKLIST_PREFIX):]
                raise RuleError(
                    f"{origin}: rule {r.id}: unknown checklist item {item!r}{_suggest(item, items)}; "
                    f"known items: {', '.join(items)}. A new item is declared in [checklist] items = [...]"
                )


def _build_fold(raw: Any, phase: str, origin: str) -> Fold | None:
    if raw is None:
        return None
    if phase != "final":
        raise RuleError(
            f"{origin}: [fold] folds annual and mid-term results into the final score; it is "
            f"only allowed in a final rule set, not in phase {phase!r}"
        )
    _unknown_keys("[fold]", raw.keys(), _FOLD_KEYS, origin)
    w = {k: _number("[fold]", k, raw.get(k, 0.0), origin) for k in ("final", "annual_mean", "midterm")}
    if any(v < 0 for v in w.values()) or w["final"] <= 0:
        raise RuleError(f"{origin}: [fold]: weights must be ≥ 0 and 'final' > 0, got {w}")
    if not math.isclose(sum(w.values()), 1.0, abs_tol=1e-9):
        raise RuleError(
            f"{origin}: [fold]: weights final {w['final']:g} + annual_mean {w['annual_mean']:g} + "
            f"midterm {w['midterm']:g} = {sum(w.values()):g}; they must sum to 1"
        )
    return Fold(clause=str(raw.get("clause", "第九条、第十二条")), **w)


def _check_weights(rs: RuleSet) -> None:
    weighted = [r for r in rs.rules if r.enabled and r.kind in WEIGHTED_KINDS]
    total = sum(r.points for r in weighted)
    if not math.isclose(total, rs.full_marks, abs_tol=1e-9):
        parts = " + ".join(f"{r.id} {r.points:g}" for r in weighted) or "nothing"
        raise RuleError(
            f"{rs.origin}: indicator weights sum to {total:g}, not {rs.full_marks:g}: {parts}; "
            f"adjust the 'points' of these rules (disabled rules do not count)"
        )


def _build(doc: dict[str, Any], *, origin: str, sha256: str) -> RuleSet:
    _unknown_keys("top level", doc.keys(), _TOP_KEYS, origin)
    meta = doc.get("ruleset", {})
    if not isinstance(meta, dict):
        raise RuleError(f"{origin}: [ruleset] must be a table")
    _unknown_keys("[ruleset]", meta.keys(), _RULESET_KEYS, origin)
    phase = meta.get("phase")
    if phase not in PHASES:
        raise RuleError(
            f"{origin}: [ruleset] phase must be one of {', '.join(PHASES)}, got {phase!r}"
        )
    grades = _build_grades(doc.get("grades"), origin)
    grade_names = tuple(g.name for g in grades)
    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError(f"{origin}: no [[rule]] tables; a rule set needs at least one rule")
    if not all(isinstance(r, dict) for r in raw_rules):
        raise RuleError(f"{origin}: every [[rule]] must be a table")
    rules = tuple(_build_rule(r, i, grade_names, origin) for i, r in enumerate(raw_rules))
    checklist_items = _build_checklist(doc.get("checklist"), origin)
    _check_checklist_items(rules, checklist_items, origin)
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise RuleError(f"{origin}: rule {r.id}: id used twice; rule ids must be unique")
        seen.add(r.id)
    rs = RuleSet(
        name=str(meta.get("name", Path(origin).stem)),
        phase=phase,
        version=str(meta.get("version", "")),
        rules=rules,
        grades=grades,
        outcomes=_build_outcomes(doc.get("outcomes"), phase, grade_names, origin),
        basis=_build_basis(doc.get("basis"), origin),
        fold=_build_fold(doc.get("fold"), phase, origin),
        full_marks=_number("[ruleset]", "full_marks", meta.get("full_marks", 100.0), origin),
        description=_text("[ruleset]", "description", meta.get("description", ""), origin),
        points_label=_text("[ruleset]", "points_label", meta.get("points_label", "建议值"), origin),
        example=_text("[ruleset]", "example", meta.get("example", ""), origin),
        checklist_items=checklist_items,
        origin=origin,
        sha256=sha256,
    )
    _check_weights(rs)
    return rs
