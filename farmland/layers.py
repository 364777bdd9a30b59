"""Reading input layers: one pass per file with pyogrio (Arrow), standard names, checked.

Each layer of a workspace is read once per year with :func:`read_layer`. It resolves the
configured source (globs: one file per county database), maps field names (user map, standard
name, known aliases), reads codes and ids as text, checks the CRS of every file, repairs what a
careful analyst would repair (encoding of GBK shapefiles without ``.cpg``, invalid rings via
``make_valid``) with a counted warning, and refuses the rest with a message naming the file,
layer, field, ids and the fix.

Areas are computed in each file's own Gauss-Krüger zone before its geometry is brought to the
workspace's common CRS, so a county delivered in zone 38 keeps its statutory areas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely

from .crs import check_crs, infer_crs_from_eastings
from .errors import CRSError, DataFileError, GeometryError, WorkspaceError
from .report import Report, shown_path
from .schema import (ADJUSTMENT_KINDS, DATE, ID_FIELD, NUMBER, SCHEMAS, TARGET_BASES, TEXT,
                     FieldSpec)
from .workspace import Workspace

SOURCE_COLUMN = "source_file"
"""Column naming the file each feature came from (categorical), for messages and evidence."""


@dataclass(frozen=True)
class FieldResolution:
    """How standard field names map onto one file's fields."""

    actual: dict[str, str]
    """standard name → name in the file, for the fields found."""
    missing_required: list[str]
    available: list[str]


def resolve_fields(layer: str, available: list[str], user_map: dict[str, str] | None) -> FieldResolution:
    """Map standard field names onto ``available`` (case-insensitive): user map, name, aliases."""
    by_upper = {name.upper(): name for name in available}
    actual: dict[str, str] = {}
    missing: list[str] = []
    user_map = user_map or {}
    for spec in SCHEMAS[layer]:
        found = None
        if spec.name in user_map:
            found = by_upper.get(user_map[spec.name].upper())
        else:
            for candidate in (spec.name, *spec.aliases):
                if candidate.upper() in by_upper:
                    found = by_upper[candidate.upper()]
                    break
        if found is not None:
            actual[spec.name] = found
        elif spec.required:
            missing.append(spec.name)
    return FieldResolution(actual=actual, missing_required=missing, available=list(available))


def _missing_field_message(layer: str, path: Path, res: FieldResolution, user_map) -> str:
    parts = []
    for name in res.missing_required:
        mapped = (user_map or {}).get(name)
        if mapped:
            parts.append(f"{name} (mapped to {mapped!r}, which is not there)")
        else:
            parts.append(name)
    example = res.missing_required[0]
    return (
        f"{shown_path(path)} has no field {', '.join(parts)} (found: {', '.join(res.available[:15])}"
        f"{' …' if len(res.available) > 15 else ''}). Map it in farmland.toml: "
        f"[fields.{layer}] {example} = \"<name in your data>\"."
    )


# -- encodings -----------------------------------------------------------------------------


def detect_dbf_encoding(dbf_path: Path, sample_bytes: int = 1 << 20) -> str | None:
    """Guess the text encoding of a shapefile's .dbf records: ``UTF-8``, ``GB18030`` or None (ASCII).

    Chinese shapefiles written without a ``.cpg`` are usually GBK; GDAL then reads them as
    ISO-8859-1 and every name comes out garbled. Strict UTF-8 decoding rarely succeeds on GBK
    bytes, so it decides; GB18030 is the superset of GBK that also decodes its rarer characters.
    """
    with open(dbf_path, "rb") as fh:
        header = fh.read(32)
        if len(header) < 32:
            return None
        header_len = int.from_bytes(header[8:10], "little")
        fh.seek(header_len)
        data = fh.read(sample_bytes)
    if all(b < 0x80 for b in data):
        return None
    # A record cut at the sample's end may split a character: trim to the last ASCII byte.
    cut = max(i for i, b in enumerate(data) if b < 0x80) + 1
    sample = data[:cut]
    for encoding in ("utf-8", "gb18030"):
        try:
            sample.decode(encoding)
            return "UTF-8" if encoding == "utf-8" else "GB18030"
        except UnicodeDecodeError:
            continue
    return None


def _shapefile_encoding(path: Path, layer: str, year, configured: str | None, report: Report) -> str | None:
    if configured or path.suffix.lower() != ".shp":
        return configured
    if path.with_suffix(".cpg").exists() or path.with_suffix(".CPG").exists():
        return None
    dbf = path.with_suffix(".dbf")
    if not dbf.exists():
        return None
    detected = detect_dbf_encoding(dbf)
    if detected and detected != "UTF-8":
        report.warning(
            layer,
            "encoding-detected",
            f"{shown_path(path)} has no .cpg file; its text was detected as {detected} (GBK) and read so. "
            f"Add a .cpg, or set layers.{layer} = {{ source = \"…\", encoding = \"GBK\" }} to make it "
            "explicit.",
            file=path,
            year=year,
        )
    return detected


# -- opening files ---------------------------------------------------------------------------


PARQUET_SUFFIXES = (".parquet", ".geoparquet")


