"""A tiny, hand-checkable city for metrics tests (and anyone else who wants one).

Two counties and one development zone on a 5 × 2 grid of 100 m cells in zone 39 (EPSG:4527):

    y 100–200   a2 012 | a4 203 | z2 201 | b2 012 | b4 104
    y   0–100   a1 012 | a3 013 | z1 011 | b1 012 | b3 013
                x 0–100  100–200  200–300  300–400  400–500
                └── 东昌府区 371502 ───────┘└─ 阳谷县 371521 ─┘
                         (经开区 371571 = x 200–300, inside 371502: no code of its own)

Years 2015 (the period's base year), 2016 and 2017, all 二调 3-digit codes; every number the
tests check is worked out by hand in ``tests/test_metrics.py``. ``write_tiny_city(root)`` writes the
workspace and returns its folder.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from builders import CITY_HEADER

X0, Y0 = 39_450_000.0, 4_000_000.0
CRS = "EPSG:4527"
CELL = 100.0

A1, A2, A3 = "3715020010010000000", "3715020020010000000", "3715020030010000000"
B1, B2 = "3715210010010000000", "3715210020010000000"

TOML = CITY_HEADER + """
[layers]
XZQ = "xzq.gpkg:XZQ"
DLTB = "bgdc_{year}.gpkg:DLTB"
JBNTTB = "bgdc_{year}.gpkg:YJJBNTTB"
DLTBGXGC = "bgdc_{year}.gpkg:DLTBGXGC"
JSYDSP = "approvals.gpkg:JSYDSP"
WPZF = "wpzf.gpkg:WPZF"
GBZNT = "hsf.gpkg:GBZNT"
ZBPH = "zbph.csv"
CHECKLIST = "checklist.csv"
EVENTS = "events.csv"
CITYSTATS = "city_stats.csv"
LANDCOVER = "landcover_{year}.tif"

[landcover]
cropland = [1]
built = [2]
"""


def box(x0, y0, x1, y1):
    """A rectangle in local metres (x0, y0 at the grid's south-west corner)."""
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def cell(col, row):
    return box(col * CELL, row * CELL, (col + 1) * CELL, (row + 1) * CELL)


def _gdf(rows, geometry):
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geometry, crs=CRS)


# BSM, DLBM, ZLDWDM, geometry, TBMJ, KCXS, KCMJ, TBDLMJ, GDDB
_P2015 = [
    ("a1", "012", A1, cell(0, 0), 10000, 0.10, 1000, 9000, 5),
    ("a2", "012", A1, cell(0, 1), 10000, 0.0, 0, 10000, 7),
    ("a3", "013", A2, cell(1, 0), 10000, 0.05, 500, 9500, 6),
    ("a4", "203", A2, cell(1, 1), 10000, 0.0, 0, 10000, None),
    ("z1", "011", A3, cell(2, 0), 10000, 0.0, 0, 10000, 4),
    ("z2", "201", A3, cell(2, 1), 10000, 0.0, 0, 10000, None),
    ("b1", "012", B1, cell(3, 0), 10000, 0.0, 0, 10000, 8),
    ("b2", "012", B1, cell(3, 1), 10000, 0.20, 2000, 8000, 9),
    ("b3", "013", B2, cell(4, 0), 10000, 0.0, 0, 10000, None),
    ("b4", "104", B2, cell(4, 1), 10000, 0.0, 0, 10000, None),
]
_P2016 = [
    ("A16-01", "012", A1, box(50, 0, 100, 100), 5000, 0.10, 500, 4500, 5),
    ("A16-02", "202", A1, box(0, 0, 50, 100), 5000, 0.0, 0, 5000, None),
    ("a2", "012", A1, cell(0, 1), 10000, 0.0, 0, 10000, 7),
    ("A16-03", "013", A2, box(120, 0, 200, 100), 8000, 0.05, 400, 7600, 6),
    ("A16-04", "031", A2, box(100, 0, 120, 100), 2000, 0.0, 0, 2000, None),
    ("a4", "203", A2, cell(1, 1), 10000, 0.0, 0, 10000, None),
    ("Z16-01", "114", A3, cell(2, 0), 10000, 0.0, 0, 10000, None),
    ("z2", "201", A3, cell(2, 1), 10000, 0.0, 0, 10000, None),
    ("B16-01", "203", B1, cell(3, 0), 10000, 0.0, 0, 10000, None),
    # b2's coefficient changed 0.20 → 0.15 with no change record: the ledger must notice.
    ("b2", "012", B1, cell(3, 1), 10000, 0.15, 1500, 8500, 9),
    ("b3", "013", B2, cell(4, 0), 10000, 0.0, 0, 10000, None),
    ("B16-02", "012", B2, cell(4, 1), 10000, 0.10, 1000, 9000, 10),
]
_P2017 = [p for p in _P2016 if p[0] != "b3"] + [
    ("B17-01", "203", B2, cell(4, 0), 10000, 0.0, 0, 10000, None)]
