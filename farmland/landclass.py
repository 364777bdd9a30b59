"""Land-use classes of both survey schemes, in one versioned table.

The annual change surveys up to 2018 use the older 3-digit work classification (二调, e.g. 011
水田, 203 村庄); from the third national survey (三调, time point 2019-12-31) the 4-digit codes of
GB/T 21010-2017 as refined for the survey (0101 水田, 0702 农村宅基地, 05H1, 1104A, 0201K …).
Every consumer asks this table "is it arable?", "is it construction?" instead of testing string
prefixes (DESIGN.md, "Two classification schemes, one table").

Groups: ``arable`` (耕地, part of 农用地), ``agricultural`` (other 农用地), ``construction``
(建设用地) and ``unused`` (未利用地). ``flow_kind`` sorts a destination class for the arable-land
ledger: ``construction``, ``ecological`` (林/草/湿地/河湖: 生态退耕), ``restructuring`` (园地, 坑塘,
设施农用地, 可调整 K codes: 农业结构调整) and ``other``. The rows the sources disagree on (0404,
1107A, 113, 1208) are flagged ``disputed`` and can be regrouped from the workspace file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

from .errors import WorkspaceError

TABLE_VERSION = "2024.1"
"""Version of the bundled table: bump it when a code, group or crosswalk row changes."""

GROUPS = ("arable", "agricultural", "construction", "unused")
UNKNOWN = "unknown"

def normalize_codes(codes) -> pd.Series:
    """Return land-class codes as clean text: stripped, letters upper-cased, '' for missing.

    Codes are never treated as numbers: 0101 (三调 水田) and 101 (二调 铁路用地) differ only in a
    leading zero.
    """
    series = pd.Series(codes, copy=False)
    inverse, clean = _distinct_codes(series)
    return pd.Series(clean[inverse], index=series.index, name=series.name, dtype=object)


def distinct_values(values) -> tuple[np.ndarray, np.ndarray]:
    """``(position, uniques)``: the distinct values of a column plus a last None for missing ones,
    and each row's position among them (``uniques[position]`` is the column).

    A layer has hundreds of thousands of parcels but a few dozen land classes and a few thousand
    unit codes: a test of the text made on ``uniques`` and indexed by ``position`` replaces string
    work on every parcel.
    """
    inverse, found = pd.factorize(values)
    uniques = np.append(np.asarray(found, dtype=object), None)
    return np.where(inverse < 0, len(uniques) - 1, inverse), uniques


def _distinct_codes(codes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(inverse, clean)``: the distinct raw codes cleaned, and each code's position among them.

    Missing codes point at a trailing '' (``clean[inverse]`` is every code cleaned).
    """
    inverse, uniques = distinct_values(codes)
    text = pd.Series(uniques[:-1], dtype=object).astype("string").str.strip().str.upper()
    return inverse, np.append(text.to_numpy(dtype=object), "")