def _parquet_info(path: Path, layer: str, year, report: Report):
    """The parts of ``pyogrio.read_info`` we use, for GeoParquet (GDAL's wheel lacks the driver)."""
    import json

    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        rows = pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:
        report.error(layer, "unreadable-file", f"cannot open {path} ({_gdal_reason(exc)}). The file may "
                     "be truncated or not Parquet; re-export it.", file=path, year=year, exc=DataFileError)
        return None
    geo = json.loads((schema.metadata or {}).get(b"geo", b"null") or "null")
    geometry_column = geo.get("primary_column") if geo else None
    crs = None
    if geometry_column:
        column_meta = geo["columns"].get(geometry_column, {})
        # GeoParquet: an absent "crs" means OGC:CRS84 (lon/lat), an explicit null means unknown.
        crs = column_meta.get("crs", "OGC:CRS84")
        crs = json.dumps(crs) if isinstance(crs, dict) else crs
    fields = [name for name in schema.names if name != geometry_column and not name.startswith("__")]
    info = {
        "fields": fields,
        "dtypes": [str(schema.field(name).type) for name in fields],
        "crs": crs,
        "geometry_type": "Unknown" if geometry_column else None,
        "features": rows,
        "total_bounds": tuple(geo["columns"][geometry_column].get("bbox", ())) if geometry_column else None,
        "geometry_column": geometry_column,
    }
    return None, info


