"""What every report product shares: the template environment, number formats, look-ups.

Every figure a report shows is read from the results table (:class:`~farmland.metrics.MetricsResult`)
or a score result's table and trail; this module only formats. Templates are Jinja2 with
autoescape on, so unit names, notes and evidence ids from input data are shown, never run.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cached_property

import pandas as pd

PHASE_TITLES = {"annual": "年度自查", "midterm": "期中检查", "final": "期末考核"}
BASIS_WORDS = {"erdiao": "二调口径", "sandiao": "三调口径", "same_year": "当年供地口径",
               "five_year": "近五年供地口径", "nominal": "名义GDP口径", "comparable": "可比价GDP口径"}
#: 2019-12-31: the third national land survey's base date; stocks before it are 二调, from it 三调.
SERIES_BREAK_YEAR = 2019


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def fmt_num(value, digits: int = 2) -> str:
    """1,234.57 (— when empty)."""
    if missing(value):
        return "—"
    return f"{float(value):,.{digits}f}"


def fmt_mu(value, digits: int = 2) -> str:
    return "—" if missing(value) else f"{float(value):,.{digits}f} 亩"


def fmt_wanmu(value, digits: int = 2) -> str:
    """亩 shown in 万亩 (the unit targets are published in)."""
    return "—" if missing(value) else f"{float(value) / 1e4:,.{digits}f} 万亩"


def fmt_signed_mu(value, digits: int = 2) -> str:
    return "—" if missing(value) else f"{float(value):+,.{digits}f} 亩"


def fmt_pct(value, digits: int = 2) -> str:
    return "—" if missing(value) else f"{float(value) * 100:.{digits}f}%"


def fmt_points(value) -> str:
    return "—" if missing(value) else f"{float(value):.2f}"


def fmt_value(value, unit: str) -> str:
    """A metric value by its unit of measure, worded as the trail words it (— when empty)."""
    from ..scoring.explain import format_value

    return "—" if missing(value) else format_value(float(value), unit)


def basis_word(basis) -> str:
    return BASIS_WORDS.get(basis or "", "") if not missing(basis) else ""


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def report_date() -> date:
    """The date printed on reports: ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc).date()
    return date.today()


def status_text(points_label: str) -> str:
    """Draft or approved: the default weights are a proposal until the departments set theirs (第七条)."""
    if points_label == "建议值" or not points_label:
        return "草稿（分值为本项目建议值，未经考核部门审定）"
    return f"分值为{points_label}"



_ENV = None


def environment():
    """The Jinja2 environment of the report templates (package data), autoescape on."""
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("farmland.reports", "templates"),
            autoescape=True,  # every template: names and notes come from input data
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        _ENV.filters.update(num=fmt_num, mu=fmt_mu, wanmu=fmt_wanmu, smu=fmt_signed_mu, pct=fmt_pct,
                            pts=fmt_points, value=fmt_value, basis=basis_word)
    return _ENV


def render(template: str, **context) -> str:
    # markupsafe writes a double quote as &#34;; the pages have always said &quot; (as html.escape).
    return environment().get_template(template).render(**context).replace("&#34;", "&quot;")


def stylesheet():
    """The pages' CSS (package data), marked safe: it is ours, not input data."""
    from importlib.resources import files

    from markupsafe import Markup

    return Markup(files("farmland.reports").joinpath("templates", "style.css").read_text(encoding="utf-8"))


@dataclass
class ReportData:
    """Look-ups into one run's results table: a value, its basis, a unit's yearly series.

    Parameters
    ----------
    table : DataFrame
        ``MetricsResult.table`` (unit × level × phase × year × metric).
    """

    table: pd.DataFrame

    @cached_property
    def _index(self) -> dict:
        t = self.table
        # Whole columns to lists first: zip over Arrow-backed text steps through it cell by cell.
        keys = zip(t["xzqdm"].astype(str).tolist(), t["phase"].tolist(), t["year"].astype(int).tolist(),
                   t["metric"].tolist(), strict=True)
        values = zip(t["value"].tolist(), t["basis"].tolist(), t["unit"].tolist(), strict=True)
        return dict(zip(keys, values, strict=True))

    def value(self, code: str, metric: str, phase: str, year: int) -> float:
        found = self._index.get((str(code), phase, int(year), metric))
        return math.nan if found is None else float(found[0])

    def basis(self, code: str, metric: str, phase: str, year: int) -> str:
        found = self._index.get((str(code), phase, int(year), metric))
        return "" if found is None or missing(found[1]) else str(found[1])

    def unit(self, code: str, metric: str, phase: str, year: int) -> str:
        found = self._index.get((str(code), phase, int(year), metric))
        return "" if found is None else str(found[2])

    def row(self, code: str, metric: str, phase: str, year: int, label: str | None = None) -> dict:
        """One figure as a template row: label, value, formatted text, basis words."""
        from ..labels import label as column_label

        value = self.value(code, metric, phase, year)
        return {"metric": metric, "label": label or column_label(metric), "value": value,
                "text": fmt_value(value, self.unit(code, metric, phase, year) or "mu"),
                "basis": basis_word(self.basis(code, metric, phase, year))}

    @cached_property
    def annual_years(self) -> list[int]:
        t = self.table
        return sorted({int(y) for y in t.loc[t["phase"] == "annual", "year"]})

    def series(self, code: str, metric: str, years: Iterable[int] | None = None) -> pd.Series:
        """The unit's annual values of ``metric`` by data year (NaN where not computed)."""
        years = list(years) if years is not None else self.annual_years
        return pd.Series([self.value(code, metric, "annual", y) for y in years], index=years, dtype="float64")

    def names(self, level: str = "county") -> dict[str, str]:
        t = self.table[self.table["level"] == level]
        return dict(zip(t["xzqdm"].astype(str), t["xzqmc"].astype(str), strict=False))


def span_text(phase: str, start: int, year) -> str:
    if phase == "annual":
        return f"{year}年度"
    return f"{start}–{year}年"

