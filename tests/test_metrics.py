"""Metrics on the tiny city (tests/tiny_city.py), every expected number worked out by hand.

Conventions of the arithmetic below: areas in m², 亩 = m² × 0.0015; A = 东昌府区 371502, B = 阳谷县
371521, Z = 经开区 371571 (a development zone: the cells x 200–300 of A), city = 371500.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from farmland import Workspace
from farmland.errors import LayerError, WorkspaceError
from farmland.metrics import CONTRACT_METRICS, TABLE_COLUMNS, compute_metrics, metrics_for_scoring
from farmland.report import Report
from tiny_city import PIECES, TOML, dltb, write_tiny_city

A, B, Z, CITY = "371502", "371521", "371571", "371500"
ALL_PHASES = ("annual", "midterm", "final")


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return write_tiny_city(tmp_path_factory.mktemp("tiny") / "city")


@pytest.fixture(scope="module")
def run(city):
    report = Report(strict=True)
    messages = []
    result = compute_metrics(Workspace.load(city), level="county", phases=ALL_PHASES,
                             report=report, progress=messages.append)
    return result, report, messages


@pytest.fixture(scope="module")
def result(run):
    return run[0]


def value(result, code, metric, phase="annual", year=2016):
    t = result.table
    row = t[(t["xzqdm"] == code) & (t["metric"] == metric) & (t["phase"] == phase) & (t["year"] == year)]
    assert len(row) == 1, (code, metric, phase, year, len(row))
    return float(row["value"].iloc[0])


def check(result, expected: dict, phase="annual", year=2016):
    for (code, metric), want in expected.items():
        got = value(result, code, metric, phase, year)
        if want is None:
            assert math.isnan(got), (code, metric, got)
        else:
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12), (code, metric, got, want)


# -- stocks ------------------------------------------------------------------------------------


def test_retained_arable_basic_farmland_and_attainment_2016(result):
    check(result, {
        # A: A16-01 TBDLMJ 4500 + a2 10000 + A16-03 7600 = 22100 m² → 33.15 亩 (target 33)
        (A, "arable_mu"): 33.15, (A, "arable_target_mu"): 33.0,
        (A, "arable_attainment"): 33.15 / 33.0, (A, "arable_margin_mu"): 0.15,
        # B: b2 8500 + b3 10000 + B16-02 9000 = 27500 m² → 41.25 亩 (target 42)
        (B, "arable_mu"): 41.25, (B, "arable_attainment"): 41.25 / 42.0,
        (B, "arable_margin_mu"): -0.75,
        # Z: its only arable parcel z1 became a pond (114) in 2016.
        (Z, "arable_mu"): 0.0, (Z, "arable_attainment"): 0.0,
        # city: 22100 + 27500 = 49600 m² → 74.4 亩; target 33 + 42 + 1 = 76
        (CITY, "arable_mu"): 74.4, (CITY, "arable_target_mu"): 76.0,
        (CITY, "arable_attainment"): 74.4 / 76.0,
        # basic farmland 2016: A F1 4500 → 6.75; B F16-3 10000 + F5 9000 → 28.5; Z none
        (A, "basic_farmland_mu"): 6.75, (B, "basic_farmland_mu"): 28.5, (Z, "basic_farmland_mu"): 0.0,
        (A, "basic_farmland_attainment"): 6.75 / 20.0, (B, "basic_farmland_attainment"): 28.5 / 25.0,
        (CITY, "basic_farmland_mu"): 35.25, (CITY, "basic_farmland_attainment"): 35.25 / 46.0,
    })


def test_quality_grade_is_weighted_by_tbdlmj_over_graded_arable_parcels(result):
    check(result, {
        # A: (4500×5 + 10000×7 + 7600×6) / (4500 + 10000 + 7600) = 138100 / 22100
        (A, "mean_quality_grade"): 138100 / 22100,
        # B: b3 has no grade → (8500×9 + 9000×10) / 17500 = 166500 / 17500
        (B, "mean_quality_grade"): 166500 / 17500,
        (Z, "mean_quality_grade"): None,  # no arable land: nothing to average
        (CITY, "mean_quality_grade"): (138100 + 166500) / (22100 + 17500),
    })


def test_land_by_group_adds_up_to_the_total(result):
    # A 2016: arable TBMJ 5000 + 10000 + 8000; 031 forest 2000; construction 5000 (202) + 10000 (203)
    check(result, {(A, "group_arable_mu"): 34.5, (A, "group_agricultural_mu"): 3.0,
                   (A, "group_construction_mu"): 22.5, (A, "total_area_mu"): 60.0,
                   (CITY, "total_area_mu"): 150.0})


def test_first_data_year_has_no_change_and_stocks_of_the_base_year(result):
    # 2015: A 9000 + 10000 + 9500 = 28500 → 42.75; Z z1 10000 → 15; B 28000 → 42
    check(result, {(A, "arable_mu"): 42.75, (Z, "arable_mu"): 15.0, (B, "arable_mu"): 42.0,
                   (A, "arable_change_mu"): None, (CITY, "arable_change_mu"): None}, year=2015)


# -- flows -------------------------------------------------------------------------------------


def test_reported_occupation_reaching_exactly_15_percent_is_flagged(result):
    check(result, {
        # A: W1 + W2 → occupied 2000.1 + 1999.9 = 4000 m² (6 亩), illegal 300.3 + 299.7 = 600 m²
        (A, "construction_on_arable_mu"): 6.0, (A, "illegal_arable_mu"): 0.9,
        (A, "illegal_ratio"): 0.15, (A, "illegal_ratio_flag"): 1.0,
        # B: W3 occupies nothing but is illegal (500 m²): ratio empty, flagged anyway
        (B, "construction_on_arable_mu"): 0.0, (B, "illegal_arable_mu"): 0.75,
        (B, "illegal_ratio"): None, (B, "illegal_ratio_flag"): 1.0,
        # Z: W5 lies in the zone though coded 371502: 2000 m² occupied, 200 illegal → 10 %
        (Z, "construction_on_arable_mu"): 3.0, (Z, "illegal_ratio"): 0.1,
        (Z, "illegal_ratio_flag"): 0.0,
        # city: occupied 6000 m² = 9 亩, illegal 1300 m² = 1.95 亩: ratio from sums, not averaged
        (CITY, "construction_on_arable_mu"): 9.0, (CITY, "illegal_ratio"): 1300 / 6000,
        (CITY, "illegal_ratio_flag"): 1.0,
    })
    # W4 (JCNF 2015) counts in 2015 only: 9999 m² → 14.9985 亩
    assert value(result, A, "construction_on_arable_mu", year=2015) == pytest.approx(14.9985)


def test_derived_occupation_net_of_tiankan_split_by_approvals_in_force(result):
    check(result, {
        # a1 → 202: 5000 m² × (1 − 0.10) = 4500 m² = 6.75 亩. J1 (x 0–25) and J1b (x 0–20)
        # overlap; their union covers half of the piece (x 0–50) → legal 2250, illegal 2250.
        (A, "derived_construction_on_arable_mu"): 6.75, (A, "derived_illegal_arable_mu"): 3.375,
        (A, "derived_illegal_ratio"): 0.5,
        # b1 → 203 on 2016-09-01; J2 was approved 2016-12-01, too late: all 15 亩 illegal.
        (B, "derived_construction_on_arable_mu"): 15.0, (B, "derived_illegal_arable_mu"): 15.0,
        (B, "derived_illegal_ratio"): 1.0,
        (Z, "derived_illegal_ratio"): None,
        (CITY, "derived_illegal_ratio"): (2250 + 10000) / (4500 + 10000),
    })
    # 2017: b3 → 203 on 2017-05-01 under J3 (2017-01-01): 15 亩, all legal.
    check(result, {(B, "derived_construction_on_arable_mu"): 15.0,
                   (B, "derived_illegal_arable_mu"): 0.0}, year=2017)


def _with_rectification(root, states: dict):
    """Give the tiny city's WPZF the optional ZGZT/ZGMJ fields: ``{JCBH: (ZGZT, ZGMJ)}``."""
    import geopandas as gpd

    wpzf = gpd.read_file(root / "wpzf.gpkg", layer="WPZF")
    wpzf["ZGZT"] = wpzf["JCBH"].map(lambda j: states.get(j, (None, None))[0])
    wpzf["ZGMJ"] = wpzf["JCBH"].map(lambda j: states.get(j, (None, None))[1]).astype("float64")
    wpzf.to_file(root / "wpzf.gpkg", layer="WPZF", driver="GPKG")


