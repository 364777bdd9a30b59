"""Rich display in Jupyter: a score table as HTML, and a unit's scorecard inline.

``ScoreResult`` shows its summary table (rank, unit, total, outcome, triggers) as HTML;
:func:`unit_card` shows a unit's full scorecard in an ``<iframe>``, so the card's print styles
do not restyle the notebook.
"""

from __future__ import annotations

import html

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


class UnitCard:
    """A unit's scorecard page; displays itself inline in a notebook (``_repr_html_``)."""

    def __init__(self, page: str, height: int = 900):
        self.page = page
        self.height = height

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