def _open_info(path: Path, layer_name: str | None, layer: str, year, encoding, report: Report):
    """``pyogrio.read_info`` with errors turned into messages a GIS analyst can act on."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _parquet_info(path, layer, year, report)
    if layer_name is not None:
        try:  # the usual case, in one open; the listing below is for saying what went wrong
            return layer_name, pyogrio.read_info(path, layer=layer_name, encoding=encoding)
        except Exception:
            pass
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # GDAL raises several types for unreadable files
        report.error(
            layer,
            "unreadable-file",
            f"cannot open {path} ({_gdal_reason(exc)}). The file may be truncated, still being "
            "copied, or not in a format GDAL reads; re-export it (GeoPackage, FileGDB, Shapefile, "
            "GeoParquet).",
            file=path,
            year=year,
            exc=DataFileError,
        )
        return None
    names = [str(n) for n in layers[:, 0]] if len(layers) else []
    if layer_name is None and len(names) > 1:
        report.error(
            layer,
            "ambiguous-layer",
            f"{shown_path(path)} holds several layers ({', '.join(names)}); name one in farmland.toml, e.g. "
            f"layers.{layer} = \"{shown_path(path)}:{names[0]}\".",
            file=path,
            year=year,
            exc=WorkspaceError,
        )
        return None
    if layer_name is not None and layer_name not in names:
        lower = {n.lower(): n for n in names}
        if layer_name.lower() in lower:
            layer_name = lower[layer_name.lower()]
        else:
            report.error(
                layer,
                "missing-layer",
                f"{shown_path(path)} has no layer {layer_name!r} (it has: {', '.join(names) or 'none'}). "
                f"Fix layers.{layer} in farmland.toml.",
                file=path,
                year=year,
                exc=WorkspaceError,
            )
            return None
    try:
        info = pyogrio.read_info(path, layer=layer_name, encoding=encoding)
    except Exception as exc:
        report.error(
            layer,
            "unreadable-file",
            f"cannot read layer {layer_name!r} of {path} ({_gdal_reason(exc)}); re-export it.",
            file=path,
            year=year,
            exc=DataFileError,
        )
        return None
    return layer_name, info


def _gdal_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


# -- type coercion -----------------------------------------------------------------------------


def _as_text(values: pd.Series, *, ids: bool = False) -> pd.Series:
    """Text with surrounding blanks removed; missing stays missing (object dtype, str values).

    ``ids``: the values are a layer's ids, which differ from one another, so each gets a ``str`` of
    its own directly; a dictionary of them would be as long as the column (and made the ids of a
    snapshot three times slower to convert).
    """
    if pd.api.types.is_float_dtype(values):
        # A float column holding whole numbers (ids stored as Real) prints without ".0".
        finite = values.notna()
        out = pd.Series(np.full(len(values), None, dtype=object), index=values.index)
        out[finite] = values[finite].round().astype("int64").astype(str).astype(object)
        return out
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        # Straight from Arrow (as pyogrio reads text): one pass to Python strings, nulls as None.
        import pyarrow as pa
        import pyarrow.compute as pc

        trimmed = pc.utf8_trim_whitespace(pa.array(values.array))
        if isinstance(trimmed, pa.ChunkedArray):
            trimmed = trimmed.combine_chunks()
        if ids:
            return pd.Series(trimmed.to_numpy(zero_copy_only=False), index=values.index, dtype=object)
        # One str object per distinct value, shared by every feature holding it (the last slot,
        # None, for nulls): land classes and village codes repeat over a million parcels, and a
        # str of their own each was 40 % of a held snapshot.
        encoded = trimmed.dictionary_encode()
        words = np.append(encoded.dictionary.to_numpy(zero_copy_only=False).astype(object), None)
        slots = pc.fill_null(encoded.indices, len(words) - 1).to_numpy()
        return pd.Series(words[slots], index=values.index, dtype=object)
    text = values.astype("string").str.strip()
    return text.astype(object).where(text.notna(), None)


def _coerce(frame: pd.DataFrame, layer: str, specs: dict[str, FieldSpec], ids: pd.Series, path, year,
            report: Report, dtypes: dict[str, str]) -> pd.DataFrame:
    for name, spec in specs.items():
        if name not in frame:
            continue
        column = frame[name]
        if spec.kind == TEXT:
            source_type = dtypes.get(name, "")
            if spec.code and any(word in source_type for word in ("int", "float", "double", "decimal")):
                report.error(
                    layer,
                    "code-stored-as-number",
                    f"field {name} in {shown_path(path)} is stored as a number ({source_type}), so "
                    "leading zeros of land-class codes are lost (0101 水田 would read as 101, the "
                    f"二调 code of 铁路用地). Re-export {name} as text.",
                    file=path,
                    year=year,
                    field=name,
                )
            if name == ID_FIELD.get(layer) and any(word in source_type for word in ("float", "double", "Real")):
                report.error(
                    layer,
                    "id-stored-as-number",
                    f"field {name} in {shown_path(path)} is stored as a real number ({source_type}); long ids "
                    "lose digits that way, so different features can read as one id. Re-export "
                    f"{name} as text.",
                    file=path,
                    year=year,
                    field=name,
                )
            # the id field was made text once already, for the messages
            frame[name] = ids if name == ID_FIELD.get(layer) else _as_text(column)
        elif spec.kind == NUMBER:
            numbers = pd.to_numeric(column, errors="coerce")
            bad = _unparsed(numbers, column)
            if bad.any():
                report.error(
                    layer,
                    "not-a-number",
                    f"field {name} in {shown_path(path)} has {int(bad.sum())} values that are not "
                    f"numbers (e.g. {column[bad].iloc[0]!r}). Fix them at the source.",
                    file=path,
                    year=year,
                    field=name,
                    ids=ids[bad],
                )
            frame[name] = numbers.astype("float64")
        elif spec.kind == DATE:
            dates = _parse_dates(column)
            bad = _unparsed(dates, column)
            if bad.any():
                report.error(
                    layer,
                    "bad-date",
                    f"field {name} in {shown_path(path)} has {int(bad.sum())} values that are not "
                    f"dates (e.g. {column[bad].iloc[0]!r}); use YYYY-MM-DD or YYYYMMDD.",
                    file=path,
                    year=year,
                    field=name,
                    ids=ids[bad],
                )
            frame[name] = dates
    return frame


def _unparsed(parsed: pd.Series, column: pd.Series) -> pd.Series:
    """Rows whose non-blank text did not parse; the text test runs only on the few candidates."""
    candidates = parsed.isna() & column.notna()
    bad = pd.Series(False, index=column.index)
    if candidates.any():
        bad[candidates] = column[candidates].astype("string").str.strip() != ""
    return bad


def _parse_dates(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.ArrowDtype):  # GeoParquet's date32 and timestamps, as Arrow types
        import pyarrow as pa

        column = pd.Series(pa.array(column).to_pandas(date_as_object=False), index=column.index)
    if pd.api.types.is_datetime64_any_dtype(column):
        values = column
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        return values.astype("datetime64[ns]")
    text = column.astype("string").str.strip()
    compact = text.str.fullmatch(r"\d{8}").fillna(False)
    parsed = pd.to_datetime(text.where(~compact), errors="coerce", format="mixed")
    parsed_compact = pd.to_datetime(text.where(compact), errors="coerce", format="%Y%m%d")
    return parsed.where(~compact, parsed_compact).astype("datetime64[ns]")


# -- public API --------------------------------------------------------------------------------


def read_layer(
    ws: Workspace,
    layer: str,
    year: int | None = None,
    *,
    columns: list[str] | None = None,
    geometry: bool = True,
    report: Report | None = None,
    needed_for: str | None = None,
):
    """Read one layer (all files of its source) for one year with standard field names.

    A one-off read. A run that reads a workspace for several stages goes through one
    :class:`farmland.load.LayerStore` instead, which reads each layer once and hands it to every
    stage (and may serve parsed files from the disk cache).

    Parameters
    ----------
    ws : Workspace
    layer : str
        A geometric layer name (``DLTB``, ``JBNTTB``, ``DLTBGXGC``, ``XZQ``, ``JSYDSP``, ``WPZF``,
        ``GBZNT``).
    year : int, optional
        The data year, for per-year sources (``{year}`` in the template).
    columns : list of str, optional
        Standard fields to read (required fields are always read). Reading fewer fields is
        much faster on large layers.
    geometry : bool, default True
        Read geometries. Without them, statutory areas cannot be computed for parcels that
        lack TBMJ, so geometry is read anyway in that case.
    report : Report, optional
        Where findings go; by default a strict report that raises on the first error.
    needed_for : str, optional
        What the caller computes, named in the error when the layer is not configured.

    Returns
    -------
    geopandas.GeoDataFrame or pandas.DataFrame
        Standard field names, text codes and ids as ``str``, numbers as float64 (areas in m²),
        dates as datetime64, a categorical ``source_file`` column, and the geometry in the CRS of
        the first file read (``attrs["source_crs"]`` keeps each file's own). ``None`` when
        the report collects (non-strict) and the layer could not be read at all.
    """
    from .load import LayerStore

    return LayerStore(ws, cache=None).layer(layer, year, columns=columns, geometry=geometry, report=report,
                                            needed_for=needed_for)


def wanted_fields(layer: str, columns: list[str] | None) -> dict[str, FieldSpec]:
    """The standard fields a read of ``layer`` gets: those asked for and every required one."""
    return {spec.name: spec for spec in SCHEMAS[layer] if columns is None or spec.required
            or spec.name in columns}


@dataclass(frozen=True)
class Parsed:
    """One file's raw features: its fields as stored, and its shapes as WKB (None: not read).

    The shapes stay encoded until the loader decodes them, so that the parcels of a snapshot
    that the last snapshot held byte for byte take the shapes decoded then
    (:mod:`farmland.load.shapes`) instead of being decoded again.
    """

    frame: pd.DataFrame
    wkb: pa.Array | None
    """One ``large_binary`` array (:func:`wkb_array`), whatever the format stored."""

    def select(self, columns: list[str], geometry: bool) -> Parsed:
        return Parsed(self.frame[columns], self.wkb if geometry else None)


def wkb_array(column) -> pa.Array:
    """A WKB column as one ``large_binary`` array: the type every file's shapes share, whatever
    the format gave, and 64-bit offsets, so a file's chunks of ``binary`` (2 GiB at most each)
    join without overflowing. No copy of the bytes when there is one chunk."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    # geoarrow.wkb, when an extension type is registered (in Python or in C++)
    chunks = [c.storage if isinstance(c.type, pa.BaseExtensionType) else c for c in chunks]
    chunks = [c.cast(pa.large_binary()) for c in chunks]
    if len(chunks) == 1:
        return chunks[0]
    return pa.concat_arrays(chunks) if chunks else pa.array([], type=pa.large_binary())


def decode_wkb(wkb: pa.Array) -> np.ndarray:
    """Shapes from WKB (None where the WKB is null), as pyogrio decodes them."""
    return shapely.from_wkb(wkb.to_numpy(zero_copy_only=False))


def parse_with_pyogrio(path: Path, layer_name: str | None, columns: list[str], read_geometry: bool,
                       encoding: str | None) -> Parsed:
    """Parse one file's features (GDAL through pyogrio's Arrow reader): fields as
    ``pyogrio.read_dataframe(use_arrow=True)`` gives them, shapes as WKB."""
    meta, table = pyogrio.read_arrow(path, layer=layer_name, columns=columns, read_geometry=read_geometry,
                                     encoding=encoding, datetime_as_string=True)
    wkb = None
    geometry_name = meta["geometry_name"] or "wkb_geometry"
    if read_geometry and geometry_name in table.column_names:
        wkb = wkb_array(table.column(geometry_name))
        table = table.drop_columns([geometry_name])
    frame = table.to_pandas()
    del table
    for dtype, name in zip(meta["dtypes"], meta["fields"], strict=True):
        if dtype is not None and dtype.startswith("datetime") and dtype != "datetime64[D]" and name in frame:
            frame[name] = _datetimes(frame[name])
    return Parsed(frame, wkb)


def _datetimes(text: pd.Series) -> pd.Series:
    """Date-times read as ISO 8601 text (so that mixed time-zone offsets survive GDAL), parsed as
    ``pyogrio.read_dataframe`` parses them: mixed offsets in UTC, to the millisecond GDAL keeps;
    text that does not parse is left for the date fields' own parsing to report."""
    for utc in (False, True):  # mixed offsets parse in UTC only
        try:
            parsed = pd.to_datetime(text, format="ISO8601", utc=utc)
        except (ValueError, TypeError):
            continue
        if parsed.dtype.kind == "M":
            return parsed.dt.as_unit("ms")
    return text


def load_layer(ws: Workspace, layer: str, year: int | None, wanted: dict[str, FieldSpec], geometry: bool,
               report: Report, *, needed_for: str | None = None, parse=parse_with_pyogrio, shapes=None):
    """Read and check every file of ``layer`` in ``year`` (see :func:`read_layer`); ``parse`` turns
    one file into its raw features (:class:`farmland.load.LayerStore` passes its cached parser).

    ``shapes`` (a :class:`farmland.load.shapes.CheckedShapes`): the shapes that passed the geometry
    checks in the run's last snapshot of this layer; an identical shape is not checked or
    reprojected again, and this read's shapes replace them.
    """
    import geopandas as gpd

    src = ws.source(layer, needed_for=needed_for)
    try:
        paths = ws.paths(layer, year, needed_for=needed_for)
    except WorkspaceError as exc:
        report.error(layer, "missing-file", str(exc), year=year, exc=WorkspaceError)
        return None
    reading = shapes.reading(layer) if shapes is not None and geometry else None
    parts = []
    for path in paths:
        part = _read_one(ws, layer, src, path, year, wanted, geometry, report, parse, reading)
        if part is not None:
            parts.append(part)
    if not parts:
        return None
    target_crs = _common_crs(parts, src.frame_crs)
    # Each file's own CRS, for checks that must be made in the frame the data were drawn in.
    source_crs = {str(p[SOURCE_COLUMN].iloc[0]): p.crs for p in parts
                  if getattr(p, "crs", None) is not None and len(p)}
    if any(isinstance(p, gpd.GeoDataFrame) for p in parts):
        if reading is not None:
            parts = [reading.placed(p, target_crs) for p in parts]
            reading.commit()
        else:
            parts = [p.to_crs(target_crs) if p.crs is not None and not p.crs.equals(target_crs) else p
                     for p in parts]
        frame = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry",
                                 crs=target_crs)
    else:
        frame = pd.concat(parts, ignore_index=True)
    frame[SOURCE_COLUMN] = frame[SOURCE_COLUMN].astype("category")
    frame.attrs["layer"] = layer
    frame.attrs["year"] = year
    frame.attrs["files"] = [str(p) for p in paths]
    frame.attrs["source_crs"] = source_crs
    return frame


