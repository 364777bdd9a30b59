"""Property tests of the metrics building blocks on generated data (no files involved)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farmland.landclass import LandClassTable
from farmland.metrics.catalogue import metric_info
from farmland.metrics.derive import derive_metrics
from farmland.metrics.ledger import LEDGER_TOLERANCE_MU, change_parts, classify_pieces, residual_m2
from farmland.metrics.occupation import covered_share, illegal_ratio_flag
from farmland.metrics.parts import COMPONENT_GROUPS, aggregate_units
from farmland.metrics.period import combine_years
from farmland.metrics.stocks import parcel_snapshot
from farmland.report import Report
from farmland.units import M2_TO_MU, round_half_up

TABLE = LandClassTable.default()
CODES = ["011", "012", "013", "021", "031", "043", "104", "114", "122", "123", "201", "203", "204",
         "0101", "0102", "0103", "0201K", "0301", "0404", "0601", "0702", "1006", "1104A", "1203",
         "9999"]
ARABLE = ["011", "012", "013"]
OTHER = ["021", "031", "104", "114", "122", "201", "203", "204"]
UNITS = ["371502", "371521", "371522"]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _frame(bsm, codes, units, tbmj, kcxs):
    tbmj = np.asarray(tbmj, dtype="float64")
    kcxs = np.asarray(kcxs, dtype="float64")
    kcmj = round_half_up(tbmj * kcxs, 2)
    return pd.DataFrame({"BSM": bsm, "DLBM": codes, "ZLDWDM": [u + "0010010000000" for u in units],
                         "TBMJ": tbmj, "KCXS": kcxs, "KCMJ": kcmj, "TBDLMJ": tbmj - kcmj,
                         "GDDB": np.full(len(tbmj), 5.0)})


parcels = st.lists(
    st.tuples(st.sampled_from(CODES), st.sampled_from(UNITS),
              st.integers(1, 10_000_000).map(lambda c: c / 100),  # TBMJ to 0.01 m²
              st.sampled_from([0.0, 0.05, 0.1, 0.2])),
    min_size=1, max_size=60)


def test_urban_industrial_codes_are_read_cleaned_of_spaces_and_case():
    # 三调 0601/0702 with CZCSXM as delivered (padded, lower case, missing); 二调 201/203 padded.
    codes = ["0601", "0601", "0702", "0601", "0601", " 201 ", "203", "204", "0101"]
    czcsxm = [" 201a", "202", "204 ", "203A", None, None, None, None, "201"]
    frame = _frame([f"P{i}" for i in range(len(codes))], codes, ["371502"] * len(codes),
                   [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0], [0.0] * len(codes))
    frame["CZCSXM"] = czcsxm
    keys = {"county": np.full(len(codes), "371502", dtype=object)}
    values = parcel_snapshot(frame, 2019, keys, TABLE, Report(strict=False)).values["county"]
    # 201A, 202, 204 (三调 construction) and 201, 204 (二调); not 203A, a missing CZCSXM, 203
    # (二调 村庄) nor arable land whatever its CZCSXM.
    assert values.loc["371502", "urban_industrial_m2"] == 1.0 + 2.0 + 4.0 + 32.0 + 128.0


@FAST
@given(parcels)
def test_land_by_group_sums_to_the_unit_area_and_units_sum_to_the_layer(rows):
    frame = _frame([f"P{i}" for i in range(len(rows))], [r[0] for r in rows], [r[1] for r in rows],
                   [r[2] for r in rows], [r[3] for r in rows])
    keys = {"county": np.array([r[1] for r in rows], dtype=object)}
    values = parcel_snapshot(frame, 2016, keys, TABLE, Report(strict=False)).values["county"]
    groups = values[[f"group_{g}_m2" for g in ("arable", "agricultural", "construction", "unused",
                                               "unknown")]].sum(axis=1)
    np.testing.assert_allclose(groups, values["total_m2"], rtol=1e-12)
    assert values["total_m2"].sum() == pytest.approx(frame["TBMJ"].sum(), rel=1e-12)
    arable = frame["DLBM"].isin(["011", "012", "013", "0101", "0102", "0103"])
    assert values["arable_m2"].sum() == pytest.approx(frame.loc[arable, "TBDLMJ"].sum(), rel=1e-12)


changes = st.lists(
    st.tuples(
        st.sampled_from(ARABLE + OTHER), st.sampled_from(UNITS),
        st.integers(100_00, 1_000_000).map(lambda c: c / 100),
        st.sampled_from([0.0, 0.05, 0.1]),
        # what happens in the year: 0 nothing, 1 whole parcel recoded, 2 split in two
        st.integers(0, 2), st.sampled_from(ARABLE + OTHER), st.sampled_from([0.0, 0.05, 0.15]),
        st.floats(0.1, 0.9), st.sampled_from(UNITS)),
    min_size=1, max_size=40)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes)
def test_ledger_closes_on_consistent_change_records(rows):
    """Y−1 parcels, change pieces and a Y snapshot built consistently must close within 0.01 亩."""
    prev, now, pieces = [], [], []
    for i, (code, unit, tbmj, kcxs, what, new_code, new_kcxs, share, new_unit) in enumerate(rows):
        kcxs = kcxs if code in ARABLE else 0.0
        new_kcxs = new_kcxs if new_code in ARABLE else 0.0
        prev.append((f"P{i}", code, unit, tbmj, kcxs))
        if what == 0:
            now.append((f"P{i}", code, unit, tbmj, kcxs))
            continue
        parts = [(tbmj, new_code, new_kcxs, new_unit)]
        if what == 2:  # a split: the second piece keeps its class under a new id
            first = round(tbmj * share, 2)
            parts = [(first, new_code, new_kcxs, new_unit), (round(tbmj - first, 2), code, kcxs, unit)]
        for j, (area, after, after_kcxs, after_unit) in enumerate(parts):
            now.append((f"N{i}_{j}", after, after_unit, area, after_kcxs))
            pieces.append({"BGQTBBSM": f"P{i}", "BGHTBBSM": f"N{i}_{j}", "BGQDLBM": code,
                           "BGHDLBM": after, "BGQZLDWDM": unit + "0010010000000",
                           "BGHZLDWDM": after_unit + "0010010000000", "TBBGMJ": area,
                           "BGQKCXS": kcxs})

    def snapshot(rows_):
        frame = _frame(*map(list, zip(*[(r[0], r[1], r[2], r[3], r[4]) for r in rows_], strict=True)))
        keys = {"county": np.array([r[2] for r in rows_], dtype=object)}
        return parcel_snapshot(frame, 2016, keys, TABLE, Report(strict=False))

    before, after = snapshot(prev), snapshot(now)
    pieces = pd.DataFrame(pieces, columns=["BGQTBBSM", "BGHTBBSM", "BGQDLBM", "BGHDLBM",
                                           "BGQZLDWDM", "BGHZLDWDM", "TBBGMJ", "BGQKCXS"])
    classified = classify_pieces(pieces, 2016, TABLE, after.arable, Report(strict=False))
    keys_before = {"county": pieces["BGQZLDWDM"].str.slice(0, 6).to_numpy(dtype=object)}
    keys_after = {"county": pieces["BGHZLDWDM"].str.slice(0, 6).to_numpy(dtype=object)}
    values, _ = change_parts(classified, np.zeros(len(pieces)), keys_before, keys_after)
    index = pd.Index(UNITS, dtype=object)
    frame = pd.concat([
        after.values["county"][["arable_m2"]].reindex(index, fill_value=0.0),
        before.values["county"]["arable_m2"].rename("arable_prev_m2").reindex(index, fill_value=0.0),
        values["county"].reindex(index, fill_value=0.0),
    ], axis=1).fillna(0.0)
    for column in COMPONENT_GROUPS["gxgc"]:
        if column not in frame:
            frame[column] = 0.0
    residual = residual_m2(frame)
    # Each parcel's deduction is rounded to 0.01 m² in the snapshots but not in the pieces, so
    # the ledger may miss by half a hundredth of a m² per parcel, never more.
    bound = 0.005 * (len(prev) + len(now)) + 1e-6
    assert (residual.abs() <= bound).all(), residual.to_dict()
    assert (residual.abs() * M2_TO_MU <= LEDGER_TOLERANCE_MU).all()


component = st.one_of(st.just(np.nan), st.integers(0, 10**9).map(lambda c: c / 100))


@FAST
@given(st.integers(1, 6), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.05, 0.3]))
def test_city_equals_the_sum_of_counties_and_ratios_come_from_sums(n_units, seed, nan_share):
    rng = np.random.default_rng(seed)
    columns = [c for name, group in COMPONENT_GROUPS.items() if name != "city" for c in group]
    values = np.round(rng.uniform(0, 1e7, (n_units, len(columns))), 2)
    values[rng.random(values.shape) < nan_share] = np.nan
    counties = pd.DataFrame(values, columns=columns,
                            index=pd.Index([f"37150{i}" for i in range(n_units)], dtype=object))
    counties["series_break"] = rng.integers(0, 2, n_units).astype("float64")
    counties["wpzf_occupied_m2"] = np.where(rng.random(n_units) < 0.3, 0.0,
                                            counties["wpzf_occupied_m2"])
    county_metrics = derive_metrics(counties, "county")
    city_metrics = derive_metrics(aggregate_units(counties, "371500"), "city")

    additive = [m for m in county_metrics.columns if metric_info(m).unit in ("mu", "t", "count")]
    assert len(additive) > 40
    targets = ("arable_target_mu", "basic_farmland_target_mu", "hsf_task_mu")
    for metric in additive:
        if metric in targets or "margin" in metric:
            continue  # targets: checked below
        expected = county_metrics[metric].sum(skipna=False)
        got = city_metrics[metric].iloc[0]
        if np.isnan(expected):
            assert np.isnan(got), metric
        else:
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-6), metric
    for metric in targets:
        # A county without a target leaves the city's empty (only zones may lack one).
        got, values = city_metrics[metric].iloc[0], county_metrics[metric]
        if values.isna().any():
            assert np.isnan(got), metric
        else:
            assert got == pytest.approx(values.sum(), rel=1e-9)
    zone = counties.index[0]
    with_zone = counties.copy()
    with_zone.loc[zone, ["arable_target_mu", "bf_target_mu"]] = np.nan
    rest = with_zone.drop(index=zone)
    city = aggregate_units(with_zone, "371500", zones=[zone])
    for column in ("arable_target_mu", "bf_target_mu"):
        expected = rest[column].sum(skipna=False) if len(rest) else np.nan
        assert np.isnan(city[column].iloc[0]) if np.isnan(expected) else \
            city[column].iloc[0] == pytest.approx(expected, rel=1e-9)
    occupied = counties["wpzf_occupied_m2"].sum(skipna=False)
    illegal = counties["wpzf_illegal_m2"].sum(skipna=False)
    ratio = city_metrics["illegal_ratio"].iloc[0]
    if np.isnan(occupied) or np.isnan(illegal) or occupied == 0:
        assert np.isnan(ratio)
    else:
        assert ratio == pytest.approx(illegal / occupied, rel=1e-12)
    assert city_metrics["series_break"].iloc[0] == counties["series_break"].max()


@FAST
@given(st.lists(st.tuples(st.integers(0, 10_000_000), st.integers(0, 10_000_000)), min_size=1,
                max_size=50))
def test_fifteen_percent_flag_is_exact_on_whole_square_metres(pairs):
    illegal = np.array([p[0] for p in pairs], dtype="float64")
    occupied = np.array([p[1] for p in pairs], dtype="float64")
    flag = illegal_ratio_flag(illegal, occupied)
    # integers: illegal / occupied ≥ 15 % ⟺ 20 × illegal ≥ 3 × occupied, exactly
    expected = np.where(occupied > 0, 20 * illegal >= 3 * occupied, illegal > 0)
    np.testing.assert_array_equal(flag, expected.astype("float64"))


def test_fifteen_percent_flag_edge_cases():
    # 150 m² − 1e-10 of 1000 m² is 15 % up to summation noise: "reaches 15 %"; 149.99 does not.
    flag = illegal_ratio_flag([150.0 - 1e-10, 149.99, 0.0, 1.0, np.nan],
                              [1000.0, 1000.0, 0.0, 0.0, 10.0])
    np.testing.assert_array_equal(flag[:4], [1.0, 0.0, 0.0, 1.0])
    assert np.isnan(flag[4])


rectangles = st.tuples(st.integers(0, 90), st.integers(0, 90), st.integers(1, 40), st.integers(1, 40)) \
    .map(lambda r: shapely.box(r[0], r[1], r[0] + r[2], r[1] + r[3]))


@FAST
@given(st.lists(rectangles, min_size=1, max_size=6), st.lists(rectangles, min_size=0, max_size=8))
def test_covered_share_equals_the_union_of_overlapping_covers(targets, covers):
    share, _, _ = covered_share(targets, covers)
    union = shapely.union_all(covers) if covers else shapely.Polygon()
    for target, got in zip(targets, share, strict=True):
        want = shapely.area(shapely.intersection(target, union)) / shapely.area(target)
        assert got == pytest.approx(want, abs=1e-9)
        assert 0.0 <= got <= 1.0


@FAST
@given(st.lists(st.tuples(component, component, component, st.sampled_from([0.0, 1.0])),
                min_size=1, max_size=5))
def test_spans_sum_flows_take_last_stocks_and_first_openings(years):
    per_year = {2016 + i: pd.DataFrame({"wpzf_occupied_m2": [f], "arable_m2": [s],
                                        "arable_prev_m2": [o], "series_break": [b]},
                                       index=pd.Index(["371502"], dtype=object))
                for i, (f, s, o, b) in enumerate(years)}
    span = sorted(per_year)
    combined = combine_years(per_year, span).iloc[0]
    flows = np.array([y[0] for y in years])
    assert combined["wpzf_occupied_m2"] == pytest.approx(flows.sum(), nan_ok=True)
    assert combined["arable_m2"] == pytest.approx(years[-1][1], nan_ok=True)
    assert combined["arable_prev_m2"] == pytest.approx(years[0][2], nan_ok=True)
    assert combined["series_break"] == max(y[3] for y in years)
