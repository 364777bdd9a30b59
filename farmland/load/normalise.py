"""Normalising what the inputs spell in several ways, once, as they are loaded."""

from __future__ import annotations

import pandas as pd

from ..report import Report
from ..schema import EVENT_LEVELS


def event_levels(events: pd.DataFrame, report: Report) -> pd.DataFrame:
    """EVENTS with ``level`` normalised to 国家, 省, 市 or 县 (``省级`` → 省 …).

    Only 省 and 国家 events are the opinion's triggers; a level that is missing (no column, a
    blank cell) or not one of the four counts as 市, with a warning naming the rows.
    """
    ids = ("EVENTS:" + events["row"].astype(str)).to_numpy(dtype=object)  # evidence ids, as the metrics give them
    if "level" not in events:
        report.warning("EVENTS", "no-level", "EVENTS has no level column (国家, 省, 市, 县): every "
                       "event is treated as 市, so none counts as a 省级以上 trigger. Add the column.",
                       field="level")
        return events.assign(level="市")
    level = events["level"].astype("string").str.strip().str.removesuffix("级")
    blank = level.isna().to_numpy() | (level == "").to_numpy(dtype=bool, na_value=True)
    odd = ~blank & ~level.isin(EVENT_LEVELS).to_numpy(dtype=bool, na_value=False)
    if blank.any():
        report.warning("EVENTS", "no-level", "events without a level are treated as 市 (not a "
                       "省级以上 trigger); fill level with 国家, 省, 市 or 县.", field="level",
                       ids=ids[blank])
    if odd.any():
        report.warning("EVENTS", "unknown-level", f"levels other than {', '.join(EVENT_LEVELS)} are "
                       "treated as 市; correct them.", field="level", ids=ids[odd])
    return events.assign(level=level.where(~(blank | odd), "市").astype(object))
