"""The land-class table: both schemes, groups, crosswalk, disputed rows, unknown codes."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

from farmland.errors import WorkspaceError
from farmland.landclass import GROUPS, LandClassTable, normalize_codes

TABLE = LandClassTable.default()


def test_arable_is_exactly_the_six_codes():
    assert sorted(TABLE.codes(group="arable")) == ["0101", "0102", "0103", "011", "012", "013"]


@pytest.mark.parametrize(
    "code, group",
    [("1203", "agricultural"), ("123", "agricultural"), ("1006", "agricultural"), ("1202", "agricultural"),
     ("0702", "construction"), ("05H1", "construction"), ("203", "construction"), ("101", "construction"),
     ("1104A", "agricultural"), ("0201K", "agricultural"), ("0404", "unused"), ("127", "unused")],
)
def test_groups(code, group):
    assert TABLE.group_of([code])[0] == group


def test_leading_zero_matters():
    # 0101 水田 (三调) vs 101 铁路用地 (二调)
    assert TABLE.group_of(["0101", "101"]).tolist() == ["arable", "construction"]


def test_codes_are_normalised():
    assert TABLE.group_of([" 05h1 ", "0201k"]).tolist() == ["construction", "agricultural"]


def test_crosswalk_arable_one_to_one():
    assert TABLE.crosswalk(["011", "012", "013", "123", "201"]).tolist() == ["0101", "0102", "0103", "1203", ""]


def test_every_erdiao_crosswalk_target_is_a_sandiao_code():
    frame = TABLE.frame
    targets = frame.loc[frame["scheme"] == "erdiao", "crosswalk"]
    targets = targets[targets != ""]
    assert set(targets) <= set(TABLE.codes(scheme="sandiao"))
    # and the group is kept across the switch
    assert (TABLE.group_of(targets.index) == TABLE.group_of(targets.to_numpy())).all()


def test_disputed_rows_are_flagged_and_regroupable():
    assert set(TABLE.frame.index[TABLE.frame["disputed"]]) == {"0404", "1107A", "113", "1208"}
    regrouped = LandClassTable.default({"1107A": "construction", "113": "construction"})
    assert regrouped.is_construction(["1107A", "113"]).all()
    assert regrouped.flow_kind_of(["1107A"])[0] == "construction"
    assert "1107A=construction" in regrouped.version


def test_arable_cannot_be_extended():
    with pytest.raises(WorkspaceError, match="cannot be extended"):
        LandClassTable.default({"1203": "arable"})


def test_unknown_codes_counted_by_value():
    counts = TABLE.unknown_codes(["0101", "0199", "0199", None, "X"])
    assert counts.to_dict() == {"0199": 2, "": 1, "X": 1}


@given(st.lists(st.sampled_from(list(TABLE.frame.index) + ["", "0000", "ZZ"]), max_size=50))
def test_lookup_is_elementwise(codes):
    groups = TABLE.group_of(codes)
    assert len(groups) == len(codes)
    for code, group in zip(codes, groups):
        expected = TABLE.frame["group"].get(code, "unknown")
        assert group == expected
    assert set(groups) <= set(GROUPS) | {"unknown"}
    assert np.array_equal(TABLE.is_arable(codes), groups == "arable")


def test_spellings_of_one_code_are_counted_together():
    # Codes are cleaned once per distinct raw spelling; spellings that clean to one code are one code.
    counts = TABLE.unknown_codes([" zz", "ZZ", "zz ", "0101", pd.NA, np.nan])
    assert counts.to_dict() == {"ZZ": 3, "": 2}
    assert TABLE.scheme_of([" 0101", "0101 ", "011", None]).tolist() == ["sandiao", "sandiao", "erdiao", "unknown"]


def test_normalize_codes_keeps_index_and_name():
    codes = pd.Series([" 05h1", None, "05H1"], index=[10, 20, 30], name="DLBM")
    out = normalize_codes(codes)
    assert out.tolist() == ["05H1", "", "05H1"]
    assert out.index.tolist() == [10, 20, 30] and out.name == "DLBM" and out.dtype == object
    assert normalize_codes(pd.Series(["0101", "zz"], dtype="category")).tolist() == ["0101", "ZZ"]