def test_rectified_illegal_occupation(tmp_path):
    root = write_tiny_city(tmp_path / "city")
    _with_rectification(root, {
        "W1": ("已整改", 200.0),   # counted
        "W2": ("整改中", 100.0),   # in progress: not counted
        "W3": (None, 600.0),       # no status but an area: counted, capped at its 500 m² illegal
        "W5": ("已整改", None),    # rectified without an area: nothing counted, a warning
        "W6": ("已整改", 50.0),    # no illegal occupation (WFZYGDMJ 0): nothing to rectify
    })
    report = Report(strict=True)
    result = compute_metrics(Workspace.load(root), [2016, 2017], report=report)
    check(result, {
        # A: 200 m² → 0.3 亩; (600 − 200) / 4000 = 10 %
        (A, "illegal_rectified_mu"): 0.3, (A, "illegal_ratio_rectified"): 0.1,
        # B: 500 m² → 0.75 亩; nothing occupied → ratio empty
        (B, "illegal_rectified_mu"): 0.75, (B, "illegal_ratio_rectified"): None,
        (Z, "illegal_rectified_mu"): 0.0, (Z, "illegal_ratio_rectified"): 0.1,  # 200 / 2000
        (CITY, "illegal_rectified_mu"): 1.05, (CITY, "illegal_ratio_rectified"): 600 / 6000,
    })
    check(result, {(B, "illegal_rectified_mu"): 0.0}, year=2017)
    assert result.evidence(A, "illegal_rectified_mu", "annual", 2016) == ("WPZF:W1",)
    warned = {f.check: f.ids for f in report.warnings if f.layer == "WPZF"}
    assert warned["rectified-exceeds-illegal"] == ("WPZF:W3",)
    assert warned["rectified-without-area"] == ("WPZF:W5",)


def test_rectification_is_empty_not_zero_without_the_fields(result):
    check(result, {(A, "illegal_rectified_mu"): None, (A, "illegal_ratio_rectified"): None,
                   (Z, "illegal_rectified_mu"): None, (CITY, "illegal_rectified_mu"): None})


def test_derived_fifteen_percent_flag_and_disagreement_with_the_reported_ratio(result):
    check(result, {
        # A: reported 15 % (flag), derived 50 % (flag): both flagged but 35 points apart → 1
        (A, "derived_illegal_ratio_flag"): 1.0, (A, "illegal_ratio_disagreement"): 1.0,
        # B: reported ratio empty (nothing occupied, 500 m² illegal: flagged), derived 100 %
        # (flagged): the ratios cannot be compared, the flags agree → 0
        (B, "derived_illegal_ratio_flag"): 1.0, (B, "illegal_ratio_disagreement"): 0.0,
        # Z: reported 10 %, no derived occupation at all: neither flagged → 0
        (Z, "derived_illegal_ratio_flag"): 0.0, (Z, "illegal_ratio_disagreement"): 0.0,
        # city: 1300/6000 ≈ 21.7 % against 12250/14500 ≈ 84.5 %
        (CITY, "derived_illegal_ratio_flag"): 1.0, (CITY, "illegal_ratio_disagreement"): 1.0,
    })
    # 2017: B reports 0 of 15 亩 illegal and the change records agree (all approved)
    check(result, {(B, "derived_illegal_ratio_flag"): 0.0, (B, "illegal_ratio_disagreement"): 0.0},
          year=2017)
    # over the mid-term span a flag is "any year": B and A from 2016
    check(result, {(B, "derived_illegal_ratio_flag"): 1.0, (B, "illegal_ratio_disagreement"): 0.0,
                   (A, "illegal_ratio_disagreement"): 1.0}, phase="midterm", year=2017)
    assert result.evidence(A, "derived_illegal_ratio_flag", "annual", 2016) == (
        "DLTBGXGC:a1", "JSYDSP:J1", "JSYDSP:J1b")
    assert result.evidence(A, "illegal_ratio_disagreement", "annual", 2016) == (
        "DLTBGXGC:a1", "JSYDSP:J1", "JSYDSP:J1b", "WPZF:W1", "WPZF:W2")


def test_disagreement_tolerance_is_absolute_and_exclusive():
    from farmland.metrics.occupation import (ILLEGAL_RATIO_DISAGREEMENT_TOLERANCE,
                                             illegal_ratio_disagreement)

    assert ILLEGAL_RATIO_DISAGREEMENT_TOLERANCE == 0.05
    got = illegal_ratio_disagreement([0.15, 0.10, 0.10, np.nan, 0.10, 0.30],
                                     [0.20, 0.16, 0.12, 0.30, np.nan, 0.20],
                                     [1.0, 0.0, 0.0, 1.0, 0.0, 1.0],
                                     [1.0, 1.0, 0.0, 1.0, np.nan, 1.0])
    # exactly 5 points apart is not "more than"; 6 points are; flags 0/1 always disagree
    np.testing.assert_array_equal(got, [0.0, 1.0, 0.0, 0.0, np.nan, 1.0])


def test_high_standard_farmland_against_the_task(result):
    check(result, {
        (A, "hsf_built_mu"): 30.0, (A, "hsf_task_mu"): 40.0, (A, "hsf_completion"): 0.75,  # G1
        (B, "hsf_built_mu"): 60.0, (B, "hsf_completion"): 1.2,  # G3 (G2 is of 2015)
        # G5 is coded 371502 but lies in the zone; the zone has no task → completion empty.
        (Z, "hsf_built_mu"): 9.0, (Z, "hsf_task_mu"): None, (Z, "hsf_completion"): None,
        # the city's task is the sum of the tasks set: 40 + 50; built 30 + 60 + 9
        (CITY, "hsf_built_mu"): 99.0, (CITY, "hsf_task_mu"): 90.0, (CITY, "hsf_completion"): 99 / 90,
    })


def test_occupation_compensation_ledger(result):
    check(result, {
        (A, "occupied_mu"): 6.75, (A, "supplemented_mu"): 8.0, (A, "balance_mu"): 1.25,
        (A, "paddy_balance_mu"): 1.0, (A, "grain_capacity_balance_t"): 3.2 - 2.7,
        (A, "supplemented_upper_level_mu"): 8.0,  # P2 is 省统筹
        (B, "occupied_mu"): 15.0, (B, "supplemented_mu"): 13.5, (B, "balance_mu"): -1.5,
        (Z, "occupied_mu"): 0.0, (Z, "balance_mu"): 0.0,  # no rows: a flow of 0, not empty
        (CITY, "balance_mu"): 21.5 - 21.75,
    })


def test_basic_farmland_occupied_and_redesignated(result):
    check(result, {
        # F1 (2015, 9000 m² net) is half covered by the a1 → 202 piece: 4500 m² = 6.75 亩
        (A, "bf_occupied_mu"): 6.75, (A, "bf_redesignated_mu"): 0.0,
        # F2 wholly under b1 → 203: 15 亩. F5 is new land (13.5 亩); F16-3 is F3 renumbered and
        # lies on 2015 basic farmland, so it is not counted as 补划.
        (B, "bf_occupied_mu"): 15.0, (B, "bf_redesignated_mu"): 13.5, (B, "bf_balance_mu"): -1.5,
        # F4 went with z1 to a pond: lost (change −15) but not occupied by construction.
        (Z, "bf_occupied_mu"): 0.0, (Z, "basic_farmland_change_mu"): -15.0,
    })