def _common_crs(parts, pinned: str | None = None):
    if pinned is not None:
        return check_crs(pinned)
    crs_list = [p.crs for p in parts if getattr(p, "crs", None) is not None]
    if not crs_list:
        return None
    # Zone 39 covers most of Liaocheng; but any consistent choice works: areas were computed
    # per file before this point, and overlays only need one shared frame.
    return crs_list[0]


def _read_one(ws, layer, src, path: Path, year, wanted: dict[str, FieldSpec], geometry, report, parse,
              reading=None):
    import geopandas as gpd

    encoding = _shapefile_encoding(path, layer, year, src.encoding, report)
    opened = _open_info(path, src.layer, layer, year, encoding, report)
    if opened is None:
        return None
    layer_name, info = opened
    available = [str(f) for f in info["fields"]]
    user_map = ws.field_maps.get(layer)
    res = resolve_fields(layer, available, user_map)
    clash = sorted({actual for actual in res.actual.values()
                    if sum(name.upper() == actual.upper() for name in available) > 1})
    if clash:
        twins = [name for name in available if name.upper() in {c.upper() for c in clash}]
        report.error(layer, "case-duplicate-field", f"{shown_path(path)} has fields that differ only by case "
                     f"({', '.join(twins)}); which one holds the figures is ambiguous. Drop or rename one, or "
                     f"map the field in [fields.{layer}].", file=path, year=year, field=clash[0])
        return None
    if res.missing_required:
        report.error(
            layer,
            "missing-field",
            _missing_field_message(layer, path, res, user_map),
            file=path,
            year=year,
            field=res.missing_required[0],
        )
        return None
    dtypes = {std: str(info["dtypes"][available.index(actual)]) for std, actual in res.actual.items()}

    crs = None
    needs_area = layer == "DLTB" and "TBMJ" not in res.actual
    read_geometry = geometry or needs_area
    if info.get("geometry_type") in (None, "None"):
        read_geometry = False
    if read_geometry:
        crs = _checked_crs(info, path, layer, year, src, report)
        if crs is None:
            return None

    feature_count = info.get("features", -1)
    if feature_count == 0:
        report.warning(layer, "empty-layer", f"{shown_path(path)} layer {layer_name!r} has no features.",
                       file=path, year=year)

    read_names = [res.actual[name] for name in wanted if name in res.actual]
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            parsed = _read_parquet(path, read_names, info["geometry_column"] if read_geometry else None)
        else:
            parsed = parse(path, layer_name, read_names, read_geometry, encoding)
    except Exception as exc:
        report.error(
            layer,
            "unreadable-file",
            f"cannot read {path} layer {layer_name!r} ({_gdal_reason(exc)}). The file may be "
            "truncated or corrupt; re-export it.",
            file=path,
            year=year,
            exc=DataFileError,
        )
        return None
    read_geometry = read_geometry and parsed.wkb is not None
    rename = {actual: std for std, actual in res.actual.items() if actual in parsed.frame.columns}
    frame = parsed.frame.rename(columns=rename)
    id_field = ID_FIELD.get(layer)
    ids = _as_text(frame[id_field], ids=True) if id_field in frame else pd.Series(frame.index.astype(str))
    frame = _coerce(frame, layer, {k: v for k, v in wanted.items() if k in frame}, ids, path, year,
                    report, dtypes)
    source = str(path.relative_to(ws.root)) if path.is_relative_to(ws.root) else str(path)
    if read_geometry:
        known = None
        try:
            if reading is not None and geometry:
                geoms, known = reading.decoded(source, crs, parsed.wkb)
            else:
                geoms = decode_wkb(parsed.wkb)
        except shapely.errors.GEOSException as exc:  # a shape GEOS cannot build from its bytes
            stored = parsed.wkb.is_valid().to_numpy(zero_copy_only=False)  # not null: there are bytes
            broken = stored & shapely.is_missing(shapely.from_wkb(parsed.wkb.to_numpy(zero_copy_only=False),
                                                                  on_invalid="ignore"))
            report.error(layer, "unreadable-file", f"{shown_path(path)} layer {layer_name!r}: {int(broken.sum())} "
                         f"features have shapes that cannot be read from the file ({_gdal_reason(exc)}). Repair "
                         "them at the source (topology check) and re-export the layer.",
                         file=path, year=year, ids=ids[broken], exc=DataFileError)
            return None
        frame = gpd.GeoDataFrame(frame, geometry=gpd.array.from_shapely(geoms, crs=crs))
    del parsed
    frame[SOURCE_COLUMN] = source
    if read_geometry:
        frame, passed = _check_geometry(frame, layer, path, year, ids, report, known)
        if known is not None:
            reading.checked(source, passed)
        if needs_area:
            from .area import ellipsoidal_area

            frame["TBMJ"] = ellipsoidal_area(frame.geometry.values, crs)
            report.info(
                layer,
                "area-computed",
                f"{shown_path(path)} has no TBMJ; parcel areas were computed by the statutory ellipsoidal "
                f"method in its own CRS ({crs.name}).",
                file=path,
                year=year,
            )
        if not geometry:
            frame = pd.DataFrame(frame.drop(columns="geometry"))
    filled = _derive_areas(frame, layer)
    for field, mask in filled.items():
        report.warning(layer, "area-filled", f"{shown_path(path)}: {int(mask.sum())} features have no {field}; "
                       "it was filled per the data contract (KCMJ = round(TBMJ × KCXS, 2), TBDLMJ = TBMJ − "
                       "KCMJ, YJJBNTMJ = TBMJ − KCMJ). Fill it at the source to make it explicit.",
                       file=path, year=year, field=field, ids=ids[mask.to_numpy()])
    if not isinstance(frame, gpd.GeoDataFrame) and read_geometry and geometry:
        frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=crs)
    return frame


