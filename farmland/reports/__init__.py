"""What officials and analysts read, in one place: one module per product.

- :mod:`.scorecard` — a county's card of one check (HTML, PDF): header, indicators, targets,
  trend charts, map, findings, provenance;
- :mod:`.summary` — the city summary of one check (HTML, PDF);
- :mod:`.pdf` — printing pages with headless Chromium; :mod:`.fonts` — the packaged CJK font;
- :mod:`.figures` — charts and maps (matplotlib, geopandas; offline);
- :mod:`.parcels` — problem-parcel lists (GeoPackage, Excel); :mod:`.word` — the 考核结果报告 and
  自查情况报告 (.docx);
- :mod:`.jupyter` — HTML display of scores, of a unit's card and of its trend chart in notebooks;
  :mod:`.interactive` — :func:`explore`, an interactive map of a unit's evidence (folium, optional);
  :mod:`.progress` — a progress line on a terminal;
- :mod:`.writer` — :func:`write_reports`, every product of a run.

All of them read the results table and the score results; none computes a figure. Pages come
from Jinja2 templates (package data) with autoescape on.
"""

from __future__ import annotations

import pandas as pd

from .interactive import explore
from .jupyter import unit_card, unit_trend
from .writer import Written, card_html, write_reports

__all__ = ["write_reports", "Written", "card_html", "unit_card", "unit_trend", "explore", "score_display_frame"]


def score_display_frame(result) -> pd.DataFrame:
    """The columns of a score table people read first, best rank first."""
    columns = ["rank", "xzqdm", "xzqmc", "total", "outcome", "triggers", "review", "basis_mismatch", "grade", "vetoes"]
    return result.table.sort_values(["rank", "xzqdm"])[[c for c in columns if c in result.table]]