def test_area_ledger_closes_where_change_records_explain_everything(result):
    check(result, {
        # A: 42.75 − 3.375 (legal) − 3.375 (illegal) − 2.85 (a3 → 031: 2000 × 0.95) = 33.15
        (A, "arable_opening_mu"): 42.75, (A, "arable_loss_construction_legal_mu"): 3.375,
        (A, "arable_loss_construction_illegal_mu"): 3.375, (A, "arable_loss_ecological_mu"): 2.85,
        (A, "arable_internal_change_mu"): 0.0, (A, "ledger_residual_mu"): 0.0,
        (A, "arable_change_mu"): -9.6,
        # Z: z1 → 114 pond, a restructuring loss of 15 亩
        (Z, "arable_loss_restructuring_mu"): 15.0, (Z, "ledger_residual_mu"): 0.0,
        # B: 42 − 15 + 13.5 (b4 104 → 012, net of the new parcel's KCXS 0.10: 9000 m²) = 40.5,
        # but the snapshot says 41.25: b2's coefficient went 0.20 → 0.15 without a record.
        (B, "arable_gain_mu"): 13.5, (B, "arable_gain_other_mu"): 13.5,
        (B, "ledger_residual_mu"): 0.75, (B, "arable_change_mu"): -0.75,
    })
    assert result.evidence(B, "ledger_residual_mu", "annual", 2016) == ("DLTB:b2",)


def test_ledger_that_does_not_close_is_a_warning_naming_the_parcel(run):
    _, report, _ = run
    ledger = [f for f in report.warnings if f.check == "ledger-not-closing"]
    assert len(ledger) == 1
    assert ledger[0].year == 2016 and ledger[0].ids == ("DLTB:b2",)
    assert "371521 +0.7500 亩" in ledger[0].message


def test_events_checklist_and_opinion_triggers(result):
    check(result, {
        (B, "events_count"): 2.0, (B, "events_interview_count"): 1.0,
        (B, "events_major_case_count"): 1.0, (A, "events_count"): 0.0,  # A's 2015 event: not 2016
        (A, "checklist.制度建设"): 0.75,  # mean of 1.0 and 0.5
        (B, "checklist.动态监测"): 0.8, (B, "checklist.制度建设"): None,
        # A met its arable target but not basic farmland (6.75 < 20); B missed arable (41.25 < 42)
        (A, "opinion_trigger_target_missed"): 1.0, (B, "opinion_trigger_target_missed"): 1.0,
        (A, "opinion_trigger_events"): 0.0, (B, "opinion_trigger_events"): 1.0,
        (A, "opinion_trigger_illegal_ratio"): 1.0, (Z, "opinion_trigger_illegal_ratio"): 0.0,
    })


EVENTS_WITH_LEVELS = """\
xzqdm,year,kind,level,note
371521,2016,警示约谈,省,row 2
371521,2016,挂牌督办,市,row 3
371502,2016,公开通报,国家,row 4
371502,2016,重大违法案件,县,row 5
371521,2016,公开通报,,row 6: blank level
371502,2017,挂牌督办,省级,row 7
371521,2017,挂牌督办,市,row 8
"""


def test_only_provincial_events_and_major_cases_trigger_the_opinion(tmp_path):
    root = write_tiny_city(tmp_path / "city")
    (root / "events.csv").write_text(EVENTS_WITH_LEVELS, encoding="utf-8")
    report = Report(strict=True)
    result = compute_metrics(Workspace.load(root), [2016, 2017], report=report)
    check(result, {
        # B: a 省 警示约谈 (row 2), a 市 挂牌督办 (3), a 公开通报 without level (6 → 市)
        (B, "events_count"): 3.0, (B, "events_provincial_count"): 1.0,
        (B, "events_provincial_interview_count"): 1.0, (B, "events_provincial_supervised_count"): 0.0,
        (B, "events_provincial_public_notice_count"): 0.0, (B, "events_public_notice_count"): 1.0,
        (B, "opinion_trigger_supervision"): 1.0, (B, "opinion_trigger_major_case"): 0.0,
        (B, "opinion_trigger_events"): 1.0,
        # A: a 国家 公开通报 (4) and a 县 重大违法案件 (5): a major case triggers at any level
        (A, "events_provincial_count"): 1.0, (A, "events_provincial_public_notice_count"): 1.0,
        (A, "events_major_case_count"): 1.0, (A, "events_provincial_major_case_count"): 0.0,
        (A, "opinion_trigger_supervision"): 1.0, (A, "opinion_trigger_major_case"): 1.0,
        (Z, "events_count"): 0.0, (Z, "opinion_trigger_events"): 0.0,
        (CITY, "events_provincial_count"): 2.0,
    })
    check(result, {
        (A, "events_provincial_supervised_count"): 1.0, (A, "opinion_trigger_events"): 1.0,  # 省级
        # B's only 2017 event is a 市 挂牌督办: counted, but not the opinion's trigger
        (B, "events_count"): 1.0, (B, "events_supervised_count"): 1.0,
        (B, "events_provincial_count"): 0.0, (B, "opinion_trigger_events"): 0.0,
    }, year=2017)
    ev = result.evidence
    assert ev(B, "events_provincial_count", "annual", 2016) == ("EVENTS:2",)
    assert ev(B, "events_provincial_interview_count", "annual", 2016) == ("EVENTS:2",)
    assert ev(B, "opinion_trigger_events", "annual", 2016) == ("EVENTS:2",)
    assert ev(A, "opinion_trigger_events", "annual", 2016) == ("EVENTS:4", "EVENTS:5")
    assert ev(A, "opinion_trigger_major_case", "annual", 2016) == ("EVENTS:5",)
    blank = [f for f in report.warnings if f.check == "no-level"]
    assert len(blank) == 1 and blank[0].ids == ("EVENTS:6",)


def test_events_without_a_level_column_are_city_level_with_a_warning(run):
    result, report, _ = run
    assert any(f.check == "no-level" and f.layer == "EVENTS" for f in report.warnings)
    check(result, {(B, "events_provincial_count"): 0.0, (B, "opinion_trigger_supervision"): 0.0,
                   (B, "opinion_trigger_major_case"): 1.0})


def test_city_opinion_indicators(result):
    check(result, {
        # construction land 2016: A16-02 5000 + a4 10000 + z2 10000 + B16-01 10000 = 35000 m²
        # of 100000 m² in all → 35 %, over the 18.31 % limit
        (CITY, "development_intensity"): 0.35, (CITY, "development_intensity_limit"): 0.1831,
        (CITY, "development_intensity_ok"): 0.0,
        # 城镇工矿 (二调 201 城市, 202 建制镇, 204 采矿; not 203 村庄): A16-02 202 5000 + z2 201
        # 10000 = 15000 m² → 22.5 亩 ≤ 757 500 亩 (a4 and B16-01 are 村庄)
        (CITY, "urban_industrial_space_mu"): 22.5, (CITY, "urban_industrial_space_mu_ok"): 1.0,
        (A, "urban_industrial_space_mu"): 7.5, (B, "urban_industrial_space_mu"): 0.0,
        (CITY, "land_supply_rate"): 170 / 200, (CITY, "land_supply_rate_ok"): 1.0,
        # per GDP: 2016 52.5 亩 / 110 against 2015 (a4 + z2 = 30 亩) / 100
        (CITY, "construction_land_per_gdp_change"): (52.5 / 110) / (30 / 100) - 1,
        (CITY, "construction_land_per_gdp_change_ok"): 0.0,
    })
    county_metrics = set(result.table.loc[result.table["level"] == "county", "metric"])
    assert "development_intensity_limit" not in county_metrics  # the limits are the city's