PARCELS = {2015: _P2015, 2016: _P2016, 2017: _P2017}

# BGQTBBSM, BGHTBBSM, BGQDLBM, BGHDLBM, BGQZLDWDM, BGHZLDWDM, TBBGMJ, BGQKCXS, GXSJ, geometry
PIECES = {
    2016: [
        ("a1", "A16-02", "012", "202", A1, A1, 5000, 0.10, "2016-06-30", box(0, 0, 50, 100)),
        ("a1", "A16-01", "012", "012", A1, A1, 5000, 0.10, "2016-06-30", box(50, 0, 100, 100)),
        ("b1", "B16-01", "012", "203", B1, B1, 10000, 0.0, "2016-09-01", cell(3, 0)),
        ("b4", "B16-02", "104", "012", B2, B2, 10000, 0.0, "2016-04-01", cell(4, 1)),
        ("z1", "Z16-01", "011", "114", A3, A3, 10000, 0.0, "2016-05-01", cell(2, 0)),
        ("a3", "A16-04", "013", "031", A2, A2, 2000, 0.05, "2016-07-01", box(100, 0, 120, 100)),
        ("a3", "A16-03", "013", "013", A2, A2, 8000, 0.05, "2016-07-01", box(120, 0, 200, 100)),
    ],
    2017: [
        ("b3", "B17-01", "013", "203", B2, B2, 10000, 0.0, "2017-05-01", cell(4, 0)),
    ],
}

# BSM, ZLDWDM, DLBM, TBMJ, KCMJ, YJJBNTMJ, geometry
BASIC_FARMLAND = {
    2015: [("F1", A1, "012", 10000, 1000, 9000, cell(0, 0)),
           ("F2", B1, "012", 10000, 0, 10000, cell(3, 0)),
           ("F3", B2, "013", 10000, 0, 10000, cell(4, 0)),
           ("F4", A3, "011", 10000, 0, 10000, cell(2, 0))],
    2016: [("F1", A1, "012", 5000, 500, 4500, box(50, 0, 100, 100)),
           ("F16-3", B2, "013", 10000, 0, 10000, cell(4, 0)),  # F3 renumbered, not new land
           ("F5", B2, "012", 10000, 1000, 9000, cell(4, 1))],
    2017: [("F1", A1, "012", 5000, 500, 4500, box(50, 0, 100, 100)),
           ("F5", B2, "012", 10000, 1000, 9000, cell(4, 1))],
}

# PZWH, PZRQ, geometry
APPROVALS = [
    ("J1", "2016-03-01", box(0, 0, 25, 100)),    # half of the a1 → 202 piece (x 0–50)
    ("J1b", "2015-05-01", box(0, 0, 20, 100)),   # overlaps J1: the union still covers x 0–25
    ("J2", "2016-12-01", cell(3, 0)),            # approved after b1 was built on (GXSJ 09-01)
    ("J3", "2017-01-01", cell(4, 0)),            # in force when b3 was built on in 2017
]