def _read_parquet(path: Path, columns: list[str], geometry_column: str | None) -> Parsed:
    """A GeoParquet file's features: fields as ``geopandas.read_parquet`` gives them, shapes as WKB
    (as stored, or encoded from GeoArrow's native encoding)."""
    import pyarrow.parquet as pq

    if geometry_column is None:
        return Parsed(pq.read_table(path, columns=columns).to_pandas(), None)
    stored = pq.read_schema(path).field(geometry_column).type
    if pa.types.is_binary(stored) or pa.types.is_large_binary(stored):
        table = pq.read_table(path, columns=[*columns, geometry_column])
        return Parsed(table.drop_columns([geometry_column]).to_pandas(), wkb_array(table.column(geometry_column)))
    import geopandas as gpd

    frame = gpd.read_parquet(path, columns=[*columns, geometry_column])
    wkb = pa.array(shapely.to_wkb(np.asarray(frame.geometry.values)), type=pa.binary())
    return Parsed(pd.DataFrame(frame.drop(columns=frame.geometry.name)), wkb_array(wkb))


def _checked_crs(info, path, layer, year, src, report):
    declared = src.crs
    found = info.get("crs")
    try:
        if found:
            crs = check_crs(found)
            if declared:
                declared_crs = check_crs(declared)
                if not declared_crs.equals(crs):
                    report.error(
                        layer,
                        "crs-conflict",
                        f"{shown_path(path)} is in {crs.name} but layers.{layer}.crs declares "
                        f"{declared_crs.name}. Remove the declaration or fix the file's .prj.",
                        file=path,
                        year=year,
                        exc=CRSError,
                    )
                    return None
            return crs
        if declared:
            return check_crs(declared)
        crs = infer_crs_from_eastings(info.get("total_bounds"))
    except CRSError as exc:
        report.error(layer, "bad-crs", f"{shown_path(path)}: {exc}", file=path, year=year, exc=CRSError)
        return None
    if crs is None:
        report.error(
            layer,
            "missing-crs",
            f"{shown_path(path)} has no coordinate reference system and its eastings carry no zone "
            "prefix to infer one from. Add the .prj (e.g. EPSG:4527 for zone 39), or declare "
            f"layers.{layer} = {{ source = \"…\", crs = \"EPSG:4548\" }}.",
            file=path,
            year=year,
            exc=CRSError,
        )
        return None
    report.warning(
        layer,
        "crs-inferred",
        f"{shown_path(path)} has no CRS; {crs.name} was inferred from the zone prefix of its 8-digit "
        "eastings. Add the .prj to make it explicit.",
        file=path,
        year=year,
    )
    return crs


