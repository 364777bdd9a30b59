"""Rich display in Jupyter: a score table as HTML, a unit's scorecard and trend chart inline.

``ScoreResult`` shows its summary table (rank, unit, total, outcome, triggers) as HTML;
:func:`unit_card` shows a unit's full scorecard in an ``<iframe>``, so the card's print styles
do not restyle the notebook; :func:`unit_trend` shows the card's trend chart on its own. The
interactive map of a unit's evidence is :func:`farmland.reports.explore`.
"""

from __future__ import annotations

import html
import re

from .common import fmt_points


def score_table_html(result) -> str:
    """The result's summary table (best rank first) as an HTML table, names escaped."""
    from ..labels import label
    from . import score_display_frame

    frame = score_display_frame(result)
    columns = [c for c in frame.columns if c not in ("review", "basis_mismatch") or frame[c].astype(bool).any()]
    head = "".join(f"<th>{html.escape(label(c))}</th>" for c in columns)
    body = []
    for row in frame[columns].itertuples(index=False):
        cells = []
        for column, value in zip(columns, row, strict=True):
            text = fmt_points(value) if column == "total" else ("" if value is None else str(value))
            style = ' style="text-align:right"' if column in ("total", "rank") else ""
            cells.append(f"<td{style}>{html.escape(text.replace(';', '；'))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    title = (f"{html.escape(result.rules.name)} · {html.escape(result.phase)} {result.year} · "
             f"{len(frame)} 个单位 · 分值为{html.escape(result.rules.points_label or '规则集所定')}")
    return f"<div><p><b>{title}</b></p><table><tr>{head}</tr>{''.join(body)}</table></div>"


_TITLE = re.compile(r"<title>(.*?)</title>", re.S)


class UnitCard:
    """A unit's scorecard page; displays itself inline in a notebook (``_repr_html_``)."""

    def __init__(self, page: str, height: int = 900):
        self.page = page
        self.height = height

    @property
    def title(self) -> str:
        found = _TITLE.search(self.page)
        return html.unescape(found.group(1).strip()) if found else ""

    def __repr__(self) -> str:  # the plain-text form a notebook keeps beside the page
        return f"<UnitCard {self.title}>"

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.page, quote=True)}" style="width:100%;height:{self.height}px;'
                'border:1px solid #ccc"></iframe>')

    def save(self, path) -> None:
        from pathlib import Path

        Path(path).write_text(self.page, encoding="utf-8")


def unit_card(assessment, code: str, check: str = "final") -> UnitCard:
    """The scorecard of unit ``code`` in ``check`` (``"final"``, ``"midterm"``, ``"annual_2019"``)."""
    from .writer import card_html

    return UnitCard(card_html(assessment, code, check))


class Chart:
    """An SVG chart that displays itself in a notebook (``_repr_svg_``); ``.save(path)`` writes it."""

    def __init__(self, svg: bytes, title: str):
        self.svg = svg
        self.title = title

    def _repr_svg_(self) -> str:
        return self.svg.decode("utf-8")

    def __repr__(self) -> str:
        return f"<Chart {self.title}>"

    def save(self, path) -> None:
        from pathlib import Path

        Path(path).write_bytes(self.svg)


def unit_trend(assessment, code: str) -> Chart:
    """Unit ``code``'s trend chart of the scorecard: arable land and permanent basic farmland
    against their targets, and the illegal-occupation ratio with its 15% line, for every data year."""
    from .common import ReportData
    from .writer import Figures

    names = assessment.metrics.table
    name = names.loc[names["xzqdm"].astype(str) == str(code), "xzqmc"]
    if name.empty:
        raise KeyError(f"no unit {code!r} in the results table")
    svg = Figures(assessment, ReportData(assessment.metrics.table)).trend_svg(str(code))
    return Chart(svg, f"{name.iloc[0]}（{code}）耕地、永久基本农田与违法占用耕地比例趋势")