def test_city_opinion_indicators_say_their_basis(result, tmp_path):
    # the tiny city's CITYSTATS has no five-year nor comparable columns
    rows = result.table.set_index(["xzqdm", "phase", "year", "metric"])
    assert rows.loc[(CITY, "annual", 2016, "land_supply_rate"), "basis"] == "same_year"
    assert rows.loc[(CITY, "annual", 2016, "land_supply_rate_ok"), "basis"] == "same_year"
    assert rows.loc[(CITY, "annual", 2016, "construction_land_per_gdp_change"), "basis"] == "nominal"
    # with them: 2016 has both, 2017 neither (blank cells), so 2017 falls back and says so
    root = write_tiny_city(tmp_path / "city")
    (root / "city_stats.csv").write_text(
        "year,gdp_100m_yuan,gdp_comparable_100m_yuan,approved_mu,supplied_mu,approved_5y_mu,"
        "supplied_5y_mu\n2015,100,,0,0,,\n2016,110,105,200,170,1000,700\n2017,120,,100,90,,\n",
        encoding="utf-8")
    other = compute_metrics(Workspace.load(root), [2016, 2017], phases=("annual", "midterm"))
    check(other, {
        (CITY, "land_supply_rate"): 0.7, (CITY, "land_supply_rate_ok"): 0.0,  # 700 / 1000
        # base 2015 at its own prices = its nominal 100: (52.5 / 105) / (30 / 100) − 1
        (CITY, "construction_land_per_gdp_change"): (52.5 / 105) / 0.3 - 1,
    })
    check(other, {(CITY, "land_supply_rate"): 0.9}, year=2017)  # same year: 90 / 100
    # a span without five-year figures in its last year sums the same-year ones
    check(other, {(CITY, "land_supply_rate"): 260 / 300}, phase="midterm", year=2017)
    rows = other.table.set_index(["xzqdm", "phase", "year", "metric"])
    assert rows.loc[(CITY, "annual", 2016, "land_supply_rate"), "basis"] == "five_year"
    assert rows.loc[(CITY, "annual", 2016, "construction_land_per_gdp_change"), "basis"] == "comparable"
    assert rows.loc[(CITY, "annual", 2017, "land_supply_rate"), "basis"] == "same_year"
    assert rows.loc[(CITY, "annual", 2017, "construction_land_per_gdp_change"), "basis"] == "nominal"


def test_landcover_pixels_per_unit_with_the_zone_burnt_over_its_host(result):
    # 10 m pixels, cropland west of x = 250: A (x 0–200) 400 px → 60 亩; Z 100 + 100 px;
    # B all built-up
    check(result, {(A, "landcover_cropland_mu"): 60.0, (A, "landcover_built_mu"): 0.0,
                   (Z, "landcover_cropland_mu"): 15.0, (Z, "landcover_built_mu"): 15.0,
                   (B, "landcover_built_mu"): 60.0, (CITY, "landcover_cropland_mu"): 75.0})


# -- periods -----------------------------------------------------------------------------------


def test_midterm_sums_flows_and_takes_stocks_at_the_last_year_end(result):
    check(result, {
        (A, "arable_mu"): 33.15, (B, "arable_mu"): 26.25,  # 2017: B lost b3 (15 亩)
        (A, "arable_change_mu"): 33.15 - 42.75, (B, "arable_change_mu"): 26.25 - 42.0,
        (B, "construction_on_arable_mu"): 0.0 + 15.0, (B, "illegal_arable_mu"): 0.75,
        (B, "illegal_ratio"): 0.75 / 15.0,
        # the 15 % rule is per calendar year: B reached it in 2016, so the span is flagged
        (B, "illegal_ratio_flag"): 1.0,
        (B, "derived_construction_on_arable_mu"): 30.0, (B, "derived_illegal_ratio"): 0.5,
        (A, "hsf_built_mu"): 45.0, (A, "hsf_task_mu"): 80.0, (A, "hsf_completion"): 45 / 80,
        (A, "checklist.制度建设"): 0.5,  # rows 1.0, 0.5 (2016) and 0.0 (2017)
        (B, "occupied_mu"): 30.0, (B, "bf_occupied_mu"): 30.0, (B, "ledger_residual_mu"): 0.75,
        (A, "arable_opening_mu"): 42.75,  # the first year's opening
        (CITY, "land_supply_rate"): (170 + 90) / (200 + 100),
    }, phase="midterm", year=2017)
    t = result.table
    mid = t[t["phase"] == "midterm"]
    assert set(mid["start_year"]) == {2016} and set(mid["year"]) == {2017}


def test_partial_final_span_is_reported(run):
    result, report, _ = run
    assert any(f.check == "partial-span" and "2016–2017" in f.message for f in report.warnings)
    assert value(result, B, "arable_mu", "final", 2017) == pytest.approx(26.25)


# -- units, evidence, table shape ----------------------------------------------------------------


def test_zone_is_detected_and_said(run):
    result, report, _ = run
    info = [f for f in report.findings if f.check == "spatial-units"]
    assert len(info) == 1 and "371571" in info[0].message
    units = result.table.loc[result.table["level"] == "county", ["xzqdm", "xzqmc"]].drop_duplicates()
    assert dict(units.itertuples(index=False)) == {A: "东昌府区", B: "阳谷县", Z: "聊城经济技术开发区"}


def test_evidence_ids_per_figure(result):
    ev = result.evidence
    assert ev(A, "construction_on_arable_mu", "annual", 2016) == ("WPZF:W1", "WPZF:W2")
    assert ev(Z, "construction_on_arable_mu", "annual", 2016) == ("WPZF:W5",)
    assert ev(A, "derived_illegal_ratio", "annual", 2016) == ("DLTBGXGC:a1", "JSYDSP:J1", "JSYDSP:J1b")
    assert ev(B, "bf_occupied_mu", "annual", 2016) == ("DLTBGXGC:b1", "JBNTTB:F2")
    assert ev(B, "bf_redesignated_mu", "annual", 2016) == ("JBNTTB:F5",)
    assert ev(A, "occupied_mu", "annual", 2016) == ("ZBPH:2",)  # spreadsheet row numbers
    assert ev(B, "events_count", "annual", 2016) == ("EVENTS:2", "EVENTS:3")
    assert ev(CITY, "hsf_built_mu", "annual", 2016) == ("GBZNT:G1", "GBZNT:G3", "GBZNT:G5")
    assert ev(A, "arable_mu", "annual", 2016) == ()  # stocks carry no parcel list
    assert ev(B, "construction_on_arable_mu", "midterm", 2017) == ("WPZF:W6",)
    with pytest.raises(KeyError):
        ev(A, "no_such_metric", "annual", 2016)


def test_table_columns_units_and_basis(result):
    t = result.table
    assert list(t.columns) == TABLE_COLUMNS
    assert not t.duplicated(["xzqdm", "level", "phase", "year", "metric"]).any()
    rows = t.set_index(["xzqdm", "phase", "year", "metric"])
    assert rows.loc[(A, "annual", 2016, "arable_mu"), "unit"] == "mu"
    assert rows.loc[(A, "annual", 2016, "arable_mu"), "basis"] == "erdiao"
    assert rows.loc[(A, "annual", 2016, "arable_target_mu"), "basis"] == "erdiao"
    assert rows.loc[(A, "annual", 2016, "illegal_ratio_flag"), "unit"] == "flag"
    assert rows.loc[(A, "annual", 2016, "occupied_mu"), "basis"] == ""
    assert rows.loc[(A, "annual", 2016, "checklist.制度建设"), "unit"] == "fraction"


def test_wide_puts_the_contract_columns_first(result):
    wide = result.wide(level=("county", "city"), phase="annual", years=2016)
    assert list(wide.columns[:3]) == ["xzqdm", "xzqmc", "year"]
    assert list(wide.columns[3:3 + len(CONTRACT_METRICS)]) == list(CONTRACT_METRICS)
    assert list(wide["xzqdm"]) == [A, B, Z, CITY]
    assert wide.loc[wide["xzqdm"] == CITY, "arable_mu"].item() == pytest.approx(74.4)


def test_wide_is_pivoted_once_and_handed_out_as_copies(result):
    first = result.wide(level="county", phase="midterm")
    pivoted = first.copy()
    first["arable_mu"] = -1.0  # a caller's change stays in its own copy
    first.loc[0, "xzqdm"] = "changed"
    again = result.wide(level="county", phase="midterm")
    pd.testing.assert_frame_equal(again, pivoted, check_exact=True)
    assert list(again["xzqdm"]) == [A, B, Z]
    # Same arguments spelled differently (a year or a list of it) give the same frame.
    pd.testing.assert_frame_equal(result.wide(level="county", years=2016),
                                  result.wide(level=["county"], years=[2016]), check_exact=True)
    assert len(result._wide) >= 2  # the pivots are kept on the result


