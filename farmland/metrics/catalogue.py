"""The metrics the toolkit computes: names, units of measure, survey basis and Chinese labels.

One table, read by the results table (unit and basis columns), by :meth:`MetricsResult.wide`
(column order: the data contract's output columns first) and by reports (Chinese labels). The
names and units are fixed by the metrics ↔ scoring interface (docs/data.md).

``basis`` says where a figure's survey basis (口径) comes from:

``dltb``
    the land-class codes of that year's DLTB snapshot (二调 3-digit → ``erdiao``, 三调 4-digit →
    ``sandiao``);
``bf``
    the basic-farmland layer (its DLBM codes when present, else the DLTB basis of the year);
``gxgc``
    the post-change codes (BGHDLBM) of that year's change records;
``target_arable``, ``target_bf``
    the basis of the target actually used (targets.csv ``basis``: a target on the stock's basis
    when there is one, else the other; without the column the targets are 二调, ``erdiao``);
``erdiao``
    fixed 二调 basis;
``supply``
    the basis of the land-supply rate (土地供应率): ``five_year`` (the ministry's basis: land
    approved in the last five years and the part of it supplied, CITYSTATS ``approved_5y_mu`` /
    ``supplied_5y_mu``) or ``same_year`` (that year's ``approved_mu`` / ``supplied_mu``, used
    when the five-year columns are absent or blank);
``gdp``
    the GDP of the per-GDP indicator: ``comparable`` (``gdp_comparable_100m_yuan``, at the base
    year's prices) or ``nominal`` (``gdp_100m_yuan``, used when the comparable column is absent
    or blank);
``""``
    not a survey area (counts, flags, project ledgers in 亩, remote sensing).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..schema import EVENT_KINDS

UNITS = ("mu", "ratio", "grade", "count", "flag", "t", "fraction")


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    basis: str
    label: str
    contract: bool = False
    """One of the data contract's output columns (docs/data.md, "Outputs")."""
    evidence_from: tuple[str, ...] = ()
    """Metrics whose evidence ids this one shows too (a flag derived from a ratio shows the
    ratio's features)."""


def _m(name, unit, basis, label, contract=False, evidence_from=()) -> Metric:
    assert unit in UNITS, unit
    return Metric(name, unit, basis, label, contract, tuple(evidence_from))


EVENT_METRICS = {
    "挂牌督办": "events_supervised_count",
    "警示约谈": "events_interview_count",
    "公开通报": "events_public_notice_count",
    "重大违法案件": "events_major_case_count",
}
assert tuple(EVENT_METRICS) == EVENT_KINDS
PROVINCIAL_EVENT_METRICS = {kind: name.replace("events_", "events_provincial_", 1)
                            for kind, name in EVENT_METRICS.items()}
"""Per kind, the count of events imposed at 省 or 国家 level (schema.PROVINCIAL_LEVELS)."""
SUPERVISION_KINDS = ("挂牌督办", "警示约谈", "公开通报")
"""Kinds that trigger the opinion only when imposed at 省 level or above (聊政发〔2018〕34号 四(三):
"被省级以上挂牌督办、警示约谈、公开通报的"); a 重大违法案件 triggers it at any level."""

OPINION_LIMITS = {
    # 聊政发〔2018〕34号: the city's 2020 control figures.
    "development_intensity": (0.1831, "max"),  # 国土开发强度 ≤ 18.31 %
    "urban_industrial_space_mu": (757_500.0, "max"),  # 城镇工矿空间规模 ≤ 75.75 万亩
    "land_supply_rate": (0.80, "min"),  # 土地供应率 ≥ 80 %
    "construction_land_per_gdp_change": (-0.23, "max"),  # 单位GDP建设用地 下降 23 %
}

