"""The CJK font every page, chart and PDF uses: Noto Sans CJK SC from a package, never the system.

The font comes from ``manimgx-fonts-cjk`` on PyPI (Noto Sans CJK as Noto publishes it, SIL Open
Font License 1.1): a variable-weight OpenType collection whose third face is Simplified Chinese.
A fresh machine with no CJK font installed therefore renders the same pages as a desktop.

- **Pages (HTML, and the PDFs printed from them)** embed, as ``data:`` URIs in ``@font-face``,
  two static TrueType faces (weights 400 and 700, :data:`PAGE_WEIGHTS`) made from a subset of the
  variable face holding the characters of the run's pages, so a page stays one self-contained file
  and the printed PDF embeds only the glyphs it uses, as text (no tofu, no download). Static
  TrueType rather than the variable face: Chromium prints variable CFF2 glyphs as Type 3
  drawings, which made each PDF three times larger and took twice as long to print.
- **Charts and maps (matplotlib)** need a static face: a small instance at weight 400 of the
  characters figures use, as a file matplotlib loads.

Opening and subsetting the 33 MB collection costs about a second, so it is done once per run, for
the union of every page's characters, and the fonts made are kept on disk between runs (see
:func:`_cache_file`): a run with the same characters as an earlier one opens no collection.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import hashlib
import io
import json
import os
import tempfile
import threading
import uuid
from pathlib import Path

FONT_FAMILY = "Farmland Noto Sans SC"
#: Face index of Noto Sans CJK SC inside the package's collection (JP, KR, SC, TC, HK).
_SC_FACE_NAME = "Noto Sans CJK SC"
_LOCK = threading.Lock()
#: Version of the fonts kept on disk: bump when :func:`_subset`, :func:`_static_instance` or
#: :func:`_static_truetype` changes what they make, so a font made the old way is never served.
_CACHE_FORMAT = 2
#: The weights pages set (body text; headings, table heads and bold): CSS takes the nearest face
#: for any other weight.
PAGE_WEIGHTS = (400, 700)
#: Fonts kept on disk (~40 kB for charts, ~130 kB for pages); the least recently used go first.
_CACHE_KEEP = 32


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
        self._chars = characters(text)
        self._css_chars: str | None = None  # the characters self._css covers
        self._css = ""

    def page_faces(self, text: str) -> dict[int, bytes]:
        """The static faces (:data:`PAGE_WEIGHTS` → TrueType bytes) holding every character of the
        run (``text`` included).

        One pair for all pages of a run: a few hundred characters make ~190 kB, less than
        re-subsetting each page costs in time; the PDF printer embeds only the glyphs used.
        """
        return {weight: _page_face(self._base_chars(text), weight) for weight in PAGE_WEIGHTS}

    def _base_chars(self, text: str) -> str:
        needed = characters(text)
        if not set(needed) <= set(self._chars):
            self._chars = characters(self._chars + needed)
        return self._chars

    def css(self, text: str = "") -> str:
        """The ``@font-face`` rules embedding the run's faces (covering ``text`` too)."""
        chars = self._base_chars(text)
        if self._css_chars != chars:
            self._css = "".join(
                f"@font-face{{font-family:'{FONT_FAMILY}';font-weight:{weight};font-style:normal;"
                f"src:url(data:font/ttf;base64,{base64.b64encode(data).decode('ascii')}) format('truetype');}}"
                for weight, data in self.page_faces(chars).items())
            self._css_chars = chars
        return self._css


def _cache_file(kind: str, chars: str, suffix: str = ".otf") -> Path | None:
    """Where the ``kind`` font of ``chars`` is kept between runs, or None when caching is off.

    The name hashes everything the font's bytes follow from: the collection's path, size and
    modification time (an upgraded font package gives another name), the fontTools version, the
    recipe (:data:`_CACHE_FORMAT`) and the characters. The folder is ``fonts/`` in farmland's
    cache folder (:func:`farmland.load.cache.default_cache_dir`); ``FARMLAND_NO_CACHE`` turns it off.
    """
    from fontTools import version as fonttools_version

    from ..load.cache import cache_disabled_by_environment, default_cache_dir

    if cache_disabled_by_environment():
        return None
    source = font_collection_path()
    stat = source.stat()
    key = json.dumps([_CACHE_FORMAT, kind, str(source), stat.st_size, stat.st_mtime_ns, fonttools_version, chars])
    # Absolute: matplotlib opens the chart font by this path later, maybe from another working folder.
    folder = default_cache_dir().absolute() / "fonts"
    return folder / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()}{suffix}"


