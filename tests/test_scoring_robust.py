"""Robustness (distances to lines, rank intervals) and what-if re-scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from farmland.errors import RuleError
from farmland.scoring import load_rules, loads_rules, score
from farmland.scoring.robust import _min_ranks, boundaries, rank_intervals, robustness
from farmland.scoring.whatif import Assumption, load_assumptions, parse_assumption, what_if
from test_scoring import HAND_RULES, default_frame, example_rules, hand_frame


@pytest.fixture(scope="module")
def annual():
    return score(default_frame(), load_rules(phase="annual"))


@pytest.fixture(scope="module")
def example():
    """The opt-in example rule set: grades, vetoes, deductions (非本办法规定)."""
    return score(default_frame(), example_rules())


def _row(b: pd.DataFrame, code: str, rule_id: str) -> pd.Series:
    return b[(b["xzqdm"] == code) & (b["rule_id"] == rule_id)].iloc[0]


def test_distances_in_mu_to_gates(annual, example):
    b = boundaries(annual)
    # 冠县: arable 1 000 068 vs target 1 000 000 → 68 亩 above; losing 68 亩 lands on the line.
    r = _row(b, "371521", "R-ARABLE-TARGET")
    assert r["distance"] == pytest.approx(68) and r["distance_mu"] == pytest.approx(-68)
    assert r["points_at_stake"] == 25 and r["holds"]
    assert r["text"].startswith("高于耕地保有量目标 68.00 亩；耕地面积减少 68.00 亩即失去 25 分")
    # the defaults have no veto and no grade: no such rows
    assert not b["rule_id"].isin(["GRADE", "R-ARABLE-VETO", "R-ILLEGAL15-VETO"]).any()
    # vetoes in the example rule set
    b = boundaries(example)
    v = _row(b, "371521", "R-ARABLE-VETO")
    assert not v["holds"] and "减少 68.00 亩即触发一票否决" in v["text"]
    # 莘县 is 50 000 亩 short: the veto holds and lifts with 50 000 亩 more
    v = _row(b, "371522", "R-ARABLE-VETO")
    assert v["holds"] and v["distance_mu"] == pytest.approx(50_000) and "需增加 50,000.00 亩方可解除" in v["text"]
    # the 15% line in 亩: x more illegal 亩 (added to illegal and occupied alike) reaches 15% when
    # (12.3 + x) / (500 + x) = 0.15 → x = (0.15 × 500 − 12.3) / 0.85 = 62.7 / 0.85 = 73.7647…
    f = _row(b, "371521", "R-ILLEGAL15-VETO")
    assert f["distance_mu"] == pytest.approx(62.7 / 0.85)
    assert "违法占用耕地比例 2.46%，界线 15.00%" in f["text"]


def test_distances_to_steps_and_grades(annual, example):
    b = boundaries(annual)
    # balance 1100 亩 earns 2 whole 500-亩 steps; the 3rd needs 1500 − 1100 = 400 亩 more
    assert _row(b, "371521", "R-BALANCE-BONUS")["distance"] == pytest.approx(400)
    b = boundaries(example)
    # 12.3 illegal 亩 already cost one 100-亩 step (ceil); the next starts past 100: 87.7 亩 away
    assert _row(b, "371521", "R-ILLEGAL-DEDUCT")["distance"] == pytest.approx(87.7)
    # 阳谷县's events deduction (4 × 2 = 8) is at its cap of 6
    assert "已扣满上限 6 分" in _row(b, "371523", "R-EVENTS-DEDUCT")["text"]
    # 冠县 example total 97.97 (indicators 96.72 + bonuses 2.25 − 1 deducted) → 7.97 above 优秀
    g = _row(b, "371521", "GRADE")
    assert g["distance"] == pytest.approx(7.97) and "高于优秀下限 7.97 分" in g["text"]
    # 莘县 51 points (53 − 2 for one event): 9 points short of 合格, and vetoed anyway
    g = _row(b, "371522", "GRADE")
    assert g["points_at_stake"] == pytest.approx(9) and "已被否决（R-ARABLE-VETO、R-BALANCE-VETO）" in g["text"]


def test_banded_distances():
    res = score(hand_frame(), loads_rules(HAND_RULES))
    b = boundaries(res)
    # 莘县 hsf 0.92: in the 0.9 band, 0.08 short of the 1.0 band
    r = _row(b, "371522", "T-HSF-BAND")
    assert r["distance"] == pytest.approx(-0.08) and r["points_at_stake"] == 5


def test_min_ranks_matches_pandas():
    rng = np.random.default_rng(1)
    totals = np.round(rng.uniform(0, 100, (7, 50)), 0)  # rounding makes ties
    expected = pd.DataFrame(totals).rank(method="min", ascending=False).to_numpy().astype(int)
    assert (_min_ranks(totals) == expected).all()
    assert (_min_ranks(totals, chunk_elems=49) == expected).all()  # one draw per chunk


def test_rank_intervals_seeded_and_stable(annual):
    a = rank_intervals(annual, draws=300, seed=7)
    b = rank_intervals(annual, draws=300, seed=7)
    pd.testing.assert_frame_equal(a, b)
    # no perturbation: every draw reproduces the ranks
    z = rank_intervals(annual, spread=0.0, draws=20)
    assert (z["rank_min"] == z["rank"]).all() and (z["rank_max"] == z["rank"]).all() and z["stable"].all()
    # 冠县 (98.97) leads 阳谷县 (75.00) by 23.97 points: no ±20 % reweighting can move it
    top = a.set_index("xzqdm").loc["371521"]
    assert top["stable"] and top["rank_min"] == top["rank_max"] == 1
    assert top["gap_below"] == pytest.approx(98.97 - 75.0) and np.isnan(top["gap_above"])


def test_rank_intervals_detect_a_fragile_order():
    rules = loads_rules(HAND_RULES)
    df = hand_frame().iloc[[0, 0]].reset_index(drop=True)
    df["xzqdm"] = ["a", "b"]
    # a: misses the arable target (−30) but full on the rest; b: meets it but scores 0 on the
    # checklist (−20) and the illegal band (−10). Both total 70: which one ranks first depends
    # only on the weights of T-ARABLE versus T-SYSTEM + T-ILLEGAL-BAND.
    df.loc[0, "arable_mu"] = 800.0
    df.loc[1, ["checklist.制度建设", "illegal_ratio"]] = [0.0, 0.5]
    df["balance_mu"] = 0.0
    res = score(df, rules)
    assert res.table["total"].tolist() == pytest.approx([70, 70]) and res.table["rank"].tolist() == [1, 1]
    ri = rank_intervals(res, draws=400, seed=3)
    assert (ri["rank_min"] == 1).all() and (ri["rank_max"] == 2).all() and not ri["stable"].any()
    assert 0.2 < ri["share_same_rank"].iloc[0] < 0.8


def test_robustness_text(annual):
    rb = robustness(annual, draws=100)
    text = rb.to_text("371521")
    assert "权重扰动下的名次区间（各指标权重在 ±20% 内随机变化，100 次" in text
    assert "R-ARABLE-TARGET：高于耕地保有量目标 68.00 亩" in text


# ---- what-if -----------------------------------------------------------------------------------


def test_parse_assumptions():
    assert parse_assumption("371521.supplemented_mu+=120") == Assumption("371521", "supplemented_mu", "+=", 120.0)
    assert parse_assumption(" 371521.arable_mu = 5000000 ") == Assumption("371521", "arable_mu", "=", 5e6)
    assert parse_assumption("*.checklist.制度建设*=0.5") == Assumption("*", "checklist.制度建设", "*=", 0.5)
    with pytest.raises(RuleError, match="unknown metric 'suplemented_mu'.*'supplemented_mu'"):
        parse_assumption("371521.suplemented_mu+=120")
    with pytest.raises(RuleError, match="write COUNTY.metric OP number"):
        parse_assumption("371521 supplemented_mu plus 120")


def test_load_assumptions_toml(tmp_path):
    path = tmp_path / "whatif.toml"
    path.write_text('[371521]\nsupplemented_mu = "+=120"\narable_mu = 5000000\n', encoding="utf-8")
    assert load_assumptions(path) == (
        Assumption("371521", "supplemented_mu", "+=", 120.0),
        Assumption("371521", "arable_mu", "=", 5e6),
    )
    path.write_text('[371521]\nsupplemented_mu = true\n', encoding="utf-8")
    with pytest.raises(RuleError, match="give a number or a string"):
        load_assumptions(path)


def test_what_if_supplement_recomputes_balance_and_rescored():
    rules = load_rules(phase="annual")
    w = what_if(default_frame(), rules, ["371522.supplemented_mu+=120"])
    inputs = w.inputs.set_index("metric")
    # 100 + 120 = 220 supplemented; balance −100 → 220 − 200 = 20 (recomputed, marked 推算)
    assert inputs.loc["supplemented_mu", "after"] == 220
    assert inputs.loc["balance_mu", ["before", "after"]].tolist() == [-100, 20]
    assert inputs.loc["balance_mu", "assumption"] == "推算"
    d = w.diff.set_index("xzqdm")
    # R-BALANCE: 100/200 × 10 = 5 → 220/200 ≥ 1 → 10; +5 points, nothing else moves
    assert d.loc["371522", "delta"] == pytest.approx(5)
    assert d.loc["371522", "rules_changed"] == "R-BALANCE"
    assert not d.loc["371521", "changed"] and not d.loc["371523", "changed"]
    text = w.to_text()
    assert "371522 补充耕地增加 120.00 亩" in text and "总分 53.00 → 58.00（+5.00）" in text


def test_what_if_lifts_a_veto_and_illegal_ratio_flag():
    df = default_frame()
    w = what_if(df, example_rules(), "371523.illegal_arable_mu-=200")
    inputs = w.inputs.set_index("metric")
    # 100 illegal of 1000 occupied → 10 % < 15 %: the flag and the ratio are recomputed
    assert inputs.loc["illegal_ratio", "after"] == pytest.approx(0.1)
    assert inputs.loc["illegal_ratio_flag", ["before", "after"]].tolist() == [1, 0]
    d = w.diff.set_index("xzqdm").loc["371523"]
    assert d["vetoes_before"] == "R-ILLEGAL15-VETO" and d["vetoes_after"] == ""
    # the default rule set has no vetoes or grades (no such diff columns); the score still moves:
    # R-ILLEGAL-RATIO 0 → 20 × (1 − 0.1/0.15) = 6.67
    wd = what_if(df, load_rules(phase="annual"), "371523.illegal_arable_mu-=200")
    assert not {"vetoes_before", "vetoes_after", "grade_before", "grade_after"} & set(wd.diff.columns)
    assert {"outcome_before", "outcome_after", "triggers_before", "triggers_after"} <= set(wd.diff.columns)
    dd = wd.diff.set_index("xzqdm").loc["371523"]
    assert dd["delta"] == pytest.approx(20 * (1 - 0.1 / 0.15))
    assert dd["outcome_before"] == dd["outcome_after"] == "通报"
    with pytest.raises(RuleError, match="no county '999999'"):
        what_if(df, load_rules(phase="annual"), ["999999.arable_mu=1"])


def test_what_if_arable_moves_change_too():
    df = default_frame().assign(arable_change_mu=[-10.0, 5.0, 0.0])
    w = what_if(df, load_rules(phase="annual"), ["371522.arable_mu=960000"])
    inputs = w.inputs.set_index("metric")
    # +60 000 亩 at year end is +60 000 亩 of change over the year: 5 → 60 005
    assert inputs.loc["arable_change_mu", "after"] == pytest.approx(60_005)
    d = w.diff.set_index("xzqdm").loc["371522"]
    # 960 000 ≥ 950 000: R-ARABLE-TARGET 0 → 25
    assert d["delta"] == pytest.approx(25) and "R-ARABLE-TARGET" in d["rules_changed"]
    ex = what_if(df, example_rules(), ["371522.arable_mu=960000"]).diff.set_index("xzqdm").loc["371522"]
    assert "R-ARABLE-VETO" in ex["vetoes_before"] and "R-ARABLE-VETO" not in ex["vetoes_after"]