@dataclass(frozen=True)
class LandClassTable:
    """The land-class table, optionally with disputed rows regrouped.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per code (index ``code``) with columns ``scheme`` (``erdiao``/``sandiao``),
        ``name``, ``group``, ``flow_kind``, ``first_level``, ``wetland``, ``crosswalk``
        (the 三调 code an 二调 code maps to; empty when the mapping is one-to-many and needs a
        parcel-level re-survey), ``disputed`` and ``note``.
    version : str
        Table version plus a note of any overrides, recorded in run manifests.
    """

    frame: pd.DataFrame = field(repr=False)
    version: str = TABLE_VERSION

    @classmethod
    def default(cls, groups: Mapping[str, str] | None = None) -> LandClassTable:
        """Load the bundled table, regrouping codes per ``groups`` (e.g. ``{"0404": "agricultural"}``).

        Only codes in the table may be regrouped, and only into one of :data:`GROUPS`; anything
        else is a :class:`~farmland.errors.WorkspaceError` naming the key, since a silently
        ignored override would change every area total.
        """
        with resources.files("farmland.data").joinpath("landclass.csv").open(encoding="utf-8") as fh:
            frame = pd.read_csv(fh, dtype=str, keep_default_na=False).set_index("code")
        frame["wetland"] = frame["wetland"] == "1"
        frame["disputed"] = frame["disputed"] == "1"
        version = TABLE_VERSION
        if groups:
            frame = frame.copy()
            notes = []
            for code, group in sorted(groups.items()):
                code_norm = str(code).strip().upper()
                if code_norm not in frame.index:
                    raise WorkspaceError(
                        f"[landclass.groups] names code {code!r}, which is not in the land-class table "
                        f"(v{TABLE_VERSION}). Use a code of either scheme, e.g. \"0404\" or \"113\"."
                    )
                if group not in GROUPS:
                    raise WorkspaceError(
                        f"[landclass.groups] {code} = {group!r}: the group must be one of "
                        f"{', '.join(GROUPS)}."
                    )
                if group == "arable" and not frame.at[code_norm, "group"] == "arable":
                    raise WorkspaceError(
                        f"[landclass.groups] {code} = \"arable\": the arable set (耕地) is fixed by the "
                        "survey standard (011/012/013, 0101/0102/0103) and cannot be extended."
                    )
                if frame.at[code_norm, "group"] == "arable" and group != "arable":
                    raise WorkspaceError(
                        f"[landclass.groups] {code} = {group!r}: {code_norm} is arable land (耕地) by the "
                        "survey standard; regrouping it would drop it from the retained-arable figures. "
                        "Only disputed non-arable codes (e.g. 0404, 1107A, 113) may be regrouped."
                    )
                frame.at[code_norm, "group"] = group
                if group == "construction":
                    frame.at[code_norm, "flow_kind"] = "construction"
                notes.append(f"{code_norm}={group}")
            version = f"{TABLE_VERSION}+{','.join(notes)}"
        return cls(frame=frame, version=version)

    # -- lookups; each takes any array-like of codes and returns a numpy array -----------------

    def _lookup(self, codes, column: str, missing):
        inverse, clean = _distinct_codes(pd.Series(codes, copy=False))
        looked_up = self.frame[column].reindex(clean).to_numpy(dtype=object)
        looked_up[pd.isna(looked_up)] = missing
        return looked_up[inverse]

    def group_of(self, codes) -> np.ndarray:
        """Group of each code (``arable``, ``agricultural``, ``construction``, ``unused``, ``unknown``)."""
        return self._lookup(codes, "group", UNKNOWN).astype(object)

    def flow_kind_of(self, codes) -> np.ndarray:
        """Ledger destination kind of each code (see module notes), ``unknown`` for unknown codes."""
        return self._lookup(codes, "flow_kind", UNKNOWN).astype(object)

    def name_of(self, codes) -> np.ndarray:
        """Chinese name of each code, '' where unknown."""
        return self._lookup(codes, "name", "").astype(object)

    def scheme_of(self, codes) -> np.ndarray:
        """``erdiao`` (3-digit, ≤ 2018), ``sandiao`` (≥ 2019) or ``unknown``."""
        return self._lookup(codes, "scheme", UNKNOWN).astype(object)

    def crosswalk(self, codes) -> np.ndarray:
        """三调 code for each code ('' where the mapping is one-to-many or the code is unknown)."""
        return self._lookup(codes, "crosswalk", "").astype(object)

    def is_arable(self, codes) -> np.ndarray:
        """True where the code is arable land (耕地: 011/012/013, 0101/0102/0103); 田坎 is not."""
        return self.group_of(codes) == "arable"

    def is_construction(self, codes) -> np.ndarray:
        """True where the code counts as construction land (建设用地) for 新增建设用地."""
        return self.group_of(codes) == "construction"

    def is_known(self, codes) -> np.ndarray:
        return self.group_of(codes) != UNKNOWN

    def unknown_codes(self, codes) -> pd.Series:
        """Counts of codes not in the table, most frequent first (empty Series when all known)."""
        series = pd.Series(codes, copy=False)
        inverse, clean = _distinct_codes(series)
        group = self.frame["group"].reindex(clean).to_numpy(dtype=object)
        unknown = pd.isna(group) | (group == UNKNOWN)
        per_code = pd.Series(np.bincount(inverse, minlength=len(clean)), index=clean)[unknown]
        counts = per_code[per_code > 0].groupby(level=0, sort=False).sum().rename("count")
        counts.index = pd.Index(counts.index, dtype=object, name=series.name)
        return counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")

    def codes(self, *, scheme: str | None = None, group: str | None = None) -> list[str]:
        """Codes of the table, optionally filtered by scheme and group."""
        frame = self.frame
        if scheme is not None:
            frame = frame[frame["scheme"] == scheme]
        if group is not None:
            frame = frame[frame["group"] == group]
        return list(frame.index)


def describe_unknown(counts: pd.Series, limit: int = 8) -> str:
    """Render unknown-code counts as ``'0199' ×12, '' ×3``; '' stands for an empty code."""
    items = [f"{code!r} ×{int(n)}" for code, n in counts.head(limit).items()]
    more = f" … ({len(counts)} distinct codes)" if len(counts) > limit else ""
    return ", ".join(items) + more


def scheme_for_year(year: int) -> str:
    """The classification scheme a year-end snapshot is expected to use (2019-12-31 is 三调)."""
    return "sandiao" if year >= 2019 else "erdiao"
