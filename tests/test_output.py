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
