"""Reports: scorecards and city summaries (HTML, PDF), their numbers, fonts, charts and maps."""

from __future__ import annotations

import html
import io
import math
import re
import shutil
import subprocess
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
POPPLER = shutil.which("pdftotext") and shutil.which("pdftoppm") and shutil.which("pdffonts")
needs_pdf = pytest.mark.skipif(not (CHROMIUM and POPPLER),
                               reason="needs Chromium and poppler-utils (apt-get install -y chromium poppler-utils; "
                                      ".ci/run installs them)")
PHASES = ["annual_2016", "annual_2017", "annual_2018", "annual_2019", "annual_2020", "midterm", "final"]
SRC = re.compile(r'data-src="([^"]+)"[^>]*>([^<]*)<')
NUMBER = re.compile(r"[+−-]?[\d,]+(?:\.\d+)?")


@lru_cache(maxsize=None)
def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"xzqdm": str}, keep_default_na=True)


def _name(phase: str, year: int) -> str:
    return f"annual_{year}" if phase == "annual" else phase


def _expected(out: Path, src: str) -> float:
    kind, code, phase, year, *rest = src.split(":")
    year = int(year)
    if kind == "score":
        table = _csv(out / f"scores_{_name(phase, year)}.csv")
        return float(table.loc[table["xzqdm"] == code, rest[0]].iloc[0])
    if kind == "trail":
        trail = _csv(out / f"trail_{_name(phase, year)}.csv")
        rows = trail[(trail["xzqdm"] == code) & (trail["rule_id"] == rest[0])]
        return float(rows[rest[1]].iloc[0])
    metrics = _csv(out / "metrics.csv")
    rows = metrics[(metrics["xzqdm"] == code) & (metrics["phase"] == phase) & (metrics["year"] == year)
                   & (metrics["metric"] == rest[0])]
    assert len(rows) == 1, src
    return float(rows["value"].iloc[0])


def _shown(text: str) -> float:
    text = html.unescape(text).strip()
    if text in ("—", ""):
        return math.nan
    if text in ("是", "否"):
        return 1.0 if text == "是" else 0.0
    number = float(NUMBER.search(text).group().replace(",", "").replace("−", "-"))
    return number / 100 if text.endswith("%") else number


def _check_numbers(out: Path, page: Path) -> int:
    found = SRC.findall(page.read_text(encoding="utf-8"))
    for src, text in found:
        expected, shown = _expected(out, src), _shown(text)
        if math.isnan(expected):
            assert math.isnan(shown), (page.name, src, text)
            continue
        # shown rounded to 2 decimals (of a percentage for ratios)
        tolerance = 0.00006 if text.strip().endswith("%") else 0.0051
        assert abs(shown - expected) <= tolerance, (page.name, src, text, expected)
    return len(found)


def test_every_phase_has_cards_and_a_summary(sample_assessed):
    out, _ = sample_assessed
    final = _csv(out / "scores_final.csv")
    for phase in PHASES:
        folder = out / "scorecards" / phase
        assert {p.stem for p in folder.glob("*.html")} == set(final["xzqdm"]) | {"index"}, phase
        if CHROMIUM:  # PDFs of the checks still to be filed: final, mid-term, latest self-check
            printed = set(final["xzqdm"]) | {"index"} if phase in ("final", "midterm", "annual_2020") else set()
            assert {p.stem for p in folder.glob("*.pdf")} == printed, phase


def test_every_number_on_cards_and_summaries_equals_the_results(sample_assessed):
    out, _ = sample_assessed
    checked = 0
    for phase in PHASES:
        for page in sorted((out / "scorecards" / phase).glob("*.html")):
            checked += _check_numbers(out, page)
    assert checked > 2000


