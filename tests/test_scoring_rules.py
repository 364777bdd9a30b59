"""Rule sets: the shipped defaults and validation on load (errors name the rule and the fix)."""

from __future__ import annotations

import re

import pytest

from farmland.errors import RuleError
from farmland.scoring import load_rules, loads_rules
from farmland.scoring.rules import RULE_KINDS, WEIGHTED_KINDS, default_rules_path

# A small but complete rule set; tests break one line of it at a time.
FIXTURE_RULES = """
[ruleset]
name = "fixture"
phase = "annual"
version = "t1"

# grades are optional; the fixture declares them because it uses a veto
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
points = 60

[[rule]]
id = "T-BALANCE"
kind = "proportional"
clause = "第八条"
source = "test"
metric = "supplemented_mu"
denominator = "occupied_mu"
points = 40

[[rule]]
id = "T-VETO"
kind = "veto"
clause = "第八条"
source = "test"
metric = "illegal_ratio_flag"
op = ">="
value = 1
"""


def test_fixture_rules_load():
    rs = loads_rules(FIXTURE_RULES)
    assert rs.ids == ("T-ARABLE", "T-BALANCE", "T-VETO")
    assert rs.rule("T-BALANCE").denominator == "occupied_mu"
    assert [g.name for g in rs.grades] == ["优秀", "良好", "合格", "不合格"]  # as declared
    assert rs.fail_grade == "不合格"
    # without [grades] (and hence without the veto) there is no grade at all
    plain = loads_rules(FIXTURE_RULES.split("# grades are optional")[0] + FIXTURE_RULES.split('"不合格" = 0\n')[1]
                        .split("[[rule]]\nid = \"T-VETO\"")[0])
    assert plain.grades == () and plain.fail_grade is None and plain.ids == ("T-ARABLE", "T-BALANCE")


@pytest.mark.parametrize(
    "old, new, expected",
    [
        # a typo in a key: unknown key, with the right spelling suggested
        ("points = 60", "pionts = 60", r"rule T-ARABLE.*unknown key 'pionts'.*did you mean 'points'"),
        # a missing weight
        ("denominator = \"occupied_mu\"\npoints = 40", "denominator = \"occupied_mu\"",
         r"rule T-BALANCE \(proportional\) has no 'points' weight"),
        # weights that do not sum to 100: every weighted rule is listed with its points
        ("points = 60", "points = 55", r"weights sum to 95, not 100: T-ARABLE 55 \+ T-BALANCE 40"),
        # an unknown metric, with the nearest known metric suggested
        ('metric = "arable_mu"', 'metric = "arable_m"', r"rule T-ARABLE: unknown metric 'arable_m'.*'arable_mu'"),
        ('value = "arable_target_mu"', 'value = "arable_goal_mu"', r"rule T-ARABLE: 'value' names unknown metric"),
        ('denominator = "occupied_mu"', 'denominator = "ocupied_mu"', r"rule T-BALANCE: unknown denominator metric 'ocupied_mu'"),
        ('kind = "veto"', 'kind = "vetto"', r"rule T-VETO: unknown kind 'vetto'.*did you mean 'veto'"),
        ('op = ">="\nvalue = 1', 'op = "=>"\nvalue = 1', r"rule T-VETO: 'op' must be one of"),
        ('id = "T-VETO"', 'id = "T-ARABLE"', r"rule T-ARABLE: id used twice"),
        ('phase = "annual"', 'phase = "yearly"', r"\[ruleset\] phase must be one of"),
        ('version = "t1"', 'version = "t1"\nauthor = "x"', r"\[ruleset\]: unknown key 'author'"),
        ('clause = "第八条"\nsource = "test"\nmetric = "illegal_ratio_flag"', 'source = "test"\nmetric = "illegal_ratio_flag"',
         r"rule T-VETO \(veto\) has no 'clause'"),
    ],
)
def test_bad_rule_sets_fail_naming_the_rule(old, new, expected):
    assert old in FIXTURE_RULES
    with pytest.raises(RuleError, match=expected):
        loads_rules(FIXTURE_RULES.replace(old, new, 1))


