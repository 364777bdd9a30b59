"""Charts and maps for the reports: matplotlib (Agg) and geopandas, offline, no tile server.

Charts are SVG with text drawn as outlines (they print sharp and need no font in the page);
maps are PNG, whose size does not grow with the number of parcels. Chinese text uses the
package font (:mod:`.fonts`). Output bytes repeat for the same data (no dates, fixed ids).

Every plotted figure is a value of the results table passed in by the caller.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .common import SERIES_BREAK_YEAR

#: Text the figures draw, so the chart font can be made once per run with these characters.
VOCABULARY = (
    "耕地保有量永久基本农田目标面积万亩违法占用耕地比例年二调三调口径线基本农田本年变更图斑卫片执法"
    "违法占用行政区界北比例尺千米公里总分分考核得分排名数据缺失无数据达到年末线面积（）：，、。·—|"
)

COLORS = {
    "arable": "#f1e3a0", "bf": "#6aa84f", "change": "#e69138", "illegal": "#cc0000", "outline": "#222222",
    "target": "#555555", "area": "#1f5fa8", "bf_line": "#3d7a2a", "ratio": "#4a86c5", "over": "#cc0000",
}


def _figure(**kwargs):
    """A figure of its own, outside pyplot: pyplot's registry holds a figure (a map's million
    vertices) until it is closed, and choosing its backend switched a notebook's to Agg; importing
    pyplot alone costs 0.4 s. Saving picks the Agg or SVG canvas by the format."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _svg(fig) -> bytes:
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "farmland"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def _png(fig, dpi: int, *, crop_on=None) -> bytes:
    """The figure as PNG; ``crop_on``: a renderer to measure it on (:func:`_measuring_renderer`),
    to crop it to its drawn content as ``bbox_inches="tight"`` crops it.

    ``bbox_inches="tight"`` draws the whole figure once, with drawing switched off, only to lay it
    out, then measures it and draws it again. Measuring alone lays it out as well (it places the
    axes at their aspect and the titles, and sizes every text), so here the box is measured on a
    renderer like the one that dry run would use and the figure drawn once: the same box and the
    same bytes for a sixth less time (the choropleths of the sample).
    """
    buffer = io.BytesIO()
    bbox = None
    if crop_on is not None:
        import matplotlib

        bbox = fig.get_tightbbox(crop_on).padded(matplotlib.rcParams["savefig.pad_inches"])
    # zlib level 3 instead of the default 6: the same pixels, files as small (maps are flat
    # colours), a third less time encoding them.
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches=bbox,
                pil_kwargs={"compress_level": 3})
    return buffer.getvalue()


def _agg_canvas(fig):
    """An Agg canvas of the figure's own: saving as PNG would lend it a new one (and a new
    renderer) each time; this one keeps its renderer while the size drawn stays the same, and with
    it the sizes of the texts it has drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return FigureCanvasAgg(fig)


def _measuring_renderer(fig):
    """A renderer of the figure's size and dpi, as saving it with ``bbox_inches="tight"`` measures
    it with: to measure the figure's content on (it draws nothing), keeping the sizes of the texts."""
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(*fig.bbox.size, fig.dpi)


class _KeptFigures:
    """Figures kept between calls by shape, to be drawn again with other data (one thread at a time).

    :meth:`draw` draws ``data`` on the figure last used for its shape, or on a ``new()`` one when
    there is none, that figure cannot take the data (its ``draw`` returns None) or another thread
    is using the kept figures. A figure is kept again only once it has drawn whole, so an error
    leaves no half-changed figure behind; the least recently used go first.
    """

    def __init__(self, keep: int = 4):
        self._figures: dict = {}
        self._keep = keep
        self.lock = threading.Lock()

    def draw(self, shape, new, data) -> bytes:
        if not self.lock.acquire(blocking=False):
            return new().draw(data)
        try:
            figure = self._figures.pop(shape, None)
            drawn = None if figure is None else figure.draw(data)
            if drawn is None:
                figure = new()
                drawn = figure.draw(data)
            self._figures[shape] = figure
            while len(self._figures) > self._keep:
                del self._figures[next(iter(self._figures))]
            return drawn
        finally:
            self.lock.release()

    def __len__(self) -> int:
        return len(self._figures)