def test_card_shows_the_verdict_and_its_basis(sample_assessed):
    out, _ = sample_assessed
    final = _csv(out / "scores_final.csv").set_index("xzqdm")
    for code, row in final.iterrows():
        card = (out / "scorecards" / "final" / f"{code}.html").read_text(encoding="utf-8")
        for text in ("建议值", "结果认定标准", "调查口径", "草稿", "规则集", "二调", "三调", row["xzqmc"],
                     "距各条线的距离", "问责情形"):
            assert text in card, (code, text)
        assert f">{row['outcome']}<" in card if isinstance(row["outcome"], str) else "结果 <b" in card
        assert 'id="trend"' in card and 'src="data:image/svg+xml;base64,' in card
        assert 'id="map"' in card and 'src="data:image/png;base64,' in card
    summary = (out / "scorecards" / "final" / "index.html").read_text(encoding="utf-8")
    for text in ("844.64 万亩", "724.05 万亩", "供地率", "国土开发强度", "城镇工矿用地规模", "单位GDP建设用地",
                 "本次考核在考核周期中的位置", 'id="choropleth"'):
        assert text in summary, text


def _fonts_of(page: str) -> dict[int, bytes]:
    """The page's embedded faces by weight."""
    import base64

    found = re.findall(r"font-weight:(\d+);[^}]*src:url\(data:font/ttf;base64,([A-Za-z0-9+/=]+)\)", page)
    assert found, "no embedded font"
    return {int(weight): base64.b64decode(data) for weight, data in found}


def test_pages_embed_a_font_covering_every_character(sample_assessed):
    from farmland.reports.fonts import cmap_of
    from farmland.reports.writer import visible_text

    out, _ = sample_assessed
    for page in [out / "scorecards" / "final" / "index.html", out / "scorecards" / "final" / "371522.html"]:
        text = page.read_text(encoding="utf-8")
        faces = _fonts_of(text)
        assert sorted(faces) == [400, 700]  # body text; headings and bold
        for face in faces.values():
            covered = cmap_of(face)
            missing = {ch for ch in visible_text(text) if ch.strip() and ord(ch) not in covered}
            assert not missing, missing


def test_font_subset_keeps_outlines_and_metrics_without_layout_tables():
    """No layout feature is kept, so the (slow to read) GSUB/GPOS/GDEF are left out; every
    character still has its glyph with its variable-weight outline and advance."""
    from fontTools.ttLib import TTFont

    from farmland.reports.fonts import _collection_subset, cmap_of

    text = "耕地保有量 Ab1（%）"
    data = _collection_subset(text)
    font = TTFont(io.BytesIO(data))
    assert not {"GSUB", "GPOS", "GDEF"} & set(font.keys())
    assert {"CFF2", "HVAR", "fvar", "hmtx", "cmap"} <= set(font.keys())
    assert {ord(ch) for ch in text} <= cmap_of(data)
    assert all(font["hmtx"][font.getBestCmap()[ord(ch)]][0] > 0 for ch in "耕地Ab1")


def test_figures_need_no_glyph_they_lack():
    """Charts and maps draw their Chinese labels with the packaged font: no 'Glyph missing' warning."""
    import geopandas as gpd
    import shapely

    from farmland.reports.figures import VOCABULARY, TrendSeries, UnitMapLayers, trend_chart, unit_map
    from farmland.reports.fonts import chart_font

    years = list(range(2015, 2021))
    s = pd.Series([1e6, 1.01e6, 1.02e6, 1.0e6, 1.05e6, 1.04e6], index=years)
    font = chart_font(VOCABULARY + "莘县")
    box = gpd.GeoDataFrame(geometry=[shapely.box(500000, 4000000, 530000, 4040000)], crs="EPSG:4527")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = trend_chart(TrendSeries(years, s, s * 0.99, s * 0.8, s * 0.79, s * 0 + 0.16, 0.15), font)
        png = unit_map(UnitMapLayers(box, box, box, box.iloc[0:0], box.iloc[0:0]), font, year=2020)
    assert svg.startswith(b"<?xml") and png.startswith(b"\x89PNG")


