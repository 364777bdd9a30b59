"""Plain-text tables for the terminal: Chinese headers, 万亩 for large areas, aligned columns."""

from __future__ import annotations

import unicodedata

import pandas as pd

from .labels import label

DEFAULT_METRIC_COLUMNS = [
    "xzqdm", "xzqmc", "year", "arable_mu", "arable_target_mu", "arable_attainment", "basic_farmland_mu",
    "basic_farmland_attainment", "construction_on_arable_mu", "illegal_arable_mu", "illegal_ratio",
    "illegal_ratio_flag", "balance_mu",
]


def _width(text: str) -> int:
    # CJK characters take two terminal cells.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _format(value, column: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, float):
        if column.endswith(("_ratio", "_attainment", "_completion")) or column in ("illegal_ratio",):
            return f"{value:.2%}"
        if column.endswith("_mu"):
            return f"{value:,.2f}"
        if column.endswith("_flag"):
            return "是" if value else "否"
        return f"{value:,.2f}"
    return str(value)


def render_table(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    """Render ``frame`` as an aligned text table with Chinese headers; numbers right-aligned."""
    columns = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    headers = [label(c) for c in columns]
    rows = [[_format(v, c) for v, c in zip(row, columns)] for row in frame[columns].itertuples(index=False)]
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in columns]

    def line(cells):
        out = []
        for cell, width, right in zip(cells, widths, numeric):
            pad = " " * (width - _width(cell))
            out.append(pad + cell if right else cell + pad)
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def render_metrics(frame: pd.DataFrame) -> str:
    return render_table(frame, DEFAULT_METRIC_COLUMNS)