def test_disabled_weighted_rule_no_longer_counts_towards_100():
    text = FIXTURE_RULES.replace('id = "T-BALANCE"', 'id = "T-BALANCE"\nenabled = false')
    with pytest.raises(RuleError, match=r"sum to 60, not 100: T-ARABLE 60; .*disabled rules do not count"):
        loads_rules(text)


def test_other_validation_errors():
    with pytest.raises(RuleError, match="not valid TOML"):
        loads_rules("[ruleset\nname=1")
    with pytest.raises(RuleError, match=r"\[fold\].*only allowed in a final rule set"):
        loads_rules(FIXTURE_RULES + "\n[fold]\nfinal = 0.6\nannual_mean = 0.2\nmidterm = 0.2\n")
    final = FIXTURE_RULES.replace('phase = "annual"', 'phase = "final"')
    with pytest.raises(RuleError, match=r"\[fold\]: weights .* = 0.9; they must sum to 1"):
        loads_rules(final + "\n[fold]\nfinal = 0.5\nannual_mean = 0.2\nmidterm = 0.2\n")
    bonus = """
[[rule]]
id = "T-BONUS"
kind = "bonus"
clause = "x"
source = "x"
metric = "balance_mu"
per = 500
points_per = 1
"""
    with pytest.raises(RuleError, match=r"rule T-BONUS \(bonus\) has no 'cap'"):
        loads_rules(FIXTURE_RULES + bonus)
    banded = """
[[rule]]
id = "T-BAND"
kind = "banded"
clause = "x"
source = "x"
metric = "hsf_completion"
bands = [{min = 1.0, points = 8}, {min = 0.9, points = 5}]
points = 10
"""
    text = FIXTURE_RULES.replace("points = 60", "points = 50") + banded
    with pytest.raises(RuleError, match=r"rule T-BAND: the best band earns 8 but the rule's weight is 10"):
        loads_rules(text)
    inverted = text.replace(
        "bands = [{min = 1.0, points = 8}, {min = 0.9, points = 5}]",
        "bands = [{min = 1.0, points = 10}, {min = 0.9, points = 4}, {min = 0.8, points = 6}]",
    )
    with pytest.raises(RuleError, match=r"rule T-BAND: a better band must not earn fewer points: \[10.0, 4.0, 6.0\]"):
        loads_rules(inverted)
    with pytest.raises(RuleError, match=r"a checklist rule reads a checklist.<item> metric"):
        loads_rules(FIXTURE_RULES.replace('kind = "threshold"', 'kind = "checklist"').replace('op = ">="\nvalue = "arable_target_mu"\n', ""))