# -- PDF ------------------------------------------------------------------------------------------


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _region_std(pdf: Path, page: int, box: tuple[float, float, float, float], dpi: int = 50) -> float:
    """Standard deviation of the grey levels of a region (PDF points, top-left origin) of a page."""
    from PIL import Image

    png = subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-gray", "-png",
                          str(pdf)], capture_output=True, check=True).stdout
    image = np.asarray(Image.open(io.BytesIO(png)), dtype=float)
    scale = dpi / 72
    x0, y0, x1, y1 = (int(v * scale) for v in box)
    return float(image[y0:y1, x0:x1].std())


def _word_box(pdf: Path, needle: str) -> tuple[int, float, float]:
    """(page, yMax, xMin) of the first word containing ``needle`` (pdftotext -bbox)."""
    page_xml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
    for number, page in enumerate(page_xml.split("<page ")[1:], 1):
        for x_min, y_max, word in re.findall(
                r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>', page):
            if needle in html.unescape(word):
                return number, float(y_max), float(x_min)
    raise AssertionError(f"{needle!r} not in {pdf}")


@needs_pdf
def test_card_pdf_has_the_text_the_total_and_no_missing_glyph(sample_assessed):
    out, _ = sample_assessed
    final = _csv(out / "scores_final.csv").set_index("xzqdm")
    code = "371522"
    pdf = out / "scorecards" / "final" / f"{code}.pdf"
    text = _pdf_text(pdf)
    assert final.at[code, "xzqmc"] in text
    assert f"{final.at[code, 'total']:.2f}" in text
    assert "期末考核评分卡" in text and "耕地保有量" in text and "问责情形" in text
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True,
                                                             text=True).stdout).group(1))
    assert pages <= 4
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    assert rows and all(r[-5] == "yes" and r[-4] == "yes" for r in rows), fonts  # every font embedded, as a subset
    # Only the page's own faces (a system fallback would appear under its own name), as text:
    # a face printed as Type 3 drawings makes the file three times larger.
    assert {r[0].split("+")[-1] for r in rows} == {"FarmlandNotoSansSC-Regular", "FarmlandNotoSansSC-Bold"}, fonts
    assert all(r[1:3] == ["CID", "TrueType"] for r in rows), fonts
    from farmland.reports.fonts import cmap_of

    covered = cmap_of(_fonts_of((out / "scorecards" / "final" / f"{code}.html").read_text(encoding="utf-8"))[400])
    shown = {ch for ch in text if ch.strip()}
    assert not {ch for ch in shown if ord(ch) not in covered}


@needs_pdf
def test_card_pdf_chart_and_map_are_drawn(sample_assessed):
    out, _ = sample_assessed
    pdf = out / "scorecards" / "final" / "371522.pdf"
    page, y, _ = _word_box(pdf, "变化趋势")
    assert _region_std(pdf, page, (40, y + 4, 555, y + 130)) > 20
    page, y, _ = _word_box(pdf, "问题图斑")
    assert _region_std(pdf, page, (40, y + 4, 300, y + 230)) > 20
    # and a blank region reads as blank: the measure is not vacuous
    last = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True,
                                                            text=True).stdout).group(1))
    assert _region_std(pdf, last, (40, 800, 555, 830)) < 5


def _page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


@needs_pdf
def test_printed_cards_fit_on_two_a4_pages_and_summaries_on_three(sample_assessed):
    """Issue 11: a county scorecard is one or two A4 pages; the city summary stays short too."""
    out, _ = sample_assessed
    printed = sorted((out / "scorecards").glob("*/*.pdf"))
    cards = [pdf for pdf in printed if pdf.stem != "index"]
    summaries = [pdf for pdf in printed if pdf.stem == "index"]
    assert len(cards) == 27 and len(summaries) == 3  # final, mid-term, latest self-check; 9 units each
    pages = {str(pdf.relative_to(out)): _page_count(pdf) for pdf in printed}
    assert all(1 <= pages[str(pdf.relative_to(out))] <= 2 for pdf in cards), pages
    assert all(pages[str(pdf.relative_to(out))] <= 3 for pdf in summaries), pages
    size = subprocess.run(["pdfinfo", str(cards[0])], capture_output=True, text=True, check=True).stdout
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", size).groups())
    assert (round(width), round(height)) == (595, 842)  # A4


