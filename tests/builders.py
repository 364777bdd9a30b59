"""Small hand-checkable workspaces written to disk, for loader, validation and CLI tests.

The city has two counties side by side in zone 39 (EPSG:4527), each 200 m × 100 m and tiled by
two 100 m × 100 m parcels. Every parcel's area is stored as exactly 10 000 m² (15 亩) so sums
can be checked by hand; only the statutory-area check looks at shapes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

X0, Y0 = 39_450_000.0, 4_000_000.0  # zone-39 easting with prefix, about 116.4°E 36.1°N
CRS = "EPSG:4527"

CITY_HEADER = """\
[city]
code = "371500"
name = "聊城市"

[period]
start = 2016
end = 2020
base_year = 2015

[targets]
path = "targets.csv"
"""
"""The city, period and targets sections every test workspace shares; layers follow."""

WORKSPACE_TOML = CITY_HEADER + """
[layers]
XZQ = "xzq.gpkg:XZQ"
DLTB = "bgdc_{year}.gpkg:DLTB"
JBNTTB = "bgdc_{year}.gpkg:YJJBNTTB"
ZBPH = "zbph.csv"
CHECKLIST = "checklist.csv"
"""


def square(col: int, row: int = 0, size: float = 100.0):
    return shapely.box(X0 + col * size, Y0 + row * size, X0 + (col + 1) * size, Y0 + (row + 1) * size)


def xzq_frame(crs=CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"XZQDM": ["371502", "371521"], "XZQMC": ["东昌府区", "阳谷县"], "KZMJ": [20000.0, 20000.0]},
        geometry=[shapely.box(X0, Y0, X0 + 200, Y0 + 100), shapely.box(X0 + 200, Y0, X0 + 400, Y0 + 100)],
        crs=crs,
    )


def dltb_frame(year: int, crs=CRS) -> gpd.GeoDataFrame:
    """Four parcels: per county one arable and one other; codes in the scheme of ``year``."""
    new = year >= 2019
    codes = ["0103", "0702", "0102", "1006"] if new else ["013", "203", "012", "104"]
    return gpd.GeoDataFrame(
        {
            "BSM": [f"{year}0001", f"{year}0002", f"{year}0003", f"{year}0004"],
            "DLBM": codes,
            "ZLDWDM": ["3715021010010000000", "3715021010020000000", "3715211020010000000",
                       "3715211020010000000"],
            "TBMJ": [10000.0, 10000.0, 10000.0, 10000.0],
            "KCXS": [0.1, 0.0, 0.0, 0.0],
            "KCMJ": [1000.0, 0.0, 0.0, 0.0],
            "TBDLMJ": [9000.0, 10000.0, 10000.0, 10000.0],
            "GDDB": [5.0, None, 7.0, None],
            "SJNF": [year] * 4,
        },
        geometry=[square(0), square(1), square(2), square(3)],
        crs=crs,
    )


def bf_frame(year: int, crs=CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"BSM": [f"B{year}1"], "ZLDWDM": ["3715021010010000000"], "DLBM": ["0103" if year >= 2019 else "013"],
         "TBMJ": [10000.0],
         "KCMJ": [1000.0], "YJJBNTMJ": [9000.0]},
        geometry=[square(0)],
        crs=crs,
    )


def write_workspace(root: Path, *, years=range(2015, 2021), toml: str = WORKSPACE_TOML) -> Path:
    """Write the two-county workspace to ``root`` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "farmland.toml").write_text(toml, encoding="utf-8")
    xzq_frame().to_file(root / "xzq.gpkg", layer="XZQ", driver="GPKG")
    for year in years:
        path = root / f"bgdc_{year}.gpkg"
        dltb_frame(year).to_file(path, layer="DLTB", driver="GPKG")
        bf_frame(year).to_file(path, layer="YJJBNTTB", driver="GPKG")
    pd.DataFrame(
        {"xzqdm": ["371502", "371521"], "xzqmc": ["东昌府区", "阳谷县"],
         "arable_target_mu": [13.0, 16.0], "basic_farmland_target_mu": [13.5, 0.0]}
    ).to_csv(root / "targets.csv", index=False)
    (root / "zbph.csv").write_text(textwrap.dedent("""\
        xzqdm,year,kind,project,area_mu,paddy_mu,grain_capacity_t,source
        371502,2016,占用,项目甲,3.0,0,1.2,本地
        371502,2016,补充,项目乙,4.5,0,1.8,本地
        """), encoding="utf-8")
    (root / "checklist.csv").write_text(
        "xzqdm,year,item,fraction,evidence\n371502,2016,制度建设,1.0,文件\n", encoding="utf-8")
    return root


def assert_same_assessment(one, two) -> None:
    """Two assessments (``farmland.pipeline.assess``) with the same metrics and every score, to the bit."""
    pd.testing.assert_frame_equal(one.metrics.table, two.metrics.table, check_exact=True)
    for level in ("county", "township"):
        names = [name for name, _ in one.results(level)]
        assert names == [name for name, _ in two.results(level)] and names
        for (name, a), (_, b) in zip(one.results(level), two.results(level), strict=True):
            pd.testing.assert_frame_equal(a.table, b.table, check_exact=True, obj=f"{level} {name}")
            pd.testing.assert_frame_equal(a.trail, b.trail, check_exact=True, obj=f"{level} {name} trail")
