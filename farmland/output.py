"""Writing outputs safely: never half-written, never clobbered by surprise, safe to open.

Every output is written to a temporary sibling and moved into place only when complete, so an
interrupted or failed run leaves the previous output intact and no partial file or folder. An
existing output is replaced only with ``overwrite=True`` (``--overwrite``). Tables are written
deterministically (stable row order, no timestamps), and text cells of Excel files are stored as
text so a unit name like ``=HYPERLINK(...)`` from input data can never run as a formula.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from .errors import OutputError

TABLE_SUFFIXES = (".csv", ".parquet", ".xlsx")


def check_target(path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Refuse an existing output without ``overwrite``; create missing parent folders."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; pass --overwrite to replace it.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path.parent}: {exc.strerror or exc}.") from None
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place when the block succeeds.

    Works for files and folders, and for formats that write sidecar files next to the one named
    (a Shapefile's .dbf/.shx/.prj/.cpg): everything written beside the temporary path is moved.
    On any exception the temporaries are removed and the previous output (if any) is untouched.
    """
    path = check_target(path, overwrite=overwrite)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    tmp = tmp_dir / path.name
    try:
        try:
            yield tmp
        except OSError as exc:
            if isinstance(exc, OutputError):
                raise
            raise OutputError(f"could not write {path}: {exc.strerror or exc}. Nothing was replaced; free "
                              "some space or pick another folder.") from exc
        if not tmp.exists():
            raise OutputError(f"nothing was written for {path}.")
        for produced in sorted(tmp_dir.iterdir()):
            final = path.parent / produced.name
            if final.is_dir() and not final.is_symlink():
                # A folder cannot be replaced in one step: move the old one aside first.
                aside = tmp_dir / (produced.name + ".previous")
                os.replace(final, aside)
            os.replace(produced, final)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_table(frame: pd.DataFrame, path: str | os.PathLike, *, overwrite: bool = False,
                sheet_name: str = "metrics", headers: dict[str, str] | None = None) -> Path:
    """Write a table as CSV (UTF-8 with BOM so Excel shows Chinese), Parquet or Excel, atomically.

    Parameters
    ----------
    headers : dict, optional
        Column labels for the Excel sheet (e.g. Chinese names people read); CSV and Parquet keep
        the stable English column names.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise OutputError(
            f"cannot write {path.name}: use a .csv, .parquet or .xlsx file name."
        )
    with atomic_path(path, overwrite=overwrite) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
        elif suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            write_excel({sheet_name: frame}, tmp, headers=headers)
    return path


def write_excel(sheets: dict[str, pd.DataFrame], path: Path, *, headers: dict[str, str] | None = None) -> None:
    """Write sheets with openpyxl; text cells forced to text (no formula injection), fixed dates."""
    import datetime as dt

    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    # Fixed document dates keep the file byte-identical from run to run.
    fixed = dt.datetime(2000, 1, 1)
    workbook.properties.created = fixed
    workbook.properties.modified = fixed
    for name, frame in sheets.items():
        sheet = workbook.create_sheet(title=name[:31])
        labels = [(headers or {}).get(str(c), str(c)) for c in frame.columns]
        sheet.append(labels)
        for row in frame.itertuples(index=False, name=None):
            sheet.append([_cell_value(v) for v in row])
        for row in sheet.iter_rows(min_row=1):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    workbook.save(path)
    _normalize_zip(path)


def _normalize_zip(path: Path) -> None:
    """Rewrite an .xlsx with fixed member dates so identical content gives identical bytes.

    openpyxl stamps the save time into docProps/core.xml and every zip member.
    """
    import re
    import zipfile

    with zipfile.ZipFile(path) as source:
        members = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, data in members:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
            target.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), data,
                            compress_type=zipfile.ZIP_DEFLATED)


def _cell_value(value):
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, (tuple, list)):
        return "; ".join(map(str, value))
    if hasattr(value, "item"):
        return value.item()
    return value