@needs_pdf
def test_summary_pdf_text_and_choropleth(sample_assessed):
    out, _ = sample_assessed
    pdf = out / "scorecards" / "final" / "index.pdf"
    text = _pdf_text(pdf)
    final = _csv(out / "scores_final.csv")
    for row in final.itertuples(index=False):
        assert row.xzqmc in text and f"{row.total:.2f}" in text
    assert "844.64 万亩" in text and "期末考核结果汇总" in text
    page, y, _ = _word_box(pdf, "得分排名")
    assert _region_std(pdf, page, (40, y + 4, 555, 800)) > 20


# -- problem parcels --------------------------------------------------------------------------------


def test_problem_parcel_lists_hold_the_evidence_of_every_trigger(sample_assessed):
    import pyogrio

    out, _ = sample_assessed
    triggers = pd.read_csv(out / "triggers.csv", dtype={"xzqdm": str}, keep_default_na=False)
    for phase in PHASES:
        gpkg = out / "problem_parcels" / f"{phase}.gpkg"
        rows = pyogrio.read_dataframe(gpkg, layer="problem_parcels")
        sheet = pd.read_excel(out / "problem_parcels" / f"{phase}.xlsx", dtype=str)
        assert len(sheet) == len(rows) > 0, phase
        assert {"证据编号", "行政区代码", "年份", "规则/情形", "面积(亩)", "问题说明"} <= set(sheet.columns)
        ids = set(rows["evidence_id"])
        mine = triggers[(triggers["assessment"] == phase) & (triggers["kind"] == "trigger")]
        for evidence in mine["evidence"]:
            for evidence_id in filter(None, evidence.split("; ")):
                if evidence_id.startswith("WPZF:"):
                    assert evidence_id in ids, (phase, evidence_id)
        # every listed id is one the trail gives as evidence of that unit and rule
        trail = pd.read_csv(out / f"trail_{phase}.csv", dtype={"xzqdm": str}, keep_default_na=False)
        given = {(r.xzqdm, r.rule_id, e) for r in trail.itertuples(index=False) for e in r.evidence.split("; ") if e}
        assert all((r.xzqdm, r.rule, r.evidence_id) in given for r in rows.itertuples(index=False)), phase
        wpzf = rows[rows["layer"] == "WPZF"]
        assert len(wpzf) and wpzf.geometry.notna().all() and (wpzf["area_mu"] > 0).all()
        assert rows.crs is not None and rows.crs.is_projected


def test_card_evidence_ids_are_in_the_problem_list(sample_assessed):
    import pyogrio

    out, _ = sample_assessed
    rows = pyogrio.read_dataframe(out / "problem_parcels" / "final.gpkg", layer="problem_parcels",
                                  read_geometry=False)
    card = (out / "scorecards" / "final" / "371522.html").read_text(encoding="utf-8")
    shown = set(re.findall(r"WPZF:\d+", card))
    illegal = set(rows.loc[(rows["xzqdm"] == "371522") & (rows["layer"] == "WPZF"), "evidence_id"])
    assert shown and (shown & illegal)


def test_jupyter_display_of_scores_and_a_card():

    from farmland.pipeline import score_workspace
    from farmland.reports import unit_card
    from farmland.reports.jupyter import UnitCard

    result, _ = score_workspace(Path(__file__).parent.parent / "sample_data" / "liaocheng", phase="annual", year=2018)
    table = result._repr_html_()
    assert "<table>" in table and "莘县" in table and "建议值" in table
    card = UnitCard("<p>a & b</p>")
    assert 'srcdoc="&lt;p&gt;a &amp; b&lt;/p&gt;"' in card._repr_html_()
    assert callable(unit_card)


# -- explore(): the interactive map of a unit's evidence ----------------------------------------


@pytest.fixture(scope="module")
def assessed_2018():
    """An Assessment holding the 2018 self-check only (cheaper than a whole assess)."""
    from farmland.pipeline import Assessment, load_workspace, score_workspace

    ws = load_workspace(Path(__file__).parent.parent / "sample_data" / "liaocheng")
    result, metrics = score_workspace(ws, phase="annual", year=2018)
    return Assessment(ws, metrics, annual={2018: result})