def _check_geometry(frame, layer, path, year, ids: pd.Series, report: Report, known: np.ndarray | None = None):
    """Report empty, invalid (repaired), non-polygonal and misplaced shapes; return the frame and
    which features passed every check unchanged.

    ``known``: features whose shape passed these checks in an earlier snapshot (identical shape,
    same CRS: :mod:`farmland.load.shapes`), whose outcome is therefore known.
    """
    geoms = np.asarray(frame.geometry.values)
    known = np.zeros(len(geoms), dtype=bool) if known is None else known
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        severity = report.error if layer in ("DLTB", "JBNTTB", "XZQ") else report.warning
        severity(
            layer,
            "empty-geometry",
            f"{shown_path(path)} has {int(missing.sum())} features with empty or missing geometry. "
            "Restore their shapes from the source database (or delete the features if they are "
            "leftovers).",
            file=path,
            year=year,
            ids=ids[missing],
        )
    invalid = np.zeros(len(geoms), dtype=bool)
    unknown = np.flatnonzero(~missing & ~known)
    invalid[unknown] = ~shapely.is_valid(geoms[unknown])
    if invalid.any():
        reasons = shapely.is_valid_reason(geoms[invalid][:3])
        # The "structure" method keeps polygons polygonal (a bow-tie becomes two triangles) and
        # drops collapsed rings, instead of returning collections with lines in them.
        repaired = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        frame.loc[invalid, "geometry"] = repaired
        report.warning(
            layer,
            "invalid-geometry-repaired",
            f"{shown_path(path)}: {int(invalid.sum())} invalid geometries (e.g. {reasons[0]}) were "
            "repaired with make_valid; stored areas (TBMJ) are kept. Fix them at the source to "
            "silence this.",
            file=path,
            year=year,
            ids=ids[invalid],
        )
    frame, unusable = _unusable_geometry(frame, layer, path, year, ids, report, known)
    return frame, ~missing & ~invalid & ~unusable


_GEOMETRY_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 4: "MultiPoint", 5: "MultiLineString",
                   7: "GeometryCollection"}


def _unusable_geometry(frame, layer, path, year, ids: pd.Series, report: Report, known: np.ndarray):
    """Not polygons, or coordinates the file's CRS cannot hold: errors naming file, layer, year and ids.

    Such features are blanked after being reported, so the report goes on to list the rest
    instead of stopping at the first area computed from them. Returns the frame and which
    features were blanked; ``known`` shapes passed these tests before and are not tested.
    """
    from .area import _MAX_OFFSET_FROM_CM_M, gauss_kruger_parameters

    geoms = np.asarray(frame.geometry.values)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) & ~known
    type_ids = shapely.get_type_id(geoms)
    wrong = present & ~np.isin(type_ids, (3, 6))
    if wrong.any():
        kinds = ", ".join(sorted({_GEOMETRY_NAMES.get(int(k), str(k)) for k in type_ids[wrong]}))
        report.error(layer, "geometry-type", f"{shown_path(path)}: {int(wrong.sum())} features are {kinds}, not "
                     "polygons; parcels and units need Polygon or MultiPolygon shapes. Fix or drop them at the "
                     "source.", file=path, year=year, ids=ids[wrong], exc=GeometryError)
    bad = np.zeros(len(geoms), dtype=bool)
    usable = np.flatnonzero(present & ~wrong)
    if len(usable):
        bounds = shapely.bounds(geoms[usable])
        finite = np.isfinite(bounds).all(axis=1)
        bad[usable[~finite]] = True
        try:
            centre = gauss_kruger_parameters(frame.crs).false_easting_m
        except Exception:  # the CRS was refused already
            centre = None
        far = np.zeros(len(usable), dtype=bool)
        if centre is not None:
            with np.errstate(invalid="ignore"):
                far = finite & ((np.abs(bounds[:, 0] - centre) > _MAX_OFFSET_FROM_CM_M)
                                | (np.abs(bounds[:, 2] - centre) > _MAX_OFFSET_FROM_CM_M))
        if far.any():
            sample = bounds[far, 0][0]
            report.error(layer, "wrong-zone", f"{shown_path(path)}: {int(far.sum())} features have eastings such "
                         f"as {sample:.1f} m, more than {_MAX_OFFSET_FROM_CM_M / 1000:.0f} km from the central "
                         f"meridian of its CRS ({frame.crs.name}): the CRS does not match the coordinates (8-digit "
                         "eastings 38xxxxxx are EPSG:4526, 39xxxxxx EPSG:4527), or x and y are swapped.",
                         file=path, year=year, ids=ids[usable[far]], exc=CRSError)
        if (~finite).any():
            report.error(layer, "non-finite-coordinates", f"{shown_path(path)}: {int((~finite).sum())} features "
                         "have NaN or infinite coordinates; repair or drop them.", file=path, year=year,
                         ids=ids[usable[~finite]], exc=GeometryError)
        bad[usable[far]] = True
    bad |= wrong
    if bad.any():
        frame.loc[bad, "geometry"] = None
    return frame, bad