def test_wide_of_some_years_is_the_pivot_of_their_rows_alone(result):
    from farmland.metrics import MetricsResult

    t = result.table
    # A metric of one year only (a checklist item asked for once, say) is a column of that year.
    table = t[~((t["metric"] == "arable_mu") & (t["year"] != 2016))].reset_index(drop=True)
    cut = MetricsResult(table=table)
    for levels, phase, years in (("county", "annual", [2016]), ("county", "annual", [2017]),
                                 (("county", "city"), "annual", [2016, 2017]), ("county", "final", [2020]),
                                 ("township", "annual", [2016]), ("county", "annual", [1999])):
        alone = MetricsResult(table=table[table["year"].isin(years)].reset_index(drop=True))
        expected = alone.wide(level=levels, phase=phase)
        got = cut.wide(level=levels, phase=phase, years=years)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert list(got.columns) == list(expected.columns)
    assert "arable_mu" in cut.wide(years=2016) and "arable_mu" not in cut.wide(years=2017)


def test_metrics_for_scoring_picks_the_span_for_a_later_year(result):
    frame, evidence = metrics_for_scoring(result, "midterm", 2018)  # held in the period's third year
    assert list(frame["xzqdm"]) == [A, B, Z] and set(frame["year"]) == {2017}
    assert evidence(B, "construction_on_arable_mu") == ("WPZF:W6",)
    frame, _ = metrics_for_scoring(result, "annual", 2016)
    assert frame.loc[frame["xzqdm"] == A, "arable_mu"].item() == pytest.approx(33.15)
    with pytest.raises(WorkspaceError):
        metrics_for_scoring(result, "annual", 2030)


def test_progress_is_called_per_layer_read(run):
    _, _, messages = run
    assert "读取 DLTB 2016" in messages and "读取 DLTBGXGC 2017" in messages
    assert messages.count("读取 JSYDSP") == 1  # a layer without {year} is read once per run


# -- other levels ----------------------------------------------------------------------------------


def test_township_level_groups_by_the_first_nine_characters(city):
    result = compute_metrics(Workspace.load(city), [2016], level="township")
    wide = result.wide(level="township").set_index("xzqdm")
    # 371502001: A16-01 4500 + a2 10000 → 21.75; 371502002: A16-03 7600 → 11.4; 371502003: 0
    # 371521001: b2 8500 → 12.75; 371521002: b3 10000 + B16-02 9000 → 28.5
    assert wide["arable_mu"].to_dict() == pytest.approx(
        {"371502001": 21.75, "371502002": 11.4, "371502003": 0.0, "371521001": 12.75,
         "371521002": 28.5})
    assert wide["arable_mu"].sum() == pytest.approx(74.4)  # = the city's
    assert wide.loc["371521001", "ledger_residual_mu"] == pytest.approx(0.75)
    # WPZF rows carry 6-digit codes only: no township figure rather than a wrong one
    assert wide["construction_on_arable_mu"].isna().all()
    assert set(result.table["level"]) == {"township"}


TOWNSHIPS_CSV = """\
xzdm,xzmc,arable_target_mu,basic_farmland_target_mu,hsf_task_mu_2016
371502001,古楼街道,20,5,10
371502002,柳园街道,12,,
371521001,侨润街道,13,4,
"""


def test_township_list_names_the_townships_and_sets_their_targets(tmp_path):
    toml = TOML.replace("[layers]", '[townships]\npath = "townships.csv"\n\n[layers]')
    root = write_tiny_city(tmp_path / "city", toml=toml)
    (root / "townships.csv").write_text(TOWNSHIPS_CSV, encoding="utf-8")
    report = Report(strict=True)
    result = compute_metrics(Workspace.load(root), [2016], level="township", report=report)
    wide = result.wide(level="township").set_index("xzqdm")
    assert wide["xzqmc"].to_dict() == {"371502001": "古楼街道", "371502002": "柳园街道",
                                       "371502003": "东昌府区 371502003", "371521001": "侨润街道",
                                       "371521002": "阳谷县 371521002"}
    # 371502001: 21.75 亩 against 20; 371502002: 11.4 against 12 (no basic-farmland target)
    assert wide.loc["371502001", "arable_target_mu"] == 20.0
    assert wide.loc["371502001", "arable_attainment"] == pytest.approx(21.75 / 20)
    assert wide.loc["371502002", "arable_attainment"] == pytest.approx(11.4 / 12)
    assert math.isnan(wide.loc["371502002", "basic_farmland_target_mu"])
    assert wide.loc["371502001", "hsf_task_mu"] == 10.0
    assert math.isnan(wide.loc["371521002", "arable_target_mu"])
    unknown = [f for f in report.warnings if f.check == "unknown-township"]
    assert len(unknown) == 1 and unknown[0].ids == ("371502003", "371521002")


def test_city_level_alone(city):
    result = compute_metrics(Workspace.load(city), [2016], level="city")
    assert set(result.table["xzqdm"]) == {CITY}
    assert value(result, CITY, "arable_mu") == pytest.approx(74.4)


# -- failures and findings ---------------------------------------------------------------------


def test_parcel_matching_no_unit_is_an_error_naming_it(tmp_path):
    parcels = dltb(2016)
    parcels.loc[parcels["BSM"] == "a2", "ZLDWDM"] = "3715990010010000000"
    root = write_tiny_city(tmp_path / "city", parcels={2016: parcels})
    with pytest.raises(LayerError, match="a2"):
        compute_metrics(Workspace.load(root), [2016])


def sandiao_2016():
    """The 2016 snapshot recoded to 三调 4-digit codes (a 2019-style snapshot)."""
    parcels = dltb(2016)
    recode = {"012": "0102", "013": "0103", "202": "0702", "203": "0702", "031": "0301",
              "114": "1104", "201": "0701"}
    parcels["DLBM"] = parcels["DLBM"].map(recode)
    return parcels


def test_series_break_is_marked_not_chained(tmp_path):
    # The 2016 snapshot recoded to 三调 4-digit codes: comparing it with 二调 2015 is a break.
    root = write_tiny_city(tmp_path / "city", parcels={2016: sandiao_2016()})
    report = Report(strict=True)
    result = compute_metrics(Workspace.load(root), [2016], report=report)
    assert value(result, A, "series_break") == 1.0
    assert value(result, A, "arable_change_mu") == pytest.approx(-9.6)  # kept, not dropped
    rows = result.table.set_index(["xzqdm", "metric"])
    assert rows.loc[(A, "arable_mu"), "basis"] == "sandiao"
    assert rows.loc[(A, "arable_target_mu"), "basis"] == "erdiao"
    assert any(f.check == "series-break" for f in report.warnings)
    assert any(f.check == "target-basis" for f in report.findings)


def test_urban_industrial_space_on_the_sandiao_basis_reads_czcsxm(tmp_path):
    """三调: CZCSXM 201, 201A, 202, 202A, 204 are 城镇工矿; 203/203A 村庄 and 205 are not."""
    parcels = dltb(2016)
    recode = {"012": "0102", "013": "0103", "202": "0601", "203": "0702", "031": "0301",
              "114": "1104", "201": "0701"}
    parcels["DLBM"] = parcels["DLBM"].map(recode)
    czcsxm = {"A16-02": "201A", "a4": "203", "z2": "204", "B16-01": "203A", "A16-01": "201"}
    parcels["CZCSXM"] = parcels["BSM"].map(czcsxm)
    root = write_tiny_city(tmp_path / "city", parcels={2016: parcels})
    result = compute_metrics(Workspace.load(root), [2016])
    # A16-02 (0601, 201A) 5000 + z2 (0701, 204) 10000; A16-01 is arable (not construction),
    # a4 and B16-01 are 村庄: 15000 m² → 22.5 亩
    assert value(result, CITY, "urban_industrial_space_mu") == pytest.approx(22.5)
    assert value(result, Z, "urban_industrial_space_mu") == pytest.approx(15.0)
    assert value(result, B, "urban_industrial_space_mu") == 0.0