def _shown_in(text: str, page: str) -> bool:
    """Whether a map page holds ``text``, as written or JSON-escaped (folium writes layer names so)."""
    import json

    return text in page or json.dumps(text)[1:-1] in page


def test_explore_maps_the_parcels_behind_a_units_score(assessed_2018):
    folium = pytest.importorskip("folium")
    from farmland.reports import explore
    from farmland.reports.interactive import unit_evidence

    evidence = unit_evidence(assessed_2018, "371524", "annual_2018")
    # 东阿县 2018: one enforcement parcel, behind both R-ILLEGAL-RATIO's lost points and the 15% trigger.
    assert set(evidence["evidence_id"]) == {"WPZF:371524201800003"}
    assert set(evidence["kind"]) == {"失分", "问责情形（34号 四（三））"} and evidence.geometry.notna().all()
    m = explore(assessed_2018, "371524", "annual_2018")
    assert isinstance(m, folium.Map)
    page = m.get_root().render()
    assert "WPZF:371524201800003" in page and _shown_in("东阿县 行政区界", page)
    assert "tile.openstreetmap" not in page and "L.tileLayer" not in page  # offline: no tile server
    # On request: the unit's arable land and basic farmland, and tiles the user names.
    with_farmland = assessed_2018.explore("371524", "annual_2018", farmland=True, tiles="OpenStreetMap")
    page = with_farmland.get_root().render()
    assert _shown_in("耕地（2018年末）", page) and _shown_in("永久基本农田（2018年末）", page)
    assert "tile.openstreetmap" in page
    with pytest.raises(KeyError, match="no unit '999999'"):
        explore(assessed_2018, "999999", "annual_2018")
    with pytest.raises(KeyError, match="no check 'final'"):
        explore(assessed_2018, "371524", "final")


def test_explore_without_folium_names_the_extra(assessed_2018, monkeypatch):
    import sys

    from farmland.reports import explore

    monkeypatch.setitem(sys.modules, "folium", None)  # as if not installed
    with pytest.raises(ImportError, match=re.escape("pip install 'farmland[explore]'")):
        explore(assessed_2018, "371524", "annual_2018")


def test_unit_trend_and_card_display_in_a_notebook(assessed_2018):
    from farmland.reports import unit_trend
    from farmland.reports.jupyter import UnitCard

    chart = unit_trend(assessed_2018, "371524")
    assert chart._repr_svg_().lstrip().startswith("<?xml") and repr(chart).startswith("<Chart 东阿县（371524）")
    with pytest.raises(KeyError, match="no unit"):
        unit_trend(assessed_2018, "999999")
    card = UnitCard("<html><head><title>东阿县 期末考核评分卡</title></head></html>")
    assert repr(card) == "<UnitCard 东阿县 期末考核评分卡>"


def test_progress_line_only_on_a_terminal():
    from farmland.reports.progress import ProgressLine

    class Stream(io.StringIO):
        def __init__(self, tty):
            super().__init__()
            self.tty = tty

        def isatty(self):
            return self.tty

    quiet, shown = Stream(False), Stream(True)
    for stream in (quiet, shown):
        line = ProgressLine(stream)
        for done in range(1, 4):
            line("printing PDF", done, 3)
    assert quiet.getvalue() == ""
    assert "printing PDF" in shown.getvalue() and "3/3" in shown.getvalue()
    assert ProgressLine(Stream(True), enabled=False).enabled is False


