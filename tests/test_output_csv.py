"""The CSV writer makes, a column at a time, exactly the bytes pandas' ``to_csv`` makes cell by cell.

``write_frame_csv`` stands in for ``frame.to_csv(path, index=False, encoding="utf-8-sig",
lineterminator="\\n")`` and ``write_csv`` for the formula-safe writer it replaced (kept here as
``reference_write_csv``), so every run's tables stay byte for byte what they were.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farmland.output import _float_text, _formula_safe, _formula_safe_frame, write_csv, write_frame_csv


def pandas_bytes(frame: pd.DataFrame, path) -> bytes:
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return path.read_bytes()


def reference_write_csv(frame: pd.DataFrame, path) -> None:
    """``write_csv`` as it was before it wrote column by column: pandas on the formula-safe copy."""
    frame = _formula_safe_frame(frame)
    frame.columns = [_formula_safe(str(c)) for c in frame.columns]
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")


AWKWARD = [",", '"', "\n", "\r", "\t", "=", "+", "-", "@", " ", "'", ".", "e", "1", "聊", "城", "区", "；", "\x00", "\x0b", "\ufffe", "&", "<", ">"]
texts = st.text(alphabet=st.one_of(st.sampled_from(AWKWARD), st.characters(exclude_categories=("Cs",))),
                max_size=12) | st.sampled_from(["", "=HYPERLINK(\"http://x\",\"点我\")", "-12.5", "+3", "1e5", "nan",
                                                "a,b", 'say "hi"', "two\nlines", "cr\r", " lead", "trail "])
SPECIAL_FLOATS = [0.0, -0.0, 1e-5, -1e-5, 1e-4, 9.999e-5, 1e15, 1e16, 9999999999999998.0, 1e22, 5e-324,
                  1.7976931348623157e308, np.inf, -np.inf, np.nan, 0.1, 0.30000000000000004, 62500.0, 28580.36]
floats = st.floats(width=64) | st.sampled_from(SPECIAL_FLOATS) | st.builds(
    lambda x, d: round(x, d), st.floats(-1e7, 1e7), st.integers(0, 4))
missing = st.sampled_from([None, np.nan, pd.NA])


def column(kind: str, n: int):
    """A strategy for a column of ``n`` values of one of the kinds farmland's tables hold."""
    if kind == "float":
        return st.lists(floats, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="float64"))
    if kind == "int":
        return st.lists(st.integers(-2**63, 2**63 - 1), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="int64"))
    if kind == "bool":
        return st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=bool))
    if kind == "str":
        return st.lists(texts | st.none(), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="str"))
    if kind == "object_text":
        return st.lists(texts | missing, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=object))
    if kind == "object_mixed":
        cells = texts | missing | floats | st.integers(-10**20, 10**20) | st.booleans() | st.tuples(st.integers())
        return st.lists(cells, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=object))
    if kind == "category":
        return st.lists(st.sampled_from(["耕地", "a,b", '"q"', "=x"]) | st.none(), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="category"))
    if kind in ("Int64", "boolean"):
        cell = st.integers(-2**63, 2**63 - 1) if kind == "Int64" else st.booleans()
        return st.lists(cell | st.none(), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=kind))
    if kind == "datetime":  # not handled column by column: the whole table goes through pandas
        return st.lists(st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)) | st.none(), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="datetime64[ns]"))
    raise ValueError(kind)


KINDS = ["float", "int", "bool", "str", "object_text", "object_mixed", "category", "Int64", "boolean", "datetime"]


@st.composite
def frames(draw):
    n = draw(st.integers(0, 12))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
    if "datetime" in kinds and draw(st.integers(0, 3)):  # mostly the kinds written column by column
        kinds = [kind for kind in kinds if kind != "datetime"] or ["float"]
    names = draw(st.lists(texts, min_size=len(kinds), max_size=len(kinds)))
    if draw(st.integers(0, 9)) == 0:  # a label that is not text: pandas writes the table
        names[0] = draw(st.integers(0, 3))
    columns = [draw(column(kind, n)) for kind in kinds]
    frame = pd.concat(columns, axis=1, ignore_index=True) if columns else pd.DataFrame()
    frame.columns = names
    if draw(st.booleans()):  # an index that is not 0..n-1 (never written, but it must not realign)
        frame.index = pd.Index(draw(st.permutations(range(10, 10 + n))))
    return frame


