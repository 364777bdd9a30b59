"""Scoring engine: hand-checked arithmetic on a 3-county fixture, invariants, trail and explain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farmland.errors import RuleError
from farmland.scoring import annotated_trail, explain_unit, find_triggers, load_rules, loads_rules, score
from farmland.scoring.rules import default_rules_path

# Weights: 30 + 20 + 10 + 20 + 20 = 100.
HAND_RULES = """
[ruleset]
name = "hand-checked fixture"
phase = "annual"

# grades, vetoes and caps are opt-in: the fixture declares grades to exercise them
[grades]
"优秀" = 90
"良好" = 75
"合格" = 60
"不合格" = 0

[[rule]]
id = "T-ARABLE"
kind = "threshold"
clause = "第八条"
source = "test"
metric = "arable_mu"
op = ">="
value = "arable_target_mu"
points = 30

[[rule]]
id = "T-HSF-BAND"
kind = "banded"
clause = "第八条"
source = "test"
metric = "hsf_completion"
bands = [{min = 0.75, points = 8}, {min = 1.0, points = 20}, {min = 0.9, points = 15}]
points = 20

[[rule]]
id = "T-ILLEGAL-BAND"
kind = "banded"
clause = "第八条"
source = "test"
metric = "illegal_ratio"
bands = [{max = 0.0, points = 10}, {max = 0.05, points = 6}, {max = 0.10, points = 3}]
points = 10

[[rule]]
id = "T-BALANCE"
kind = "proportional"
clause = "第八条"
source = "test"
metric = "supplemented_mu"
denominator = "occupied_mu"
zero_denominator = "full"
points = 20

[[rule]]
id = "T-SYSTEM"
kind = "checklist"
clause = "第十条"
source = "test"
metric = "checklist.制度建设"
points = 20

[[rule]]
id = "T-BONUS"
kind = "bonus"
clause = "第八条"
source = "test"
metric = "balance_mu"
above = 0
per = 500
points_per = 1
cap = 3

[[rule]]
id = "T-DEDUCT"
kind = "deduction"
clause = "第八条"
source = "test"
metric = "illegal_arable_mu"
per = 100
points_per = 2
rounding = "ceil"
cap = 5

[[rule]]
id = "T-EVENTS"
kind = "deduction"
clause = "意见四（三）"
source = "test"
metric = "events_count"
per = 1
points_per = 3
cap = 6

[[rule]]
id = "T-VETO"
kind = "veto"
clause = "15号令"
source = "test"
metric = "illegal_ratio_flag"
op = ">="
value = 1