def test_cards_read_the_adjustments_register_once_and_show_a_units_rows_in_force():
    """Every card of a run takes its adjustments from one read of the register (not one per card)."""
    from types import SimpleNamespace

    from farmland.reports.sources import LayerCache
    from farmland.reports.writer import _adjustments

    register = pd.DataFrame({"xzqdm": ["371521", "371521", "371522"], "year": [2017, 2020, 2017],
                             "kind": ["生态退耕", "省统筹", "其他"], "arable_mu": [-100.0, 50.0, 1.0],
                             "basic_farmland_mu": [0.0, 20.0, 0.0], "document": ["文1", "文2", "文3"]})
    reads = []
    store = SimpleNamespace(adjustments=lambda: reads.append(1) or register)
    ws = SimpleNamespace(adjustments_path="adjustments.csv")
    layers = LayerCache(ws, store)
    rows = [_adjustments(layers.adjustments, code, 2018) for code in ("371521", "371522", "371523")]
    assert len(reads) == 1
    assert rows == [[{"year": 2017, "kind": "生态退耕", "arable": -100.0, "bf": 0.0, "document": "文1"}],
                    [{"year": 2017, "kind": "其他", "arable": 1.0, "bf": 0.0, "document": "文3"}], []]
    assert _adjustments(LayerCache(SimpleNamespace(adjustments_path=None), store).adjustments, "371521", 2020) == []


def test_map_paths_are_built_from_all_rings_at_once():
    """Rings become MOVETO … CLOSEPOLY, shells counter-clockwise and holes clockwise (whatever the
    input's orientation); parts that are not polygons, empties and ``None`` draw nothing."""
    import shapely
    from matplotlib.path import Path

    from farmland.reports.figures import _path, _paths

    clockwise = shapely.Polygon([(0, 0), (0, 1), (1, 1), (1, 0), (0, 0)])
    shell = [(2, 0), (6, 0), (6, 4), (2, 4), (2, 0)]
    hole_same_turn = [(3, 1), (4, 1), (4, 2), (3, 2), (3, 1)]  # must be reversed to stay a hole
    holed = shapely.MultiPolygon([shapely.Polygon(shell, [hole_same_turn]), shapely.box(7, 0, 8, 1, ccw=True)])
    mixed = shapely.GeometryCollection([shapely.Point(9, 9), shapely.box(10, 0, 11, 1, ccw=True)])
    geometries = [clockwise, None, shapely.Polygon(), holed, shapely.MultiPolygon(), mixed]

    M, L, C = Path.MOVETO, Path.LINETO, Path.CLOSEPOLY
    ring = [M, L, L, L, C]
    expected = [
        ([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)], ring),
        (shell + [(3, 1), (3, 2), (4, 2), (4, 1), (3, 1)] + [(8, 0), (8, 1), (7, 1), (7, 0), (8, 0)], ring * 3),
        ([(11, 0), (11, 1), (10, 1), (10, 0), (11, 0)], ring),
    ]
    paths = _paths(geometries)
    assert len(paths) == len(expected)
    for path, (vertices, codes) in zip(paths, expected, strict=True):
        np.testing.assert_array_equal(path.vertices, np.array(vertices, dtype=float))
        np.testing.assert_array_equal(path.codes, codes)
    whole = _path(geometries)
    np.testing.assert_array_equal(whole.vertices, np.concatenate([p.vertices for p in paths]))
    np.testing.assert_array_equal(whole.codes, np.concatenate([p.codes for p in paths]))
    assert len(_path([None, shapely.Polygon()]).vertices) == 0


