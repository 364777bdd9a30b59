"""Figures (farmland/reports/figures.py): the shortcuts that make them cheaper draw the same bytes
as matplotlib laying the figures out itself."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from farmland.reports import figures


@pytest.fixture(scope="module")
def font():
    from farmland.reports.fonts import chart_font

    return chart_font(figures.VOCABULARY + "甲乙丙县区")


def _trend(values, ratio=0.05) -> figures.TrendSeries:
    years = list(range(2015, 2021))
    s = pd.Series(values, index=years, dtype=float)
    return figures.TrendSeries(years, s, s * 0.99, s * 0.8, s * np.nan, s * 0 + ratio, 0.15)


def _units(height_per_width: float):
    """Three stacked squares' worth of units, the whole ``height_per_width`` times taller than wide."""
    import geopandas as gpd
    import shapely

    step = 10_000 * height_per_width / 3
    boxes = [shapely.box(39.4e6, 4.0e6 + i * step, 39.41e6, 4.0e6 + (i + 1) * step) for i in range(3)]
    units = gpd.GeoDataFrame({"XZQDM": ["1", "2", "3"]}, geometry=boxes, crs="EPSG:4527")
    return (units, pd.Series([70.0, 80.0, np.nan], index=["1", "2", "3"]),
            pd.Series(["甲", "乙", "丙"], index=["1", "2", "3"]))


def _placed_by_matplotlib(monkeypatch):
    """Titles and axis labels placed by matplotlib at each drawing, as before the shortcuts."""
    monkeypatch.setattr(figures, "_title_y", lambda ax, renderer=None: None)
    monkeypatch.setattr(figures, "_no_axis_labels", lambda ax: None)


def _seen_title_ys(monkeypatch) -> list:
    seen = []
    title_y = figures._title_y

    def recording(ax, renderer=None):
        seen.append(title_y(ax, renderer))
        return seen[-1]

    monkeypatch.setattr(figures, "_title_y", recording)
    return seen


def test_trend_chart_titles_and_labels_where_matplotlib_places_them(font, monkeypatch):
    """A title given its place (no offset text on its y axis) and empty axis labels told where
    they go: the SVG is byte for byte the one matplotlib lays out itself, also when an offset text
    ('+8.534e1', a series changing in its fifth digit) lifts a title."""
    series = [_trend([1.0e6, 1.01e6, 1.02e6, 1.0e6, 1.05e6, 1.04e6], 0.2),
              _trend([853412, 853411, 853410.5, 853409, 853408, 853407.5]),  # offset text on the first two axes
              _trend([5e5] * 6, 0.0)]
    seen = _seen_title_ys(monkeypatch)
    fast = [figures.trend_chart(s, font) for s in series]
    assert None in seen and 1.0 in seen  # both kinds of title met
    with monkeypatch.context() as m:
        _placed_by_matplotlib(m)
        assert [figures.trend_chart(s, font) for s in series] == fast


def test_choropleth_title_where_matplotlib_places_it(font, monkeypatch):
    """The map's title at its own place while its hidden y axis's offset text ('1e6') cannot meet
    it; matplotlib lifts it over that text when the map is narrow (units 8 times taller than wide):
    the PNG is the same either way."""
    seen = _seen_title_ys(monkeypatch)
    fast = [figures.choropleth(*_units(h), font) for h in (0.5, 8)]
    assert seen == [1.0, None]
    with monkeypatch.context() as m:
        _placed_by_matplotlib(m)
        assert [figures.choropleth(*_units(h), font) for h in (0.5, 8)] == fast


def test_png_cropped_to_content_as_bbox_inches_tight(font):
    """``_png(fig, crop_on=…)`` measures the box once and draws once: the bytes
    ``savefig(bbox_inches="tight")`` writes after its dry-run drawing."""
    units, totals, names = _units(1.2)
    ours, theirs = (figures._ChoroplethFigure(units, totals, names, font).fig for _ in range(2))
    tight = io.BytesIO()
    theirs.savefig(tight, format="png", dpi=150, metadata={"Software": None}, bbox_inches="tight",
                   pil_kwargs={"compress_level": 3})
    cropped = figures._png(ours, 150, crop_on=figures._measuring_renderer(ours))
    assert cropped == tight.getvalue()
    assert len(cropped) < len(figures._png(ours, 150))  # cropped indeed