def test_load_rules_from_path_checks_phase(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(FIXTURE_RULES, encoding="utf-8")
    assert load_rules(path).origin == str(path)
    with pytest.raises(RuleError, match=r"rule set is for phase 'annual' but phase 'final' was asked for"):
        load_rules(path, phase="final")
    with pytest.raises(RuleError, match="cannot read rule set"):
        load_rules(tmp_path / "absent.toml")


# ---- the shipped defaults -------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["annual", "midterm", "final"])
def test_defaults_load_cite_clauses_and_sources(phase):
    rs = load_rules(phase=phase)
    assert rs.phase == phase
    assert sum(r.points for r in rs.of_kind(*WEIGHTED_KINDS)) == 100
    for r in rs.rules:
        assert r.clause and r.source, r.id  # every rule says what it implements and why
        assert r.kind in RULE_KINDS
    # neither Liaocheng text has grades or vetoes: none in the defaults, and no deduction either
    assert rs.grades == () and rs.fail_grade is None
    assert rs.of_kind("veto", "cap", "deduction") == ()
    assert rs.points_label == "建议值" and rs.example == "" and "建议值" in rs.title
    assert rs.rule("R-UPPER-LEVEL").applies_when == "upper_level_involved"
    out = rs.outcomes
    if phase == "final":
        # 第十七条: 整改 where any 34号 trigger occurred; 表扬 where none did and the total ≥ 90
        assert out.default == ""
        listed = {o.label: o for o in out.listed}
        assert list(listed) == ["整改", "表扬"]
        assert set(listed["整改"].triggers) == {
            "arable_below_target", "bf_below_target", "illegal_ratio_15", "supervision", "major_case"}
        assert "暂停" in listed["整改"].text and "农用地转用和土地征收审批" in listed["整改"].text
        assert listed["表扬"].no_triggers and listed["表扬"].min_total == 90
        t = listed["表扬"].text
        assert "土地利用计划" in t and "耕地占补平衡调剂指标" in t and "土地整治" in t
    else:
        # 第九、十二条: reported (通报) and folded into the final; no sanction here
        assert out.default == "通报" and out.listed == () and "暂停" not in out.text
        assert out.clause == {"annual": "第九条", "midterm": "第十二条"}[phase]


def test_example_rule_set_keeps_the_fifteen_percent_rules():
    path = default_rules_path("final").parent / "examples" / "final_2005_core_items.toml"
    rs = load_rules(path)
    assert rs.example == "非本办法规定" and [g.name for g in rs.grades] == ["优秀", "良好", "合格", "不合格"]
    # the 15% rule: a deduction and a veto, each with an explicit enabled switch in the file
    text = path.read_text(encoding="utf-8")
    for rid in ("R-ILLEGAL15-DEDUCT", "R-ILLEGAL15-VETO"):
        block = text.split(f'id = "{rid}"')[1].split("[[rule]]")[0]
        assert re.search(r"^enabled = true$", block, re.M), rid
        assert rs.rule(rid).metric == "illegal_ratio_flag"
    assert rs.rule("R-ILLEGAL15-DEDUCT").kind == "deduction" and rs.rule("R-ILLEGAL15-VETO").kind == "veto"
    assert rs.rule("R-MAJOR-CASE-CAP").max_grade == "良好"


def test_default_content_lists_follow_the_method():
    annual, midterm, final = (set(load_rules(phase=p).metrics) for p in ("annual", "midterm", "final"))
    # 第八条: 数量变化, 占补平衡, 永农占用和补划, 质量保护与提升, 动态监测, 高标准农田, 上级统筹/跨县易地
    for m in ("arable_mu", "supplemented_mu", "bf_redesignated_mu", "checklist.耕地质量保护与提升",
              "checklist.动态监测", "hsf_built_mu", "checklist.补充耕地统筹"):
        assert m in annual, m
    # 第十条 adds 制度建设
    assert "checklist.制度建设" in midterm and "checklist.制度建设" not in annual
    # 第十三条: retained arable and basic farmland against targets, plus the rest; results folded in
    for m in ("arable_target_mu", "basic_farmland_target_mu", "checklist.制度建设", "occupied_mu"):
        assert m in final, m
    rs = load_rules(phase="final")
    assert (rs.fold.final, rs.fold.annual_mean, rs.fold.midterm) == (0.6, 0.2, 0.2)
    assert load_rules(phase="annual").fold is None


def test_readable_repr_and_replace():
    rs = load_rules(phase="annual")
    text = repr(rs)
    assert text.startswith("RuleSet('聊城市") and "R-ILLEGAL-RATIO" in text and "grades:" not in text
    assert "outcome 通报：所有单位（第九条）" in text
    assert repr(rs.rule("R-HSF")).startswith("Rule(id='R-HSF', kind='proportional', metric='hsf_built_mu'")
    off = rs.replace("R-HSF-BONUS", enabled=False)
    assert not off.rule("R-HSF-BONUS").enabled and rs.rule("R-HSF-BONUS").enabled
    assert "优秀≥90" in repr(loads_rules(FIXTURE_RULES))  # grades are shown when defined
    with pytest.raises(RuleError, match="weights sum to 90"):
        rs.replace("R-HSF", enabled=False)  # 100 − R-HSF's 10 points
    with pytest.raises(KeyError, match="no rule 'R-NOPE'"):
        rs.replace("R-NOPE", enabled=False)


# ---- grades, outcomes, checklist items, encoding -------------------------------------------

_NO_GRADES = FIXTURE_RULES.replace(
    '[grades]\n"优秀" = 90\n"良好" = 75\n"合格" = 60\n"不合格" = 0\n', "")


def test_unordered_grades_refused():
    text = FIXTURE_RULES.replace('"良好" = 75\n"合格" = 60', '"合格" = 60\n"良好" = 75')
    with pytest.raises(RuleError, match=r"\[grades\]: list the grades best first with falling lower bounds"):
        loads_rules(text)


def test_veto_and_cap_need_grades():
    assert "[grades]" not in _NO_GRADES
    with pytest.raises(RuleError, match=r"T-VETO.*\[grades\]"):
        loads_rules(_NO_GRADES)
    cap = _NO_GRADES.replace('kind = "veto"', 'kind = "cap"')
    with pytest.raises(RuleError, match=r"T-VETO.*\[grades\]"):
        loads_rules(cap)


_PLAIN = _NO_GRADES.split('[[rule]]\nid = "T-VETO"')[0]
_COMMEND = """
[outcomes]
default = "通报"
[outcomes.commend]
label = "表扬"
text = "予以表扬"
no_triggers = true
min_total = 90
"""


def test_listed_outcomes_only_in_a_final_rule_set():
    with pytest.raises(RuleError, match=r"\[outcomes.commend\]: only a final rule set may list outcomes"):
        loads_rules(_PLAIN + _COMMEND)
    assert loads_rules(_PLAIN + '[outcomes]\ndefault = "通报"\n').outcomes.default == "通报"
    final = loads_rules(_PLAIN.replace('phase = "annual"', 'phase = "final"') + _COMMEND)
    (o,) = final.outcomes.listed
    assert (o.key, o.label, o.no_triggers, o.min_total) == ("commend", "表扬", True, 90)
    with pytest.raises(RuleError, match="unknown trigger 'major_cases'.*did you mean 'major_case'"):
        loads_rules(_PLAIN.replace('phase = "annual"', 'phase = "final"')
                    + _COMMEND.replace("no_triggers = true", 'triggers = ["major_cases"]'))


_CHECK = """
[[rule]]
id = "T-PUBLICITY"
kind = "checklist"
clause = "x"
source = "x"
metric = "checklist.耕地保护宣传"
points = 10
"""


def test_unknown_checklist_item_refused_unless_declared():
    base = _PLAIN.replace("points = 60", "points = 50")
    with pytest.raises(RuleError, match=r"T-SYSTEM: unknown checklist item '制度建 设'.*did you mean '制度建设'"):
        loads_rules(base + _CHECK.replace("T-PUBLICITY", "T-SYSTEM").replace("耕地保护宣传", "制度建 设"))
    with pytest.raises(RuleError, match=r"unknown checklist item '耕地保护宣传'.*\[checklist\] items"):
        loads_rules(base + _CHECK)
    rs = loads_rules(base + '\n[checklist]\nitems = ["耕地保护宣传"]\n' + _CHECK)
    assert "耕地保护宣传" in rs.checklist_items and "制度建设" in rs.checklist_items
    assert rs.rule("T-PUBLICITY").metric == "checklist.耕地保护宣传"


def test_bom_prefixed_rule_file_loads(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + FIXTURE_RULES.encode("utf-8"))
    rs = load_rules(path)
    assert rs.name == "fixture" and rs.ids == ("T-ARABLE", "T-BALANCE", "T-VETO")