@dataclass
class TrendSeries:
    """One unit's yearly figures for the trend charts (all from the results table)."""

    years: list[int]
    arable: pd.Series
    arable_target: pd.Series
    bf: pd.Series
    bf_target: pd.Series
    illegal_ratio: pd.Series
    line: float  # the 15% line (34号 四（三）)


def _at_break(series: pd.Series) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A stock series (万亩) in two pieces, (years, values) before and from 2019-12-31: values
    across the break are not chained (二调 | 三调)."""
    before = series.index < SERIES_BREAK_YEAR
    return tuple((series.index[part].to_numpy(), series.to_numpy()[part] / 1e4) for part in (before, ~before))


def _break_line(ax, font) -> None:
    ax.axvline(SERIES_BREAK_YEAR - 0.5, color="#888888", lw=0.8, ls=(0, (4, 3)))
    ax.text(SERIES_BREAK_YEAR - 0.45, 1.0, "二调 | 三调", transform=ax.get_xaxis_transform(), ha="left",
            va="top", fontproperties=font, fontsize=7, color="#666666")


_TITLES = ("耕地保有量（万亩）", "永久基本农田（万亩）", "违法占用耕地比例（%）")


def _bars(s: TrendSeries) -> tuple[np.ndarray, list[str], float]:
    """The illegal ratio's bars (%), their colours (over the line or not) and the axis's top."""
    ratio = s.illegal_ratio * 100
    heights = ratio.fillna(0).to_numpy()
    colours = [COLORS["over"] if v >= s.line * 100 - 1e-9 else COLORS["ratio"] for v in heights]
    top = max(float(np.nanmax(ratio.to_numpy())) if ratio.notna().any() else 0.0, s.line * 100) * 1.25
    return heights, colours, top


class _TrendFigure:
    """One unit's trend chart as a figure, which can be drawn again with another unit's figures.

    Building it (three axes and their ticks, legends, texts) is half of a chart's CPU, and the
    charts of a run differ only in their values: :meth:`redraw` puts another unit's into the
    figure's lines and bars and scales the axes again, so only the drawing is paid again. A unit
    of another :meth:`shape_of` (years, targets shown or not, the 15% line) gets a figure of its own.
    """

    def __init__(self, s: TrendSeries, font):
        self._built_for = s  # until first drawn: its values are in the figure as built
        fig = self.fig = _figure(figsize=(7.2, 2.1))
        self.axes = axes = fig.subplots(1, 3)
        self.lines = []  # per stock axes: the pieces before and after the break, the target's step
        for ax, area, target, colour in ((axes[0], s.arable, s.arable_target, COLORS["area"]),
                                         (axes[1], s.bf, s.bf_target, COLORS["bf_line"])):
            (x0, y0), (x1, y1) = _at_break(area)
            style = {"color": colour, "lw": 1.6, "marker": "o", "ms": 3}
            lines = [ax.plot(x0, y0, label="面积", **style)[0], ax.plot(x1, y1, **style)[0]]
            if target.notna().any():
                lines += ax.step(target.index, target.to_numpy() / 1e4, where="mid", color=COLORS["target"], lw=1.0,
                                 ls="--", label="目标")
            self.lines.append(lines)
            _break_line(ax, font)
            ax.legend(prop=_sized(font, 7), frameon=False, loc="lower left")
        ax = axes[2]
        heights, colours, top = _bars(s)
        self.bars = ax.bar(s.illegal_ratio.index, heights, color=colours, width=0.6)
        ax.axhline(s.line * 100, color=COLORS["over"], lw=1.0, ls="--")
        ax.text(s.illegal_ratio.index.min() - 0.4, s.line * 100, "15% 线", fontproperties=font, fontsize=7,
                color=COLORS["over"], va="bottom")
        ax.set_ylim(0, top)
        _break_line(ax, font)
        for ax in axes:
            ax.set_xticks(s.years)
            ax.tick_params(labelsize=7)
            ax.set_xlim(min(s.years) - 0.6, max(s.years) + 0.6)
            _no_axis_labels(ax)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        # Fixed margins: automatic layout measures every label several times and triples the cost.
        fig.subplots_adjust(left=0.065, right=0.99, bottom=0.12, top=0.88, wspace=0.32)
        self.title_ys = [_title_y(ax) for ax in axes]
        for ax, title, y in zip(axes, _TITLES, self.title_ys, strict=True):
            ax.set_title(title, fontproperties=font, fontsize=8, y=y)

    @staticmethod
    def shape_of(s: TrendSeries, font) -> tuple:
        """What the figure's artists follow from: the font, the years, which targets are drawn, the line."""
        return (font.copy(), tuple(s.years), s.line, *(tuple(x.index) for x in (
            s.arable, s.arable_target, s.bf, s.bf_target, s.illegal_ratio)),
            bool(s.arable_target.notna().any()), bool(s.bf_target.notna().any()))

    def draw(self, s: TrendSeries) -> bytes | None:
        """The chart of ``s`` (of this :meth:`shape_of`) as SVG; None if this figure cannot draw it."""
        if s is not self._built_for and not self.redraw(s):
            return None
        self._built_for = None  # values changed in place since are put in again
        return _svg(self.fig)

    def redraw(self, s: TrendSeries) -> bool:
        """Put ``s`` (of this :meth:`shape_of`) into the figure; False if a title would then be placed
        otherwise than this figure's are (an offset text come or gone): the figure is spoiled."""
        for ax, lines, area, target in zip(self.axes, self.lines, (s.arable, s.bf), (s.arable_target, s.bf_target),
                                           strict=False):
            for line, xy in zip(lines, _at_break(area), strict=False):
                line.set_data(*xy)
            if len(lines) == 3:
                lines[2].set_data(target.index.to_numpy(), target.to_numpy() / 1e4)
            # As a new figure's axes are scaled: data limits from every line in order, then the view.
            ax.relim()
            ax.autoscale_view()
        heights, colours, top = _bars(s)
        for bar, height, colour in zip(self.bars, heights, colours, strict=True):
            bar.set_height(height)
            bar.set_facecolor(colour)
        self.axes[2].set_ylim(0, top)
        return [_title_y(ax) for ax in self.axes] == self.title_ys