# JCBH, XZQDM, JCNF, XZJSYDMJ, ZYGDMJ, WFZYGDMJ, geometry
MONITORING = [
    ("W1", "371502", 2016, 3000, 2000.1, 300.3, box(0, 0, 40, 40)),
    ("W2", "371502", 2016, 2500, 1999.9, 299.7, box(100, 0, 140, 40)),
    ("W3", "371521", 2016, 500, 0, 500, box(300, 0, 340, 40)),
    ("W4", "371502", 2015, 9999, 9999, 0, box(0, 100, 40, 140)),
    ("W5", "371502", 2016, 2500, 2000, 200, box(210, 110, 250, 150)),  # inside the zone
    ("W6", "371521", 2017, 10000, 10000, 0, cell(4, 0)),
]

# XMBH, XZQDM, JSNF, JSMJ, geometry
HSF = [
    ("G1", "371502", 2016, 20000, box(0, 100, 200, 200)),
    ("G2", "371521", 2015, 10000, cell(3, 1)),
    ("G3", "371521", 2016, 40000, box(300, 0, 500, 200)),
    ("G4", "371502", 2017, 10000, cell(0, 0)),
    ("G5", "371502", 2016, 6000, box(200, 0, 300, 60)),  # inside the zone
]

TARGETS_CSV = """\
xzqdm,xzqmc,arable_target_mu,basic_farmland_target_mu,hsf_task_mu_2016,hsf_task_mu_2017
371502,东昌府区,33.0,20.0,40,40
371521,阳谷县,42.0,25.0,50,50
371571,聊城经济技术开发区,1.0,1.0,,
"""
ZBPH_CSV = """\
xzqdm,year,kind,project,area_mu,paddy_mu,grain_capacity_t,source
371502,2016,占用,P1,6.75,0,2.7,本地
371502,2016,补充,P2,8.0,1.0,3.2,省统筹
371521,2016,补充,P3,13.5,0,5.0,本地
371521,2015,占用,P4,3.0,0,1.0,本地
371521,2016,占用,P5,15.0,0,6.0,本地
371521,2017,占用,P6,15.0,0,6.0,本地
"""
EVENTS_CSV = """\
xzqdm,year,kind,note
371521,2016,警示约谈,约谈
371521,2016,重大违法案件,案件
371502,2015,公开通报,通报
"""
CHECKLIST_CSV = """\
xzqdm,year,item,fraction,evidence
371502,2016,制度建设,1.0,文件
371502,2016,制度建设,0.5,文件
371521,2016,动态监测,0.8,系统
371502,2017,制度建设,0.0,无
"""
CITYSTATS_CSV = """\
year,gdp_100m_yuan,approved_mu,supplied_mu
2015,100,0,0
2016,110,200,170
2017,120,100,90
"""


def dltb(year: int) -> gpd.GeoDataFrame:
    rows = PARCELS[year]
    return _gdf({
        "BSM": [r[0] for r in rows], "DLBM": [r[1] for r in rows], "ZLDWDM": [r[2] for r in rows],
        "TBMJ": [float(r[4]) for r in rows], "KCXS": [r[5] for r in rows],
        "KCMJ": [float(r[6]) for r in rows], "TBDLMJ": [float(r[7]) for r in rows],
        "GDDB": [np.nan if r[8] is None else float(r[8]) for r in rows],
    }, [r[3] for r in rows])