TARGETS_BY_BASIS = """\
xzqdm,xzqmc,arable_target_mu,basic_farmland_target_mu,basis,hsf_task_mu_2016,hsf_task_mu_2017
371502,东昌府区,33.0,20.0,二调,40,40
371502,东昌府区,30.0,18.0,三调,,
371521,阳谷县,42.0,25.0,二调,50,50
371571,聊城经济技术开发区,1.0,1.0,,,
"""


def test_targets_of_the_stocks_basis_are_used_and_a_crossing_is_marked(tmp_path):
    # 二调 stocks (2016 as is): the 二调 rows; a blank basis is 二调
    root = write_tiny_city(tmp_path / "erdiao")
    (root / "targets.csv").write_text(TARGETS_BY_BASIS, encoding="utf-8")
    result = compute_metrics(Workspace.load(root), [2016])
    check(result, {(A, "arable_target_mu"): 33.0, (A, "arable_basis_mismatch"): 0.0,
                   (A, "hsf_task_mu"): 40.0, (Z, "arable_target_mu"): 1.0,
                   (CITY, "arable_target_mu"): 76.0, (CITY, "arable_basis_mismatch"): 0.0})
    # 三调 stocks (2016 recoded): A has a 三调 target (30), B only a 二调 one (42: marked)
    root = write_tiny_city(tmp_path / "sandiao", parcels={2016: sandiao_2016()})
    (root / "targets.csv").write_text(TARGETS_BY_BASIS, encoding="utf-8")
    result = compute_metrics(Workspace.load(root), [2016])
    check(result, {
        (A, "arable_target_mu"): 30.0, (A, "arable_basis_mismatch"): 0.0,
        (A, "arable_attainment"): 33.15 / 30.0,
        (B, "arable_target_mu"): 42.0, (B, "arable_basis_mismatch"): 1.0,
        # basic farmland stays 二调 (its layer's codes): A's 二调 target, no mismatch
        (A, "basic_farmland_target_mu"): 20.0, (A, "basic_farmland_basis_mismatch"): 0.0,
        # the city adds up the targets its units are held to: 30 + 42 + Z's 二调 1 (marked too)
        (CITY, "arable_target_mu"): 73.0, (CITY, "arable_basis_mismatch"): 1.0,
        (Z, "arable_basis_mismatch"): 1.0,
    })
    rows = result.table.set_index(["xzqdm", "metric"])
    assert rows.loc[(A, "arable_target_mu"), "basis"] == "sandiao"
    assert rows.loc[(B, "arable_target_mu"), "basis"] == "erdiao"
    assert rows.loc[(B, "arable_mu"), "basis"] == "sandiao"


def test_targets_on_the_older_basis_are_marked_against_sandiao_stocks(result):
    # no basis column: 二调 targets against 二调 stocks in 2016
    check(result, {(A, "arable_basis_mismatch"): 0.0, (B, "basic_farmland_basis_mismatch"): 0.0})


ADJUSTMENTS_CSV = """\
xzqdm,year,kind,arable_mu,basic_farmland_mu,document,note
371502,2016,跨县易地,-2.5,0,聊政字〔2016〕1号,易地补充
371502,2017,生态退耕,-1.0,-0.5,聊政字〔2017〕2号,
371521,2016,生态退耕,1.5,,聊政字〔2016〕3号,
371521,2017,国家统筹,0,0,国土资发〔2017〕4号,
"""
ADJUSTMENTS_TOML = TOML.replace('path = "targets.csv"\n',
                                'path = "targets.csv"\nadjustments = "target_adjustments.csv"\n')


def test_target_adjustments_in_force_are_added_to_the_base_target(tmp_path):
    root = write_tiny_city(tmp_path / "city", toml=ADJUSTMENTS_TOML)
    (root / "target_adjustments.csv").write_text(ADJUSTMENTS_CSV, encoding="utf-8")
    result = compute_metrics(Workspace.load(root), [2016, 2017], phases=("annual", "midterm"))
    check(result, {
        (A, "arable_target_base_mu"): 33.0, (A, "arable_target_adjustment_mu"): -2.5,
        (A, "arable_target_mu"): 30.5, (A, "arable_attainment"): 33.15 / 30.5,
        (A, "basic_farmland_target_adjustment_mu"): 0.0, (A, "basic_farmland_target_mu"): 20.0,
        (B, "arable_target_mu"): 43.5, (Z, "arable_target_adjustment_mu"): 0.0,
        (CITY, "arable_target_base_mu"): 76.0, (CITY, "arable_target_mu"): 75.0,
        # 17号 第八条: A's ledger has a 省统筹 row (P2) and a 跨县易地 adjustment; B neither yet
        (A, "upper_level_involved"): 1.0, (B, "upper_level_involved"): 0.0,
        (Z, "upper_level_involved"): 0.0,
    })
    check(result, {
        (A, "arable_target_adjustment_mu"): -3.5, (A, "arable_target_mu"): 29.5,
        (A, "basic_farmland_target_mu"): 19.5,
        (B, "upper_level_involved"): 1.0,  # the 国家统筹 adjustment of 2017
    }, year=2017)
    check(result, {(A, "arable_target_mu"): 29.5, (B, "upper_level_involved"): 1.0},
          phase="midterm", year=2017)
    ev = result.evidence
    assert ev(A, "arable_target_adjustment_mu", "annual", 2016) == ("ADJUSTMENT:聊政字〔2016〕1号",)
    assert ev(A, "basic_farmland_target_adjustment_mu", "annual", 2017) == ("ADJUSTMENT:聊政字〔2017〕2号",)
    assert ev(A, "upper_level_involved", "annual", 2016) == ("ADJUSTMENT:聊政字〔2016〕1号", "ZBPH:3")
    assert ev(B, "upper_level_involved", "annual", 2017) == ("ADJUSTMENT:国土资发〔2017〕4号",)


def test_bad_adjustment_rows_are_errors_naming_file_row_and_fix(tmp_path):
    root = write_tiny_city(tmp_path / "city", toml=ADJUSTMENTS_TOML)
    (root / "target_adjustments.csv").write_text(
        "xzqdm,year,kind,arable_mu,basic_farmland_mu,document,note\n"
        "371502,2016,易地,-2.5,0,文1,\n"
        "371502,2016,生态退耕,两亩,0,文2,\n"
        "371599,2016,其他,1,0,文3,\n"
        "371521,2016,其他,1,0,,\n", encoding="utf-8")
    report = Report(strict=False)
    compute_metrics(Workspace.load(root), [2016], report=report)
    errors = {f.check: f for f in report.errors if f.layer == "TARGET_ADJUSTMENTS"}
    assert errors["bad-kind"].ids == ("row 2",) and "跨县易地" in errors["bad-kind"].message
    assert errors["not-a-number"].ids == ("row 3",) and errors["not-a-number"].field == "arable_mu"
    assert errors["unknown-unit"].ids == ("row 4",)
    assert errors["missing-document"].ids == ("row 5",)
    assert all("target_adjustments.csv" in f.render() for f in errors.values())
    with pytest.raises(LayerError, match="row 3"):
        compute_metrics(Workspace.load(root), [2016])


def test_a_layer_not_configured_leaves_its_metrics_empty_with_a_warning(tmp_path):
    toml = TOML.replace('WPZF = "wpzf.gpkg:WPZF"\n', "")
    root = write_tiny_city(tmp_path / "city", toml=toml)
    report = Report(strict=True)
    result = compute_metrics(Workspace.load(root), [2016], report=report)
    assert math.isnan(value(result, A, "construction_on_arable_mu"))
    assert math.isnan(value(result, A, "illegal_ratio_flag"))
    assert value(result, A, "derived_construction_on_arable_mu") == pytest.approx(6.75)
    assert any(f.layer == "WPZF" and f.check == "layer-not-configured" for f in report.warnings)


