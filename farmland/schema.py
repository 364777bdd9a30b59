"""Standard fields of every input layer, their types and the names they go by in the wild.

Field names follow the national land-survey database standards (docs/data.md, "Layers").
Older 二调-era data and some update packages name a few fields differently (TKXS/TKMJ for the
deduction, JBNTMJ for the basic-farmland area, BGMJ and BGRQ in change records); those aliases
are accepted here, and anything else is mapped by the user in ``[fields.LAYER]``.
"""

from __future__ import annotations

from dataclasses import dataclass

TEXT = "text"
NUMBER = "number"
DATE = "date"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    code: bool = False
    """A code whose leading zeros matter (land class): stored as a number it cannot be trusted."""


def _f(name, kind=TEXT, required=False, aliases=(), code=False) -> FieldSpec:
    return FieldSpec(name, kind, required, tuple(aliases), code)


SCHEMAS: dict[str, tuple[FieldSpec, ...]] = {
    "XZQ": (
        _f("XZQDM", required=True),
        _f("XZQMC", required=True),
        _f("KZMJ", NUMBER),
    ),
    "DLTB": (
        _f("BSM", required=True),
        _f("DLBM", required=True, code=True),
        _f("ZLDWDM", required=True),
        _f("DLMC"),
        _f("TBMJ", NUMBER),
        _f("KCXS", NUMBER, aliases=("TKXS",)),
        _f("KCMJ", NUMBER, aliases=("TKMJ",)),
        _f("XZDWMJ", NUMBER),
        _f("LXDWMJ", NUMBER),
        _f("TBDLMJ", NUMBER),
        _f("GDDB", NUMBER),
        _f("ZZSXDM", aliases=("GDZZSXDM",)),
        _f("GDLX"),
        _f("GDPDJB"),
        _f("CZCSXM"),
        _f("SJNF", NUMBER),
    ),
    "JBNTTB": (
        _f("BSM", required=True),
        _f("ZLDWDM", required=True),
        _f("DLBM", code=True),
        _f("TBMJ", NUMBER, aliases=("YJJBNTTBMJ", "JBNTTBMJ")),
        _f("KCMJ", NUMBER, aliases=("TKMJ",)),
        _f("YJJBNTMJ", NUMBER, aliases=("JBNTMJ",)),
    ),
    "DLTBGXGC": (
        _f("BGQDLBM", required=True, code=True),
        _f("BGHDLBM", required=True, code=True),
        _f("BGQZLDWDM", required=True),
        _f("BGHZLDWDM"),
        _f("BGQTBBSM"),
        _f("BGHTBBSM"),
        _f("TBBGMJ", NUMBER, required=True, aliases=("BGMJ",)),
        _f("BGQKCXS", NUMBER, aliases=("BGQTKXS",)),
        _f("GXSJ", DATE, aliases=("BGRQ",)),
    ),
    "JSYDSP": (
        _f("PZWH", required=True),
        _f("PZRQ", DATE, required=True),
        _f("XZQDM"),
        _f("PZMJ", NUMBER),
        _f("ZYGDMJ", NUMBER),
    ),
    "WPZF": (
        _f("JCBH", required=True),
        _f("XZQDM", required=True),
        _f("JCNF", NUMBER, required=True),
        _f("XZJSYDMJ", NUMBER, required=True),
        _f("ZYGDMJ", NUMBER, required=True),
        _f("WFZYGDMJ", NUMBER, required=True),
        _f("ZGZT"),
        _f("ZGMJ", NUMBER),
        _f("ZGFS"),
    ),
    "GBZNT": (
        _f("XMBH", required=True),
        _f("XMMC"),
        _f("XZQDM", required=True),
        _f("JSNF", NUMBER, required=True),
        _f("JSMJ", NUMBER, required=True),
    ),
    # Tables written by people: lower-case English column names (data contract).
    "ZBPH": (
        _f("xzqdm", required=True),
        _f("year", NUMBER, required=True),
        _f("kind", required=True),
        _f("project"),
        _f("area_mu", NUMBER, required=True),
        _f("paddy_mu", NUMBER),
        _f("grain_capacity_t", NUMBER),
        _f("source"),
    ),
    "CHECKLIST": (
        _f("xzqdm", required=True),
        _f("year", NUMBER, required=True),
        _f("item", required=True),
        _f("fraction", NUMBER, required=True),
        _f("evidence"),
    ),
    "EVENTS": (
        _f("xzqdm", required=True),
        _f("year", NUMBER, required=True),
        _f("kind", required=True),
        _f("level"),
        _f("note"),
    ),
    "CITYSTATS": (
        _f("year", NUMBER, required=True),
        _f("gdp_100m_yuan", NUMBER),
        _f("gdp_comparable_100m_yuan", NUMBER),
        _f("approved_mu", NUMBER),
        _f("supplied_mu", NUMBER),
        _f("approved_5y_mu", NUMBER),
        _f("supplied_5y_mu", NUMBER),
    ),
    "TARGETS": (
        _f("xzqdm", required=True),
        _f("xzqmc"),
        _f("arable_target_mu", NUMBER, required=True),
        _f("basic_farmland_target_mu", NUMBER, required=True),
        _f("basis"),
    ),
    "TARGET_ADJUSTMENTS": (
        _f("xzqdm", required=True),
        _f("year", NUMBER, required=True),
        _f("kind", required=True),
        _f("arable_mu", NUMBER),
        _f("basic_farmland_mu", NUMBER),
        _f("document", required=True),
        _f("note"),
    ),
    "TOWNSHIPS": (
        _f("xzdm", required=True),
        _f("xzmc", required=True),
        _f("arable_target_mu", NUMBER),
        _f("basic_farmland_target_mu", NUMBER),
        _f("basis"),
    ),
}