def write_tiny_city(root: Path, *, toml: str = TOML, parcels=None, pieces=None) -> Path:
    """Write the tiny city to ``root`` (created) and return it.

    ``parcels`` may replace the DLTB of some years (``{year: GeoDataFrame}``), ``pieces`` the
    change records (``{year: [tuples as in PIECES]}``).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "farmland.toml").write_text(toml, encoding="utf-8")
    _gdf({"XZQDM": ["371502", "371521", "371571"],
          "XZQMC": ["东昌府区", "阳谷县", "聊城经济技术开发区"]},
         [box(0, 0, 300, 200), box(300, 0, 500, 200), box(200, 0, 300, 200)]
         ).to_file(root / "xzq.gpkg", layer="XZQ", driver="GPKG")
    for year in (2015, 2016, 2017):
        path = root / f"bgdc_{year}.gpkg"
        frame = (parcels or {}).get(year)
        (frame if frame is not None else dltb(year)).to_file(path, layer="DLTB", driver="GPKG")
        bf = BASIC_FARMLAND[year]
        _gdf({"BSM": [r[0] for r in bf], "ZLDWDM": [r[1] for r in bf], "DLBM": [r[2] for r in bf],
              "TBMJ": [float(r[3]) for r in bf], "KCMJ": [float(r[4]) for r in bf],
              "YJJBNTMJ": [float(r[5]) for r in bf]}, [r[6] for r in bf]
             ).to_file(path, layer="YJJBNTTB", driver="GPKG")
        p = (pieces or {}).get(year, PIECES.get(year))
        if p:
            _gdf({"BGQTBBSM": [r[0] for r in p], "BGHTBBSM": [r[1] for r in p],
                  "BGQDLBM": [r[2] for r in p], "BGHDLBM": [r[3] for r in p],
                  "BGQZLDWDM": [r[4] for r in p], "BGHZLDWDM": [r[5] for r in p],
                  "TBBGMJ": [float(r[6]) for r in p], "BGQKCXS": [r[7] for r in p],
                  "GXSJ": pd.to_datetime([r[8] for r in p])}, [r[9] for r in p]
                 ).to_file(path, layer="DLTBGXGC", driver="GPKG")
        _write_landcover(root / f"landcover_{year}.tif")
    _gdf({"PZWH": [a[0] for a in APPROVALS], "PZRQ": pd.to_datetime([a[1] for a in APPROVALS])},
         [a[2] for a in APPROVALS]).to_file(root / "approvals.gpkg", layer="JSYDSP", driver="GPKG")
    _gdf({"JCBH": [w[0] for w in MONITORING], "XZQDM": [w[1] for w in MONITORING],
          "JCNF": [w[2] for w in MONITORING], "XZJSYDMJ": [float(w[3]) for w in MONITORING],
          "ZYGDMJ": [float(w[4]) for w in MONITORING], "WFZYGDMJ": [float(w[5]) for w in MONITORING]},
         [w[6] for w in MONITORING]).to_file(root / "wpzf.gpkg", layer="WPZF", driver="GPKG")
    _gdf({"XMBH": [h[0] for h in HSF], "XZQDM": [h[1] for h in HSF], "JSNF": [h[2] for h in HSF],
          "JSMJ": [float(h[3]) for h in HSF]}, [h[4] for h in HSF]
         ).to_file(root / "hsf.gpkg", layer="GBZNT", driver="GPKG")
    for name, text in (("targets.csv", TARGETS_CSV), ("zbph.csv", ZBPH_CSV),
                       ("events.csv", EVENTS_CSV), ("checklist.csv", CHECKLIST_CSV),
                       ("city_stats.csv", CITYSTATS_CSV)):
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def _write_landcover(path: Path) -> None:
    """10 m cells over the grid: cropland (1) west of x = 250 m, built-up (2) east of it."""
    import rasterio
    from rasterio.transform import from_origin

    values = np.where(np.arange(50) < 25, 1, 2).astype("uint8")[None, :].repeat(20, axis=0)
    with rasterio.open(path, "w", driver="GTiff", width=50, height=20, count=1, dtype="uint8",
                       crs=CRS, transform=from_origin(X0, Y0 + 200, 10, 10)) as dst:
        dst.write(values, 1)