_CATALOGUE = [
    # -- data-contract output columns, in contract order ---------------------------------------
    _m("arable_mu", "mu", "dltb", "耕地保有量", True),
    _m("arable_target_mu", "mu", "target_arable", "耕地保有量目标（含调整）", True),
    _m("arable_attainment", "ratio", "dltb", "耕地保有量完成率", True),
    _m("basic_farmland_mu", "mu", "bf", "永久基本农田面积", True),
    _m("basic_farmland_target_mu", "mu", "target_bf", "永久基本农田保护目标（含调整）", True),
    _m("basic_farmland_attainment", "ratio", "bf", "永久基本农田保护目标完成率", True),
    _m("arable_change_mu", "mu", "dltb", "耕地面积变化", True),
    _m("construction_on_arable_mu", "mu", "dltb", "新增建设占用耕地（卫片）", True),
    _m("illegal_arable_mu", "mu", "dltb", "违法占用耕地（卫片）", True),
    _m("illegal_ratio", "ratio", "dltb", "违法占用耕地比例", True),
    _m("illegal_ratio_flag", "flag", "", "违法占用耕地比例达15%", True),
    _m("derived_construction_on_arable_mu", "mu", "gxgc", "新增建设占用耕地（变更调查）", True),
    _m("derived_illegal_arable_mu", "mu", "gxgc", "未经批准占用耕地（变更调查）", True),
    _m("derived_illegal_ratio", "ratio", "gxgc", "未经批准占用耕地比例（变更调查）", True),
    _m("hsf_built_mu", "mu", "", "高标准农田建成面积", True),
    _m("hsf_task_mu", "mu", "", "高标准农田建设任务", True),
    _m("hsf_completion", "ratio", "", "高标准农田建设任务完成率", True),
    _m("occupied_mu", "mu", "", "占用耕地（占补平衡）", True),
    _m("supplemented_mu", "mu", "", "补充耕地（占补平衡）", True),
    _m("balance_mu", "mu", "", "占补平衡结余", True),
    _m("mean_quality_grade", "grade", "dltb", "耕地平均质量等别", True),
    # -- extra metrics ------------------------------------------------------------------------
    # the 15 % rule on the derived figures, and the cross-check of the two sources; both are
    # "any year" over a mid-term or final span (period.YEARLY_FLAGS)
    # targets: base (targets.csv, on the stock's basis where available) + adjustments in force
    # (register of 17号 第五条、第十三条); the mismatch flags a target on the other survey basis
    _m("arable_target_base_mu", "mu", "target_arable", "耕地保有量基础目标"),
    _m("arable_target_adjustment_mu", "mu", "target_arable", "耕地保有量目标调整"),
    _m("arable_basis_mismatch", "flag", "", "耕地保有量目标与面积口径不一致"),
    _m("basic_farmland_target_base_mu", "mu", "target_bf", "永久基本农田保护基础目标"),
    _m("basic_farmland_target_adjustment_mu", "mu", "target_bf", "永久基本农田保护目标调整"),
    _m("basic_farmland_basis_mismatch", "flag", "", "永久基本农田目标与面积口径不一致"),
    # rectification of illegal occupation (WPZF ZGZT/ZGMJ, optional: empty without them)
    _m("illegal_rectified_mu", "mu", "dltb", "违法占用耕地已整改面积（卫片）"),
    _m("illegal_ratio_rectified", "ratio", "dltb", "扣除已整改后的违法占用耕地比例",
       evidence_from=("illegal_ratio", "illegal_rectified_mu")),
    _m("derived_illegal_ratio_flag", "flag", "", "未经批准占用耕地比例达15%（变更调查）",
       evidence_from=("derived_illegal_ratio",)),
    _m("illegal_ratio_disagreement", "flag", "", "违法占用耕地比例卫片与变更调查不一致",
       evidence_from=("illegal_ratio", "derived_illegal_ratio")),
    _m("arable_margin_mu", "mu", "dltb", "耕地保有量超出目标"),
    _m("basic_farmland_margin_mu", "mu", "bf", "永久基本农田超出目标"),
    _m("basic_farmland_change_mu", "mu", "bf", "永久基本农田面积变化"),
    _m("series_break", "flag", "", "跨二调/三调口径比较"),
    _m("paddy_occupied_mu", "mu", "", "占用水田"),
    _m("paddy_supplemented_mu", "mu", "", "补充水田"),
    _m("paddy_balance_mu", "mu", "", "水田占补结余"),
    _m("grain_capacity_occupied_t", "t", "", "占用耕地粮食产能"),
    _m("grain_capacity_supplemented_t", "t", "", "补充耕地粮食产能"),
    _m("grain_capacity_balance_t", "t", "", "粮食产能占补结余"),
    _m("supplemented_upper_level_mu", "mu", "", "上级统筹/易地补充耕地"),
    _m("upper_level_involved", "flag", "", "涉及补充耕地上级统筹或跨县易地占补"),
    _m("bf_occupied_mu", "mu", "bf", "永久基本农田被建设占用"),
    _m("bf_redesignated_mu", "mu", "bf", "永久基本农田补划"),
    _m("bf_balance_mu", "mu", "bf", "永久基本农田补划结余"),
    _m("arable_opening_mu", "mu", "dltb", "期初耕地面积"),
    _m("arable_loss_construction_legal_mu", "mu", "gxgc", "耕地流向建设用地（已批）"),
    _m("arable_loss_construction_illegal_mu", "mu", "gxgc", "耕地流向建设用地（未批）"),
    _m("arable_loss_ecological_mu", "mu", "gxgc", "耕地流向林草湿水（生态）"),
    _m("arable_loss_restructuring_mu", "mu", "gxgc", "耕地流向园地坑塘等（结构调整）"),
    _m("arable_loss_other_mu", "mu", "gxgc", "耕地流向其他地类"),
    _m("arable_gain_mu", "mu", "gxgc", "其他地类流入耕地"),
    _m("arable_gain_construction_mu", "mu", "gxgc", "建设用地复垦为耕地"),
    _m("arable_gain_ecological_mu", "mu", "gxgc", "林草湿水恢复为耕地"),
    _m("arable_gain_restructuring_mu", "mu", "gxgc", "园地坑塘等恢复为耕地"),
    _m("arable_gain_other_mu", "mu", "gxgc", "其他地类流入耕地（其他）"),
    _m("arable_internal_change_mu", "mu", "gxgc", "耕地内部变化（田坎系数、跨单位）"),
    _m("ledger_residual_mu", "mu", "dltb", "耕地台账不平差额"),
    _m("total_area_mu", "mu", "dltb", "图斑总面积"),
    _m("group_arable_mu", "mu", "dltb", "耕地图斑面积（含田坎）"),
    _m("group_agricultural_mu", "mu", "dltb", "其他农用地图斑面积"),
    _m("group_construction_mu", "mu", "dltb", "建设用地图斑面积"),
    _m("group_unused_mu", "mu", "dltb", "未利用地图斑面积"),
    _m("group_unknown_mu", "mu", "dltb", "未知地类图斑面积"),
    _m("construction_land_mu", "mu", "dltb", "建设用地面积"),
    _m("landcover_cropland_mu", "mu", "", "遥感耕地面积"),
    _m("landcover_built_mu", "mu", "", "遥感建设用地面积"),
    _m("events_count", "count", "", "问责事项数"),
    *(_m(name, "count", "", f"{kind}数") for kind, name in EVENT_METRICS.items()),
    _m("events_provincial_count", "count", "", "省级以上问责事项数"),
    *(_m(name, "count", "", f"省级以上{kind}数") for kind, name in PROVINCIAL_EVENT_METRICS.items()),
    # -- 聊政发〔2018〕34号 indicators (limits and checks on the city row) ----------------------
    _m("development_intensity", "ratio", "dltb", "国土开发强度"),
    _m("development_intensity_limit", "ratio", "", "国土开发强度上限"),
    _m("development_intensity_ok", "flag", "", "国土开发强度达标"),
    _m("urban_industrial_space_mu", "mu", "dltb", "城镇工矿用地规模（城市、建制镇、采矿用地，不含村庄）"),
    _m("urban_industrial_space_mu_limit", "mu", "", "城镇工矿用地规模上限"),
    _m("urban_industrial_space_mu_ok", "flag", "", "城镇工矿用地规模达标"),
    _m("land_supply_rate", "ratio", "supply", "土地供应率"),
    _m("land_supply_rate_limit", "ratio", "", "土地供应率下限"),
    _m("land_supply_rate_ok", "flag", "supply", "土地供应率达标"),
    _m("construction_land_per_gdp_change", "ratio", "gdp", "单位GDP建设用地较基期变化"),
    _m("construction_land_per_gdp_change_limit", "ratio", "", "单位GDP建设用地下降目标"),
    _m("construction_land_per_gdp_change_ok", "flag", "gdp", "单位GDP建设用地下降达标"),
    _m("opinion_trigger_target_missed", "flag", "", "未完成保护目标（扣分情形）"),
    _m("opinion_trigger_events", "flag", "", "被省级以上督办约谈通报或发生重大违法案件（扣分情形）"),
    _m("opinion_trigger_supervision", "flag", "", "被省级以上挂牌督办、警示约谈、公开通报（扣分情形）"),
    _m("opinion_trigger_major_case", "flag", "", "发生重大违法案件（扣分情形）"),
    _m("opinion_trigger_illegal_ratio", "flag", "", "违法占用耕地比例达15%（扣分情形）"),
]