[[rule]]
id = "T-CAP"
kind = "cap"
clause = "意见四（三）"
source = "test"
metric = "events_major_case_count"
op = ">="
value = 1
"""


def hand_frame() -> pd.DataFrame:
    """Three counties in the metrics-interface wide shape (areas in 亩)."""
    return pd.DataFrame(
        {
            "xzqdm": ["371521", "371522", "371523"],
            "xzqmc": ["冠县", "莘县", "阳谷县"],
            "year": [2020, 2020, 2020],
            "arable_mu": [1000.0, 905.0, 1000.0],
            "arable_target_mu": [900.0, 900.0, 990.0],
            "hsf_completion": [1.05, 0.92, 0.80],
            "illegal_arable_mu": [0.0, 12.0, 250.0],
            "construction_on_arable_mu": [100.0, 300.0, 1000.0],
            "illegal_ratio": [0.0, 0.04, 0.25],
            "illegal_ratio_flag": [0.0, 0.0, 1.0],
            "supplemented_mu": [2800.0, 150.0, 0.0],
            "occupied_mu": [200.0, 200.0, 0.0],
            "balance_mu": [2600.0, -50.0, 0.0],
            "checklist.制度建设": [1.0, 0.5, np.nan],
            "events_count": [0.0, 1.0, 4.0],
            "events_major_case_count": [0.0, 0.0, 1.0],
        }
    )


@pytest.fixture
def hand():
    return score(hand_frame(), loads_rules(HAND_RULES))


def test_hand_checked_points(hand):
    t = hand.table.set_index("xzqdm")
    # 冠县 371521: arable 1000 ≥ 900 → 30; hsf 1.05 ≥ 1.0 → 20; illegal ratio 0 ≤ 0 → 10;
    # 2800/200 = 14 → clipped to 1 → 20; checklist 1.0 × 20 = 20; indicators 100.
    # bonus: balance 2600 → floor(2600/500) = 5 steps × 1 = 5 → cap 3. No deductions.
    # raw 103 → clipped to 100, clip_adjustment −3.
    a = t.loc["371521"]
    assert [a[c] for c in ("T-ARABLE", "T-HSF-BAND", "T-ILLEGAL-BAND", "T-BALANCE", "T-SYSTEM")] == [30, 20, 10, 20, 20]
    assert a["T-BONUS"] == 3 and a["bonuses"] == 3
    assert a["deductions"] == 0
    assert a["clip_adjustment"] == pytest.approx(-3)
    assert a["total"] == pytest.approx(100)

    # 莘县 371522: 905 ≥ 900 → 30; hsf 0.92 in [0.9, 1.0) → 15; ratio 0.04 ≤ 0.05 → 6;
    # 150/200 = 0.75 × 20 = 15; checklist 0.5 × 20 = 10; indicators 76.
    # bonus: balance −50 → 0. deductions: illegal 12 亩 → ceil(12/100) = 1 step × 2 = 2;
    # events 1 → 1 × 3 = 3; total deductions 5. total = 76 − 5 = 71 → 合格.
    b = t.loc["371522"]
    assert [b[c] for c in ("T-ARABLE", "T-HSF-BAND", "T-ILLEGAL-BAND", "T-BALANCE", "T-SYSTEM")] == [30, 15, 6, 15, 10]
    assert (b["T-BONUS"], b["T-DEDUCT"], b["T-EVENTS"], b["deductions"]) == (0, 2, 3, 5)
    assert b["total"] == pytest.approx(71) and b["grade"] == "合格"

    # 阳谷县 371523: 1000 ≥ 990 → 30; hsf 0.80 in [0.75, 0.9) → 8; ratio 0.25 > 0.10 → 0;
    # 0/0 with zero_denominator = "full" → 20; checklist NaN → 0 (数据缺失); indicators 58.
    # deductions: illegal 250 亩 → ceil(2.5) = 3 steps × 2 = 6 → cap 5; events 4 × 3 = 12 → cap 6;
    # total deductions 11. total = 58 − 11 = 47. The 15% flag fires the veto → 不合格.
    c = t.loc["371523"]
    assert [c[k] for k in ("T-ARABLE", "T-HSF-BAND", "T-ILLEGAL-BAND", "T-BALANCE", "T-SYSTEM")] == [30, 8, 0, 20, 0]
    assert (c["T-DEDUCT"], c["T-EVENTS"], c["deductions"]) == (5, 6, 11)
    assert c["total"] == pytest.approx(47)
    assert c["vetoes"] == "T-VETO" and c["caps"] == "T-CAP" and c["grade"] == "不合格"

    assert list(t["rank"]) == [1, 2, 3]
    assert list(t["grade"]) == ["优秀", "合格", "不合格"]
    assert list(t["outcome"]) == ["", "", ""]  # the fixture defines no [outcomes]
    assert list(t["triggers"]) == ["", "", ""]  # no triggers passed


def test_contract_columns(hand):
    assert list(hand.table.columns) == [
        "xzqdm", "xzqmc", "phase", "year",
        "T-ARABLE", "T-HSF-BAND", "T-ILLEGAL-BAND", "T-BALANCE", "T-SYSTEM",  # indicators
        "T-BONUS", "T-DEDUCT", "T-EVENTS",  # bonus, then deductions (points deducted, ≥ 0)
        "bonuses", "deductions", "clip_adjustment", "total", "rank", "outcome", "outcome_text",
        "triggers", "review", "basis_mismatch", "grade", "vetoes", "caps",  # grade/vetoes/caps: opt-in
    ]
    assert hand.indicator_columns == ("T-ARABLE", "T-HSF-BAND", "T-ILLEGAL-BAND", "T-BALANCE", "T-SYSTEM")
    assert hand.table["year"].tolist() == [2020, 2020, 2020]
    assert hand.table["phase"].eq("annual").all()


def reconcile(result) -> np.ndarray:
    t = result.table
    s = (
        t[list(result.indicator_columns)].sum(axis=1)
        + t["bonuses"]
        - t["deductions"]
        + t["clip_adjustment"]
        + (t["fold_adjustment"] if "fold_adjustment" in t else 0.0)
    )
    return s.to_numpy(float)


def test_columns_and_trail_reconcile_with_total(hand):
    t = hand.table
    assert np.allclose(reconcile(hand), t["total"])
    assert np.allclose(t[list(hand.bonus_columns)].sum(axis=1), t["bonuses"])
    assert np.allclose(t[list(hand.deduction_columns)].sum(axis=1), t["deductions"])
    by_unit = hand.trail.groupby("xzqdm")["points"].sum()
    assert np.allclose(by_unit.loc[t["xzqdm"]].to_numpy(), t["total"])
    clip = hand.trail[hand.trail["rule_id"] == "CLIP"]
    assert clip["xzqdm"].tolist() == ["371521"] and clip["points"].iloc[0] == pytest.approx(-3)


def test_trail_records_rule_clause_values_and_evidence():
    ev = {("371522", "illegal_arable_mu"): ("WPZF:2020-001", "WPZF:2020-002")}
    res = score(hand_frame(), loads_rules(HAND_RULES), evidence=ev)
    row = res.trail[(res.trail["xzqdm"] == "371522") & (res.trail["rule_id"] == "T-DEDUCT")].iloc[0]
    assert row["clause"] == "第八条" and row["kind"] == "deduction" and row["points"] == -2
    assert row["inputs"] == {"illegal_arable_mu": 12.0}
    assert row["evidence"] == ("WPZF:2020-001", "WPZF:2020-002")
    assert "note" not in res.trail.columns  # the trail is structured data only
    note = annotated_trail(res).loc[row.name, "note"]
    assert "每 100 亩扣 2 分（不足 100 亩按 100 亩计）" in note and "扣 2.00 分" in note
    text = explain_unit(res, "371522")
    assert "扣分 T-DEDUCT（第八条）" in text and "违法占用耕地 12.00 亩" in text
    assert "证据：WPZF:2020-001、WPZF:2020-002" in text
    assert "总分 71.00 分，第 2 名（共 3 个县级单位）；结果：无；等次：合格" in text
    with pytest.raises(KeyError, match="no unit '999999' in the scores"):
        explain_unit(res, "999999")


def test_missing_values_score_zero_with_note(hand):
    trail = annotated_trail(hand)
    row = trail[(trail["xzqdm"] == "371523") & (trail["rule_id"] == "T-SYSTEM")].iloc[0]
    assert row["points"] == 0 and row["status"] == "数据缺失" and "数据缺失" in row["note"]
    # a metric the frame does not have at all reads as missing too, and is reported
    res = score(hand_frame().drop(columns=["events_count"]), loads_rules(HAND_RULES))
    assert res.missing_columns == ("events_count",)
    ev = res.trail[res.trail["rule_id"] == "T-EVENTS"]
    assert (ev["points"] == 0).all() and (ev["status"] == "数据缺失").all()
    assert "输入中没有以下指标" in explain_unit(res, "371521")


def test_missing_full_policy_counts_as_not_applicable():
    text = HAND_RULES.replace('metric = "checklist.制度建设"', 'metric = "checklist.制度建设"\nmissing = "full"')
    res = score(hand_frame(), loads_rules(text))
    c = res.table.set_index("xzqdm").loc["371523"]
    assert c["T-SYSTEM"] == 20  # not applicable → full 20 instead of 0
    row = res.trail[(res.trail["xzqdm"] == "371523") & (res.trail["rule_id"] == "T-SYSTEM")].iloc[0]
    assert row["status"] == "不涉及"


def test_veto_forces_fail_whatever_the_points():
    df = hand_frame()
    df.loc[0, "illegal_ratio_flag"] = 1.0  # 冠县 keeps 100 points but trips the 15% veto
    res = score(df, loads_rules(HAND_RULES))
    a = res.table.iloc[0]
    assert a["total"] == pytest.approx(100) and a["rank"] == 1
    assert a["grade"] == "不合格" and a["vetoes"] == "T-VETO"


def test_cap_blocks_top_grade_only():
    df = hand_frame()
    df.loc[0, "events_major_case_count"] = 1.0
    res = score(df, loads_rules(HAND_RULES))
    assert res.table.iloc[0]["grade"] == "良好" and res.table.iloc[0]["caps"] == "T-CAP"
    # a cap does not raise a lower grade
    assert res.table.iloc[1]["grade"] == "合格"


def test_ties_share_the_best_rank():
    df = pd.concat([hand_frame().iloc[[1, 1, 0]]], ignore_index=True)
    df["xzqdm"] = ["a", "b", "c"]
    res = score(df, loads_rules(HAND_RULES))
    assert res.table["total"].tolist() == pytest.approx([71, 71, 100])
    assert res.table["rank"].tolist() == [2, 2, 1]


def test_float_noise_does_not_split_ties_or_grades():
    # 0.1-point steps: 3 × 0.1 is 0.30000000000000004 in binary floating point.
    text = HAND_RULES.replace("points_per = 1\ncap = 3", "points_per = 0.1\ncap = 3")
    df = hand_frame()
    df["balance_mu"] = [1500.0, -50.0, 0.0]
    res = score(df, loads_rules(text))
    assert res.table.loc[0, "T-BONUS"] == pytest.approx(0.3)
    assert res.table.loc[0, "total"] == pytest.approx(100)  # 100.3 clipped


def test_default_outcomes_and_evidence_from_metrics_result():
    class FakeMetricsResult:
        def __init__(self):
            self.calls = []

        def evidence(self, xzqdm, metric, phase, year):
            self.calls.append((xzqdm, metric, phase, year))
            if metric == "occupied_mu":
                raise KeyError(metric)  # no evidence recorded: not an error
            return (f"ZBPH:{xzqdm}",) if metric == "supplemented_mu" else ()

    fake = FakeMetricsResult()
    res = score(default_frame(), load_rules(phase="annual"), evidence=fake)
    assert ("371521", "supplemented_mu", "annual", 2020) in fake.calls
    row = res.trail[(res.trail["xzqdm"] == "371521") & (res.trail["rule_id"] == "R-BALANCE")].iloc[0]
    assert row["evidence"] == ("ZBPH:371521",)
    # 第九条: every annual result is reported (通报); 第十七条's sanctions follow the final only
    t = res.table
    assert (t["outcome"] == "通报").all()
    assert t["outcome_text"].str.contains("通报").all() and t["outcome_text"].str.contains("第九条").all()
    assert not t["outcome_text"].str.contains("暂停").any()


def test_default_final_outcomes_follow_triggers():
    frame = default_frame()
    triggers = find_triggers(frame, [2020])
    # 莘县 900 000 < 950 000 亩; 阳谷县 15% flag and a major case; 冠县 none
    assert sorted(zip(triggers["xzqdm"], triggers["code"])) == [
        ("371522", "arable_below_target"), ("371523", "illegal_ratio_15"), ("371523", "major_case"),
    ]
    res = score(frame, load_rules(phase="final"), triggers=triggers)
    t = res.table.set_index("xzqdm")
    # 冠县: no trigger, total 98.97 (as in the annual, R-SYSTEM scoring like R-MONITORING) ≥ 90 → 表扬
    assert t.loc["371521", "total"] == pytest.approx(98.97)
    assert t.loc["371521", "outcome"] == "表扬" and "土地利用计划" in t.loc["371521", "outcome_text"]
    assert t.loc["371521", "triggers"] == ""
    for code in ("371522", "371523"):
        assert t.loc[code, "outcome"] == "整改"
        assert "暂停该县（市、区）相关农用地转用和土地征收审批" in t.loc[code, "outcome_text"]
    assert t.loc["371522", "triggers"] == "arable_below_target@2020"
    assert t.loc["371523", "triggers"] == "illegal_ratio_15@2020;major_case@2020"
    # triggers are reported, never scored: the totals do not depend on them
    alone = score(frame, load_rules(phase="final"))
    assert np.allclose(alone.table["total"], res.table["total"])
    # without triggers nobody is ordered to rectify; ≥ 90 without triggers is praised
    assert alone.table["outcome"].tolist() == ["表扬", "", ""]
    assert not {"grade", "vetoes", "caps"} & set(res.table.columns)


def test_input_checks():
    rules = loads_rules(HAND_RULES)
    two_years = pd.concat([hand_frame(), hand_frame().assign(year=2019)])
    with pytest.raises(RuleError, match=r"several years \[2019, 2020\]; pass year="):
        score(two_years, rules)
    assert score(two_years, rules, year=2019).year == 2019
    with pytest.raises(RuleError, match="phase midterm but the rule set is for 'annual'"):
        score(hand_frame().assign(phase="midterm"), rules)
    with pytest.raises(RuleError, match="appear more than once"):
        score(pd.concat([hand_frame(), hand_frame()]), rules)
    with pytest.raises(RuleError, match="no xzqdm column or index"):
        score(hand_frame().drop(columns="xzqdm"), rules)
    # xzqdm as the index works
    assert score(hand_frame().set_index("xzqdm"), rules).table["xzqdm"].tolist() == ["371521", "371522", "371523"]


# ---- default rule sets -------------------------------------------------------------------------


def default_frame() -> pd.DataFrame:
    """Three counties with every metric the default rule sets read (areas in 亩)."""
    return pd.DataFrame(
        {
            "xzqdm": ["371521", "371522", "371523"],
            "xzqmc": ["冠县", "莘县", "阳谷县"],
            "year": 2020,
            "arable_mu": [1_000_068.0, 900_000.0, 800_000.0],
            "arable_target_mu": [1_000_000.0, 950_000.0, 790_000.0],
            "basic_farmland_mu": [850_000.0, 800_000.0, 700_000.0],
            "basic_farmland_target_mu": [840_000.0, 790_000.0, 690_000.0],
            "bf_redesignated_mu": [100.0, 0.0, 50.0],
            "bf_occupied_mu": [80.0, 10.0, 50.0],
            "illegal_arable_mu": [12.3, 0.0, 300.0],
            "construction_on_arable_mu": [500.0, 0.0, 1000.0],
            "illegal_ratio": [12.3 / 500, np.nan, 0.3],
            "illegal_ratio_flag": [0.0, 0.0, 1.0],
            "supplemented_mu": [1600.0, 100.0, 0.0],
            "occupied_mu": [500.0, 200.0, 0.0],
            "balance_mu": [1100.0, -100.0, 0.0],
            "hsf_built_mu": [20_000.0, 5_000.0, 8_000.0],
            "hsf_task_mu": [15_000.0, 10_000.0, 8_000.0],
            "checklist.耕地质量保护与提升": [1.0, 0.5, 0.75],
            "checklist.动态监测": [1.0, 1.0, 0.25],
            "checklist.制度建设": [1.0, 1.0, 1.0],
            "events_count": [0.0, 1.0, 4.0],
            "events_major_case_count": [0.0, 0.0, 1.0],
            "checklist.补充耕地统筹": [np.nan, np.nan, 0.5],
            "upper_level_involved": [0.0, 0.0, 1.0],  # only 阳谷县 has an upper-level task
        }
    )


def test_default_annual_on_fixture():
    res = score(default_frame(), load_rules(phase="annual"))
    t = res.table.set_index("xzqdm")
    # no grades, vetoes, caps or deductions in the defaults
    assert not {"grade", "vetoes", "caps"} & set(res.table.columns)
    assert res.deduction_columns == () and (t["deductions"] == 0).all()
    # 冠县: 25 + 15 + 10 + 20 × (1 − (12.3/500)/0.15) + 10 + 10 + 4 + 4 + 2 (不涉及 统筹) =
    # 100 − 20 × 0.164 = 96.72; bonus 2 (1100 亩 → 2 × 500) + 0.25 (5000 亩 over task → 5 × 0.05);
    # no deduction (illegal occupation is scored only by R-ILLEGAL-RATIO). total 98.97.
    assert t.loc["371521", "R-ILLEGAL-RATIO"] == pytest.approx(20 * (1 - 12.3 / 500 / 0.15))
    assert t.loc["371521", "R-UPPER-LEVEL"] == 2
    assert t.loc["371521", "total"] == pytest.approx(98.97)
    # 莘县: arable 900 000 < 950 000 → R-ARABLE-TARGET 0 (no veto); 15 + 0 (补划 0 < 10) + 20
    # (0 illegal / 0 occupied, zero_denominator = "full") + 100/200 × 10 + 5000/10000 × 10 + 0.5 × 4
    # + 4 + 2 (不涉及) = 53
    assert t.loc["371522", "R-ARABLE-TARGET"] == 0
    assert t.loc["371522", "R-ILLEGAL-RATIO"] == 20
    assert t.loc["371522", "total"] == pytest.approx(53)
    # 阳谷县: ratio 30% ≥ 15% → R-ILLEGAL-RATIO 0, no extra deduction; 25 + 15 + 10 + 0 + 10 + 10
    # + 0.75 × 4 + 0.25 × 4 + 0.5 × 2 (涉及统筹) = 75
    assert t.loc["371523", "R-ILLEGAL-RATIO"] == 0 and t.loc["371523", "R-UPPER-LEVEL"] == 1
    assert t.loc["371523", "total"] == pytest.approx(75)
    assert t["rank"].tolist() == [1, 3, 2]


def example_rules():
    """The opt-in example rule set with grades, vetoes and the 15% deduction (非本办法规定)."""
    return load_rules(default_rules_path("final").parent / "examples" / "final_2005_core_items.toml")


def test_applies_when_gives_full_marks_where_zero():
    rules = load_rules(phase="annual")
    df = default_frame()
    df["checklist.补充耕地统筹"] = [0.0, 0.0, 0.0]  # nothing done anywhere
    df["upper_level_involved"] = [0.0, 1.0, np.nan]
    res = score(df, rules)
    trail = res.trail[res.trail["rule_id"] == "R-UPPER-LEVEL"].set_index("xzqdm")
    # 0 → 不涉及, full 2; 1 → scored as the checklist says (0); unknown → the rule applies (0)
    assert res.table["R-UPPER-LEVEL"].tolist() == [2, 0, 0]
    assert trail.loc["371521", "status"] == "不涉及" and bool(trail.loc["371521", "not_applicable"])
    assert trail.loc["371522", "status"] != "不涉及"


def test_fifteen_percent_rules_are_switchable_in_the_example():
    rules = example_rules()
    assert rules.example == "非本办法规定" and "非本办法规定" in rules.title
    off = rules.replace("R-ILLEGAL15-VETO", enabled=False).replace("R-ILLEGAL15-DEDUCT", enabled=False)
    on_res = score(default_frame(), rules)
    on = on_res.table.set_index("xzqdm").loc["371523"]
    # 阳谷县's 15% flag: a 10-point deduction and a veto → 不合格
    assert on["R-ILLEGAL15-DEDUCT"] == 10 and "R-ILLEGAL15-VETO" in on["vetoes"] and on["grade"] == "不合格"
    assert on["caps"] == "R-MAJOR-CASE-CAP"
    res = score(default_frame(), off)
    t = res.table.set_index("xzqdm").loc["371523"]
    assert "R-ILLEGAL15-VETO" not in t["vetoes"] and "R-ILLEGAL15-DEDUCT" not in res.table.columns
    assert t["total"] == pytest.approx(on["total"] + 10)
    row = res.trail[(res.trail["xzqdm"] == "371523") & (res.trail["rule_id"] == "R-ILLEGAL15-VETO")].iloc[0]
    assert row["status"] == "停用"


def test_fold_into_final_hand_checked():
    text = """