def test_choropleth_drawn_again_is_a_new_figure_byte_for_byte(font, monkeypatch):
    """Choropleths drawn by putting each check's totals into the previous one's figure are the bytes
    of new figures: other totals and colour scales, other names, a unit without a total (a figure of
    another shape), the same totals again."""
    monkeypatch.setattr(figures, "_CHOROPLETHS", figures._KeptFigures())
    units, _, names = _units(1.2)
    codes = ["1", "2", "3"]
    checks = [pd.Series(t, index=codes) for t in ([70.0, 80.0, 90.0], [95.5, 99.0, 97.25], [12.0, 60.0, 100.0],
                                                   [70.0, np.nan, 90.0])]
    renamed = pd.Series(["甲县", "乙", "丙区"], index=codes)
    sequence = [(checks[0], names), (checks[1], names), (checks[3], names), (checks[2], renamed),
                (checks[0], names), (checks[0], names)]
    drawn = [figures.choropleth(units, totals, n, font) for totals, n in sequence]
    assert len(figures._CHOROPLETHS) == 2 and len(set(drawn)) == 4
    assert drawn == [figures._ChoroplethFigure(units, totals, n, font).draw((totals, n)) for totals, n in sequence]
    checks[0].iloc[0] = 75.0  # totals changed in place: drawn again as they are now
    assert (figures.choropleth(units, checks[0], names, font)
            == figures._ChoroplethFigure(units, checks[0], names, font).draw((checks[0], names)) != drawn[-1])


def test_trend_chart_drawn_again_is_a_new_figure_byte_for_byte(font, monkeypatch):
    """Charts drawn by putting each unit's values into the previous chart's figure are the bytes of
    new figures, in any order: other values and scales, bars over and under the line, missing
    values, an offset text that lifts titles (the figure is then built anew), targets not drawn (a
    figure of another shape), a unit drawn again."""
    monkeypatch.setattr(figures, "_TRENDS", figures._KeptFigures())
    redrawn = []
    redraw = figures._TrendFigure.redraw
    monkeypatch.setattr(figures._TrendFigure, "redraw", lambda self, s: redrawn.append(redraw(self, s)) or redrawn[-1])
    a = _trend([1.0e6, 1.01e6, 1.02e6, 1.0e6, 1.05e6, 1.04e6], 0.2)
    b = _trend([3.1e5, 3.0e5, np.nan, 2.9e5, 2.95e5, 2.9e5], 0.1)
    b.illegal_ratio.iloc[[1, 4]] = [np.nan, 0.16]
    lifted = _trend([853412, 853411, 853410.5, 853409, 853408, 853407.5])
    untargeted = _trend([2e6, 2.1e6, 2.2e6, 2.0e6, 1.9e6, 2.0e6])
    untargeted.arable_target[:] = np.nan
    series = [a, b, lifted, a, untargeted, b, untargeted, a]
    drawn = [figures.trend_chart(s, font) for s in series]
    # b into a's figure; lifted, then a, into a figure of other titles (both built anew); untargeted
    # on a figure of its own; b into a's; untargeted again, into its own; a into b's.
    assert redrawn == [True, False, False, True, True, True]
    assert len(figures._TRENDS) == 2
    assert drawn == [figures._TrendFigure(s, font).draw(s) for s in series]
    a.arable.iloc[0] = 0.9e6  # a unit's values changed in place: drawn again as they are now
    assert figures.trend_chart(a, font) == figures._TrendFigure(a, font).draw(a) != drawn[-1]


def _layers(x: float, y: float, size: float, illegal: bool):
    """A unit's map layers: a square unit at (x, y), a few parcels of each layer, a neighbour."""
    import geopandas as gpd
    import shapely

    def frame(*geometries):
        return gpd.GeoDataFrame(geometry=list(geometries), crs="EPSG:4527")

    def box(fx, fy, fw, fh):
        return shapely.box(x + fx * size, y + fy * size, x + (fx + fw) * size, y + (fy + fh) * size)

    parcels = [box(0.1 * i, 0.1 * i, 0.2, 0.15) for i in range(6)]
    holed = shapely.Polygon(box(0.6, 0.1, 0.3, 0.3).exterior, [box(0.7, 0.2, 0.1, 0.1).exterior])
    return figures.UnitMapLayers(
        outline=frame(box(0, 0, 1, 1)), arable=frame(*parcels, holed), bf=frame(*parcels[1:4]),
        changes=frame(parcels[2]), illegal=frame(box(0.5, 0.5, 0.05, 0.05)) if illegal else frame(),
        others=frame(box(1, 0, 1, 1)))


def test_unit_map_drawn_again_is_a_new_figure_byte_for_byte(font, monkeypatch):
    """Maps drawn on the previous map's figure (its axes and legend kept, the unit's layers and
    scale bar added and taken away) are the bytes of new figures: units of other places and sizes,
    with and without illegal parcels, another year (another figure); nothing of a unit is kept."""
    monkeypatch.setattr(figures, "_MAPS", figures._KeptFigures())
    units = [(_layers(39.4e6, 4.0e6, 20_000, True), 2020), (_layers(39.5e6, 4.1e6, 5_000, False), 2020),
             (_layers(39.45e6, 4.05e6, 40_000, True), 2019), (_layers(39.4e6, 4.0e6, 20_000, True), 2020)]
    drawn = [figures.unit_map(layers, font, year=year) for layers, year in units]
    assert len(figures._MAPS) == 2
    for kept in figures._MAPS._figures.values():
        assert not kept.ax.collections and not kept.ax.lines and not kept.ax.texts
    assert drawn[0] == drawn[3] and len(set(drawn)) == 3
    assert drawn == [figures._MapFigure(font, year).draw(layers) for layers, year in units]


