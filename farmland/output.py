"""Writing outputs safely: never half-written, never clobbered by surprise, safe to open.

Every output is written to a temporary sibling and moved into place only when complete, so an
interrupted or failed run leaves the previous output intact and no partial file or folder. An
existing output is replaced only with ``overwrite=True`` (``--overwrite``). Tables are written
deterministically (stable row order, no timestamps), text cells of Excel files are stored as
text and text cells of CSV files that would start a formula get a leading ``'``, so a unit name like
``=HYPERLINK(...)`` from input data can never run as a formula.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import OutputError

TABLE_SUFFIXES = (".csv", ".parquet", ".xlsx")


MANIFEST_NAME = "manifest.json"
"""The file every run folder holds; an existing folder is replaced only when it has one."""

NAME_LIMIT = 255
"""Bytes a file name may have on common file systems (ext4, NTFS, APFS)."""

_TEMP_EXTRA = 40
"""Bytes the temporary sibling adds to an output's name (``.NAME.XXXXXXXX.partial``, ``.previous``)."""


def is_run_folder(path: Path) -> bool:
    """True for a folder a previous farmland run wrote (it holds a farmland manifest)."""
    import json

    manifest = Path(path) / MANIFEST_NAME
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "outputs_sha256" in data


def check_not_input(path: str | os.PathLike, inputs) -> None:
    """Refuse an output that is, contains or lies inside an input (file, folder or workspace)."""
    target = Path(os.path.abspath(path)).resolve()
    found = {}
    for item in inputs:
        source = Path(os.path.abspath(item)).resolve()
        if target == source:
            found.setdefault("is", item)
        elif target in source.parents:
            found.setdefault("contains", item)
        elif source in target.parents:
            found.setdefault("lies inside", item)
    for relation in ("is", "contains", "lies inside"):  # the most telling one
        if relation in found:
            raise OutputError(f"the output {path} {relation} the input {found[relation]}; farmland never writes "
                              "over its inputs. Pick an output path outside the workspace and its input files.")


def check_target(path: str | os.PathLike, *, overwrite: bool, inputs=(), folder: bool = False) -> Path:
    """Check an output path before anything is computed or written.

    Refuses an output that is, contains or lies inside one of ``inputs``; an existing output
    without ``overwrite``; with ``overwrite``, anything but what a run writes (a folder output
    must hold a farmland manifest; a file output must be a file); a name too long for its
    temporary sibling. Creates missing parent folders.
    """
    path = Path(path)
    check_not_input(path, inputs)
    size = len(os.fsencode(path.name))
    if size + _TEMP_EXTRA > NAME_LIMIT:
        raise OutputError(f"the output name {path.name[:40]}… is {size} bytes long; with the temporary name "
                          f"written first it would pass the file system's {NAME_LIMIT}-byte limit. Use a "
                          f"name of at most {NAME_LIMIT - _TEMP_EXTRA} bytes.")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise OutputError(f"{path} already exists; pass --overwrite to replace it.")
        if path.is_symlink():
            raise OutputError(f"{path} is a link; --overwrite never replaces a link. Pick another output path.")
        if folder and not (path.is_dir() and is_run_folder(path)):
            raise OutputError(f"{path} exists and is not a folder that farmland wrote (it has no {MANIFEST_NAME} "
                              "of a run); --overwrite replaces only a previous run's output. Pick a new folder.")
        if not folder and path.is_dir() and path.suffix.lower() != ".gdb":
            raise OutputError(f"{path} is a folder; --overwrite replaces only a file here. Pick a file name.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path.parent}: {exc.strerror or exc}.") from None
    return path


