"""The assessment calendar of a planning period, from data (``data/calendar.toml``).

聊政办发〔2018〕17号 第四条: annual self-checks every year, a mid-term check in year 3 of each
five-year period (from 2016) covering years 1–2, a final assessment the year after the period;
第九、十一、十二、十四、十六条 set the deadlines (end of February for county reports, end of
March for results). Keeping these as data (docs/background.md §5.1) lets a city adjust them without code.

The module is named ``schedule`` so that the package can export the function ``calendar``
without a submodule of the same name (and without shadowing the standard library's).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from farmland.errors import RuleError
from farmland.scoring.rules import PHASES

__all__ = ["calendar", "calendar_text", "default_calendar_path"]

_CHECK_KEYS = {"phase", "name", "clause", "organiser", "repeat", "covers", "held_after", "deadline"}
_DEADLINE_KEYS = {"step", "actor", "recipient", "month", "day", "year_offset", "clause"}

COLUMNS = [
    "period_start",
    "period_end",
    "phase",
    "check",
    "data_year",
    "covers_from",
    "covers_to",
    "held_year",
    "step",
    "actor",
    "recipient",
    "deadline",
    "deadline_text",
    "clause",
    "organiser",
]


def default_calendar_path() -> Path:
    """The shipped ``calendar.toml``."""
    from importlib import resources

    return Path(str(resources.files("farmland.scoring") / "data" / "calendar.toml"))


def _load(path: str | Path | None) -> dict[str, Any]:
    path = Path(path) if path is not None else default_calendar_path()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleError(f"cannot read calendar {path}: {exc}") from exc
    unknown = set(doc) - {"period", "check"}
    if unknown:
        raise RuleError(f"{path}: unknown table(s) {sorted(unknown)}; allowed: period, check")
    for i, c in enumerate(doc.get("check", [])):
        where = f"{path}: check #{i + 1} ({c.get('phase', '?')})"
        bad = set(c) - _CHECK_KEYS
        if bad:
            raise RuleError(f"{where}: unknown key(s) {sorted(bad)}; allowed: {', '.join(sorted(_CHECK_KEYS))}")
        if c.get("phase") not in PHASES or c.get("repeat") not in ("yearly", "once"):
            raise RuleError(f"{where}: phase must be one of {PHASES} and repeat \"yearly\" or \"once\"")
        if not (isinstance(c.get("covers"), list) and len(c["covers"]) == 2):
            raise RuleError(f"{where}: covers must be [first, last] year offsets")
        for d in c.get("deadline", []):
            bad = set(d) - _DEADLINE_KEYS
            if bad:
                raise RuleError(f"{where}: deadline has unknown key(s) {sorted(bad)}")
            if "month" in d and not 1 <= int(d["month"]) <= 12:
                raise RuleError(f"{where}: deadline month must be 1–12, got {d['month']!r}")
    return doc


def _deadline(year: int, d: Mapping[str, Any]) -> tuple[pd.Timestamp, str]:
    if "month" not in d:
        return pd.NaT, "（无固定日期）"
    year = year + int(d.get("year_offset", 0))
    month = int(d["month"])
    day = d.get("day", "end")
    if day == "end":
        date = pd.Timestamp(year=year, month=month, day=1) + pd.offsets.MonthEnd(0)
        return date, f"{year}年{month}月底前"
    date = pd.Timestamp(year=year, month=month, day=int(day))
    return date, f"{year}年{month}月{int(day)}日前"


def calendar(period_start: int = 2016, *, path: str | Path | None = None) -> pd.DataFrame:
    """Every check of one planning period, what it covers and its deadlines.

    Parameters
    ----------
    period_start : int
        First year of the five-year period (2016, 2021, …; 第四条 从2016年起每五年).
    path : str or Path, optional
        A calendar TOML; default the shipped ``data/calendar.toml``.

    Returns
    -------
    DataFrame
        One row per check and deadline step, in date order: period_start, period_end, phase,
        check (名称), data_year (the ``--year`` to score it with: the last covered year),
        covers_from, covers_to, held_year, step, actor, recipient, deadline (Timestamp, NaT
        when the text sets no date), deadline_text, clause, organiser.
    """
    doc = _load(path)
    first = int(doc.get("period", {}).get("first_start", 2016))
    years = int(doc.get("period", {}).get("years", 5))
    if period_start < first or (period_start - first) % years:
        starts = ", ".join(str(first + k * years) for k in range(4))
        raise RuleError(
            f"{period_start} does not start a planning period; periods run {years} years from "
            f"{first} (第四条): {starts}, …"
        )
    end = period_start + years - 1
    rows = []
    for c in doc.get("check", []):
        lo, hi = (int(v) for v in c["covers"])
        if c["repeat"] == "yearly":
            spans = [(y + lo, y + hi) for y in range(period_start, end + 1)]
        else:
            spans = [(period_start + lo, period_start + hi)]
        for cover_from, cover_to in spans:
            held = cover_to + int(c.get("held_after", 1))
            deadlines = c.get("deadline") or [{"step": "", "actor": "", "recipient": ""}]
            for d in deadlines:
                date, text = _deadline(held, d)
                rows.append(
                    {
                        "period_start": period_start,
                        "period_end": end,
                        "phase": c["phase"],
                        "check": c.get("name", c["phase"]),
                        "data_year": cover_to,
                        "covers_from": cover_from,
                        "covers_to": cover_to,
                        "held_year": held,
                        "step": d.get("step", ""),
                        "actor": d.get("actor", ""),
                        "recipient": d.get("recipient", ""),
                        "deadline": date,
                        "deadline_text": text,
                        "clause": d.get("clause", c.get("clause", "")),
                        "organiser": c.get("organiser", ""),
                    }
                )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["deadline"] = pd.to_datetime(frame["deadline"])
    # Date order, but an undated step stays right after the dated steps of its own check.
    frame["_order"] = frame.groupby(["phase", "covers_from", "covers_to"])["deadline"].transform("min")
    frame["_order"] = frame["_order"].fillna(pd.Timestamp(year=end + 2, month=12, day=31))
    phase_order = {p: i for i, p in enumerate(PHASES)}
    frame["_phase"] = frame["phase"].map(phase_order)
    frame = frame.sort_values(["held_year", "_order", "_phase"], kind="stable").drop(columns=["_order", "_phase"])
    return frame.reset_index(drop=True)


def calendar_text(period_start: int = 2016, *, path: str | Path | None = None, frame: pd.DataFrame | None = None) -> str:
    """Chinese rendering of :func:`calendar` (what ``farmland calendar`` prints)."""
    if frame is None:
        frame = calendar(period_start, path=path)
    start, end = int(frame["period_start"].iloc[0]), int(frame["period_end"].iloc[0])
    lines = [f"{start}—{end} 年规划期耕地保护责任目标考核日程（聊政办发〔2018〕17号）"]
    for (held, phase, cfrom, cto), part in frame.groupby(
        ["held_year", "phase", "covers_from", "covers_to"], sort=False
    ):
        first = part.iloc[0]
        covers = f"{cfrom} 年" if cfrom == cto else f"{cfrom}—{cto} 年"
        lines.append("")
        lines.append(
            f"{held} 年 · {first['check']}：检查 {covers}（评分用 --phase {phase} --year {first['data_year']}）；"
            f"{first['organiser']}"
        )
        for t in part.itertuples(index=False):
            if not t.step:
                continue
            when = f"{t.deadline_text}：" if pd.notna(t.deadline) else "随后："
            who = f"{t.actor}" + (f" → {t.recipient}" if t.recipient else "")
            lines.append(f"  · {when}{who}，{t.step}（{t.clause}）")
    return "\n".join(lines)