_TRENDS = _KeptFigures()


def trend_chart(s: TrendSeries, font) -> bytes:
    """Three panels: arable and basic farmland (万亩) against their targets, the illegal ratio
    with the 15% line; the 2019-12-31 break drawn in each.

    The figure of the previous chart of the same shape is drawn again with this unit's values
    (:class:`_TrendFigure`): the same bytes as a new figure, ~40% less CPU.
    """
    return _TRENDS.draw(_TrendFigure.shape_of(s, font), lambda: _TrendFigure(s, font), s)


def _no_axis_labels(ax) -> None:
    """Tell matplotlib where the axes' (empty) axis labels go, so that it does not measure every
    tick label of the axes at each drawing to place them. An empty label draws nothing anywhere."""
    ax.xaxis.set_label_coords(0.5, 0)
    ax.yaxis.set_label_coords(0, 0.5)


def _title_y(ax, renderer=None) -> float | None:
    """``y`` for the title of ``ax`` (set last; ticks below, none above): 1.0 where matplotlib would
    place it, None (matplotlib places it at each drawing) where it might lift it.

    A title of no given ``y`` is placed at each drawing: matplotlib measures every tick label of
    the axes (a hidden axis too) to find the top of what is drawn above them and lifts the title
    over it. Under bottom ticks that is the axes' top edge, which the title (at 1.0 and its pad)
    clears, and the y axis's offset text ('1e6', '+8.534e1', left-aligned at the axes' top left
    corner, also when the axis is hidden and it is not drawn) if it meets the centred title.
    So 1.0 is the same place when there is no offset text, or when (``renderer``: the one the
    figure is drawn with) half the axes' width is more than twice what the two could reach
    towards each other: the offset text's width and half the title's.
    """
    formatter = ax.yaxis.get_major_formatter()
    formatter.set_locs(ax.get_yticks())  # as the drawing will: the ticks of the final view
    offset = formatter.get_offset()
    if not offset:
        return 1.0
    if renderer is None:
        return None
    ax.apply_aspect()  # the axes' box as the drawing places it
    ax.yaxis.offsetText.set_text(offset)  # as the drawing will
    reach = ax.yaxis.offsetText.get_window_extent(renderer).width + ax.title.get_window_extent(renderer).width / 2
    return 1.0 if ax.bbox.width / 2 > 2 * reach else None


def _sized(font, size):
    copy = font.copy()
    copy.set_size(size)
    return copy


def _nice_length(span_m: float) -> float:
    """A round scale-bar length (m) near a quarter of the map's width."""
    target = span_m / 4
    exponent = 10 ** math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * exponent <= target:
            return step * exponent
    return exponent