ID_FIELD = {
    "XZQ": "XZQDM",
    "DLTB": "BSM",
    "JBNTTB": "BSM",
    "DLTBGXGC": "BGQTBBSM",
    "JSYDSP": "PZWH",
    "WPZF": "JCBH",
    "GBZNT": "XMBH",
}
"""The field whose values name a feature in messages and evidence trails."""

ZBPH_KINDS = ("占用", "补充")
ZBPH_SOURCES = ("本地", "省统筹", "国家统筹", "跨县易地")
EVENT_KINDS = ("挂牌督办", "警示约谈", "公开通报", "重大违法案件")
TARGET_BASES = {"二调": "erdiao", "三调": "sandiao"}
"""targets.csv ``basis`` values and the survey basis (口径) each names; no column means 二调 (the
2016–2020 targets were set on the older basis)."""
ADJUSTMENT_KINDS = ("跨县易地", "生态退耕", "省统筹", "国家统筹", "其他")
"""Kinds of target adjustment (17号 第五条、第十三条)."""
UPPER_LEVEL_KINDS = ("省统筹", "国家统筹", "跨县易地")
"""补充耕地上级统筹 and 跨县易地占补 (17号 第八条、第十三条): ZBPH sources and adjustment kinds."""
RECTIFICATION_STATES = ("已整改", "整改中", "未整改")
"""WPZF ZGZT (整改状态) of a monitoring parcel's illegal occupation."""
EVENT_LEVELS = ("国家", "省", "市", "县")
"""Who imposed an event (EVENTS ``level``); a blank or missing level counts as 市 (Revision 2)."""
PROVINCIAL_LEVELS = ("国家", "省")
"""The levels whose 挂牌督办, 警示约谈 and 公开通报 are the opinion's trigger ("被省级以上…")."""


KNOWN_RENAMES = {"371523": "371503"}
"""Old → new county codes within Liaocheng's data (茌平县 → 茌平区, approved late 2019)."""
