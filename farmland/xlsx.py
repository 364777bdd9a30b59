"""A small Excel (.xlsx) writer for data tables: values only, one header row, no styles.

openpyxl (and XlsxWriter) build and check an object per cell, which costs seconds for the
hundreds of thousands of cells one run writes (the audit's findings alone are ~300 000). Here a
sheet is one string made column by column. What the workbooks promise holds by construction:

- a text cell is always an inline string (``t="inlineStr"``): no cell is ever a formula, whatever
  it starts with (``=HYPERLINK(...)`` from input data);
- the bytes depend only on the content: fixed document dates and zip member times;
- numbers are numbers (floats to 16 significant digits, as openpyxl wrote them; integers exact);
  missing values (``None``, NaN, ``pd.NA``) and infinities are empty cells; tuples and lists are
  joined with ``"; "``; any other value is written as its text.

Characters XML 1.0 cannot hold (controls other than tab, LF and CR) are written as Excel's own
``_xHHHH_`` escapes.
"""

from __future__ import annotations

import math
import numbers
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .output import _arrow_text, _text_column

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_DATE = "2000-01-01T00:00:00Z"
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

#: What XML 1.0 cannot hold: controls other than tab, LF and CR, and U+FFFE/U+FFFF.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ILLEGAL_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]"
"""The same for Arrow's (RE2) regular expressions."""
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")

_STYLES = (
    f'<styleSheet xmlns="{_MAIN}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/>'
    '</font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill>'
    '<patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/>'
    '<bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
    'borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" '
    'xfId="0"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>')
_CORE = (
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>farmland</dc:creator>'
    f'<dcterms:created xsi:type="dcterms:W3CDTF">{_DATE}</dcterms:created>'
    f'<dcterms:modified xsi:type="dcterms:W3CDTF">{_DATE}</dcterms:modified></cp:coreProperties>')
_APP = ('<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        '<Application>farmland</Application></Properties>')
_ROOT_RELS = (
    f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
    'core-properties" Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL}/extended-properties" Target="docProps/app.xml"/></Relationships>')


def column_letters(index: int) -> str:
    """Excel's name of the 0-based column ``index``: A … Z, AA … ."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _text(ref: str, value: str) -> str:
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>'


def _cell(ref: str, value) -> str:
    """One cell's XML ('' for an empty cell); the common types are tested first."""
    kind = type(value)
    if kind is str:
        return _text(ref, value)
    if kind is not float:
        if value is None or value is pd.NA or value is pd.NaT:
            return ""
        if isinstance(value, (bool, np.bool_)):
            return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
        if isinstance(value, numbers.Integral):
            return f'<c r="{ref}" t="n"><v>{int(value)}</v></c>'
        if isinstance(value, (tuple, list)):
            return _text(ref, "; ".join(map(str, value)))
        if not isinstance(value, numbers.Real):
            return _text(ref, str(value))
        value = float(value)
    # Excel has no NaN nor infinity: empty cells. 16 significant digits, as openpyxl wrote them
    # (Excel shows 15); the CSV and Parquet tables keep every bit.
    return f'<c r="{ref}" t="n"><v>{value:.16g}</v></c>' if math.isfinite(value) else ""


def sheet_xml(frame: pd.DataFrame, labels: list[str]) -> str:
    """The worksheet part of ``frame`` under a header row of ``labels``.

    Made a column at a time with pyarrow: a column of text, integers, booleans or floats is
    written at once (floats by ``.16g`` in one pass); a column of mixed objects cell by cell
    (:func:`_cell`). Either way the bytes are those of the cell-by-cell writer.
    """
    letters = [column_letters(i) for i in range(len(labels))]
    header = "".join(_text(f"{col}1", str(label)) for col, label in zip(letters, labels, strict=True))
    # Only cell text can hold characters XML cannot (the markup has none).
    header = _ILLEGAL.sub(_excel_escape, header)
    body = ""
    if letters and len(frame) < COLUMNWISE_ROWS:  # a small sheet: cell by cell costs less than Arrow's calls
        rows = [str(r) for r in range(2, len(frame) + 2)]
        columns = [[_cell(col + row, value) for value, row in zip(frame.iloc[:, i].to_numpy(dtype=object), rows)]
                   for i, col in enumerate(letters)]
        body = _ILLEGAL.sub(_excel_escape, "".join(f'<row r="{row}">{"".join(cells)}</row>'
                                                   for row, cells in zip(rows, zip(*columns))))
    elif len(frame) and letters:
        rows = pc.cast(pa.array(np.arange(2, len(frame) + 2)), pa.large_string())
        cells = [_column_cells(frame.iloc[:, i], col, rows) for i, col in enumerate(letters)]
        lines = pc.binary_join_element_wise(_S('<row r="'), rows, _S('">'), *cells, _S("</row>"), _S(""))
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
        body = bytes(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]]).decode("utf-8")
    last = f"{letters[-1] if letters else 'A'}{len(frame) + 1}"
    return (f'<worksheet xmlns="{_MAIN}"><dimension ref="A1:{last}"/><sheetData><row r="1">{header}</row>'
            f'{body}</sheetData></worksheet>')