def decorate_map(ax, font, bounds) -> None:
    """Scale bar (km) and north arrow; the CRS is projected Gauss-Krüger, so axes are metres."""
    minx, miny, maxx, maxy = bounds
    width, height = maxx - minx, maxy - miny
    length = _nice_length(width)
    x0, y0 = minx + 0.04 * width, miny + 0.04 * height
    ax.plot([x0, x0 + length], [y0, y0], color="black", lw=3, solid_capstyle="butt")
    ax.plot([x0, x0 + length / 2], [y0, y0], color="white", lw=1.4, solid_capstyle="butt")
    km = length / 1000
    ax.text(x0 + length / 2, y0 + 0.02 * height, f"{km:g} 公里", ha="center", va="bottom",
            fontproperties=_sized(font, 7))
    nx, ny = maxx - 0.06 * width, maxy - 0.16 * height
    ax.annotate("", xy=(nx, ny + 0.11 * height), xytext=(nx, ny),
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.2, "mutation_scale": 14})
    ax.text(nx, ny + 0.12 * height, "北", ha="center", va="bottom", fontproperties=_sized(font, 8))


@dataclass
class UnitMapLayers:
    """What a unit's map draws (GeoDataFrames in one projected CRS; any may be empty)."""

    outline: object
    arable: object
    bf: object
    changes: object
    illegal: object
    others: object = None  # neighbouring units' outlines, for context


