"""Unit keys factorized once per layer and level, and class lookups made per distinct code:
the shortcuts give what the plain arrays give."""

from __future__ import annotations

import numpy as np
import pandas as pd

from farmland.landclass import LandClassTable
from farmland.metrics.attribution import UnitSet, check_attributed
from farmland.metrics.parts import UnitKeys, evidence_rows, group_sums
from farmland.metrics.stocks import bf_snapshot, parcel_snapshot
from farmland.report import Report

TABLE = LandClassTable.default()


def test_group_sums_of_unit_keys_equal_those_of_the_plain_keys():
    keys = np.array(["371521", None, "371502", "371521", "371502"], dtype=object)
    columns = {"a": np.array([1.0, 2.0, np.nan, 4.0, np.inf]), "b": np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
               "c": np.float64(np.nan)}
    factorized = UnitKeys.of(keys)
    assert list(factorized.units) == ["371502", "371521"]
    assert list(factorized.codes) == [1, -1, 0, 1, 0]
    got = group_sums(factorized, columns)
    plain = group_sums(keys, columns)
    pd.testing.assert_frame_equal(got, plain, check_exact=True)
    # NaN counts 0 and an infinite area the largest float (numpy.nan_to_num), as before.
    assert got.loc["371502", "a"] == np.finfo("float64").max
    assert got.loc["371521", "a"] == 5.0
    assert got["b"].tolist() == [8.0, 5.0]  # the None row is left out
    assert got["c"].tolist() == [0.0, 0.0]
    # Every row attributed: summed as it is.
    pd.testing.assert_frame_equal(group_sums(UnitKeys.of(keys[[0, 2]]), {"b": np.array([1.0, 2.0])}),
                                  group_sums(keys[[0, 2]], {"b": np.array([1.0, 2.0])}), check_exact=True)


def test_unit_keys_read_as_the_plain_array():
    keys = UnitKeys.of(["371502", None, "371521"])
    assert UnitKeys.of(keys) is keys
    assert len(keys) == 3 and keys[2] == "371521" and list(keys[[0, 1]]) == ["371502", None]
    assert np.asarray(keys, dtype=object).tolist() == ["371502", None, "371521"]
    rows = evidence_rows(keys, np.array(["A:1", "A:2", "A:3"], dtype=object), "m")
    assert rows["id"].tolist() == ["A:1", "A:3"]
    report = Report(strict=False)
    attributed = check_attributed("DLTB", 2020, keys, ["1", "2", "3"], [1.0, 2.0, 3.0], report)
    assert attributed.tolist() == [True, False, True]
    assert [f.check for f in report.findings] == ["unattributed"]


def test_a_code_outside_the_units_names_no_township():
    xzq = pd.DataFrame({"XZQDM": ["371502"], "XZQMC": ["东昌府区"]})
    units = UnitSet.from_xzq(xzq, city_code="371500", city_name="聊城市", parcel_codes={"371502"})
    codes = ["3715020010010000000", "3715990010010000000", None, "371502"]
    county, township = units.county_and_attributed_township_of(codes)
    assert list(county) == ["371502", None, None, "371502"]
    assert list(township) == ["371502001", None, None, None]


def _dltb(codes):
    n = len(codes)
    return pd.DataFrame({"BSM": [f"P{i}" for i in range(n)], "DLBM": codes,
                         "ZLDWDM": ["3715020010010000000"] * n, "TBMJ": np.arange(1.0, n + 1),
                         "TBDLMJ": np.arange(1.0, n + 1), "KCXS": np.zeros(n), "KCMJ": np.zeros(n)})


def test_unknown_and_missing_codes_are_reported_and_counted_only_when_present():
    keys = {"county": np.full(5, "371502", dtype=object)}
    report = Report(strict=False)
    values = parcel_snapshot(_dltb(["0101", "9999", None, " 0101 ", "201"]), 2019, keys, TABLE,
                             report).values["county"]
    unknown = [f for f in report.findings if f.check == "unknown-code"]
    assert len(unknown) == 1 and list(unknown[0].ids) == ["P1", "P2"]
    assert values.loc["371502", "group_unknown_m2"] == 2.0 + 3.0
    assert values.loc["371502", "arable_m2"] == 1.0 + 4.0
    assert values.loc["371502", "dltb_erdiao_n"] == 1.0 and values.loc["371502", "dltb_sandiao_n"] == 2.0
    report = Report(strict=False)
    parcel_snapshot(_dltb(["0101", "0102"]), 2019, {"county": keys["county"][:2]}, TABLE, report)
    assert not [f for f in report.findings if f.check == "unknown-code"]


def test_basic_farmland_basis_is_read_per_distinct_code_or_unknown_without_codes():
    frame = pd.DataFrame({"BSM": ["B1", "B2", "B3"], "DLBM": ["011", "0101", None],
                          "YJJBNTMJ": [1.0, 2.0, 4.0]})
    keys = {"county": np.full(3, "371502", dtype=object)}
    snap = bf_snapshot(frame, 2019, keys, TABLE, Report(strict=False))
    assert snap.values["county"].loc["371502", ["bf_m2", "bf_erdiao_n", "bf_sandiao_n"]].tolist() \
        == [7.0, 1.0, 1.0]
    snap = bf_snapshot(frame.drop(columns="DLBM"), 2019, keys, TABLE, Report(strict=False))
    assert snap.values["county"].loc["371502", ["bf_erdiao_n", "bf_sandiao_n"]].tolist() == [0.0, 0.0]


def test_a_basic_farmland_year_end_makes_its_ids_and_tree_once():
    import geopandas as gpd
    import shapely

    from farmland.metrics.occupation import covered_share

    frame = pd.DataFrame({"BSM": ["B1", None], "YJJBNTMJ": [1.0, 2.0],
                          "geometry": [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)]})
    snap = bf_snapshot(gpd.GeoDataFrame(frame, crs="EPSG:4549"), 2019,
                       {"county": np.full(2, "371502", dtype=object)}, TABLE, Report(strict=False))
    assert snap.ids.tolist() == ["JBNTTB:B1", "JBNTTB:?"] and snap.ids is snap.ids
    assert snap.tree is snap.tree
    targets = np.array([shapely.box(5, 0, 15, 10), shapely.box(30, 0, 40, 10)], dtype=object)
    with_tree = covered_share(targets, snap.geometry, tree=snap.tree)
    without = covered_share(targets, snap.geometry)
    for a, b in zip(with_tree, without, strict=True):
        np.testing.assert_array_equal(a, b)
    assert with_tree[0].tolist() == [1.0, 0.0]