def test_missing_change_records_of_an_assessed_year_is_an_error(tmp_path):
    toml = TOML.replace('DLTBGXGC = "bgdc_{year}.gpkg:DLTBGXGC"',
                        'DLTBGXGC = "gxgc_{year}.gpkg:DLTBGXGC"')
    root = write_tiny_city(tmp_path / "city", toml=toml)
    with pytest.raises(WorkspaceError, match="DLTBGXGC"):
        compute_metrics(Workspace.load(root), [2016])


def test_unknown_level_or_phase_is_refused(city):
    ws = Workspace.load(city)
    with pytest.raises(WorkspaceError, match="level"):
        compute_metrics(ws, [2016], level="village")
    with pytest.raises(WorkspaceError, match="phase"):
        compute_metrics(ws, [2016], phases=("yearly",))


TARGET_METRICS = ("arable_target_mu", "basic_farmland_target_mu", "hsf_task_mu")


def test_city_rows_equal_the_sum_of_county_rows_for_every_additive_metric(result):
    t = result.table
    additive = t[t["unit"].isin(["mu", "t", "count"]) & ~t["metric"].str.endswith("_limit")
                 & ~t["metric"].isin(TARGET_METRICS) & ~t["metric"].str.contains("margin")]
    county = additive[additive["level"] == "county"].groupby(["phase", "year", "metric"])["value"] \
        .sum(skipna=False)
    city = additive[additive["level"] == "city"].set_index(["phase", "year", "metric"])["value"]
    both = pd.concat({"county": county, "city": city}, axis=1)
    assert len(both) > 100
    np.testing.assert_allclose(both["city"], both["county"], rtol=1e-12, atol=1e-9)


def test_ledger_explanation_names_records_whose_parcel_is_missing(tmp_path):
    # The b4 → 012 record names a BGHTBBSM that is not in the 2016 snapshot: its gain is counted
    # without a deduction (10000 m² instead of 9000), and B16-02 changed without a record.
    pieces = [p if p[0] != "b4" else (p[0], "XX", *p[2:]) for p in PIECES[2016]]
    root = write_tiny_city(tmp_path / "city", pieces={2016: pieces})
    report = Report(strict=True)
    result = compute_metrics(Workspace.load(root), [2016], report=report)
    # B: 41.25 − (42 − 15 + 15) = −0.75 亩 (the +0.75 of b2 and −1.5 of the missing coefficient)
    assert value(result, B, "ledger_residual_mu") == pytest.approx(-0.75)
    assert set(result.evidence(B, "ledger_residual_mu", "annual", 2016)) == {
        "DLTB:b2", "DLTB:B16-02", "DLTBGXGC:b4"}
    assert any(f.check == "unresolved-after-parcel" and f.ids == ("DLTBGXGC:b4",)
               for f in report.warnings)


def test_without_approvals_legality_is_unknown_but_the_ledger_still_closes(tmp_path):
    toml = TOML.replace('JSYDSP = "approvals.gpkg:JSYDSP"\n', "")
    root = write_tiny_city(tmp_path / "city", toml=toml)
    result = compute_metrics(Workspace.load(root), [2016], report=Report(strict=True))
    assert value(result, A, "derived_construction_on_arable_mu") == pytest.approx(6.75)
    assert math.isnan(value(result, A, "derived_illegal_arable_mu"))
    assert math.isnan(value(result, A, "arable_loss_construction_legal_mu"))
    assert value(result, A, "ledger_residual_mu") == pytest.approx(0.0, abs=1e-12)


def test_renamed_county_codes_are_attributed_to_the_unit_xzq_uses():
    import geopandas as gpd

    from farmland.metrics.attribution import UnitSet

    xzq = gpd.GeoDataFrame({"XZQDM": ["371503", "371502"], "XZQMC": ["茌平区", "东昌府区"]},
                           geometry=[None, None])
    report = Report(strict=True)
    units = UnitSet.from_xzq(xzq, city_code=CITY, city_name="聊城市",
                             parcel_codes={"371523", "371502"}, report=report)
    assert units.zones == ()  # 371503 has parcels under its old code: not a development zone
    codes = ["3715230010010000000", "3715020010010000000", "371503", "3715990010010000000"]
    assert list(units.county_of(codes)) == ["371503", "371502", "371503", None]
    assert list(units.township_of(codes)) == ["371503001", "371502001", None, "371599001"]
    county, township = units.county_and_township_of(codes + [None])
    assert list(county) == ["371503", "371502", "371503", None, None]
    assert list(township) == ["371503001", "371502001", None, "371599001", None]
    assert any(f.check == "unit-renamed" for f in report.findings)


def test_zones_take_features_by_representative_point_only_near_a_zone():
    """Only features whose box meets a zone's are placed by point; the result is the one of
    placing every feature (an L whose box reaches into the zone but whose point does not stays)."""
    import geopandas as gpd
    import shapely

    from farmland.metrics.attribution import UnitSet

    zone = shapely.box(100, 0, 200, 100)
    xzq = gpd.GeoDataFrame({"XZQDM": [A, Z], "XZQMC": ["东昌府区", "经开区"]},
                           geometry=[shapely.box(0, 0, 300, 100), zone])
    units = UnitSet.from_xzq(xzq, city_code=CITY, city_name="聊城市", parcel_codes={A},
                             spatial_units=[Z])
    ell = shapely.Polygon([(0, 0), (90, 0), (90, 90), (150, 90), (150, 95), (0, 95)])
    # The last box's representative point (100, 35) lies on the zone's edge: not inside it.
    features = np.array([shapely.box(120, 10, 180, 60), ell, shapely.box(250, 10, 290, 60), None,
                         shapely.Polygon(), shapely.box(190, 10, 230, 60), shapely.box(60, 10, 140, 60)],
                        dtype=object)
    moved_units, moved = units.move_to_zones(np.full(len(features), A, dtype=object), features, None)
    assert moved_units.tolist() == [Z, A, A, A, A, A, A]
    assert moved.tolist() == [True, False, False, False, False, False, False]
    every = shapely.point_on_surface(features[[0, 1, 2, 5]])
    assert shapely.within(every, zone).tolist() == [True, False, False, False]


def test_county_and_township_in_one_run(city):
    result = compute_metrics(Workspace.load(city), [2016], level=("county", "township"))
    assert set(result.table["level"]) == {"county", "township"}
    county = result.wide(level="county").set_index("xzqdm")["arable_mu"]
    township = result.wide(level="township").set_index("xzqdm")["arable_mu"]
    assert county.sum() == pytest.approx(township.sum()) == pytest.approx(74.4)


def test_touching_polygons_do_not_overlap_even_across_zones():
    """Slivers are not land: edge-adjacent parcels, also after a zone-38 file is brought to zone 39."""
    import geopandas as gpd
    import shapely

    from farmland.metrics.occupation import covered_share, overlaps

    x, y = 38_400_000.0, 4_000_000.0
    left = shapely.box(x, y, x + 2000, y + 1000)
    right = shapely.Polygon([(x + 2000, y), (x + 4000, y), (x + 4000, y + 1000), (x + 2000, y + 1000),
                             (x + 2000, y + 500)])  # a split left a vertex mid-edge
    real = shapely.box(x + 1990, y, x + 4000, y + 1000)  # a true 10 m × 1 km overlap with `left`
    moved = gpd.GeoSeries([left, right, real], crs="EPSG:4526").to_crs("EPSG:4527").values
    assert shapely.area(shapely.intersection(moved[0], moved[1])) > 0.3  # the raw sliver is there
    shared = overlaps(moved[[0, 0]], moved[[1, 2]])
    assert shapely.is_empty(shared[0])
    assert shapely.area(shared[1]) == pytest.approx(10_000, rel=5e-3)  # zone 39 scale is ~1.003 here
    share, _, _ = covered_share(moved[[1]], moved[[0]])
    assert share[0] == 0.0