def test_map_rings_turn_as_geos_orients_them():
    """The rings' vertices are those of ``orient_polygons`` then ``get_rings``, for polygons of
    either turn with holes of either turn, multipolygons, flat and tiny rings far from the origin."""
    import shapely
    from matplotlib.path import Path

    from farmland.reports.figures import _rings

    rng = np.random.default_rng(7)
    geometries = []
    for x, y, r in zip(rng.uniform(39.5e6, 39.6e6, 300), rng.uniform(4.0e6, 4.1e6, 300), rng.uniform(0.05, 80, 300),
                       strict=True):
        shell = shapely.Point(x, y).buffer(r, quad_segs=int(rng.integers(1, 6)))
        hole = shapely.Point(x + r / 4, y).buffer(r / 3, quad_segs=2)
        polygon = shapely.Polygon(shell.exterior.coords[::rng.choice([1, -1])],
                                  [hole.exterior.coords[::rng.choice([1, -1])]] * int(rng.integers(0, 2)))
        other = shapely.box(x, y - 300, x + 5, y - 200, ccw=bool(rng.integers(0, 2)))
        geometries.append(polygon if rng.random() < 0.7 else shapely.MultiPolygon([polygon, other]))
    geometries.append(shapely.Polygon([(39.5e6, 4e6), (39.5e6 + 1, 4e6), (39.5e6 + 2, 4e6), (39.5e6, 4e6)]))  # flat

    vertices, codes, owner = _rings(geometries)
    parts, part_owner = shapely.get_parts(geometries, return_index=True)
    rings, ring_part = shapely.get_rings(shapely.orient_polygons(parts, exterior_cw=False), return_index=True)
    counts = shapely.get_num_coordinates(rings)
    np.testing.assert_array_equal(vertices, shapely.get_coordinates(rings))
    assert not np.array_equal(vertices, shapely.get_coordinates(parts))  # rings of both turns were met
    np.testing.assert_array_equal(owner, np.repeat(part_owner[ring_part], counts))
    np.testing.assert_array_equal(np.flatnonzero(codes == Path.MOVETO), np.cumsum(counts) - counts)
    np.testing.assert_array_equal(np.flatnonzero(codes == Path.CLOSEPOLY), np.cumsum(counts) - 1)


def test_map_layer_drawn_as_one_path_keeps_holes_and_fills_overlaps():
    """The layer's one compound path fills a parcel but not its hole, and fills where parcels of
    opposite input orientation overlap (the nonzero rule would cancel them if they were not oriented)."""
    import geopandas as gpd
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from farmland.reports.figures import _draw, _figure

    holed = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(4, 4), (6, 4), (6, 6), (4, 6)]])
    overlapping = [shapely.box(12, 0, 16, 4, ccw=True), shapely.box(14, 2, 18, 6, ccw=False)]
    fig = _figure(figsize=(2, 1), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 20)
    ax.set_ylim(0, 10)
    _draw(ax, gpd.GeoDataFrame(geometry=[holed, *overlapping]), facecolor="black", edgecolor="none", linewidth=0)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., 0]

    def at(x, y):  # data coordinates → pixel (10 px per unit, rows from the top)
        return pixels[int(100 - y * 10), int(x * 10)]

    assert at(2, 2) == 0 and at(5, 5) == 255  # the parcel filled, its hole not
    assert at(13, 1) == 0 and at(15, 3) == 0 and at(17, 5) == 0  # both parcels and their overlap
    assert at(11, 8) == 255


