"""Contract columns against an independent computation from the raw files of a generated city.

The truth here is written from the data contract alone, with plain pyogrio/pandas and none of
farmland's loaders or metrics code, so a shared misreading cannot hide. Counties other than the
development zone's host are compared one by one; the host and the zone (attributed by geometry)
are compared through the city total, which does not depend on that attribution.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest

from farmland.pipeline import run_metrics
from farmland.sample import generate_sample

ARABLE = {"011", "012", "013", "0101", "0102", "0103"}
HOST, ZONE, CITY = "371502", "371571", "371500"
YEARS = (2016, 2019, 2020)


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    return generate_sample(tmp_path_factory.mktemp("truth") / "city", parcels=400, seed=7)


def _read(path, layer=None, columns=None):
    return pyogrio.read_dataframe(path, layer=layer, columns=columns, read_geometry=False)


def truth(city: Path, year: int) -> pd.DataFrame:
    parcels = pd.concat([_read(p, "DLTB", ["DLBM", "ZLDWDM", "TBDLMJ", "GDDB"])
                         for p in sorted(city.glob(f"counties/*/bgdc_{year}.gpkg"))])
    previous = pd.concat([_read(p, "DLTB", ["DLBM", "ZLDWDM", "TBDLMJ"])
                          for p in sorted(city.glob(f"counties/*/bgdc_{year - 1}.gpkg"))])
    bf = pd.concat([_read(p, "YJJBNTTB") for p in sorted(city.glob(f"counties/*/bgdc_{year}.gpkg"))])
    bf_area = "YJJBNTMJ" if "YJJBNTMJ" in bf else "JBNTMJ"
    wpzf = _read(city / f"wpzf_{year}.gpkg")
    hsf = _read(city / "hsf.gpkg")
    zbph = pd.read_csv(city / "zbph.csv", dtype={"xzqdm": str})
    targets = pd.read_csv(city / "targets.csv", dtype={"xzqdm": str}).set_index("xzqdm")

    def by_county(frame, code_field, value):
        return value.groupby(frame[code_field].str[:6]).sum()

    arable = parcels[parcels["DLBM"].isin(ARABLE)]
    rows = pd.DataFrame({
        "arable_mu": by_county(arable, "ZLDWDM", arable["TBDLMJ"] * 0.0015),
        "previous_arable_mu": by_county(previous[previous["DLBM"].isin(ARABLE)], "ZLDWDM",
                                        previous.loc[previous["DLBM"].isin(ARABLE), "TBDLMJ"] * 0.0015),
        "basic_farmland_mu": by_county(bf, "ZLDWDM", bf[bf_area] * 0.0015),
        "construction_on_arable_mu": by_county(wpzf, "XZQDM", wpzf["ZYGDMJ"] * 0.0015),
        "illegal_arable_mu": by_county(wpzf, "XZQDM", wpzf["WFZYGDMJ"] * 0.0015),
        "hsf_built_mu": by_county(hsf[hsf["JSNF"] == year], "XZQDM", hsf.loc[hsf["JSNF"] == year, "JSMJ"] * 0.0015),
        "occupied_mu": by_county(zbph[(zbph.year == year) & (zbph.kind == "占用")], "xzqdm",
                                 zbph.loc[(zbph.year == year) & (zbph.kind == "占用"), "area_mu"]),
        "supplemented_mu": by_county(zbph[(zbph.year == year) & (zbph.kind == "补充")], "xzqdm",
                                     zbph.loc[(zbph.year == year) & (zbph.kind == "补充"), "area_mu"]),
        "graded": by_county(arable, "ZLDWDM", arable["GDDB"] * arable["TBDLMJ"]),
        "graded_area": by_county(arable, "ZLDWDM", arable["TBDLMJ"].where(arable["GDDB"].notna(), 0)),
    }).fillna({c: 0.0 for c in ("construction_on_arable_mu", "illegal_arable_mu", "hsf_built_mu",
                                "occupied_mu", "supplemented_mu")})
    rows.loc[CITY] = rows.sum()
    rows["arable_change_mu"] = rows["arable_mu"] - rows["previous_arable_mu"]
    rows["balance_mu"] = rows["supplemented_mu"] - rows["occupied_mu"]
    rows["mean_quality_grade"] = rows["graded"] / rows["graded_area"]
    with np.errstate(invalid="ignore", divide="ignore"):
        rows["illegal_ratio"] = (rows["illegal_arable_mu"] / rows["construction_on_arable_mu"]).where(
            rows["construction_on_arable_mu"] > 0)
    # "reaches 15 %"; illegal with nothing occupied is flagged too (data contract).
    rows["illegal_ratio_flag"] = ((rows["illegal_ratio"] >= 0.15 - 1e-12)
                                  | ((rows["construction_on_arable_mu"] == 0) & (rows["illegal_arable_mu"] > 0))
                                  ).astype(float)
    task = targets[f"hsf_task_mu_{year}"]
    arable_target = targets["arable_target_mu"]
    bf_target = targets["basic_farmland_target_mu"]
    rows["hsf_task_mu"] = pd.concat([task, pd.Series({CITY: task.sum()})])
    rows["arable_target_mu"] = pd.concat([arable_target, pd.Series({CITY: arable_target.sum()})])
    rows["basic_farmland_target_mu"] = pd.concat([bf_target, pd.Series({CITY: bf_target.sum()})])
    rows["arable_attainment"] = rows["arable_mu"] / rows["arable_target_mu"]
    rows["basic_farmland_attainment"] = rows["basic_farmland_mu"] / rows["basic_farmland_target_mu"]
    rows["hsf_completion"] = rows["hsf_built_mu"] / rows["hsf_task_mu"]
    return rows


COMPARED = ["arable_mu", "arable_target_mu", "arable_attainment", "basic_farmland_mu", "basic_farmland_target_mu",
            "basic_farmland_attainment", "arable_change_mu", "construction_on_arable_mu", "illegal_arable_mu",
            "illegal_ratio", "illegal_ratio_flag", "hsf_built_mu", "hsf_task_mu", "hsf_completion", "occupied_mu",
            "supplemented_mu", "balance_mu", "mean_quality_grade"]


@pytest.mark.parametrize("year", YEARS)
def test_contract_columns_match_an_independent_computation(city, year):
    ours = run_metrics(city, year=year).set_index("xzqdm")
    expected = truth(city, year)
    units = [c for c in expected.index if c not in (HOST, ZONE)]
    assert set(units) <= set(ours.index)
    for column in COMPARED:
        got, want = ours.loc[units, column].astype(float), expected.loc[units, column].astype(float)
        tolerance = 0.01 if column.endswith("_mu") else 1e-9
        mismatch = ~(np.isclose(got, want, rtol=0, atol=tolerance) | (got.isna() & want.isna()))
        assert not mismatch.any(), f"{column} {year}: ours {got[mismatch].to_dict()} vs truth {want[mismatch].to_dict()}"
