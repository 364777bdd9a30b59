"""Outputs are atomic, never clobbered silently, deterministic and safe to open in Excel."""

import hashlib

import openpyxl
import pandas as pd
import pytest

from farmland.errors import OutputError
from farmland.output import atomic_path, write_table

FRAME = pd.DataFrame({"xzqdm": ["371502", "371521"], "xzqmc": ["=HYPERLINK(\"x\")", "+1"], "arable_mu": [1.5, None]})


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_written_twice_identical(tmp_path, suffix):
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    write_table(FRAME, first)
    write_table(FRAME, second)
    assert _digest(first) == _digest(second)


def test_refuses_to_overwrite_without_flag(tmp_path):
    path = tmp_path / "m.csv"
    write_table(FRAME, path)
    with pytest.raises(OutputError, match="--overwrite"):
        write_table(FRAME, path)
    write_table(FRAME.iloc[:1], path, overwrite=True)
    assert len(pd.read_csv(path)) == 1


def test_failure_leaves_previous_output_and_no_partials(tmp_path):
    path = tmp_path / "m.csv"
    write_table(FRAME, path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_path(path, overwrite=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


def test_excel_text_never_becomes_a_formula(tmp_path):
    path = tmp_path / "m.xlsx"
    write_table(FRAME, path)
    sheet = openpyxl.load_workbook(path).active
    cells = [sheet.cell(row=r, column=2) for r in (2, 3)]
    assert [c.value for c in cells] == ["=HYPERLINK(\"x\")", "+1"]
    assert all(c.data_type == "s" for c in cells)


def test_unknown_suffix(tmp_path):
    with pytest.raises(OutputError, match=".csv, .parquet or .xlsx"):
        write_table(FRAME, tmp_path / "m.txt")


def test_missing_parent_folders_are_created(tmp_path):
    # The README's quick start writes to out/liaocheng on a fresh clone, where out/ does not exist.
    path = tmp_path / "out" / "deeper" / "m.csv"
    write_table(FRAME, path)
    assert path.exists() and sorted(p.name for p in path.parent.iterdir()) == ["m.csv"]


def test_excel_cells_keep_their_types_and_every_digit(tmp_path):
    """Text (even formula-like, markup or control characters) is text, numbers are numbers (16
    significant digits, as openpyxl wrote them), missing values are empty cells; the header row
    carries the labels."""
    import zipfile

    import numpy as np

    from farmland.output import write_excel

    frame = pd.DataFrame({
        "text": ["=SUM(A1:A9)", "a & b <c>", "x\x01y", None, " 前后空格 ", "中文"],
        "count": [1, 2, 3, 4, 5, 6],
        "share": [0.1, np.nan, 1e-20, 3.5199999999999996, np.inf, -2.5],
        "flag": [True, False, True, False, True, False],
        "mixed": [("a", "b"), 3.5, np.int64(7), pd.NA, "t", np.bool_(True)],
        "nullable": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
    })
    path = tmp_path / "t.xlsx"
    write_excel({"表一": frame, "empty": frame.iloc[0:0]}, path, headers={"text": "文本", "count": "个数"})
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["表一", "empty"]
    rows = [[(c.value, c.data_type) for c in row] for row in book["表一"].iter_rows()]
    assert [v for v, _ in rows[0]] == ["文本", "个数", "share", "flag", "mixed", "nullable"]
    assert [v for v, _ in rows[1]] == ["=SUM(A1:A9)", 1, 0.1, True, "a; b", 1]
    assert [t for _, t in rows[1]] == ["s", "n", "n", "b", "s", "n"]
    assert [row[0][0] for row in rows[2:]] == ["a & b <c>", "x_x0001_y", None, " 前后空格 ", "中文"]
    assert [row[2][0] for row in rows[2:]] == [None, 1e-20, 3.52, None, -2.5]
    assert [row[4][0] for row in rows[2:]] == [3.5, 7, None, "t", True]
    assert [row[5][0] for row in rows[2:]] == [None, 3, 4, 5, 6]
    assert [[c.value for c in row] for row in book["empty"].iter_rows()] == [["文本", "个数", "share", "flag", "mixed",
                                                                              "nullable"]]
    with zipfile.ZipFile(path) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2000, 1, 1, 0, 0, 0)}
        assert not any(b"<f" in archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/"))
    read = pd.read_excel(path, sheet_name="表一")
    assert read["个数"].dtype == "int64" and read["share"].iloc[3] == 3.52


def test_excel_refuses_sheet_names_excel_cannot_open(tmp_path):
    from farmland.output import write_excel

    with pytest.raises(ValueError, match="cannot take"):
        write_excel({"a/b": FRAME}, tmp_path / "a.xlsx")
    with pytest.raises(ValueError, match="not unique"):
        write_excel({"x" * 31 + "1": FRAME, "x" * 31 + "2": FRAME}, tmp_path / "b.xlsx")