def test_problem_list_finds_all_evidence_ids_at_once():
    """Each id is found in the latest year of its check's span, the first row of a repeated id, a
    table's record by its row; geometry comes in the map's CRS; unknown ids and layers are not found."""
    from types import SimpleNamespace

    import geopandas as gpd
    import shapely

    from farmland.reports.parcels import find_records
    from farmland.reports.sources import LayerCache

    ws = SimpleNamespace(layers={"DLTB": SimpleNamespace(per_year=True), "ZBPH": SimpleNamespace(per_year=False)})
    cache = LayerCache(ws, store=object())
    point = shapely.Point(39500000, 4000000)  # EPSG:4527: zone 39, its false easting in front
    cache._frames[("XZQ", None)] = gpd.GeoDataFrame({"XZQDM": ["371502"]}, geometry=[point], crs="EPSG:4527")
    cache._frames[("DLTB", 2020)] = gpd.GeoDataFrame(
        {"BSM": ["1", "2", "2"], "TBDLMJ": [10.0, 20.0, 21.0]}, geometry=[point] * 3, crs="EPSG:4527")
    in_degrees = gpd.GeoSeries([point], crs="EPSG:4527").to_crs("EPSG:4490").iloc[0]
    cache._frames[("DLTB", 2019)] = gpd.GeoDataFrame(
        {"BSM": ["1", "3"], "TBDLMJ": [1.0, 30.0]}, geometry=[in_degrees] * 2, crs="EPSG:4490")
    cache._frames[("ZBPH", "table")] = pd.DataFrame({"row": [1, 2], "area_mu": [5.0, 6.0]})

    found, older = find_records(cache, [(["DLTB:1", "DLTB:3", "DLTB:2", "DLTB:9", "ZBPH:2", "XYZ:1"], [2019, 2020]),
                                        (["DLTB:1", "DLTB:2"], [2019])], year_by_year=True)
    assert [(rid, year, record["TBDLMJ"] if record else None) for _, rid, record, year in older] == [
        ("1", 2019, 1.0), ("2", None, None)]  # a check of 2019 takes 2019's record, not the latest
    assert ("DLTB", 2020) not in cache._frames and ("DLTB", 2019) not in cache._frames  # let go, year by year
    assert [(layer, rid, year) for layer, rid, _, year in found] == [
        ("DLTB", "1", 2020), ("DLTB", "3", 2019), ("DLTB", "2", 2020), ("DLTB", "9", None), ("ZBPH", "2", None),
        ("XYZ", "1", None)]
    records = [record for _, _, record, _ in found]
    assert [r["TBDLMJ"] for r in records[:3]] == [10.0, 30.0, 20.0]
    assert records[1]["geometry"].distance(point) < 1e-3  # back in the map's metres
    assert records[3] is None and records[5] is None
    assert records[4] == {"row": 2, "area_mu": 6.0}


def test_a_zones_rows_are_the_parcels_whose_representative_point_lies_inside():
    """A development zone has no code of its own in the parcels: its rows are those whose
    representative point lies in its outline, found once the boxes are screened."""
    from types import SimpleNamespace

    import geopandas as gpd
    from shapely import Polygon, box

    from farmland.reports.sources import LayerCache

    cache = LayerCache(SimpleNamespace(spatial_units=("Z",)), store=object())
    zone = gpd.GeoDataFrame({"XZQDM": ["Z"]}, geometry=[box(0, 0, 10, 10)])
    cache.__dict__["xzq"] = zone  # the cached property, set as the layer would be read
    l_shape = Polygon([(8, 8), (30, 8), (30, 30), (28, 30), (28, 10), (8, 10)])  # box meets the zone, body outside
    # The straddling boxes' points are their centres: (11, 2) outside, (8.5, 2) inside.
    frame = gpd.GeoDataFrame({"BSM": ["in", "out", "mostly-out", "mostly-in", "box-only", "none"]},
                             geometry=[box(1, 1, 2, 2), box(20, 20, 21, 21), box(8, 1, 14, 3), box(6, 1, 11, 3),
                                       l_shape, None])
    assert cache.for_unit(frame, "DLTB", "Z")["BSM"].tolist() == ["in", "mostly-in"]
    assert cache.for_unit(frame, "JBNTTB", "Z")["BSM"].tolist() == cache.for_unit(frame, "DLTB", "Z")["BSM"].tolist()
    assert len(cache._per_frame) == 1  # one box computation for the one frame


def test_layer_rows_of_a_unit_come_from_one_split_per_frame():
    """Units get their rows by code prefix, in layer order; each frame is split once, and another
    frame of the same layer is split on its own."""
    from types import SimpleNamespace

    from farmland.reports.sources import LayerCache

    cache = LayerCache(SimpleNamespace(spatial_units=()), store=object())
    frame = pd.DataFrame({"ZLDWDM": ["371502001", "371521002", "371502003", None], "BSM": ["a", "b", "c", "d"]})
    assert cache.for_unit(frame, "DLTB", "371502")["BSM"].tolist() == ["a", "c"]
    assert cache.for_unit(frame, "DLTB", "371521")["BSM"].tolist() == ["b"]
    assert cache.for_unit(frame, "DLTB", "371599").empty
    assert len(cache._per_frame) == 1  # one split for the one frame
    other = frame.iloc[::-1]
    assert cache.for_unit(other, "DLTB", "371502")["BSM"].tolist() == ["c", "a"]