COLUMNWISE_ROWS = 1000
"""Sheets of at least this many rows are made a column at a time."""


def _excel_escape(match) -> str:
    return f"_x{ord(match.group()):04X}_"


def _S(value: str):
    return pa.scalar(value, pa.large_string())


def _column_cells(values: pd.Series, col: str, rows):
    """The XML of a column's cells (``''`` for an empty one), as :func:`_cell` writes each."""
    dtype = values.dtype
    ref = (_S('<c r="'), _S(col), rows)
    plain = isinstance(dtype, np.dtype) and (dtype.kind in "iub" or dtype == np.float64)
    array = values.to_numpy() if plain else values.to_numpy(dtype=object)  # objects: as the cells had them
    text = None
    if isinstance(dtype, pd.StringDtype):
        text = _arrow_text(values)
    elif isinstance(dtype, np.dtype) and dtype.kind == "O":
        text = _text_column(array)  # text and missing values only, or None
    if text is not None:
        text = text.cast(pa.large_string())
        for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            text = pc.replace_substring(text, char, escaped)
        bad = pc.fill_null(pc.match_substring_regex(text, _ILLEGAL_RE2), False)
        if pc.any(bad).as_py():
            fixed = [_ILLEGAL.sub(_excel_escape, v) for v in text.filter(bad).to_pylist()]
            text = pc.replace_with_mask(text, bad, pa.array(fixed, type=pa.large_string()))
        cells = pc.binary_join_element_wise(*ref, _S('" t="inlineStr"><is><t xml:space="preserve">'), text,
                                            _S("</t></is></c>"), _S(""))
        return pc.fill_null(cells, _S(""))
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        if dtype.kind == "b":
            return pc.if_else(pa.array(array), pc.binary_join_element_wise(*ref, _S('" t="b"><v>1</v></c>'), _S("")),
                              pc.binary_join_element_wise(*ref, _S('" t="b"><v>0</v></c>'), _S("")))
        number = pc.cast(pa.array(array), pa.large_string())
        return pc.binary_join_element_wise(*ref, _S('" t="n"><v>'), number, _S("</v></c>"), _S(""))
    if isinstance(dtype, np.dtype) and dtype == np.float64:
        finite = np.isfinite(array)
        number = pa.array([f"{v:.16g}" for v in array.tolist()], type=pa.large_string())
        cells = pc.binary_join_element_wise(*ref, _S('" t="n"><v>'), number, _S("</v></c>"), _S(""))
        return pc.if_else(pa.array(finite), cells, _S(""))
    # Anything else (mixed objects, categories, nullable numbers): cell by cell.
    refs = [col + row for row in rows.to_pylist()]
    return pa.array([_ILLEGAL.sub(_excel_escape, _cell(ref, value)) for ref, value in zip(refs, array)],
                    type=pa.large_string())


def sheet_names(names, path="the workbook") -> list[str]:
    """Sheet titles as Excel takes them: at most 31 characters, unique, none of ``[]:*?/\\``."""
    titles = [str(n)[:31] for n in names]
    bad = [t for t in titles if not t or _BAD_SHEET_CHARS.search(t)]
    if bad:
        raise ValueError(f"{path}: sheet names Excel cannot take (empty, or with one of []:*?/\\): {bad}")
    if len({t.lower() for t in titles}) != len(titles):
        raise ValueError(f"{path}: sheet names are not unique in their first 31 characters: {titles}")
    return titles


def write_xlsx(sheets: dict[str, tuple[pd.DataFrame, list[str]]], path: str | Path) -> None:
    """Write ``{sheet name: (frame, header labels)}`` as an .xlsx workbook at ``path``."""
    titles = sheet_names(sheets, path)
    count = range(1, len(titles) + 1)
    workbook = (f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
                + "".join(f'<sheet name={quoteattr(t)} sheetId="{i}" r:id="rId{i}"/>' for i, t in zip(count, titles))
                + "</sheets></workbook>")
    relations = (f'<Relationships xmlns="{_PKG_REL}">'
                 + "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                           for i in count)
                 + f'<Relationship Id="rId{len(titles) + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
                 + "</Relationships>")
    types = ('<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
             '<Default Extension="xml" ContentType="application/xml"/>'
             '<Override PartName="/xl/workbook.xml" '
             'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
             + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                       for i in count)
             + '<Override PartName="/xl/styles.xml" '
             'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
             '<Override PartName="/docProps/core.xml" '
             'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
             '<Override PartName="/docProps/app.xml" '
             'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>')
    parts = [("[Content_Types].xml", types), ("_rels/.rels", _ROOT_RELS), ("docProps/core.xml", _CORE),
             ("docProps/app.xml", _APP), ("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", relations),
             ("xl/styles.xml", _STYLES)]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts:
            _store(archive, name, text)
        for i, (frame, labels) in zip(count, sheets.values()):
            _store(archive, f"xl/worksheets/sheet{i}.xml", sheet_xml(frame, labels))


def _store(archive: zipfile.ZipFile, name: str, text: str) -> None:
    archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), (_XML + text).encode("utf-8"),
                     compress_type=zipfile.ZIP_DEFLATED)