def _derive_areas(frame: pd.DataFrame, layer: str) -> dict[str, pd.Series]:
    """Fill KCMJ/TBDLMJ (DLTB) and YJJBNTMJ (JBNTTB) where a layer lacks them, column or cell.

    Data contract: KCMJ = round(TBMJ × KCXS, 2), TBDLMJ = TBMJ − KCMJ (older data also subtract
    XZDWMJ and LXDWMJ), YJJBNTMJ = TBMJ − KCMJ. Returns, per field present but with blank
    cells, the mask of the cells filled (a field absent altogether is the data's schema, not a gap).
    """
    from .units import round_half_up

    filled: dict[str, pd.Series] = {}

    def fill(column: str, values) -> None:
        values = pd.Series(values, index=frame.index, dtype="float64")
        if column in frame:
            blank = frame[column].isna() & values.notna()
            if blank.any():
                filled[column] = blank
            frame[column] = frame[column].fillna(values)
        else:
            frame[column] = values

    if layer == "DLTB" and "TBMJ" in frame:
        kcxs = frame["KCXS"].fillna(0.0) if "KCXS" in frame else 0.0
        fill("KCMJ", round_half_up(frame["TBMJ"] * kcxs, 2))
        deduction = frame["KCMJ"].fillna(0.0)
        for older in ("XZDWMJ", "LXDWMJ"):
            if older in frame:
                deduction = deduction + frame[older].fillna(0.0)
        fill("TBDLMJ", frame["TBMJ"] - deduction)
    if layer == "JBNTTB" and "TBMJ" in frame:
        fill("YJJBNTMJ", frame["TBMJ"] - (frame["KCMJ"].fillna(0.0) if "KCMJ" in frame else 0.0))
    return filled


def read_table(ws: Workspace, layer: str, *, report: Report | None = None, needed_for: str | None = None,
               path: Path | None = None) -> pd.DataFrame | None:
    """Read a CSV table layer (ZBPH, CHECKLIST, EVENTS, CITYSTATS, or TARGETS via ``path``).

    UTF-8 (with or without BOM) is expected; a file that is not UTF-8 but decodes as GB18030 is
    read as such with a warning. Codes are text; numbers are checked and named by row (the row
    number counts the header as row 1, as a spreadsheet shows it).
    """
    report = report if report is not None else Report(strict=True)
    if path is None:
        try:
            path = ws.paths(layer, needed_for=needed_for)[0]
        except WorkspaceError as exc:
            report.error(layer, "missing-file", str(exc), exc=WorkspaceError)
            return None
    if Path(path).is_dir():
        report.error(layer, "unreadable-file", f"{shown_path(path)} is a folder; layers.{layer} must name a CSV "
                     "file.", file=path, exc=DataFileError)
        return None
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            report.error(layer, "bad-encoding", f"{path} is neither UTF-8 nor GBK text; save it as "
                         "UTF-8 CSV.", file=path, exc=DataFileError)
            return None
        report.warning(layer, "encoding-detected", f"{shown_path(path)} is not UTF-8; it was read as "
                       "GBK. Save it as UTF-8 to silence this.", file=path)
    import io

    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as exc:
        report.error(layer, "unreadable-file", f"cannot parse {path} as CSV ({_gdal_reason(exc)}).",
                     file=path, exc=DataFileError)
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    lower = {c.lower(): c for c in frame.columns}
    missing = [s.name for s in SCHEMAS[layer] if s.required and s.name.lower() not in lower]
    if missing:
        report.error(
            layer,
            "missing-field",
            f"{shown_path(path)} has no column {', '.join(missing)} (found: "
            f"{', '.join(frame.columns)}). Add it; the columns are listed in the data contract.",
            file=path,
            field=missing[0],
        )
        return None
    frame = frame.rename(columns={lower[s.name.lower()]: s.name for s in SCHEMAS[layer]
                                  if s.name.lower() in lower})
    rows = pd.Series((frame.index + 2).astype(str), index=frame.index).radd("row ")
    specs = {s.name: s for s in SCHEMAS[layer] if s.name in frame}
    frame = frame.replace("", None)
    frame = _coerce(frame, layer, specs, rows, path, None, report, {})
    frame.attrs["layer"] = layer
    frame.attrs["file"] = str(path)
    frame["row"] = (frame.index + 2).astype("int64")
    return frame