def test_a_second_thread_draws_on_a_figure_of_its_own(font, monkeypatch):
    """While one thread draws on the kept figures, another draws new ones and leaves them alone."""
    monkeypatch.setattr(figures, "_TRENDS", figures._KeptFigures())
    a = _trend([1.0e6, 1.01e6, 1.02e6, 1.0e6, 1.05e6, 1.04e6], 0.2)
    with figures._TRENDS.lock:
        assert figures.trend_chart(a, font) == figures._TrendFigure(a, font).draw(a)
    assert len(figures._TRENDS) == 0


def _dense_layers(seed: int = 3):
    """A unit's layers digitised far more finely than its map shows: round parcels (edges ~1 m
    against a pixel of ~7 m), some holed, and parcels smaller than a quarter pixel."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    x, y = rng.uniform(39.4e6, 39.404e6, 300), rng.uniform(4.0e6, 4.004e6, 300)
    parcels = shapely.buffer(shapely.points(x, y), rng.uniform(20, 120, 300), quad_segs=64)
    parcels[::7] = shapely.difference(parcels[::7], shapely.buffer(shapely.points(x[::7], y[::7]), 10, quad_segs=32))
    tiny = shapely.buffer(shapely.points(x[:40] + 150, y[:40]), 0.8, quad_segs=16)

    def frame(geometries):
        return gpd.GeoDataFrame(geometry=list(geometries), crs="EPSG:4527")

    outline = shapely.box(39.4e6 - 200, 4.0e6 - 200, 39.404e6 + 200, 4.004e6 + 200)
    return figures.UnitMapLayers(outline=frame([outline]), arable=frame([*parcels, *tiny]), bf=frame(parcels[::3]),
                                 changes=frame(tiny[::2]), illegal=frame([]), others=frame([]))


def test_map_of_a_densely_digitised_unit_is_simplified_to_the_same_picture(font, monkeypatch):
    """Parcels digitised much more finely than a pixel are simplified to a tenth of a pixel before
    they are drawn: far fewer vertices, no parcel lost (those that would collapse are kept whole),
    and the same picture: under 1% of pixels differ by more than 8 of 255 levels, none by more
    than 32, on average by less than half a level."""
    import shapely
    from PIL import Image

    layers = _dense_layers()
    geometries = layers.arable.geometry.to_numpy()
    simplified = figures._simplified(geometries, 1.0)  # the map's: a tenth of its ~10 m pixel
    before, after = shapely.get_num_coordinates(geometries).sum(), shapely.get_num_coordinates(simplified).sum()
    assert after * 5 < before
    assert not shapely.is_empty(simplified).any()
    assert (shapely.get_num_coordinates(simplified[-40:]) == shapely.get_num_coordinates(geometries[-40:])).all()

    fast = figures._MapFigure(font, 2020).draw(layers)
    monkeypatch.setattr(figures, "_simplified", lambda g, tol: np.asarray(g, dtype=object))
    full = figures._MapFigure(font, 2020).draw(layers)
    assert fast != full  # simplified indeed
    a, b = (np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int) for png in (fast, full))
    difference = np.abs(a - b).max(axis=2)
    assert (difference > 8).mean() < 0.01 and difference.max() <= 32 and difference.mean() < 0.5


def test_layers_of_few_vertices_or_long_edges_are_drawn_as_they_are():
    """Parcels of a few vertices (every generated workspace) or of edges longer than the tolerance
    (an administrative outline) are not simplified: their maps stay byte for byte the same."""
    import shapely

    boxes = shapely.box(np.arange(100) * 100.0, 0, np.arange(100) * 100.0 + 80, 80)
    assert all(a is b for a, b in zip(figures._simplified(boxes, 30.0), boxes, strict=True))
    outline = shapely.buffer(shapely.Point(0, 0), 20_000, quad_segs=160)  # 641 vertices, edges ~200 m
    assert figures._simplified([outline], 30.0)[0] is outline
    assert figures._simplified([outline], 300.0)[0] is not outline  # edges shorter than this tolerance
    dense = _dense_layers().arable.geometry.to_numpy()
    assert all(a is b for a, b in zip(figures._simplified(dense, 0.0), dense, strict=True))  # no tolerance given