[ruleset]
name = "fold fixture"
phase = "final"
[fold]
final = 0.6
annual_mean = 0.2
midterm = 0.2
[[rule]]
id = "F-ARABLE"
kind = "threshold"
clause = "第十三条"
source = "test"
metric = "arable_mu"
op = ">="
value = "arable_target_mu"
points = 100
"""
    rules = loads_rules(text)
    df = pd.DataFrame(
        {"xzqdm": ["a", "b"], "xzqmc": ["甲", "乙"], "arable_mu": [10.0, 5.0], "arable_target_mu": [9.0, 9.0]}
    )
    annual = [pd.DataFrame({"xzqdm": ["a"], "total": [80.0]}), pd.DataFrame({"xzqdm": ["a"], "total": [90.0]})]
    midterm = pd.DataFrame({"xzqdm": ["a", "b"], "total": [70.0, 50.0]})
    res = score(df, rules, year=2020, folded={"annual": annual, "midterm": midterm})
    t = res.table.set_index("xzqdm")
    # a: 0.6 × 100 + 0.2 × mean(80, 90) + 0.2 × 70 = 60 + 17 + 14 = 91
    assert t.loc["a", "total"] == pytest.approx(91) and t.loc["a", "annual_mean"] == 85
    assert t.loc["a", "fold_adjustment"] == pytest.approx(-9)
    # b has no annual result: weights 0.6 and 0.2 rescaled to 0.75 and 0.25: 0.75 × 0 + 0.25 × 50 = 12.5
    assert t.loc["b", "total"] == pytest.approx(12.5) and np.isnan(t.loc["b", "annual_mean"])
    assert np.allclose(reconcile(res), res.table["total"])
    fold = annotated_trail(res)
    fold = fold[(fold["xzqdm"] == "b") & (fold["rule_id"] == "FOLD")].iloc[0]
    assert "缺少年度自查平均分" in fold["note"]
    # the FOLD row carries its figures as structured inputs
    assert isinstance(fold["inputs"], dict) and fold["inputs"]
    # without earlier results the final score stands alone
    alone = score(df, rules, year=2020)
    assert alone.table["total"].tolist() == [100, 0]
    with pytest.raises(RuleError, match="has no \\[fold\\] table"):
        score(hand_frame(), loads_rules(HAND_RULES), folded={"midterm": midterm})


# ---- properties over the default rule sets ---------------------------------------------------

_finite = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)  # noqa: E731
_maybe = lambda s: st.one_of(st.just(np.nan), s)  # noqa: E731

_row = st.fixed_dictionaries(
    {
        "arable_mu": _finite(5e5, 1.2e6),
        "arable_target_mu": _maybe(_finite(5e5, 1.2e6)),
        "basic_farmland_mu": _finite(4e5, 1e6),
        "basic_farmland_target_mu": _maybe(_finite(4e5, 1e6)),
        "bf_redesignated_mu": _finite(0, 500),
        "bf_occupied_mu": _finite(0, 500),
        "construction_on_arable_mu": st.one_of(st.just(0.0), _finite(0, 3000)),
        "illegal_share": st.one_of(st.just(0.0), _finite(0, 1)),
        "supplemented_mu": _finite(0, 4000),
        "occupied_mu": st.one_of(st.just(0.0), _finite(0, 3000)),
        "hsf_built_mu": _finite(0, 40000),
        "hsf_task_mu": _maybe(_finite(0, 30000)),
        "checklist.耕地质量保护与提升": _maybe(_finite(0, 1)),
        "checklist.动态监测": _maybe(_finite(0, 1)),
        "checklist.制度建设": _maybe(_finite(0, 1)),
        "checklist.补充耕地统筹": _maybe(_finite(0, 1)),
        "events_count": st.integers(0, 5).map(float),
        "events_major_case_count": st.integers(0, 1).map(float),
    }
)


def with_derived(df: pd.DataFrame) -> pd.DataFrame:
    """Derived metrics by the interface formulas, computed here independently of the package."""
    df = df.copy()
    if "illegal_share" in df:  # generated as a share so that illegal ≤ occupied
        df["illegal_arable_mu"] = df.pop("illegal_share") * df["construction_on_arable_mu"]
    n, d = df["illegal_arable_mu"], df["construction_on_arable_mu"]
    df["illegal_ratio"] = np.where(d > 0, n / d.where(d > 0, 1.0), np.nan)
    df["illegal_ratio_flag"] = ((df["illegal_ratio"] >= 0.15) | ((d == 0) & (n > 0))).astype(float)
    df["balance_mu"] = df["supplemented_mu"] - df["occupied_mu"]
    df["arable_margin_mu"] = df["arable_mu"] - df["arable_target_mu"]
    return df


@st.composite
def wide_frames(draw, min_units=1, max_units=6):
    rows = draw(st.lists(_row, min_size=min_units, max_size=max_units))
    df = pd.DataFrame(rows)
    df.insert(0, "xzqdm", [f"3715{i:02d}" for i in range(len(df))])
    df.insert(1, "xzqmc", [f"县{i}" for i in range(len(df))])
    df["year"] = 2020
    return with_derived(df)


_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_DEFAULTS = {p: load_rules(phase=p) for p in ("annual", "midterm", "final")}


@_SETTINGS
@given(frame=wide_frames(), phase=st.sampled_from(["annual", "midterm", "final"]))
def test_invariants_on_default_rule_sets(frame, phase):
    res = score(frame, _DEFAULTS[phase])
    t = res.table
    total = t["total"].to_numpy(float)
    assert ((total >= 0) & (total <= 100)).all()
    assert np.allclose(reconcile(res), total)
    assert np.allclose(res.trail.groupby("xzqdm")["points"].sum().loc[t["xzqdm"]].to_numpy(), total)
    # rank order follows totals; equal totals share the best rank
    r = t["rank"].to_numpy()
    for i in range(len(t)):
        for j in range(len(t)):
            if total[i] > total[j] + 1e-6:
                assert r[i] < r[j]
            elif abs(total[i] - total[j]) < 1e-9:
                assert r[i] == r[j]
    assert r.min() == 1
    # the defaults define no grade, veto or cap; annual/mid-term units are all reported (通报)
    assert not {"grade", "vetoes", "caps"} & set(t.columns)
    if phase != "final":
        assert (t["outcome"] == "通报").all()
    else:
        # without triggers: 表扬 exactly where the total reaches 90, otherwise no outcome
        assert (t["outcome"] == np.where(total >= 90 - 1e-9, "表扬", "")).all()


@_SETTINGS
@given(
    frame=wide_frames(),
    which=st.integers(0, 5),
    extra=_finite(0.01, 5000),
    phase=st.sampled_from(["annual", "midterm", "final"]),
)
def test_more_illegal_occupation_never_raises_the_score(frame, which, extra, phase):
    i = which % len(frame)
    before = score(frame, _DEFAULTS[phase]).table
    more = frame.copy()
    # x more 亩 of illegal occupation is x more 亩 of arable occupied by new construction too
    more.loc[i, "illegal_arable_mu"] += extra
    more.loc[i, "construction_on_arable_mu"] += extra
    after = score(with_derived(more), _DEFAULTS[phase]).table
    assert after.loc[i, "total"] <= before.loc[i, "total"] + 1e-9
    # no grade in the defaults; the outcome can only get worse: 表扬 may be lost, never gained
    if before.loc[i, "outcome"] != "表扬":
        assert after.loc[i, "outcome"] != "表扬"


def test_clipping_at_zero():
    df = hand_frame()
    # 阳谷县 loses every indicator: 0 points, deductions 11 → raw −11 → clipped to 0.
    df.loc[2, ["arable_mu", "hsf_completion", "supplemented_mu", "occupied_mu"]] = [0.0, 0.0, 0.0, 10.0]
    res = score(df, loads_rules(HAND_RULES))
    c = res.table.iloc[2]
    assert c["total"] == 0 and c["clip_adjustment"] == pytest.approx(11)
    assert np.allclose(reconcile(res), res.table["total"])


def test_explain_shortens_long_evidence_and_shows_the_fold():
    ids = tuple(f"WPZF:{i:03d}" for i in range(12))
    res = score(hand_frame(), loads_rules(HAND_RULES), evidence=lambda code, metric: ids if metric == "illegal_ratio" else ())
    line = next(x for x in explain_unit(res, "371522").splitlines() if "T-ILLEGAL-BAND" in x)
    assert line.endswith("证据：WPZF:000、WPZF:001、WPZF:002、WPZF:003、WPZF:004 等 12 条")
    final = load_rules(phase="final")
    annual = score(default_frame(), load_rules(phase="annual"))
    res = score(default_frame(), final, folded={"annual": [annual]})
    text = explain_unit(res, "371521")
    # 0.6 and 0.2 rescaled to 0.75 and 0.25 (no mid-term result)
    assert "期末考核得分" in text and "× 0.75" in text and "缺少期中检查得分" in text


def test_unit_rows_split_the_trail_by_unit_in_order():
    """Units in order of first appearance, each with its rows in trail order; no row without a unit."""
    from farmland.scoring.explain import unit_rows

    trail = pd.DataFrame({"xzqdm": ["371502", "371521", "371502", None, "371521"],
                          "rule_id": ["a", "b", "c", "d", "e"]})
    split = unit_rows(trail)
    assert list(split) == ["371502", "371521"]
    assert [[r.rule_id for r in rows] for rows in split.values()] == [["a", "c"], ["b", "e"]]
    assert split["371502"][1] == ("371502", "c")