@settings(max_examples=200)
@given(frames())
def test_write_frame_csv_is_pandas_to_csv(tmp_path_factory, frame):
    folder = tmp_path_factory.mktemp("csv")
    try:
        expected = pandas_bytes(frame, folder / "pandas.csv")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            write_frame_csv(frame, folder / "ours.csv")
        return
    write_frame_csv(frame, folder / "ours.csv")
    assert (folder / "ours.csv").read_bytes() == expected


@settings(max_examples=200)
@given(frames())
def test_write_csv_is_the_formula_safe_writer_it_replaced(tmp_path_factory, frame):
    folder = tmp_path_factory.mktemp("csv")
    try:
        reference_write_csv(frame, folder / "before.csv")
    except (UnicodeEncodeError, TypeError) as exc:  # TypeError: a formula in a categorical column
        with pytest.raises(type(exc)):
            write_csv(frame, folder / "after.csv")
        return
    write_csv(frame, folder / "after.csv")
    assert (folder / "after.csv").read_bytes() == (folder / "before.csv").read_bytes()


@pytest.mark.parametrize("seed", range(3))
def test_float_text_is_numpy_astype_str(seed):
    """Arrow's shortest digits are numpy's, for any bit pattern and for rounded and whole numbers."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([
        rng.integers(0, 2**64, 100_000, dtype=np.uint64).view(np.float64),
        rng.random(100_000) * 10.0 ** rng.integers(-8, 20, 100_000),
        np.round(rng.random(100_000) * 1e6, 2), np.round(rng.random(100_000), 4),
        rng.integers(-10**17, 10**17, 100_000).astype(float), np.array(SPECIAL_FLOATS)])
    expected = values.astype(str).astype(object)
    expected[np.isnan(values)] = ""
    assert _float_text(values).to_pylist() == expected.tolist()


def reference_sheet_xml(frame: pd.DataFrame, labels: list[str]) -> str:
    """``xlsx.sheet_xml`` as it was before it wrote column by column: every cell by ``_cell``."""
    from farmland.xlsx import _ILLEGAL, _MAIN, _cell, _text, column_letters

    rows = [str(r) for r in range(2, len(frame) + 2)]
    letters = [column_letters(i) for i in range(len(labels))]
    header = "".join(_text(f"{col}1", str(label)) for col, label in zip(letters, labels, strict=True))
    columns = [[_cell(col + row, value) for value, row in zip(frame.iloc[:, i].to_numpy(dtype=object), rows)]
               for i, col in enumerate(letters)]
    body = [f'<row r="{row}">{"".join(cells)}</row>' for row, cells in zip(rows, zip(*columns))]
    last = f"{letters[-1] if letters else 'A'}{len(frame) + 1}"
    xml = (f'<worksheet xmlns="{_MAIN}"><dimension ref="A1:{last}"/><sheetData><row r="1">{header}</row>'
           f'{"".join(body)}</sheetData></worksheet>')
    return _ILLEGAL.sub(lambda m: f"_x{ord(m.group()):04X}_", xml)


@settings(max_examples=200)
@given(frames(), st.sampled_from([0, 1000]))
def test_sheet_xml_is_the_cell_by_cell_writer_it_replaced(frame, columnwise_rows):
    from farmland import xlsx

    labels = [str(c) for c in frame.columns]
    before, xlsx.COLUMNWISE_ROWS = xlsx.COLUMNWISE_ROWS, columnwise_rows  # 0: column by column
    try:
        assert xlsx.sheet_xml(frame, labels) == reference_sheet_xml(frame, labels)
    finally:
        xlsx.COLUMNWISE_ROWS = before
