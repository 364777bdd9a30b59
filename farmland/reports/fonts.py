"""The CJK font every page, chart and PDF uses: Noto Sans CJK SC from a package, never the system.

The font comes from ``manimgx-fonts-cjk`` on PyPI (Noto Sans CJK as Noto publishes it, SIL Open
Font License 1.1): a variable-weight OpenType collection whose third face is Simplified Chinese.
A fresh machine with no CJK font installed therefore renders the same pages as a desktop.

- **Pages (HTML, and the PDFs printed from them)** embed, as a ``data:`` URI in ``@font-face``,
  a subset of the variable face holding the characters of the run's pages, so a page stays one
  self-contained file and the printed PDF embeds only the glyphs it uses (no tofu, no download).
- **Charts and maps (matplotlib)** need a static face: a small instance at weight 400 of the
  characters figures use, written to a temporary file once per process.

Opening and subsetting the 33 MB collection costs seconds, so it is done once per run, for the
union of every page's characters.
"""

from __future__ import annotations

import base64
import functools
import io
import os
import tempfile
import threading
from pathlib import Path

FONT_FAMILY = "Farmland Noto Sans SC"
#: Face index of Noto Sans CJK SC inside the package's collection (JP, KR, SC, TC, HK).
_SC_FACE_NAME = "Noto Sans CJK SC"
_LOCK = threading.Lock()


class FontUnavailable(ImportError):
    """The CJK font package is not installed."""


def font_collection_path() -> Path:
    """The Noto Sans CJK collection shipped by ``manimgx-fonts-cjk``."""
    try:
        import manimgx_fonts_cjk
    except ImportError as exc:  # a core dependency: only a broken install lacks it
        raise FontUnavailable(
            "the CJK font package is missing; reinstall farmland (pip install -e .) or "
            "pip install manimgx-fonts-cjk") from exc
    return Path(manimgx_fonts_cjk.__file__).with_name("NotoSansCJK-VF.otf.ttc")


@functools.lru_cache(maxsize=1)
def _sc_index() -> int:
    from fontTools.ttLib import TTCollection

    collection = TTCollection(font_collection_path(), lazy=True)
    for index, face in enumerate(collection.fonts):
        if face["name"].getDebugName(1) == _SC_FACE_NAME:
            return index
    raise FontUnavailable(f"{font_collection_path()} has no {_SC_FACE_NAME} face")


def _subset(source, text: str):
    """A subset of ``source`` (path or bytes) to the characters of ``text``, as a TTFont."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    if isinstance(source, bytes):
        font = TTFont(io.BytesIO(source), recalcBBoxes=False, recalcTimestamp=False)
    else:
        font = TTFont(source, fontNumber=_sc_index(), recalcBBoxes=False, recalcTimestamp=False)
    options = subset.Options()
    # Layout closure over a CJK font's GSUB costs seconds per page and buys vertical forms we
    # do not set; glyph outlines and horizontal metrics are what pages and PDFs need.
    options.layout_features = []
    # With no feature kept the layout tables hold nothing a page uses, yet the subsetter
    # decompiles them before pruning (most of a subset's seconds): remove them unread.
    for tag in ("GSUB", "GPOS", "GDEF"):
        if tag in font:
            del font[tag]
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    return font


def _to_bytes(font) -> bytes:
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def characters(text: str) -> str:
    """The distinct characters of ``text`` a font must cover (sorted, so subsets repeat)."""
    return "".join(sorted({ch for ch in text if ch >= " "} | set(" 0123456789")))


class FontBook:
    """Font subsets for one run: a base subset of every character the run needs, then pages.

    ``FontBook(text_of_all_pages)`` opens the package's collection once; :meth:`css` gives the
    ``@font-face`` rule of one page.
    """

    def __init__(self, text: str = ""):
        self._base: bytes | None = None
        self._chars = characters(text)

    def _base_font(self, text: str) -> bytes:
        needed = characters(text)
        if self._base is None or not set(needed) <= set(self._chars):
            self._chars = characters(self._chars + needed)
            self._base = _collection_subset(self._chars)
        return self._base

    def page_font(self, text: str) -> bytes:
        """A variable-weight (100–900) subset holding every character of the run (``text`` included).

        One font for all pages of a run: a few hundred characters make ~130 kB, less than
        re-subsetting each page costs in time; the PDF printer embeds only the glyphs used.
        """
        return self._base_font(text)

    def css(self, text: str = "") -> str:
        """The ``@font-face`` rule embedding the run's font (covering ``text`` too)."""
        key = characters(self._chars + text)
        if getattr(self, "_css_key", None) != key:
            data = base64.b64encode(self.page_font(text)).decode("ascii")
            self._css = (f"@font-face{{font-family:'{FONT_FAMILY}';font-weight:100 900;font-style:normal;"
                         f"src:url(data:font/otf;base64,{data}) format('opentype');}}")
            self._css_key = characters(self._chars)
        return self._css


@functools.lru_cache(maxsize=4)
def _collection_subset(chars: str) -> bytes:
    """The SC face subset to ``chars`` (variable); repeated runs in one process reuse it."""
    return _to_bytes(_subset(font_collection_path(), chars))


@functools.lru_cache(maxsize=4)
def _static_font_file(chars: str) -> str:
    """A static weight-400 instance of the SC face for ``chars``, as a file matplotlib can load."""
    from fontTools.cffLib.CFF2ToCFF import convertCFF2ToCFF
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

    variable = TTFont(io.BytesIO(_collection_subset(chars)), recalcBBoxes=False, recalcTimestamp=False)
    static = instancer.instantiateVariableFont(variable, {"wght": 400})
    convertCFF2ToCFF(static)  # matplotlib's FreeType and PDF paths read CFF, not CFF2
    handle, path = tempfile.mkstemp(prefix="farmland-noto-sc-", suffix=".otf")
    with os.fdopen(handle, "wb") as out:
        out.write(_to_bytes(static))
    return path


def chart_font(text: str):
    """A matplotlib ``FontProperties`` of Noto Sans CJK SC covering ``text`` (weight 400)."""
    from matplotlib import font_manager

    chars = characters(text + "".join(chr(c) for c in range(0x20, 0x7F)) + "−–—·×÷%‰°′″")
    with _LOCK:
        path = _static_font_file(chars)
    return font_manager.FontProperties(fname=path)


def cmap_of(font_bytes: bytes) -> set[int]:
    """Code points a font maps (for tests: every character of a page has a glyph)."""
    from fontTools.ttLib import TTFont

    return set(TTFont(io.BytesIO(font_bytes)).getBestCmap())