METRICS: dict[str, Metric] = {m.name: m for m in _CATALOGUE}
"""Every fixed-name metric, in output order (checklist items are added per item found)."""

CONTRACT_METRICS: tuple[str, ...] = tuple(m.name for m in _CATALOGUE if m.contract)

CHECKLIST_PREFIX = "checklist."
LANDCOVER_CLASS_PREFIX = "landcover."
"""Further [landcover] classes (water, forest …) are metrics ``landcover.<class>`` in 亩."""


def metric_info(name: str) -> Metric:
    """Catalogue entry of ``name``; ``checklist.<item>`` metrics are fractions on no basis."""
    if name in METRICS:
        return METRICS[name]
    if name.startswith(CHECKLIST_PREFIX):
        item = name[len(CHECKLIST_PREFIX):]
        return Metric(name, "fraction", "", f"{item}得分率")
    if name.startswith(LANDCOVER_CLASS_PREFIX):
        return Metric(name, "mu", "", f"遥感监测“{name[len(LANDCOVER_CLASS_PREFIX):]}”面积")
    raise KeyError(f"unknown metric {name!r}")


def metric_order(names) -> list[str]:
    """Sort metric names: catalogue order, then checklist items alphabetically."""
    position = {name: i for i, name in enumerate(METRICS)}
    return sorted(names, key=lambda n: (position.get(n, len(position)), n))