def _read_kept(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()
        os.utime(path)  # least recently used goes first
    except OSError:
        return None
    return data


def _keep(path: Path | None, data: bytes) -> bool:
    """Write ``data`` to ``path`` whole or not at all; False when it cannot (read-only, disk full)."""
    if path is None:
        return False
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        os.replace(partial, path)  # readers see the old file or the whole new one
    except OSError:
        with contextlib.suppress(OSError):  # not there, or no folder to hold it
            partial.unlink()
        return False
    try:
        kept = sorted((p for p in path.parent.iterdir() if p.suffix in (".otf", ".ttf")),
                      key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:  # another run pruning at the same time: the next write prunes again
        pass
    return True


@functools.lru_cache(maxsize=4)
def _collection_subset(chars: str) -> bytes:
    """The SC face subset to ``chars`` (variable); repeated runs reuse it from disk, runs in one
    process from memory."""
    return _kept_or_made(_cache_file("page", chars), lambda: _to_bytes(_subset(font_collection_path(), chars)))


@functools.lru_cache(maxsize=8)
def _page_face(chars: str, weight: int) -> bytes:
    """The static TrueType face at ``weight`` of the SC face subset to ``chars``, kept on disk
    like the subset it is made from."""
    return _kept_or_made(_cache_file(f"page{weight}", chars, ".ttf"),
                         lambda: _static_truetype(_collection_subset(chars), weight))


def _kept_or_made(path: Path | None, make) -> bytes:
    """The font kept at ``path``, else ``make()``'s, kept there for the next run."""
    data = _read_kept(path)
    if data is None:
        data = make()
        _keep(path, data)
    return data


def _static_truetype(variable: bytes, weight: int) -> bytes:
    """The variable font ``variable`` (a subset: a few hundred glyphs) at ``weight``, as a static
    font with TrueType outlines.

    Each glyph is drawn at the weight and its cubic curves approximated by quadratic ones within
    one font unit (a thousandth of the type size). The result keeps the subset's glyph order,
    character map and vertical metrics, so a page sets the same characters at the same places.
    """
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont, newTable

    font = TTFont(io.BytesIO(variable), recalcTimestamp=False)
    order = font.getGlyphOrder()
    drawn = font.getGlyphSet(location={"wght": weight})
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder, glyf.glyphs = order, {}
    metrics = {}
    for name in order:  # the run's characters' glyphs, not parcels
        pen = TTGlyphPen(None)
        drawn[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyph = glyf.glyphs[name] = pen.glyph()
        glyph.recalcBounds(glyf)
        metrics[name] = (round(drawn[name].width), getattr(glyph, "xMin", 0))
    font["hmtx"].metrics = metrics
    font["loca"] = newTable("loca")
    font["maxp"] = maxp = newTable("maxp")  # TrueType's maxp: recomputed when saved
    maxp.tableVersion = 0x00010000
    for field in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                  "maxStackElements", "maxSizeOfInstructions", "maxComponentElements", "maxComponentDepth"):
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    font["post"].formatType = 3.0  # no glyph names: a browser needs none
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\0\1\0\0"
    # The variations, the CFF outlines and the vertical-writing tables describe the variable face.
    for tag in ("CFF2", "HVAR", "VVAR", "MVAR", "STAT", "fvar", "avar", "VORG", "vhea", "vmtx", "BASE"):
        if tag in font:
            del font[tag]
    bold = weight >= 600
    style = "Bold" if bold else "Regular"
    font["OS/2"].usWeightClass = weight
    font["OS/2"].fsSelection = (font["OS/2"].fsSelection & ~0b1100001) | (0b100000 if bold else 0b1000000)
    font["head"].macStyle = (font["head"].macStyle & ~1) | int(bold)
    _rename(font["name"], style)
    return _to_bytes(font)


def _rename(names, style: str) -> None:
    """Name a face made from the collection for what it is, :data:`FONT_FAMILY` ``style`` (a PDF
    lists it by this name): the collection's names describe the variable face (whose default is
    Thin) and its named instances."""
    postscript = FONT_FAMILY.replace(" ", "") + "-" + style
    names.names = [n for n in names.names if n.nameID < 256 and n.nameID not in (1, 2, 3, 4, 6, 16, 17)]
    for name_id, value in ((1, FONT_FAMILY), (2, style), (3, postscript), (4, f"{FONT_FAMILY} {style}"),
                           (6, postscript)):
        names.setName(value, name_id, 3, 1, 0x409)


def _static_instance(chars: str) -> bytes:
    """A static weight-400 instance of the SC face for ``chars``, in CFF (not CFF2)."""
    from fontTools.cffLib.CFF2ToCFF import convertCFF2ToCFF
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

    # The subset read back from its bytes: the subsetter's font in memory instances to other,
    # equivalent charstrings, and the figures drawn with it are to stay byte for byte the same.
    variable = TTFont(io.BytesIO(_to_bytes(_subset(font_collection_path(), chars))), recalcBBoxes=False,
                      recalcTimestamp=False)
    static = instancer.instantiateVariableFont(variable, {"wght": 400}, inplace=True)
    convertCFF2ToCFF(static)  # matplotlib's FreeType and PDF paths read CFF, not CFF2
    return _to_bytes(static)


@functools.lru_cache(maxsize=4)
def _static_font_file(chars: str) -> str:
    """The static instance of ``chars`` as a file matplotlib can load: the cache's file, or a
    temporary one when there is no cache to keep it in."""
    path = _cache_file("chart", chars)
    if _read_kept(path) is None:
        data = _static_instance(chars)
        if not _keep(path, data):
            handle, name = tempfile.mkstemp(prefix="farmland-noto-sc-", suffix=".otf")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            atexit.register(_remove_temporary, name)  # one per process, gone with it
            return name
    return str(path)


def _remove_temporary(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


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