def read_targets(ws: Workspace, *, report: Report | None = None) -> pd.DataFrame | None:
    """Read targets.csv: per unit 亩 targets and ``hsf_task_mu_YYYY`` columns (one per year).

    An optional ``basis`` column (二调 or 三调) allows one row per unit and basis; it is returned
    normalised to ``erdiao``/``sandiao`` (no column or a blank cell: ``erdiao``).
    """
    report = report if report is not None else Report(strict=True)
    if ws.targets_path is None:
        report.error("TARGETS", "missing-file", f"{ws.file} has no [targets] path; targets are needed "
                     "for attainment figures.", exc=WorkspaceError)
        return None
    if not ws.targets_path.exists():
        report.error("TARGETS", "missing-file", f"targets file {ws.targets_path} does not exist; fix "
                     "targets.path in farmland.toml.", file=ws.targets_path, exc=WorkspaceError)
        return None
    return _target_table(ws, "TARGETS", ws.targets_path, report)


def read_townships(ws: Workspace, *, report: Report | None = None) -> pd.DataFrame | None:
    """Read the township list (``[townships] path``): xzdm, xzmc and optional targets like
    targets.csv's (``basis`` and ``hsf_task_mu_YYYY`` included). ``None`` when not configured."""
    report = report if report is not None else Report(strict=True)
    if ws.townships_path is None:
        return None
    if not ws.townships_path.exists():
        report.error("TOWNSHIPS", "missing-file", f"township list {ws.townships_path} does not "
                     "exist; fix townships.path in farmland.toml.", file=ws.townships_path,
                     exc=WorkspaceError)
        return None
    frame = _target_table(ws, "TOWNSHIPS", ws.townships_path, report)
    if frame is not None:
        codes = frame["xzdm"].astype("string").str.strip()
        bad = ~codes.str.fullmatch(r"\d{9}").to_numpy(dtype=bool, na_value=False)
        if bad.any():
            report.error("TOWNSHIPS", "bad-code", f"{shown_path(ws.townships_path)}: xzdm must be the "
                         "9-digit township code (the first 9 characters of ZLDWDM).", field="xzdm",
                         file=ws.townships_path, ids=("row " + frame["row"].astype(str))[bad].tolist())
    return frame


def _target_table(ws, layer: str, path: Path, report: Report) -> pd.DataFrame | None:
    frame = read_table(ws, layer, report=report, path=path)
    if frame is None:
        return None
    tasks = {c: FieldSpec(c, NUMBER) for c in frame.columns if c.startswith("hsf_task_mu_")}
    rows = "row " + frame["row"].astype(str)
    frame = _coerce(frame, layer, tasks, rows, path, None, report, {})
    basis = (frame["basis"].astype("string").str.strip() if "basis" in frame
             else pd.Series("二调", index=frame.index, dtype="string")).fillna("二调")
    bad = ~basis.isin(list(TARGET_BASES)).to_numpy(dtype=bool, na_value=True)
    if bad.any():
        report.error(layer, "bad-basis", f"{shown_path(path)}: basis must be 二调 or 三调 (the survey "
                     f"the target was set on; found {basis[bad].iloc[0]!r}).", file=path,
                     field="basis", ids=rows[bad].tolist())
    frame["basis"] = basis.map(TARGET_BASES).astype(object)
    return frame


def read_adjustments(ws: Workspace, unit_codes=None, *, report: Report | None = None
                     ) -> pd.DataFrame | None:
    """Read the register of target adjustments (``[targets] adjustments``), or ``None``.

    Columns: xzqdm, year (first data year the adjustment applies to), kind (跨县易地, 生态退耕,
    省统筹, 国家统筹, 其他), arable_mu and basic_farmland_mu (signed 亩; blank = 0), document
    (文号), note. A row with an unknown kind, a non-number, no document or a unit not in
    ``unit_codes`` is an error naming the file, the row and the fix.
    """
    report = report if report is not None else Report(strict=True)
    path = ws.adjustments_path
    if path is None:
        return None
    if not path.exists():
        report.error("TARGET_ADJUSTMENTS", "missing-file", f"adjustments file {path} does not exist; "
                     "fix targets.adjustments in farmland.toml.", file=path, exc=WorkspaceError)
        return None
    frame = read_table(ws, "TARGET_ADJUSTMENTS", report=report, path=path)
    if frame is None:
        return None
    shown = shown_path(path)
    rows = "row " + frame["row"].astype(str)
    amounts = [c for c in ("arable_mu", "basic_farmland_mu") if c in frame]
    if not amounts:
        report.error("TARGET_ADJUSTMENTS", "missing-field", f"{shown} has neither arable_mu nor "
                     "basic_farmland_mu: add the signed 亩 by which each adjustment changes the "
                     "targets.", file=path, field="arable_mu")
    for column in ("arable_mu", "basic_farmland_mu"):
        frame[column] = frame[column].fillna(0.0) if column in frame else 0.0
    checks = [
        (~frame["kind"].isin(ADJUSTMENT_KINDS), "kind", "bad-kind",
         f"kind must be one of {', '.join(ADJUSTMENT_KINDS)}; correct the kind of these rows"),
        (frame["document"].isna(), "document", "missing-document",
         "every adjustment needs the 文号 of the document that approved it; fill document"),
        (frame["year"].isna(), "year", "missing-year",
         "year is the first data year the adjustment applies to; fill it"),
        (frame["xzqdm"].isna() | (~frame["xzqdm"].isin(list(unit_codes)) if unit_codes is not None
                                  else False), "xzqdm", "unknown-unit",
         "xzqdm must be the code of a unit in XZQ; correct it or add the unit"),
    ]
    for bad, field, check, fix in checks:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            report.error("TARGET_ADJUSTMENTS", check, f"{shown}, {', '.join(rows[bad][:5])}: {fix}.",
                         file=path, field=field, ids=rows[bad].tolist())
    return frame


def layer_exists(ws: Workspace, layer: str, year: int | None = None) -> bool:
    """True when the layer is configured and its files for ``year`` exist."""
    if not ws.has_layer(layer):
        return False
    try:
        ws.paths(layer, year)
    except WorkspaceError:
        return False
    return True