_HELD: set[Path] = set()


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold ``.NAME.lock`` (with this process's pid) beside ``path`` for the block.

    A second run writing the same output refuses while the holder lives; a lock left by a
    process that no longer exists is taken over. Creating the lock also proves, before any
    computation, that the output folder is writable.
    """
    path = Path(os.path.abspath(path))
    lock = _lock_path(path)
    if lock in _HELD:  # this process holds it already (the CLI around the library's writer)
        yield
        return
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text(encoding="ascii").strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _pid_alive(pid):
                raise OutputError(f"another farmland run (pid {pid}) is writing {path}; wait for it to finish "
                                  f"(or delete {lock} if no such run exists).") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        except OSError as exc:
            raise OutputError(f"cannot write in {path.parent}: {exc.strerror or exc}. Pick a writable output "
                              "folder.") from None
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(f"{os.getpid()}\n")
        break
    else:  # pragma: no cover - a race with another process taking over the same stale lock
        raise OutputError(f"another farmland run is writing {path}; try again.")
    _HELD.add(lock)
    try:
        yield
    finally:
        _HELD.discard(lock)
        lock.unlink(missing_ok=True)


@contextlib.contextmanager
def output_guard(path: str | os.PathLike, *, overwrite: bool, inputs=(), folder: bool = False) -> Iterator[Path]:
    """:func:`check_target` and :func:`output_lock` for a whole run: checks before the computation,
    the lock held until the output is in place."""
    path = check_target(path, overwrite=overwrite, inputs=inputs, folder=folder)
    with output_lock(path):
        yield path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False, folder: bool = False,
                inputs=()) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place when the block succeeds.

    Works for files and folders, and for formats that write sidecar files next to the one named
    (a Shapefile's .dbf/.shx/.prj/.cpg): everything written beside the temporary path is moved.
    On any exception the temporaries are removed and the previous output (if any) is untouched.
    """
    path = check_target(path, overwrite=overwrite, folder=folder, inputs=inputs)
    with output_lock(path):
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
        with _moved_into_place(tmp_dir, path) as tmp:
            yield tmp


@contextlib.contextmanager
def _moved_into_place(tmp_dir: Path, path: Path) -> Iterator[Path]:
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
            write_csv(frame, tmp)
        elif suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            write_excel({sheet_name: frame}, tmp, headers=headers)
    return path


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _formula_safe(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)  # "-12.5" is a number written as text, not a formula
        except ValueError:
            return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """CSV for people as well as programs: UTF-8 with BOM (Excel shows Chinese) and formula-safe.

    A text cell that Excel would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or
    CR, such as a unit name ``=HYPERLINK(...)`` from input data) is written with a leading ``'``,
    as spreadsheet guidance (OWASP "CSV injection") advises; numbers are untouched.
    """
    labels = [_formula_safe(str(c)) for c in frame.columns]
    if not frame.columns.is_unique or any(
            pd.api.types.is_string_dtype(values) and values.dtype != object
            and not isinstance(values.dtype, pd.StringDtype)
            for _, values in frame.items()):  # rare kinds (categories, Arrow strings): made safe as pandas columns
        write_frame_csv(_formula_safe_frame(frame), path, labels=labels)
        return
    columns = {}
    for i, column in enumerate(frame.columns):
        values = frame.iloc[:, i]
        if pd.api.types.is_object_dtype(values):
            text = _text_column(values.to_numpy())
            if text is None:  # not all text: cell by cell (and the dtype pandas infers), as always
                columns[i] = values.map(_formula_safe)
            else:
                columns[i] = _arrow_formula_safe(text)
        elif isinstance(values.dtype, pd.StringDtype):
            columns[i] = _arrow_formula_safe(_arrow_text(values))
    write_frame_csv(frame, path, columns=columns, labels=labels)


def _formula_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`_formula_safe` text cells, made with pandas column by column."""
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_object_dtype(values):
            frame[column] = values.map(_formula_safe)
        elif pd.api.types.is_string_dtype(values):
            # A string column is scanned at once; only its few cells that may be formulas are visited.
            risky = values.str.startswith(_FORMULA_START).fillna(False).to_numpy(dtype=bool)
            if risky.any():
                frame.loc[risky, column] = values[risky].map(_formula_safe)
    return frame


def write_frame_csv(frame: pd.DataFrame, path: str | os.PathLike, *, columns: dict | None = None,
                    labels: list[str] | None = None) -> None:
    """Exactly the bytes of ``frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\\n")``,
    made a column at a time (pandas formats and quotes every cell in Python).

    ``columns`` may replace some of ``frame``'s columns (by position) with a Series or a pyarrow
    string array of the cells' text (missing cells null); ``labels`` replace the header. A column
    of a kind not handled here (dates, sparse, nullable floats, ...) and a frame whose header is
    not text make the whole table go through pandas.
    """
    header = list(frame.columns) if labels is None else labels
    cells = None
    if len(header) and all(type(label) is str for label in header):
        cells = []
        for i in range(len(header)):
            given = (columns or {}).get(i)
            cells.append(_csv_cells(frame.iloc[:, i] if given is None else given))
            if cells[-1] is None:
                cells = None
                break
    if cells is None:
        if columns:
            frame = frame.copy()
            for i, values in columns.items():
                frame.isetitem(i, values.to_numpy(zero_copy_only=False) if isinstance(values, pa.Array) else values)
        if labels is not None:
            frame.columns = labels
        frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
        return
    import csv
    import io

    first = io.StringIO()
    csv.writer(first, lineterminator="\n").writerow(header)
    if len(cells) == 1:  # the csv module quotes a record that would otherwise be an empty line
        cells[0] = pc.if_else(pc.equal(cells[0], _text("")), _text('""'), cells[0])
    lines = pc.binary_join_element_wise(*cells, _text(","))
    lines = pc.binary_join_element_wise(lines, _text(""), _text("\n"))  # each line and its end
    with open(path, "wb") as fh:
        fh.write(("\ufeff" + first.getvalue()).encode("utf-8"))
        if len(lines):
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
            fh.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])


_CSV_SPECIAL = '[,"\n]'
"""What makes Python's csv module (as pandas calls it) quote a field."""


def _csv_cells(values):
    """A column's CSV fields as a large_string array, as pandas and the csv module write them;
    None for a kind of column not handled here."""
    if isinstance(values, pa.Array):
        return _quoted(values.fill_null(_text("")))
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        array = values.to_numpy()
        if dtype == np.float64:
            return _float_text(array)
        if dtype.kind in "iu":
            return pc.cast(pa.array(array), pa.large_string())
        if dtype.kind == "b":
            return pc.if_else(pa.array(array), _text("True"), _text("False"))
        if dtype.kind == "O":
            text = _text_column(array)
            if text is None:  # mixed objects: each as the csv module writes it
                missing = pd.isna(array)
                text = pa.array(["" if gone else value if isinstance(value, str) else repr(value)
                                 if isinstance(value, float) else str(value)
                                 for value, gone in zip(array.tolist(), missing.tolist())], type=pa.large_string())
            return _quoted(text.fill_null(_text("")))
        return None
    if isinstance(dtype, pd.StringDtype):
        return _quoted(_arrow_text(values).fill_null(_text("")))
    if isinstance(dtype, (pd.CategoricalDtype, pd.BooleanDtype)) or dtype.kind in "iu":
        if isinstance(dtype, pd.CategoricalDtype) and dtype.categories.dtype.kind not in "OUSifb":
            return None
        # pandas writes these extension columns as their values' objects (nullable integers and
        # booleans, categories); missing ones are empty.
        array = np.asarray(values.array.astype(object))
        array[pd.isna(values.array)] = None
        return _csv_cells(pd.Series(array, dtype=object, copy=False))
    return None


def _text(value: str):
    return pa.scalar(value, pa.large_string())


def _text_column(array: np.ndarray):
    """An object array of text and missing values as a large_string array (missing: null); None
    when it holds anything else."""
    if pd.api.types.infer_dtype(array, skipna=True) not in ("string", "empty"):
        return None
    missing = pd.isna(array)
    try:
        return pa.array(array, type=pa.large_string(), mask=missing)
    except (pa.ArrowException, TypeError, ValueError):
        return None


def _arrow_text(values: pd.Series):
    """A pandas string column as a large_string array (missing: null)."""
    array = pa.array(values.array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def _arrow_formula_safe(text):
    """:func:`_formula_safe` of every cell of a string array; only cells that may be formulas are visited."""
    risky = pc.fill_null(pc.match_substring_regex(text, "^[=+\\-@\t\r]"), False)
    if not pc.any(risky).as_py():
        return text
    risky = risky.to_numpy(zero_copy_only=False)
    index = np.flatnonzero(risky)
    fixed = [_formula_safe(v) for v in text.take(pa.array(index)).to_pylist()]
    return pc.replace_with_mask(text, pa.array(risky), pa.array(fixed, type=text.type))


def _quoted(text):
    """Fields with a comma, quote or newline in double quotes (quotes doubled), as the csv module does."""
    special = pc.match_substring_regex(text, _CSV_SPECIAL)
    if not pc.any(special).as_py():
        return text
    quoted = pc.binary_join_element_wise(_text('"'), pc.replace_substring(text, '"', '""'), _text('"'), _text(""))
    return pc.if_else(special, quoted, text)


def _float_text(values: np.ndarray) -> np.ndarray:
    """``values.astype(str)`` (what pandas writes for a float64 column; NaN empty), made by Arrow's
    shortest round-trip formatting, which gives the same digits: only its notation differs (``1``
    for ``1.0``, positional tiny and scientific large numbers), fixed here or left to numpy."""
    text = pc.cast(pa.array(values), pa.large_string())
    finite = np.isfinite(values)
    size = np.abs(values)
    other = finite & (values != 0) & ((size < 1e-4) | (size >= 1e15))
    other |= pc.match_substring(text, "e").to_numpy(zero_copy_only=False)
    whole = finite & ~pc.match_substring(text, ".").to_numpy(zero_copy_only=False)
    if whole.any():
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, _text(".0"), _text("")), text)
    missing = np.isnan(values)
    if missing.any():
        text = pc.if_else(pa.array(missing), _text(""), text)
    if other.any():
        fixed = values[other].astype(str)
        text = pc.replace_with_mask(text, pa.array(other), pa.array(fixed, type=pa.large_string()))
    return text


def write_excel(sheets: dict[str, pd.DataFrame], path: Path, *, headers: dict[str, str] | None = None) -> None:
    """One sheet per frame, under a header row (``headers`` maps columns to their labels); text
    cells are text (never formulas) and identical content gives identical bytes (:mod:`.xlsx`)."""
    from .xlsx import write_xlsx

    write_xlsx({name: (frame, [(headers or {}).get(str(c), str(c)) for c in frame.columns])
                for name, frame in sheets.items()}, path)


def _normalize_zip(path: Path) -> None:
    """Rewrite an Office file (a zip) with fixed member dates so identical content gives identical bytes.

    python-docx stamps the save time into every zip member and docProps/core.xml's modified date.
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