def test_overlaps_in_a_partition_are_the_overlaps_of_every_pair():
    """A feature inside one parcel is intersected with that parcel only, one straddling parcels
    with all it meets: the overlaps of every intersecting pair, without touching pairs and slivers."""
    import shapely

    from farmland.metrics.occupation import overlaps, overlaps_in_partition

    grid = [shapely.box(x, y, x + 100, y + 100) for y in (0, 100) for x in (0, 100, 200)]
    partition = np.array(grid, dtype=object)
    subset = np.array([1, 2, 4])  # e.g. the construction-class parcels
    features = np.array([
        grid[1],                                                          # a copy of parcel 1
        shapely.Polygon([(200, 0), (300, 0), (300, 100), (200, 100)]),    # parcel 2, drawn from another corner
        grid[0],                                                          # inside parcel 0 only: touches 1 and 4
        shapely.box(150, 120, 250, 180),                                  # straddles parcels 4 and 5
        shapely.box(0, 100, 300, 200),                                    # holds parcel 4 whole
        shapely.box(20, 20, 40, 40),                                      # inside 0, near nothing
        None,
    ], dtype=object)
    g, s, shared = overlaps_in_partition(features, partition, subset)
    tree = shapely.STRtree(partition[subset])
    eg, es = tree.query(features, predicate="intersects")
    expected = overlaps(features[eg], partition[subset][es])
    real = shapely.area(expected) > 0
    assert sorted(zip(g.tolist(), s.tolist())) == sorted(zip(eg[real].tolist(), es[real].tolist()))
    assert sorted(zip(g.tolist(), s.tolist())) == [(0, 0), (1, 1), (3, 2), (4, 2)]
    by_pair = dict(zip(zip(g.tolist(), s.tolist()), shared))
    for a, b, geom in zip(eg[real], es[real], expected[real]):
        assert shapely.equals_exact(by_pair[(a, b)], geom, 0.0)


def test_a_target_inside_one_cover_is_covered_without_intersecting():
    """Share 1 for a target inside a cover (its pairs kept, in target order); a thin target
    inside a cover is still a sliver, covered by nothing."""
    import shapely

    from farmland.metrics.occupation import covered_share

    covers = np.array([shapely.box(0, 0, 100, 100), shapely.box(50, 0, 150, 100),
                       shapely.box(0, 0, 10, 0.01)], dtype=object)
    targets = np.array([shapely.box(60, 10, 90, 40), shapely.box(90, 10, 200, 40),
                        shapely.box(1, 0, 9, 0.005)], dtype=object)
    share, t, c = covered_share(targets, covers)
    assert share[0] == 1.0
    assert share[1] == pytest.approx(60 / 110)
    assert share[2] == 0.0
    assert t.tolist() == sorted(t.tolist())
    assert sorted(zip(t.tolist(), c.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 2)]


def test_copies_of_an_outline_are_covered_as_the_full_test_says():
    import shapely

    from farmland.metrics.occupation import _covered_by

    square = shapely.box(0, 0, 10, 10)
    holed = shapely.Polygon(square.exterior.coords, [[(2, 2), (4, 2), (4, 4), (2, 4)]])
    a = np.array([square, square, square, holed, square, shapely.box(1, 1, 2, 2), square, None], dtype=object)
    b = np.array([shapely.box(0, 0, 10, 10), shapely.MultiPolygon([square]),
                  shapely.Polygon([(10, 10), (0, 10), (0, 0), (10, 0)]), square, holed,
                  shapely.MultiPolygon([square, shapely.box(20, 0, 30, 10)]), shapely.box(0, 0, 10, 9),
                  square], dtype=object)
    assert _covered_by(a, b).tolist() == shapely.covered_by(a, b).tolist() \
        == [True, True, True, True, False, True, False, False]


def test_derived_occupation_is_counted_where_the_construction_stands(tmp_path):
    """Pieces are attributed by BGHZLDWDM for occupation (docs/background.md §1.4), by BGQZLDWDM for the loss.

    Move the 2016 a1 → 202 piece into 阳谷县 after the change (a boundary adjustment): its
    5000 m² × (1 − 0.10) × 0.0015 = 6.75 亩 of occupation goes to B (15 + 6.75 = 21.75 亩), while
    A's arable ledger still loses it, so A's ledger closes as before.
    """
    from tiny_city import PIECES, B1

    moved = [(*p[:5], B1, *p[6:]) if p[1] == "A16-02" else p for p in PIECES[2016]]
    root = write_tiny_city(tmp_path / "city", pieces={2016: moved})
    result = compute_metrics(Workspace.load(root), [2016])
    assert value(result, A, "derived_construction_on_arable_mu") == pytest.approx(0.0)
    assert value(result, B, "derived_construction_on_arable_mu") == pytest.approx(21.75)
    assert value(result, A, "ledger_residual_mu") == pytest.approx(0.0, abs=0.01)


def test_further_landcover_classes_are_reported(generated_workspace, tmp_path):
    """Revision 2: [landcover] may name further classes; they are kept and reported (landcover.<class>)."""
    import shutil

    import rasterio

    from farmland.metrics import compute_metrics
    from farmland.workspace import Workspace

    ws_path = shutil.copytree(generated_workspace, tmp_path / "ws")
    with rasterio.open(ws_path / "landcover_2018.tif") as src:
        values = src.read(1)
        cell_m2 = abs(src.transform.a * src.transform.e)
    present = sorted(set(np.unique(values).tolist()) - {1, 2, 0})
    assert present, "the generated raster should hold classes beyond cropland and built"
    other = present[0]
    toml = ws_path / "farmland.toml"
    text = toml.read_text(encoding="utf-8")
    assert "built = [2]" in text
    toml.write_text(text.replace("built = [2]", f"built = [2]\nwater = [{other}]", 1), encoding="utf-8")
    result = compute_metrics(Workspace.load(ws_path), [2018], level="city")
    wide = result.wide(level="city", phase="annual")
    assert "landcover.water" in wide.columns
    # Every cell of the class lies in some unit of the generated city, so the city total is the count.
    assert wide["landcover.water"].iloc[0] == pytest.approx((values == other).sum() * cell_m2 * 0.0015, rel=0.02)
    assert wide["landcover_built_mu"].iloc[0] > 0


def test_evidence_ids_are_distinct_sorted_and_borrowed():
    from farmland.metrics.catalogue import metric_info
    from farmland.metrics.result import _evidence_ids

    evidence = pd.DataFrame({
        "unit": [A, A, A, B, None, A],
        "metric": ["illegal_ratio", "illegal_ratio", "illegal_rectified_mu", "illegal_ratio", "illegal_ratio",
                   "illegal_ratio"],
        "id": ["WPZF:b", "WPZF:b", "WPZF:a", "WPZF:c", "WPZF:z", "WPZF:B"],
    })
    borrower = metric_info("illegal_ratio_rectified")  # borrows illegal_ratio and illegal_rectified_mu
    ids = _evidence_ids(evidence, [metric_info("illegal_ratio"), borrower])
    assert ids[(A, "illegal_ratio")] == ("WPZF:B", "WPZF:b")
    assert ids[(A, borrower.name)] == ("WPZF:B", "WPZF:a", "WPZF:b")
    assert ids[(B, borrower.name)] == ("WPZF:c",)
    assert set(ids) == {(A, "illegal_ratio"), (A, "illegal_rectified_mu"), (B, "illegal_ratio"),
                        (A, borrower.name), (B, borrower.name)}
    assert _evidence_ids(evidence.iloc[:0], []) == {}


def test_each_file_is_listed_once_per_run(city, monkeypatch):
    """DLTB, JBNTTB and DLTBGXGC of a year share a county database: its layers are listed once."""
    import pyogrio

    from farmland.load import LayerStore
    from farmland.metrics.compute import _Run

    listed = []
    real = pyogrio.list_layers
    monkeypatch.setattr(pyogrio, "list_layers", lambda path: listed.append(str(path)) or real(path))
    ws = Workspace.load(city)
    run = _Run(ws, ("county",), Report(strict=True), None, LayerStore(ws, cache=None))
    present = [run._present(layer, 2016) for layer in ("DLTB", "JBNTTB", "DLTBGXGC")]
    assert present == [True, True, True]
    assert len(listed) == len(set(listed)) > 0