def _rings(geometries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, matplotlib Path codes and owning geometry (its position) of every polygon ring.

    Each ring is MOVETO … CLOSEPOLY; the polygon parts of each geometry in order, each exterior
    then its holes; parts that are not polygons, empties and ``None`` are skipped. Shells are
    counter-clockwise and holes clockwise: Agg fills by the nonzero rule, so holes stay holes and
    parcels drawn in one path add up instead of cancelling where they meet or overlap.

    Notes
    -----
    The vertices are read once, polygon by polygon, and turned with numpy: a copy of every part
    (``get_parts``), a reoriented copy of every polygon (``orient_polygons``) and a geometry per
    ring (``get_rings``) cost three times as much (the 18 maps of a 300 000-parcel city: 4 M
    vertices, 2.7 s against 0.9 s of CPU). A ring is turned as ``orient_polygons`` turns it (GEOS
    ``Orientation::isCCW``), judged here by the sign of its shoelace area, which is the same test
    for every ring that does not cross itself; a flat ring counts as clockwise in both.
    """
    import shapely
    from matplotlib.path import Path

    geometries = np.asarray(geometries, dtype=object)
    single = shapely.get_type_id(geometries) == shapely.GeometryType.POLYGON
    # Only multi-part geometries are split: get_parts copies every part, and nearly every parcel
    # is one polygon already.
    parts, owner = shapely.get_parts(geometries[~single], return_index=True)
    owner = np.concatenate([np.flatnonzero(single), np.flatnonzero(~single)[owner]])
    by_owner = np.argsort(owner, kind="stable")
    parts, owner = np.concatenate([geometries[single], parts])[by_owner], owner[by_owner]
    polygons = (shapely.get_type_id(parts) == shapely.GeometryType.POLYGON) & ~shapely.is_empty(parts)
    parts, owner = parts[polygons], owner[polygons]
    vertices = shapely.get_coordinates(parts)
    # A polygon's vertices come exterior first, then each hole; only the few polygons with holes
    # need their rings apart to know where each ring ends.
    holes = shapely.get_num_interior_rings(parts)
    per_polygon = 1 + holes
    counts = np.repeat(shapely.get_num_coordinates(parts), per_polygon)
    holed = np.repeat(holes > 0, per_polygon)
    counts[holed] = shapely.get_num_coordinates(shapely.get_rings(parts[holes > 0]))
    ends = np.cumsum(counts)
    starts = ends - counts
    shell = np.zeros(len(counts), dtype=bool)
    shell[np.cumsum(per_polygon) - per_polygon] = True

    # Twice the signed area of each ring, about its first vertex (coordinates are millions of
    # metres: products of raw coordinates would lose a small parcel's area to rounding).
    ring = np.repeat(np.arange(len(counts)), counts)
    local = vertices - vertices[starts[ring]]
    cross = local[:-1, 0] * local[1:, 1] - local[1:, 0] * local[:-1, 1]
    cross[ends[:-1] - 1] = 0.0  # the step from one ring to the next is no edge
    doubled_area = np.bincount(ring[:-1], weights=cross, minlength=len(counts))
    turn = np.where(shell, doubled_area <= 0, doubled_area > 0)
    if turn.any():
        order = np.arange(len(vertices))
        flip = turn[ring]
        # A closed ring reversed keeps its first (and last) vertex, as GEOS reverses it.
        order[flip] = (starts + ends - 1)[ring[flip]] - order[flip]
        vertices = vertices[order]

    codes = np.full(len(vertices), Path.LINETO, dtype=Path.code_type)
    codes[starts] = Path.MOVETO
    codes[ends - 1] = Path.CLOSEPOLY
    return vertices, codes, np.repeat(owner, per_polygon)[ring]


def _paths(geometries):
    """One matplotlib Path per geometry that has polygon rings (exterior and holes of each part)."""
    from matplotlib.path import Path

    vertices, codes, owner = _rings(geometries)
    cuts = np.flatnonzero(np.diff(owner)) + 1
    return [Path(v, c) for v, c in zip(np.split(vertices, cuts), np.split(codes, cuts), strict=True) if len(v)]


def _path(geometries):
    """Every polygon of ``geometries`` in one compound matplotlib Path."""
    from matplotlib.path import Path

    vertices, codes, _ = _rings(geometries)
    return Path(vertices, codes)


def _draw(ax, frame, tolerance: float = 0.0, **style) -> None:
    """Polygons of ``frame`` as one compound path: one path of a million vertices draws in a
    fraction of the time of a collection of many thousand small ones, with the same picture.
    ``tolerance``: see :func:`_simplified`."""
    from matplotlib.collections import PathCollection

    if frame is None or not len(frame):
        return
    # Every caller sets the view itself: the limits of a million vertices are not worth taking.
    ax.add_collection(PathCollection([_path(_simplified(frame.geometry, tolerance))], **style), autolim=False)


#: Vertices per polygon from which a layer may be digitised more finely than a map shows it.
_DENSE_VERTICES = 16
#: Edges shorter than this many tolerances on average: digitised more finely than a map shows.
_DENSE_EDGES = 5


def _simplified(geometries, tolerance: float):
    """``geometries``, simplified (Douglas-Peucker: a subset of their vertices, none dropped that
    lies further than ``tolerance`` from the boundary kept) when they are digitised much more
    finely than ``tolerance``: more than :data:`_DENSE_VERTICES` vertices per polygon, and edges
    shorter than :data:`_DENSE_EDGES` tolerances, on average. Otherwise, and with ``tolerance``
    0, the very geometries given.

    A unit's map can hold millions of vertices, several in every pixel: turning them into a path
    and rasterising it costs about 0.4 µs a vertex, simplifying 4 µs a polygon and 15 ns a vertex.
    (A county of the 300 000-parcel city with its parcels' edges cut into 5 m pieces, 7.9 M
    vertices, 11 m a pixel: 3.0 s a map, 1.1 s simplified to a tenth of a pixel.) Boundaries move
    by less than ``tolerance``: at a tenth of a pixel the image differs from the unsimplified one
    no more than drawing the same parcels without their extra vertices does (on that county: 13%
    of pixels by a level or more, 1.5% by more than 8 of 255, one by 33), and round parcels (of
    1-3 m edges, 10 m pixels) differ on 0.2% of pixels by more than 8 levels, by 21 at most. A
    polygon that would collapse (smaller than ``tolerance``) is kept as it is; a ring may come out
    crossing itself, which the nonzero fill draws whole. Layers of few vertices a polygon (every
    generated workspace's) or of long edges are not simplified, and draw the same bytes as before.
    """
    import shapely

    geometries = np.asarray(geometries, dtype=object)
    if tolerance <= 0 or not len(geometries):
        return geometries
    vertices = int(shapely.get_num_coordinates(geometries).sum())
    if vertices < _DENSE_VERTICES * len(geometries):
        return geometries
    if np.nansum(shapely.length(geometries)) >= _DENSE_EDGES * tolerance * vertices:
        return geometries
    simplified = shapely.simplify(geometries, tolerance, preserve_topology=False)
    collapsed = shapely.is_empty(simplified) & ~shapely.is_empty(geometries)
    simplified[collapsed] = geometries[collapsed]
    return simplified


class _MapFigure:
    """The unit maps' figure of one font and year: the axes and the legend made once, each unit's
    layers and scale bar added, drawn and taken away again. Making the axes and legend and laying
    the legend out on a new renderer were a quarter of a small map's CPU."""

    def __init__(self, font, year: int):
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        self.font = font.copy()
        self.fig = _figure(figsize=(4.6, 4.6), dpi=_UNIT_MAP_DPI)
        _agg_canvas(self.fig)  # one renderer for every map
        ax = self.ax = self.fig.add_axes((0.01, 0.16, 0.98, 0.83))  # fixed layout: the legend below, no tight bbox pass
        ax.set_aspect("equal")
        ax.set_axis_off()
        handles = [
            Patch(facecolor=COLORS["arable"], label=f"耕地（{year}年末）"),
            Patch(facecolor=COLORS["bf"] + "55", edgecolor=COLORS["bf"], label="永久基本农田"),
            Patch(facecolor=COLORS["change"], label=f"{year}年变更图斑"),
            Line2D([], [], marker="o", color="none", markerfacecolor=COLORS["illegal"],
                   markeredgecolor=COLORS["illegal"], label=f"卫片执法违法占用耕地（{year}年）"),
            Line2D([], [], color=COLORS["outline"], lw=1.0, label="行政区界"),
        ]
        self.fig.legend(handles=handles, prop=_sized(font, 7), loc="lower center", ncol=2, frameon=False)

    def draw(self, layers: UnitMapLayers) -> bytes:
        ax = self.ax
        bounds = layers.outline.total_bounds
        pad_x, pad_y = (bounds[2] - bounds[0]) * 0.04, (bounds[3] - bounds[1]) * 0.04
        view = (bounds[0] - pad_x, bounds[1] - pad_y, bounds[2] + pad_x, bounds[3] + pad_y)
        # A tenth of a pixel, in metres: the view fills the axes' width or height (equal aspect).
        box = ax.get_position(original=True).transformed(self.fig.transFigure)
        tolerance = max((view[2] - view[0]) / box.width, (view[3] - view[1]) / box.height) / 10
        try:
            _draw(ax, layers.others, tolerance, facecolor="none", edgecolor="#bbbbbb", linewidth=0.5)
            _draw(ax, layers.arable, tolerance, facecolor=COLORS["arable"], edgecolor="none", linewidth=0)
            _draw(ax, layers.bf, tolerance, facecolor=COLORS["bf"] + "55", edgecolor=COLORS["bf"], linewidth=0.4)
            _draw(ax, layers.changes, tolerance, facecolor=COLORS["change"], edgecolor=COLORS["change"],
                  linewidth=0.3)
            _draw(ax, layers.illegal, tolerance, facecolor=COLORS["illegal"], edgecolor=COLORS["illegal"],
                  linewidth=0.6)
            if len(layers.illegal):
                centres = layers.illegal.representative_point()
                ax.scatter(centres.x, centres.y, s=30, facecolors="none", edgecolors=COLORS["illegal"],
                           linewidths=0.8)
            _draw(ax, layers.outline, tolerance, facecolor="none", edgecolor=COLORS["outline"], linewidth=1.0)
            ax.set_xlim(view[0], view[2])
            ax.set_ylim(view[1], view[3])
            decorate_map(ax, self.font, view)
            return _png(self.fig, _UNIT_MAP_DPI)
        finally:  # all the axes hold is this unit's (its parcels: maybe a million vertices)
            for artist in [*ax.collections, *ax.images, *ax.lines, *ax.patches, *ax.tables, *ax.texts, *ax.artists]:
                artist.remove()


_UNIT_MAP_DPI = 130
_MAPS = _KeptFigures()


def unit_map(layers: UnitMapLayers, font, *, year: int) -> bytes:
    """The unit's arable land, basic farmland, the year's changes and illegal-occupation parcels.

    Drawn on the figure of the previous map of the same font and year (:class:`_MapFigure`)."""
    return _MAPS.draw((font.copy(), year), lambda: _MapFigure(font, year), layers)


_MAP_DPI = 150


class _ChoroplethFigure:
    """The choropleth of a set of units, which can be drawn again with other totals.

    The choropleths of a run are of the same units, one per check: :meth:`redraw` puts another
    check's totals into the units' colours, the colour bar and the labels, so the axes, colour bar
    and texts are made once, and the figure is measured (to crop it) on a renderer of its own that
    keeps the sizes of the texts it has measured. Units without a total are another shape.
    """

    def __init__(self, units, totals: pd.Series, names: pd.Series, font):
        frame = units.copy()
        frame["total"] = totals.reindex(frame["XZQDM"]).to_numpy()
        fig = self.fig = _figure(figsize=(5.6, 4.8), dpi=_MAP_DPI)
        _agg_canvas(fig)
        self.measure = _measuring_renderer(fig)
        ax = self.ax = fig.subplots()
        has = self.has = frame["total"].notna().to_numpy()
        _draw(ax, frame[~has], facecolor="#eeeeee", edgecolor="white", linewidth=0.8)
        self.collection = None
        if has.any():
            from matplotlib.collections import PathCollection

            values = frame.loc[has, "total"].to_numpy(dtype=float)
            collection = self.collection = PathCollection(_paths(frame.geometry[has]), cmap="RdYlGn",
                                                          edgecolor="white", linewidth=0.8)
            collection.set_array(values)
            collection.set_clim(max(0.0, float(values.min()) - 5), 100)
            ax.add_collection(collection, autolim=False)
            bar = fig.colorbar(collection, ax=ax, shrink=0.6)
            _no_axis_labels(bar.ax)
        self.codes = frame["XZQDM"].to_numpy()
        self.labels = []
        for code, total, geometry in zip(self.codes, frame["total"], frame.geometry, strict=True):
            point = geometry.representative_point()
            self.labels.append(ax.text(point.x, point.y, self._label(code, total, names), ha="center", va="center",
                                       fontproperties=_sized(font, 7)))
        bounds = frame.total_bounds
        ax.set_xlim(bounds[0], bounds[2])
        ax.set_ylim(bounds[1], bounds[3])
        ax.set_aspect("equal")
        ax.set_axis_off()
        decorate_map(ax, font, bounds)
        ax.set_title("考核总分", fontproperties=_sized(font, 9))  # its text first: _title_y measures it
        ax.set_title("考核总分", fontproperties=_sized(font, 9), y=_title_y(ax, self.measure))
        self._built_for = (totals, names)  # until first drawn: they are in the figure as built

    @staticmethod
    def _label(code, total, names: pd.Series) -> str:
        return f"{names.get(code, code)}\n{'—' if pd.isna(total) else f'{total:.1f}'}"

    @staticmethod
    def shape_of(units, totals: pd.Series, font) -> tuple:
        """What the figure's artists follow from: the font, the units (codes, shapes), which have a total."""
        import shapely

        return (font.copy(), tuple(units["XZQDM"]), tuple(totals.reindex(units["XZQDM"]).notna()),
                tuple(shapely.to_wkb(np.asarray(units.geometry))))

    def draw(self, data: tuple[pd.Series, pd.Series]) -> bytes:
        """The choropleth of ``(totals, names)`` (of this :meth:`shape_of`) as PNG."""
        totals, names = data
        if self._built_for is None or totals is not self._built_for[0] or names is not self._built_for[1]:
            self.redraw(totals, names)
        self._built_for = None  # values changed in place since are put in again
        return _png(self.fig, _MAP_DPI, crop_on=self.measure)

    def redraw(self, totals: pd.Series, names: pd.Series) -> None:
        """Put ``totals`` and ``names`` into the figure (the title's place follows from the units alone)."""
        total = totals.reindex(self.codes).to_numpy()
        if self.collection is not None:
            values = total[self.has].astype(float)
            self.collection.set_array(values)  # the colour bar follows its changes
            self.collection.set_clim(max(0.0, float(values.min()) - 5), 100)
        for label, code, value in zip(self.labels, self.codes, total, strict=True):
            label.set_text(self._label(code, value, names))


_CHOROPLETHS = _KeptFigures()


def choropleth(units, totals: pd.Series, names: pd.Series, font) -> bytes:
    """Units coloured by total score, each labelled with its name and total.

    Drawn on the figure of the previous choropleth of the same units (:class:`_ChoroplethFigure`)."""
    return _CHOROPLETHS.draw(_ChoroplethFigure.shape_of(units, totals, font),
                             lambda: _ChoroplethFigure(units, totals, names, font), (totals, names))
