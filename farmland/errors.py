"""Exceptions raised by farmland.

One small tree rooted at :class:`FarmlandError`, organised by where things failed. Each class
also derives from the stdlib type a caller would naturally catch, so ``except ValueError`` keeps
working for code that does not know about farmland. Messages name the file, layer, field, the
first offending ids with a count, and the fix; the CLI prints them without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class FarmlandError(Exception):
    """Base class of every error farmland raises on purpose."""


class WorkspaceError(FarmlandError, ValueError):
    """The workspace file (farmland.toml) is missing, malformed or inconsistent."""


class DataFileError(FarmlandError, OSError):
    """An input file cannot be opened or read (missing, truncated, wrong format)."""


class LayerError(FarmlandError, ValueError):
    """A layer's schema or attribute values are unusable (missing field, bad codes, ...)."""


class CRSError(LayerError):
    """A layer's coordinate reference system is missing, geographic or not CGCS2000 Gauss-Krüger."""


class GeometryError(LayerError):
    """Geometries are empty, invalid beyond repair, or of the wrong type."""


class RuleError(FarmlandError, ValueError):
    """A scoring rule set is malformed (unknown keys, weights, metrics)."""


class OutputError(FarmlandError, OSError):
    """An output cannot be written safely (exists without --overwrite, unwritable folder)."""


def closest_match(word: str, choices) -> str | None:
    """The choice closest to a mistyped ``word`` (for "did you mean …?" hints), or None."""
    import difflib

    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return match[0] if match else None


def preview_ids(ids: Iterable[object], limit: int = 5) -> str:
    """Format the first ``limit`` ids and the total count, e.g. ``"'a', 'b' … (7 in all)"``.

    Used in every message that names offending features, so a reader gets both examples to
    look up and the size of the problem.
    """
    ids = list(ids)
    shown = ", ".join(repr(str(i)) for i in ids[:limit])
    if len(ids) > limit:
        return f"{shown} … ({len(ids)} in all)"
    return f"{shown} ({len(ids)} in all)" if len(ids) > 1 else shown
